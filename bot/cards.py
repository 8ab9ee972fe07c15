"""How an item reads: the reviewer's card, the author's detail view with its history, list
lines. An anonymous report's author is left out of everything a reviewer sees."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ScalarSelect, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.amounts import format_amount
from bot.i18n import Translator, escape
from bot.texts import ACTIONS, GRADES, STATUSES
from storage.models import (
    Attachment,
    Category,
    Item,
    ItemAuthor,
    ItemEvent,
    ItemKind,
    ItemStatus,
    Member,
    Unit,
)


def _(message: str) -> str:
    """Mark a text for extraction; it is translated where it is shown."""
    return message


MESSAGE_LIMIT = 4096  # Telegram's limit on a message, in UTF-16 code units of the shown text
_TAG = re.compile(r"<[^>]*>")


def utf16_len(text: str) -> int:
    """A length as Telegram counts it: characters outside the BMP (emoji) count twice."""
    return len(text.encode("utf-16-le")) // 2


def shown_len(text: str) -> int:
    """The length of an HTML text we built, as shown (user input in it is always escaped)."""
    return utf16_len(html.unescape(_TAG.sub("", text)))


def room_beside(text: str) -> int:
    """What is left of a message for a card sent with `text` (and a blank line between)."""
    return MESSAGE_LIMIT - shown_len(text) - 2


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-16 code units, ending in "…" when cut."""
    if utf16_len(text) <= limit:
        return text
    kept: list[str] = []
    used = 1  # the ellipsis
    for char in text:
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            break
        kept.append(char)
    return "".join(kept) + "…" if limit > 0 else ""


@dataclass
class EventView:
    action: str
    to_status: str | None
    reason: str | None
    amount: Decimal | None
    actor_name: str | None  # None: nobody to name (the system, or an anonymous reporter)
    created_at: datetime
    data: dict[str, Any] | None = None


@dataclass
class ItemView:
    """An item with the names it needs for display, read in one session."""

    id: int
    kind: str
    number: str
    title: str
    body: str
    place: str | None
    status: str
    anonymous: bool
    claimed: Decimal | None
    certified: Decimal | None
    verified: Decimal | None
    reward: Decimal | None
    grade: str
    submitted_at: datetime
    unit_id: int
    unit_name: str
    category: tuple[str, str] | None  # (zh, en)
    author_id: int
    author_name: str
    co_author_names: list[str] = field(default_factory=list)
    attachments: int = 0
    events: list[EventView] = field(default_factory=list)

    @property
    def is_idea(self) -> bool:
        return self.kind == ItemKind.IDEA

    @property
    def counted(self) -> Decimal | None:
        """The amount the ledgers count: the verified effect if there is one."""
        return self.verified if self.verified is not None else self.certified


# Built once (every card shown or updated reads them).
_CO_AUTHOR_NAMES = (
    select(Member.name)
    .join(ItemAuthor, ItemAuthor.member_id == Member.id)
    .where(ItemAuthor.item_id == bindparam("item_id"), ItemAuthor.is_submitter.is_(False))
    .order_by(Member.name)
)
_ATTACHMENT_COUNT = (
    select(func.count()).select_from(Attachment).where(Attachment.item_id == bindparam("item_id"))
)
_CO_AUTHOR_COUNT = (
    select(func.count())
    .select_from(ItemAuthor)
    .where(ItemAuthor.item_id == bindparam("item_id"), ItemAuthor.is_submitter.is_(False))
)


def _name(
    column: InstrumentedAttribute[Any], key: InstrumentedAttribute[int], parameter: str
) -> ScalarSelect[Any]:
    return select(column).where(key == bindparam(parameter)).scalar_subquery()


# What an item is shown with, in one statement: its unit's name, its category's (both
# languages), its submitter's, and how many co-authors and attachments it has (parameters
# `unit_id`, `category_id`, `author_id`, `item_id`).
_NAMES = select(
    _name(Unit.name, Unit.id, "unit_id"),
    _name(Category.name_zh, Category.id, "category_id"),
    _name(Category.name_en, Category.id, "category_id"),
    _name(Member.name, Member.id, "author_id"),
    _CO_AUTHOR_COUNT.scalar_subquery(),
    _ATTACHMENT_COUNT.scalar_subquery(),
)

