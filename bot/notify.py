"""Messages to other people, rendered in each recipient's language and put in the outbox."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import cards
from bot.i18n import Translator, translator
from bot.services.outbox import FILE_METHODS, enqueue
from bot.texts import ACTIONS, GRADES
from storage.models import Attachment, Item, ItemStatus, Member, Unit


def lang_of(member: Member, default: str) -> str:
    return member.language or default


def join_request(
    session: AsyncSession,
    admins: list[Member],
    applicant: Member,
    unit: Unit,
    default_lang: str,
    now: datetime,
) -> None:
    """Ask every admin to approve or decline a join without an invite link."""
    for admin in admins:
        if admin.telegram_id is None:
            continue
        tr = translator(lang_of(admin, default_lang))
        text = tr._(
            "New member waiting for approval: <b>{name}</b>, {unit}.",
            name=applicant.name,
            unit=unit.name,
        )
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        tr.plain("✅ Approve"), callback_data=f"jr:{applicant.id}:y"
                    ),
                    InlineKeyboardButton(
                        tr.plain("❌ Decline"), callback_data=f"jr:{applicant.id}:n"
                    ),
                ]
            ]
        )
        enqueue(
            session,
            admin.telegram_id,
            text,
            now,
            reply_markup=keyboard,
            member_id=admin.id,
            purpose="join_request",
        )


def chat_removed(
    session: AsyncSession, admins: list[Member], title: str, default_lang: str, now: datetime
) -> None:
    """Tell the office that a group stopped receiving posts (the bot was removed from it)."""
    for admin in admins:
        if admin.telegram_id is None:
            continue
        tr = translator(lang_of(admin, default_lang))
        text = tr._(
            "I was removed from the group <b>{title}</b> and stopped posting there. To resume, "
            "add me again and send /announce_here in the group.",
            title=title,
        )
        enqueue(session, admin.telegram_id, text, now, member_id=admin.id, purpose="chat_removed")


def join_decided(
    session: AsyncSession, applicant: Member, approved: bool, default_lang: str, now: datetime
) -> None:
    """Tell the applicant what the office decided."""
    if applicant.telegram_id is None:
        return
    tr = translator(lang_of(applicant, default_lang))
    text = (
        tr._("Your registration was approved. Welcome! Send /start to open the menu.")
        if approved
        else tr._("Your registration was declined. Please contact the campaign office.")
    )
    enqueue(session, applicant.telegram_id, text, now, member_id=applicant.id, purpose="join")


def review_cards(
    session: AsyncSession,
    view: cards.ItemView,
    reviewers: list[Member],
    attachments: list[Attachment],
    default_lang: str,
    now: datetime,
    *,
    note: str | None = None,
) -> None:
    """Send each reviewer the item's card with the decisions of its stage, then its files."""
    for reviewer in reviewers:
        if reviewer.telegram_id is None:
            continue
        tr = translator(lang_of(reviewer, default_lang))
        _review_card(session, reviewer.telegram_id, reviewer.id, tr, view, now, note)
        for n, attachment in enumerate(attachments, start=1):
            enqueue(
                session,
                reviewer.telegram_id,
                tr._("{number} · {n}/{total}", number=view.number, n=n, total=len(attachments)),
                now,
                member_id=reviewer.id,
                purpose="review_file",
                item_id=view.id,
                method=FILE_METHODS[attachment.kind],
                extra={attachment.kind: attachment.file_id},
            )


def review_card_to_chat(
    session: AsyncSession, chat_id: int, view: cards.ItemView, default_lang: str, now: datetime
) -> None:
    """The committee's copy in its group chat (only committee members' presses count)."""
    _review_card(session, chat_id, None, translator(default_lang), view, now, None)


def _review_card(
    session: AsyncSession,
    chat_id: int,
    member_id: int | None,
    tr: Translator,
    view: cards.ItemView,
    now: datetime,
    note: str | None,
) -> None:
    """The review card: a headline, the item (never an anonymous author), the stage's buttons."""
    head = tr._("🆕 New item to review")
    if note:
        head = tr._("✍️ The author answered: «{answer}»", answer=note)
    enqueue(
        session,
        chat_id,
        head + "\n\n" + cards.item_text(tr, view, for_author=False, room=cards.room_beside(head)),
        now,
        reply_markup=cards.review_keyboard(tr, view.id, view.status),
        member_id=member_id,
        purpose="review_card",
        item_id=view.id,
    )


def card_decided(
    session: AsyncSession,
    chat_id: int,
    message_id: int,
    member: Member | None,
    view: cards.ItemView,
    action: str,
    actor_name: str,
    now: datetime,
    tz: ZoneInfo,
    default_lang: str,
    *,
    keep_buttons: bool,
    text: str = "",
) -> None:
    """Edit a copy of the review card: the item as it is now and who decided what, when."""
    tr = translator(lang_of(member, default_lang) if member else default_lang)
    what = tr.plain(ACTIONS.get(action, ACTIONS["submit"]))
    when = cards.local_time(now, tz)
    if actor_name:
        line = tr._("— {action}: {name}, {time}", action=what, name=actor_name, time=when)
    else:
        line = tr._("— {action}, {time}", action=what, time=when)
    if text:
        line += "\n    " + tr._("«{text}»", text=text)
    markup = cards.review_keyboard(tr, view.id, view.status) if keep_buttons else None
    extra: dict[str, object] = {"message_id": message_id}  # no markup: the buttons go
    enqueue(
        session,
        chat_id,
        cards.item_text(tr, view, for_author=False, room=cards.room_beside(line)) + "\n\n" + line,
        now,
        reply_markup=markup,
        member_id=member.id if member else None,
        purpose="card_update",
        item_id=view.id,
        method="editMessageText",
        extra=extra,
    )


