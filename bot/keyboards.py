"""Inline keyboards shared by features: pick-from-list with pages."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

PAGE_SIZE = 8


def page_count(total: int, page_size: int) -> int:
    return max(1, -(-total // page_size))


def page_nav(page: int, pages: int, prefix: str) -> list[list[InlineKeyboardButton]]:
    """The ◀ n/m ▶ row of a paged list (none for a single page); `prefix` + page number is
    each button's callback data."""
    if pages <= 1:
        return []
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton("◀", callback_data=f"{prefix}{page - 1}"))
    nav.append(InlineKeyboardButton(f"{page + 1}/{pages}", callback_data=f"{prefix}{page}"))
    if page < pages - 1:
        nav.append(InlineKeyboardButton("▶", callback_data=f"{prefix}{page + 1}"))
    return [nav]


def paged_choices(
    choices: Sequence[tuple[str, str]],
    page: int,
    nav_prefix: str,
    *,
    columns: int = 2,
    page_size: int = PAGE_SIZE,
    extra: Sequence[InlineKeyboardButton] = (),
) -> InlineKeyboardMarkup:
    """Buttons for one page of (label, callback_data), with ◀ ▶ when there are more pages.

    `nav_prefix` + page number is the callback data of the page buttons.
    """
    pages = page_count(len(choices), page_size)
    page = min(max(page, 0), pages - 1)
    shown = choices[page * page_size : (page + 1) * page_size]
    rows = [
        [InlineKeyboardButton(label, callback_data=data) for label, data in shown[i : i + columns]]
        for i in range(0, len(shown), columns)
    ]
    rows += page_nav(page, pages, nav_prefix)
    if extra:
        rows.append(list(extra))
    return InlineKeyboardMarkup(rows)
