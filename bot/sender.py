"""Delivers the outbox: in order per chat, within Telegram's limits, exactly once where it can.

Pacing is left to PTB's AIORateLimiter (about 1 message a second per chat, 20 a minute per
group, 30 a second in all). Here: claim a row, send it, record the outcome.
- RetryAfter: the row and every later row of that chat wait the time Telegram asked for.
- NetworkError before Telegram got the request: retried with a growing delay.
- TimedOut: Telegram may have accepted it; marked `uncertain`, never sent again. Edits are
  the exception: editing again to the same text is harmless, so they are retried.
- A row a process claimed and then died with (SIGKILL mid-request) is, after `STALE_CLAIM`,
  treated like a timeout: edits are sent again, new messages are marked `uncertain`.
- Forbidden: the person blocked the bot (or the bot left the group): `undeliverable`, and the
  member is marked unreachable / the announcement chat inactive.
- ChatMigrated: the group became a supergroup: the chat id is updated everywhere and resent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Executable, and_, bindparam, or_, select, update
from telegram import (
    Bot,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram._utils.types import ReplyMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut

from bot import notify
from bot.clock import Clock
from bot.services.people import admins_in
from storage.db import Database, one_of, set_parameters, set_values
from storage.models import AnnouncementChat, Blob, Member, OutboxMessage, ScheduledPost

logger = logging.getLogger(__name__)

# Bot API methods the outbox may hold, and PTB's name for each.
METHODS = {
    "sendMessage": "send_message",
    "sendPhoto": "send_photo",
    "sendDocument": "send_document",
    "sendVoice": "send_voice",
    "editMessageText": "edit_message_text",
    "editMessageCaption": "edit_message_caption",
    "editMessageReplyMarkup": "edit_message_reply_markup",
}
# Parameters that may hold {"blob": id}: a file the bot made, kept in the database until sent.
FILE_PARAMETERS = ("photo", "document")
BATCH = 50
MAX_ATTEMPTS = 8
# A row claimed by a process that then died is taken up again after this long.
STALE_CLAIM = timedelta(minutes=5)
# Methods whose repetition changes nothing Telegram shows ("message is not modified").
IDEMPOTENT = frozenset({"editMessageText", "editMessageCaption", "editMessageReplyMarkup"})


def _markup(data: dict[str, Any]) -> ReplyMarkup | None:
    """The stored reply markup as PTB's object."""
    if "inline_keyboard" in data:
        return InlineKeyboardMarkup.de_json(data, None)
    if "keyboard" in data:
        return ReplyKeyboardMarkup.de_json(data, None)
    if "remove_keyboard" in data:
        return ReplyKeyboardRemove.de_json(data, None)
    return None


# The sender's statements, built once (parameters: `now`, `stale` = now - STALE_CLAIM,
# `row_id`): every message sent runs them.
_NOW = bindparam("now", type_=OutboxMessage.not_before.type)
_STALE = bindparam("stale", type_=OutboxMessage.not_before.type)
_WAITING = select(OutboxMessage.chat_id).where(
    or_(
        and_(OutboxMessage.status == "pending", OutboxMessage.not_before > _NOW),
        and_(OutboxMessage.status == "sending", OutboxMessage.not_before > _STALE),
    )
)
_DUE = (
    select(OutboxMessage)
    .where(
        one_of(OutboxMessage.status, ("pending", "sending")),
        OutboxMessage.not_before <= _NOW,
        OutboxMessage.chat_id.not_in(_WAITING),
    )
    .order_by(OutboxMessage.id)
    .limit(BATCH)
)
_CLAIM = (
    update(OutboxMessage)
    .where(
        OutboxMessage.id == bindparam("row_id"),
        or_(
            and_(OutboxMessage.status == "pending", OutboxMessage.not_before <= _NOW),
            and_(OutboxMessage.status == "sending", OutboxMessage.not_before <= _STALE),
        ),
    )
    .values(status="sending", not_before=_NOW, attempts=OutboxMessage.attempts + 1)
)