def _(message: str) -> str:
    """Mark a text for extraction; it is translated where it is sent."""
    return message


TO_AUTHORS = {
    "forward": _(
        "Your idea {number} «{title}» passed the first review and is now with the review committee."
    ),
    "ask": _("The reviewers need more information about {number} «{title}»:"),
    "reject": _("Your idea {number} «{title}» was not adopted."),
    "approve": _("🎉 Your idea {number} «{title}» was approved!"),
    "implement": _("{number} «{title}» was marked as implemented."),
    "verify": _("The effect of {number} «{title}» was verified."),
    "acknowledge": _("Your report {number} «{title}» was acknowledged and is being handled."),
    "assign": _("Your report {number} «{title}» was passed on to {unit}."),
    "fix": _("Your report {number} «{title}» was fixed. Thank you!"),
    "dismiss": _("Your report {number} «{title}» was dismissed."),
}


def answer_button(tr: Translator, item_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(tr.plain("✍️ Answer"), callback_data=f"ans:{item_id}")]]
    )


def decision_to_authors(
    session: AsyncSession,
    authors: list[Member],
    view: cards.ItemView,
    action: str,
    text: str,
    default_lang: str,
    now: datetime,
) -> None:
    """Tell every author, in their language, what was decided and why."""
    template = TO_AUTHORS.get(action)
    if template is None:
        return
    for author in authors:
        if author.telegram_id is None:
            continue
        tr = translator(lang_of(author, default_lang))
        lines = [tr._(template, number=view.number, title=view.title, unit=view.unit_name)]
        if action == "approve":
            lines.append(tr._("Certified saving: {amount}", amount=cards.money(tr, view.certified)))
            if view.grade != "none":
                lines.append(tr._("Grade: {grade}", grade=tr.plain(GRADES[view.grade])))
            if view.reward:
                lines.append(tr._("Reward: {amount}", amount=cards.money(tr, view.reward)))
        elif action == "verify":
            lines.append(tr._("Verified saving: {amount}", amount=cards.money(tr, view.verified)))
        if text and action in ("ask",):
            lines.append(tr._("«{text}»", text=text))
            lines.append(tr._("Tap Answer to reply."))
        elif text and action in ("reject", "dismiss"):
            lines.append(tr._("Reason: «{text}»", text=text))
        elif text and action == "forward":
            lines.append(tr._("Opinion: «{text}»", text=text))
        elif text:
            lines.append(tr._("Note: «{text}»", text=text))
        enqueue(
            session,
            author.telegram_id,
            "\n".join(lines),
            now,
            reply_markup=answer_button(tr, view.id) if action == "ask" else None,
            member_id=author.id,
            purpose="decision",
            item_id=view.id,
        )


def reminder(
    session: AsyncSession,
    holders: list[Member],
    item: Item,
    days: int,
    default_lang: str,
    now: datetime,
) -> None:
    """The daily reminder to whoever holds an overdue item."""
    for holder in holders:
        if holder.telegram_id is None:
            continue
        tr = translator(lang_of(holder, default_lang))
        if item.status == ItemStatus.NEEDS_INFO:
            text = tr._(
                "⏰ The reviewers are still waiting for your answer about {number} «{title}».",
                number=item.number,
                title=item.title,
            )
            markup = answer_button(tr, item.id)
        else:
            text = tr.n_(
                "⏰ {number} «{title}» has waited {n} day for you ({status}).",
                "⏰ {number} «{title}» has waited {n} days for you ({status}).",
                days,
                number=item.number,
                title=item.title,
                status=cards.status_text(tr, item.status),
            )
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(tr.plain("📂 Open"), callback_data=f"rv:{item.id}:open")]]
            )
        enqueue(
            session,
            holder.telegram_id,
            text,
            now,
            reply_markup=markup,
            member_id=holder.id,
            purpose="reminder",
            item_id=item.id,
        )


def draft_discarded(
    session: AsyncSession,
    telegram_id: int,
    member: Member | None,
    title: str,
    hours: int,
    default_lang: str,
    now: datetime,
) -> None:
    """Tell a worker that their idle draft was thrown away."""
    tr = translator(lang_of(member, default_lang) if member else default_lang)
    if title:
        text = tr._(
            "Your unfinished draft «{title}» was discarded after {hours} hours without changes. "
            "Send /idea or /waste to start again.",
            title=title,
            hours=hours,
        )
    else:
        text = tr._(
            "Your unfinished draft was discarded after {hours} hours without changes. "
            "Send /idea or /waste to start again.",
            hours=hours,
        )
    enqueue(
        session,
        telegram_id,
        text,
        now,
        member_id=member.id if member else None,
        purpose="draft_discarded",
    )
