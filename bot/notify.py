"""Messages to other people, rendered in each recipient's language and put in the outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import cards
from bot.i18n import translator
from bot.services.outbox import FILE_METHODS, enqueue
from storage.models import Attachment, Member, Unit


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
) -> None:
    """Send each reviewer the item's card with the decisions of its stage, then its files."""
    for reviewer in reviewers:
        if reviewer.telegram_id is None:
            continue
        tr = translator(lang_of(reviewer, default_lang))
        enqueue(
            session,
            reviewer.telegram_id,
            tr._("🆕 New item to review") + "\n\n" + cards.item_text(tr, view, for_author=False),
            now,
            reply_markup=cards.review_keyboard(tr, view.id, view.status),
            member_id=reviewer.id,
            purpose="review_card",
            item_id=view.id,
        )
        for n, attachment in enumerate(attachments, start=1):
            method = FILE_METHODS[attachment.kind]
            enqueue(
                session,
                reviewer.telegram_id,
                tr._("{number} · {n}/{total}", number=view.number, n=n, total=len(attachments)),
                now,
                member_id=reviewer.id,
                purpose="review_file",
                item_id=view.id,
                method=method,
                extra={attachment.kind: attachment.file_id},
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
