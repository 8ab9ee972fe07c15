"""Messages to other people, rendered in each recipient's language and put in the outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import translator
from bot.services.outbox import enqueue
from storage.models import Member, Unit


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
