"""The outbox: messages to people are rows written in the transaction that causes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup

from storage.models import OutboxMessage

CAPTIONED = ("sendPhoto", "sendDocument", "sendVoice")
# An attachment's kind and the method (and its file parameter) that sends it again.
FILE_METHODS = {"photo": "sendPhoto", "document": "sendDocument", "voice": "sendVoice"}


def enqueue(
    session: AsyncSession,
    chat_id: int,
    text: str,
    now: datetime,
    *,
    reply_markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | None = None,
    member_id: int | None = None,
    purpose: str | None = None,
    item_id: int | None = None,
    method: str = "sendMessage",
    extra: dict[str, Any] | None = None,
) -> OutboxMessage:
    """Add one message to the outbox; it is sent after the transaction commits."""
    payload: dict[str, Any] = {"parse_mode": "HTML"}
    if method in CAPTIONED:
        payload["caption"] = text
    else:
        payload["text"] = text
    if reply_markup is not None:
        payload["reply_markup"] = reply_markup.to_dict()
    if extra:
        payload.update(extra)
    row = OutboxMessage(
        chat_id=chat_id,
        member_id=member_id,
        method=method,
        payload=payload,
        purpose=purpose,
        item_id=item_id,
        not_before=now,
        created_at=now,
    )
    session.add(row)
    return row