@functools.cache
def _finish_update(columns: frozenset[str]) -> Executable:
    """Record a row's outcome in `columns` (parameters `row_id` and the columns' values), built
    once for each set of columns."""
    return (
        update(OutboxMessage)
        .where(OutboxMessage.id == bindparam("row_id"))
        .values(set_parameters(OutboxMessage, columns))
    )


class OutboxSender:
    """Sends pending outbox rows; one flush at a time per process, claims guard the rest."""

    def __init__(self, db: Database, clock: Clock, default_lang: str = "zh") -> None:
        self.db = db
        self.clock = clock
        self.default_lang = default_lang
        self._lock = asyncio.Lock()
        self._again = False

    async def flush(self, bot: Bot) -> int:
        """Send everything that is due, unless a flush is running (it will pick rows up)."""
        if self._lock.locked():
            self._again = True
            return 0
        async with self._lock:
            return await self._loop(bot)

    async def drain(self, bot: Bot) -> int:
        """Wait for any running flush, then send everything that is due."""
        async with self._lock:
            return await self._loop(bot)

    async def _loop(self, bot: Bot) -> int:
        sent = 0
        while True:
            self._again = False
            count, more = await self._flush_once(bot)
            sent += count
            if not (more or self._again):
                return sent

    async def _flush_once(self, bot: Bot) -> tuple[int, bool]:
        """One batch of due rows, skipping chats whose earlier row must wait (order per chat).
        The second value says whether another batch may have work."""
        now = self.clock.now()
        async with self.db.read() as session:
            rows = list(await session.scalars(_DUE, {"now": now, "stale": now - STALE_CLAIM}))
        sent = tried = 0
        blocked: set[int] = set()
        for row in rows:
            if row.chat_id in blocked:
                continue  # keep per-chat order behind an earlier row that must wait
            if row.status == "sending" and row.method not in IDEMPOTENT:
                await self._abandon(row, now)
                continue
            if not await self._claim(row, now):
                blocked.add(row.chat_id)
                continue
            tried += 1
            ok = await self._send(bot, row)
            if ok:
                sent += 1
            else:
                blocked.add(row.chat_id)
        # A full batch that made no attempt would be read again unchanged: stop instead.
        return sent, len(rows) == BATCH and tried > 0

    async def _claim(self, row: OutboxMessage, now: datetime) -> bool:
        """Take the row for this process with a conditional update; False if another has it."""
        values = {"row_id": row.id, "now": now, "stale": now - STALE_CLAIM}
        async with self.db.write() as session:
            result = await session.execute(_CLAIM, values)
            return result.rowcount == 1  # type: ignore[attr-defined]

    async def _abandon(self, row: OutboxMessage, now: datetime) -> None:
        """A stale claim: its process died, maybe after Telegram accepted the message."""
        async with self.db.write() as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row.id,
                    OutboxMessage.status == "sending",
                    OutboxMessage.not_before <= now - STALE_CLAIM,
                )
                .values(status="uncertain", error="the sending process stopped mid-request")
            )
        if result.rowcount:  # type: ignore[attr-defined]
            logger.warning("Outbox message %s was in flight when its process stopped", row.id)

    async def _finish(self, row_id: int, **values: Any) -> None:
        parameters = {"row_id": row_id} | set_values(values)
        async with self.db.write() as session:
            await session.execute(_finish_update(frozenset(values)), parameters)

    async def _send(self, bot: Bot, row: OutboxMessage) -> bool:
        """Send one row and record what happened; True when it was delivered."""
        kwargs = dict(row.payload)
        kwargs["chat_id"] = row.chat_id
        if "reply_markup" in kwargs:
            kwargs["reply_markup"] = _markup(kwargs["reply_markup"])
        for key in FILE_PARAMETERS:
            if isinstance(kwargs.get(key), dict) and "blob" in kwargs[key]:
                kwargs[key] = await self._blob(kwargs[key]["blob"])
        now = self.clock.now()
        try:
            result = await getattr(bot, METHODS[row.method])(**kwargs)
        except RetryAfter as exc:
            delay = exc.retry_after
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            await self._finish(
                row.id,
                status="pending",
                not_before=now + timedelta(seconds=seconds),
                error=f"retry after {seconds}s",
            )
            return False
        except ChatMigrated as exc:
            await self._migrate(row.chat_id, exc.new_chat_id)
            self._again = True  # the row now names the new chat: send it in the next pass
            return False
        except Forbidden as exc:
            await self._unreachable(row, str(exc), now)
            return False
        except TimedOut as exc:
            if _never_sent(exc) or row.method in IDEMPOTENT:
                await self._retry_later(row, exc, now)
                return False
            # The request may have reached Telegram: sending again could post twice.
            await self._finish(row.id, status="uncertain", error=str(exc), sent_at=now)
            logger.warning("Outbox message %s timed out; not resent", row.id)
            return False
        except BadRequest as exc:
            if "message is not modified" in str(exc).lower():
                await self._finish(row.id, status="sent", sent_at=now)
                return True
            await self._finish(row.id, status="failed", error=str(exc))
            logger.warning("Outbox message %s refused by Telegram: %s", row.id, exc)
            return False
        except NetworkError as exc:
            # Raised before a response: the request did not provably arrive. Retry later.
            await self._retry_later(row, exc, now)
            return False
        message_id = result.message_id if isinstance(result, Message) else None
        await self._finish(row.id, status="sent", sent_at=now, message_id=message_id, error=None)
        return True

    async def _retry_later(self, row: OutboxMessage, exc: Exception, now: datetime) -> None:
        status = "failed" if row.attempts + 1 >= MAX_ATTEMPTS else "pending"
        backoff = timedelta(seconds=min(300, 2 ** (row.attempts + 1)))
        await self._finish(row.id, status=status, not_before=now + backoff, error=str(exc))

    async def _blob(self, blob_id: int) -> InputFile:
        """A file the bot made, uploaded from the database."""
        async with self.db.read() as session:
            blob = await session.get(Blob, blob_id)
        if blob is None:
            raise BadRequest("the file to send is gone")
        return InputFile(blob.data, filename=blob.name)

    async def _migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.chat_id == old_chat_id,
                    one_of(OutboxMessage.status, ("pending", "sending")),
                )
                .values(chat_id=new_chat_id, status="pending")
            )
            await session.execute(
                update(AnnouncementChat)
                .where(AnnouncementChat.chat_id == old_chat_id)
                .values(chat_id=new_chat_id)
            )
            # Claims follow the chat, so a post it already had is not sent again.
            await session.execute(
                update(ScheduledPost)
                .where(ScheduledPost.chat_id == old_chat_id)
                .values(chat_id=new_chat_id)
            )

    async def _unreachable(self, row: OutboxMessage, error: str, now: datetime) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(status="undeliverable", error=error)
            )
            if row.chat_id > 0:
                await session.execute(
                    update(Member).where(Member.telegram_id == row.chat_id).values(unreachable=True)
                )
                return
            chat = await session.scalar(
                select(AnnouncementChat).where(
                    AnnouncementChat.chat_id == row.chat_id, AnnouncementChat.active.is_(True)
                )
            )
            # The rest of this chat's messages cannot arrive either.
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.chat_id == row.chat_id, OutboxMessage.status == "pending")
                .values(status="undeliverable", error=error)
            )
            if chat is not None:
                chat.active = False
                admins = await admins_in(session)
                notify.chat_removed(session, admins, chat.title, self.default_lang, now)
                self._again = True  # tell the office in this flush


def _never_sent(exc: TimedOut) -> bool:
    """A timeout while connecting or waiting for a pooled connection: nothing left this process."""
    return isinstance(exc.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout)
