"""Inline keyboards shared by features: pick-from-list with pages."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

PAGE_SIZE = 8


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
    pages = max(1, -(-len(choices) // page_size))
    page = min(max(page, 0), pages - 1)
    shown = choices[page * page_size : (page + 1) * page_size]
    rows = [
        [InlineKeyboardButton(label, callback_data=data) for label, data in shown[i : i + columns]]
        for i in range(0, len(shown), columns)
    ]
    if pages > 1:
        nav = []
        if page > 0:
            nav.append(InlineKeyboardButton("◀", callback_data=f"{nav_prefix}{page - 1}"))
        nav.append(InlineKeyboardButton(f"{page + 1}/{pages}", callback_data=f"{nav_prefix}{page}"))
        if page < pages - 1:
            nav.append(InlineKeyboardButton("▶", callback_data=f"{nav_prefix}{page + 1}"))
        rows.append(nav)
    if extra:
        rows.append(list(extra))
    return InlineKeyboardMarkup(rows)