_HISTORY = (
    select(ItemEvent, Member.name)
    .outerjoin(Member, Member.id == ItemEvent.actor_id)
    .where(ItemEvent.item_id == bindparam("item_id"))
    .order_by(ItemEvent.created_at, ItemEvent.id)
)


async def load_view(session: AsyncSession, item: Item, *, history: bool = False) -> ItemView:
    """Read the names an item is shown with (and its history when asked)."""
    keys = {
        "unit_id": item.unit_id,
        "category_id": item.category_id,
        "author_id": item.author_id,
        "item_id": item.id,
    }
    names: tuple[Any, ...] = tuple((await session.execute(_NAMES, keys)).one())
    unit_name, name_zh, name_en, author_name, co_authors, attachments = names
    co_names = []
    if co_authors:
        co_names = list(await session.scalars(_CO_AUTHOR_NAMES, {"item_id": item.id}))
    view = ItemView(
        id=item.id,
        kind=item.kind,
        number=item.number,
        title=item.title,
        body=item.body,
        place=item.place,
        status=item.status,
        anonymous=item.anonymous,
        claimed=item.claimed_amount,
        certified=item.certified_amount,
        verified=item.verified_amount,
        reward=item.reward_amount,
        grade=item.grade,
        submitted_at=item.submitted_at,
        unit_id=item.unit_id,
        unit_name=unit_name if unit_name is not None else "-",
        category=(name_zh, name_en) if name_zh is not None else None,
        author_id=item.author_id,
        author_name=author_name if author_name is not None else "-",
        co_author_names=co_names,
        attachments=int(attachments or 0),
    )
    if history:
        rows = await session.execute(_HISTORY, {"item_id": item.id})
        for event, actor_name in rows:
            hidden = item.anonymous and event.actor_id == item.author_id
            view.events.append(
                EventView(
                    action=event.action,
                    to_status=event.to_status,
                    reason=event.reason,
                    amount=event.amount,
                    actor_name=None if hidden else actor_name,
                    created_at=event.created_at,
                    data=event.data,
                )
            )
    return view


def category_name(category: tuple[str, str] | None, lang: str) -> str:
    if category is None:
        return "-"
    return category[0] if lang == "zh" else category[1]


def money(tr: Translator, value: Decimal | None) -> str:
    return format_amount(value, tr.lang) if value is not None else "-"


def status_text(tr: Translator, status: str) -> str:
    return tr.plain(STATUSES.get(status, STATUSES[ItemStatus.FIRST_REVIEW]))


