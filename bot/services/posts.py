"""Scheduled posts to the announcement chats, each (kind, period, chat) exactly once.

A post is claimed by inserting its `scheduled_post` row (unique on kind, period and chat) in
the transaction that writes its messages to the outbox: a restart, a catch-up or a second
instance finds the claim and sends nothing. A post whose time passed while the bot was down
goes out on start within the grace window, or is recorded as skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import bulletins
from bot.config import Settings
from bot.i18n import translator
from bot.services import outbox, reports
from bot.services.periods import Period, containing
from bot.services.reports import ReportKind
from storage.db import Database, dialect_insert
from storage.models import AnnouncementChat, Blob, ScheduledPost

logger = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
QUEUED = "queued"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Due:
    """One scheduled post: what, for which period, when it was due (local time)."""

    kind: ReportKind
    period: Period
    at: datetime


def _at(day: date, when: time, now: datetime) -> datetime:
    assert now.tzinfo is not None
    return datetime.combine(day, when, now.tzinfo)


def _month_start(year: int, month: int) -> date:
    while month < 1:
        year, month = year - 1, month + 12
    return date(year, month, 1)


def last_due(kind: ReportKind, now: datetime, s: Settings) -> Due:
    """The latest scheduled time of `kind` at or before `now` (local, aware), and its period."""
    today = now.date()
    if kind is ReportKind.WEEKLY:
        back = (today.weekday() - WEEKDAYS.index(s.bulletin_day)) % 7
        at = _at(today - timedelta(days=back), s.bulletin_time, now)
        if at > now:
            at -= timedelta(days=7)
        # The last whole week before the week of the bulletin.
        monday = at.date() - timedelta(days=at.date().weekday())
        return Due(kind, containing(reports.PERIOD_OF[kind], monday - timedelta(days=1)), at)
    if kind is ReportKind.MONTHLY:
        at = _at(today.replace(day=s.assessment_day), s.assessment_time, now)
        if at > now:
            at = _at(
                _month_start(today.year, today.month - 1).replace(day=s.assessment_day),
                s.assessment_time,
                now,
            )
    else:
        months = {ReportKind.QUARTERLY: (1, 4, 7, 10), ReportKind.HALF: (7,), ReportKind.YEAR: (1,)}
        candidates = [
            _at(date(year, month, 1), s.ranking_time, now)
            for year in (today.year - 1, today.year)
            for month in months[kind]
        ]
        at = max(c for c in candidates if c <= now)
    first = at.date().replace(day=1)
    return Due(kind, containing(reports.PERIOD_OF[kind], first - timedelta(days=1)), at)


def all_due(now: datetime, s: Settings) -> list[Due]:
    local = now.astimezone(s.tzinfo)
    return [last_due(kind, local, s) for kind in ReportKind]


async def _claim(
    session: AsyncSession, due: Due, chat_id: int, status: str, now: datetime, member_id: int | None
) -> bool:
    """Insert the claim unless one exists; True when this call made it."""
    values = {
        "kind": due.kind.value,
        "period": due.period.key,
        "chat_id": chat_id,
        "status": status,
        "due_at": due.at,
        "created_at": now,
        "created_by": member_id,
    }
    is_sqlite = session.get_bind().dialect.name == "sqlite"
    statement = (
        dialect_insert(is_sqlite, ScheduledPost)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["kind", "period", "chat_id"])
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def unclaimed_chats(db: Database, due: Due) -> list[int]:
    """Active announcement chats that have no claim on this post yet."""
    async with db.read() as session:
        claimed = select(ScheduledPost.chat_id).where(
            ScheduledPost.kind == due.kind.value, ScheduledPost.period == due.period.key
        )
        return list(
            await session.scalars(
                select(AnnouncementChat.chat_id)
                .where(AnnouncementChat.active.is_(True), AnnouncementChat.chat_id.not_in(claimed))
                .order_by(AnnouncementChat.id)
            )
        )


async def make(
    db: Database, s: Settings, kind: ReportKind, period: Period, now: datetime, lang: str
) -> bulletins.Post | None:
    report = await reports.build(db, kind, period, s, now)
    if report is None:
        return None
    return bulletins.post(translator(lang), report)


def enqueue_post(
    session: AsyncSession,
    chat_id: int,
    post: bulletins.Post,
    blob_id: int,
    now: datetime,
    purpose: str,
) -> None:
    for part in post.parts:
        outbox.enqueue(session, chat_id, part, now, purpose=purpose)
    outbox.enqueue(
        session,
        chat_id,
        post.caption,
        now,
        method="sendPhoto",
        purpose=purpose,
        extra={"photo": {"blob": blob_id}},
    )


async def publish(
    db: Database,
    s: Settings,
    due: Due,
    now: datetime,
    *,
    member_id: int | None = None,
) -> list[int]:
    """Claim and queue the post for every active chat that has not had it; the chats it went to."""
    chats = await unclaimed_chats(db, due)
    if not chats:
        return []
    post = await make(db, s, due.kind, due.period, now, s.default_language)
    if post is None:
        return []
    purpose = f"post:{due.kind.value}:{due.period.key}"
    queued: list[int] = []
    async with db.write() as session:
        blob: Blob | None = None
        for chat_id in chats:
            if not await _claim(session, due, chat_id, QUEUED, now, member_id):
                continue  # another instance got there first
            if blob is None:
                blob = Blob(
                    name=f"{due.kind.value}-{due.period.key}.png", data=post.chart, created_at=now
                )
                session.add(blob)
                await session.flush()
            enqueue_post(session, chat_id, post, blob.id, now, purpose)
            queued.append(chat_id)
    if queued:
        logger.info(
            "Queued the %s post for %s to %d chat(s)", due.kind, due.period.key, len(queued)
        )
    return queued


async def skip(db: Database, due: Due, now: datetime) -> int:
    """Record the post as skipped for the chats that never had it."""
    chats = await unclaimed_chats(db, due)
    skipped = 0
    async with db.write() as session:
        for chat_id in chats:
            skipped += await _claim(session, due, chat_id, SKIPPED, now, None)
    if skipped:
        logger.warning(
            "Skipped the %s post for %s: missed by more than the grace window",
            due.kind,
            due.period.key,
        )
    return skipped


async def run_due(db: Database, s: Settings, now: datetime) -> int:
    """Post whatever is due and not yet posted; called at each scheduled time and on start."""
    queued = 0
    grace = timedelta(hours=s.post_grace_hours)
    for due in all_due(now, s):
        if now - due.at <= grace:
            queued += len(await publish(db, s, due, now))
        else:
            await skip(db, due, now)
    return queued