def local_time(value: datetime, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def item_text(
    tr: Translator, view: ItemView, *, for_author: bool, room: int = MESSAGE_LIMIT
) -> str:
    """The item as a card. Reviewers (`for_author=False`) never see an anonymous author.

    The description is shortened so that the card fits in `room` (UTF-16 code units, as
    shown): the rest of the message it is sent in has the remainder."""
    icon = "💡" if view.is_idea else "🚯"
    kind = tr.plain(_("Idea")) if view.is_idea else tr.plain(_("Waste report"))
    lines = [tr._("{icon} <b>{number}</b> · {kind}", icon=icon, number=view.number, kind=kind)]
    lines.append(tr._("<b>{title}</b>", title=view.title))
    if view.is_idea:
        lines.append(tr._("Category: {name}", name=category_name(view.category, tr.lang)))
    lines.append(tr._("Unit: {unit}", unit=view.unit_name))
    if view.place:
        lines.append(tr._("Place: {place}", place=view.place))
    if view.is_idea:
        lines.append(tr._("Estimated saving per year: {amount}", amount=money(tr, view.claimed)))
    elif view.claimed is not None:
        lines.append(tr._("Estimated loss: {amount}", amount=money(tr, view.claimed)))
    if view.certified is not None:
        lines.append(tr._("Certified saving: {amount}", amount=money(tr, view.certified)))
    if view.verified is not None:
        lines.append(tr._("Verified saving: {amount}", amount=money(tr, view.verified)))
    if view.grade in GRADES and view.grade != "none":
        lines.append(tr._("Grade: {grade}", grade=tr.plain(GRADES[view.grade])))
    if view.reward is not None:
        lines.append(tr._("Reward: {amount}", amount=money(tr, view.reward)))
    if view.anonymous and not for_author:
        lines.append(tr._("Reported by: anonymous"))
    elif view.anonymous:
        lines.append(tr._("Reported anonymously: your name is shown to nobody."))
    else:
        lines.append(tr._("By: {name}", name=view.author_name))
    if view.co_author_names:
        lines.append(tr._("Co-authors: {names}", names="、".join(view.co_author_names)))
    if view.attachments:
        lines.append(tr.n_("Attachments: {n}", "Attachments: {n}", view.attachments))
    lines.append(tr._("Status: {status}", status=status_text(tr, view.status)))
    body = clip(view.body, room - shown_len("\n".join(lines)) - 2)
    if body:
        lines += ["", str(escape(body))]
    return "\n".join(lines)


def history_lines(
    tr: Translator, view: ItemView, tz: ZoneInfo, reason_limit: int = MESSAGE_LIMIT
) -> list[str]:
    """One line per decision: when, what, by whom, why (at most `reason_limit`), how much."""
    lines = []
    for event in view.events:
        action = tr.plain(ACTIONS.get(event.action, ACTIONS["submit"]))
        line = tr._("{when} · {action}", when=local_time(event.created_at, tz), action=action)
        if event.actor_name:
            line += tr._(" ({name})", name=event.actor_name)
        if event.amount is not None and event.action != "submit":
            line += tr._(": {amount}", amount=money(tr, event.amount))
        if event.reason:
            line += "\n    " + tr._("«{reason}»", reason=clip(event.reason, reason_limit))
        lines.append(line)
    return lines


def list_line(tr: Translator, item: Item) -> str:
    """One item in a list: number, title, status, claimed and certified amounts."""
    counted = item.verified_amount if item.verified_amount is not None else item.certified_amount
    return "\n".join(
        [
            tr._("<b>{number}</b> {title}", number=item.number, title=item.title),
            tr._(
                "    {status} · claimed {claimed} · certified {certified}",
                status=status_text(tr, item.status),
                claimed=money(tr, item.claimed_amount),
                certified=money(tr, counted),
            ),
        ]
    )


# The decisions offered on a review card, by stage: (action code, label).
REVIEW_ACTIONS: dict[str, list[tuple[str, str]]] = {
    ItemStatus.FIRST_REVIEW: [
        ("fwd", _("➡️ Forward to committee")),
        ("ask", _("❓ Ask for information")),
        ("rej", _("❌ Reject")),
    ],
    ItemStatus.COMMITTEE: [
        ("ok", _("✅ Approve")),
        ("ask", _("❓ Ask for information")),
        ("rej", _("❌ Reject")),
    ],
    ItemStatus.APPROVED: [("impl", _("🛠 Mark implemented"))],
    ItemStatus.IMPLEMENTED: [("ver", _("📏 Record verified effect"))],
    ItemStatus.REPORTED: [
        ("ack", _("👀 Acknowledge")),
        ("asg", _("🏭 Assign to a unit")),
        ("fix", _("🔧 Mark fixed")),
        ("dis", _("🚫 Dismiss")),
    ],
    ItemStatus.ACKNOWLEDGED: [
        ("asg", _("🏭 Assign to a unit")),
        ("fix", _("🔧 Mark fixed")),
        ("dis", _("🚫 Dismiss")),
    ],
}


def review_keyboard(tr: Translator, item_id: int, status: str) -> InlineKeyboardMarkup | None:
    """The decision buttons for the item's stage (none once it is closed)."""
    actions = REVIEW_ACTIONS.get(status)
    if not actions:
        return None
    buttons = [
        InlineKeyboardButton(tr.plain(label), callback_data=f"rv:{item_id}:{code}")
        for code, label in actions
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])
