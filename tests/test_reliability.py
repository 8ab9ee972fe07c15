"""Faults the bot meets in production: updates delivered twice, double taps, a database that
is locked or loses its connection mid-transaction. Nothing happens twice, nothing is lost."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.config import Settings
from bot.services import outbox
from bot.services.updates import MEMORY
from storage.db import Database
from storage.models import Item, ItemEvent, ItemStatus, OutboxMessage, ProcessedUpdate
from tests.conftest import BotHarness, make_settings, start_app, stop_app
from tests.fakeapi.core import FakeTelegram
from tests.helpers import ManualClock, Plant, plant, snapshot
from tests.test_review import card_of, submit
from tests.test_submission import _idea_until_summary

# ---- duplicate delivery -----------------------------------------------------------------------


class Redeliver:
    """Processes every update twice, as Telegram does after a webhook timeout, and checks that
    the second delivery makes no Bot API call and changes no record."""

    def __init__(self, bot: BotHarness) -> None:
        self.bot = bot
        self.once = bot.process
        self.count = 0
        bot.process = self.process  # type: ignore[method-assign]

    async def process(self, update: Mapping[str, Any], *, validate: bool = True) -> None:
        data = dict(update)
        data.setdefault("update_id", self.bot.telegram.next_update_id())
        await self.once(data, validate=validate)
        calls, records = len(self.bot.telegram.calls), await snapshot(self.bot.db)
        await self.once(data, validate=validate)
        assert len(self.bot.telegram.calls) == calls, self.bot.telegram.calls[calls:]
        assert await snapshot(self.bot.db) == records
        self.count += 1


async def _count(db: Database, *where: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Item).where(*where)) or 0)


async def test_every_update_delivered_twice_acts_once(bot: BotHarness, clock: ManualClock) -> None:
    p = await plant(bot, clock, "en", assessor=False)
    twice = Redeliver(bot)
    rounds = 20
    for n in range(rounds):
        await _idea_until_summary(p, "en", title=f"Idea number {n}")
        replies = await p.worker.press(p.worker.last, "✅ Submit")
        assert f"JY-2026-{n + 1:04d}" in replies.texts[0]
        card = card_of(p.committee, f"JY-2026-{n + 1:04d}")
        await p.committee.press(card, "✅ 批准")
        await p.committee.press(p.committee.last, "✅ 确认批准")
        await p.worker.command("my")
    assert await _count(bot.db) == rounds
    assert await _count(bot.db, Item.status == ItemStatus.APPROVED) == rounds
    approved = [m for m in p.worker.inbox if "was approved!" in m.text]
    assert len(approved) == rounds
    assert twice.count == rounds * 12  # every step of every round went through twice


async def test_update_ids_are_remembered_for_two_days(bot: BotHarness, clock: ManualClock) -> None:
    p = await plant(bot, clock, "en")
    update = {
        "update_id": bot.telegram.next_update_id(),
        "message": bot.telegram.add_user_message(
            p.worker.id, p.worker.to_dict(), {"text": "/my", "entities": [_command(3)]}
        ),
    }
    await bot.process(update)
    calls = len(bot.telegram.calls)
    sweep = next(j for j in bot.app.job_queue.jobs() if j.name == "drafts")  # type: ignore[union-attr]
    clock.advance(hours=30)
    await sweep.run(bot.app)
    await bot.process(update)
    assert len(bot.telegram.calls) == calls  # a redelivery 30 hours later is still ignored
    clock.advance(seconds=MEMORY.total_seconds() - timedelta(hours=29).total_seconds())
    await sweep.run(bot.app)
    async with bot.db.read() as session:
        kept = list(await session.scalars(select(ProcessedUpdate.update_id)))
    assert update["update_id"] not in kept  # forgotten after MEMORY (48 hours)


def _command(length: int) -> dict[str, Any]:
    return {"type": "bot_command", "offset": 0, "length": length}


# ---- double taps ------------------------------------------------------------------------------


async def test_a_double_tap_acts_once_and_an_unchanged_edit_is_harmless(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en", assessor=False)
    taps = 50
    for n in range(taps):
        item = await submit(p, f"Idea {n}")
        await p.committee.press(card_of(p.committee, item.number), "✅ 批准")
        panel = p.committee.last
        await asyncio.gather(*(p.committee.press(panel, "✅ 确认批准") for _ in range(2)))
        refused = [a for a in p.committee.answers[-2:] if a.show_alert]
        assert len(refused) == 1, p.committee.answers[-2:]
    async with bot.db.read() as session:
        approvals = await session.scalar(
            select(func.count()).select_from(ItemEvent).where(ItemEvent.action == "approve")
        )
    assert approvals == taps
    assert sum("was approved!" in m.text for m in p.worker.inbox) == taps
    # Pressing the period already shown edits nothing: Telegram's "not modified" is swallowed.
    [ranking] = await p.worker.command("rank")
    shown = next(b for b in ranking.callback_data if b.startswith("rk:"))
    await p.worker.press(ranking, shown)
    await p.worker.press(ranking, shown)
    not_modified = [c for c in bot.telegram.errors if "not modified" in (c.error or "")]
    assert not_modified  # Telegram refused the identical edit ...
    assert not p.worker.answers[-1].show_alert  # ... and the user saw no error


# ---- database trouble -------------------------------------------------------------------------


@contextmanager
def database_fault(db: Database, url: str) -> Iterator[list[str]]:
    """Break the next submission mid-way. SQLite: another connection holds the write lock when
    the submission's transaction begins (the update's first write), beyond the busy timeout.
    PostgreSQL: the connection is killed inside the transaction, after the item row was written.
    """
    fired: list[str] = []
    holder: list[sqlite3.Connection] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if fired:
            return
        if not db.is_sqlite:
            if statement.startswith("INSERT INTO item_author"):
                fired.append("killed")
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            return
        if statement != "BEGIN IMMEDIATE":
            return
        other = sqlite3.connect(str(make_url(url).database), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        holder.append(other)
        fired.append("locked")

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield fired
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", before)
        for other in holder:
            other.execute("ROLLBACK")
            other.close()


async def test_database_trouble_mid_submission_loses_nothing_and_keeps_the_step(
    db_url: str, telegram: FakeTelegram, clock: ManualClock
) -> None:
    settings: Settings = make_settings(db_url, sqlite_busy_timeout_ms=200)
    app = await start_app(settings, telegram, clock)
    bot = BotHarness(app, telegram)
    try:
        p: Plant = await plant(bot, clock, "en")
        await _idea_until_summary(p, "en")
        card = p.worker.last
        before = await snapshot(bot.db)
        with database_fault(bot.db, db_url) as fired:
            await p.worker.press(card, "✅ Submit")
        assert fired and fired[-1] in ("locked", "killed")
        answer = p.worker.answers[-1]
        assert answer.show_alert and answer.text == "Sorry, something went wrong. Please try again."
        assert await snapshot(bot.db) == before  # nothing half-saved
        # Logged: the submission, and the conversation's position that could not be saved then.
        assert bot.errors and all(isinstance(e, DBAPIError) for e in bot.errors)
        failures = len(bot.errors)
        # Everyone else is served, and the worker's draft is still at its last step.
        [help_text] = await p.colleague.command("help")
        assert "Savings campaign bot" in help_text.text
        replies = await p.worker.press(card, "✅ Submit")
        assert "Submitted! Registration number: JY-2026-0001" in replies.texts[0]
        assert await _count(bot.db) == 1
        assert "New item to review" in p.assessor.last.text
    finally:
        await stop_app(app)
    assert telegram.violations == []
    assert len(bot.errors) == failures


# ---- Telegram trouble while notifying ---------------------------------------------------------


async def test_notifications_under_injected_faults_arrive_once_each(
    bot: BotHarness, clock: ManualClock
) -> None:
    people_ = [bot.user(first_name=f"P{n}", language_code="en") for n in range(50)]
    total = 500
    async with bot.db.write() as session:
        for n in range(total):
            user = people_[n % len(people_)]
            outbox.enqueue(session, user.id, f"Notice {n}", clock.now(), purpose="test")
    injected = {
        "retry_after": 40,  # 429: wait retry_after, then send
        "network": 40,  # never reached Telegram: send again
        "connect_timeout": 40,  # never reached Telegram: send again
        "timeout_after_accept": 40,  # Telegram has it: never send again
    }
    for kind, times in injected.items():
        bot.telegram.inject("sendMessage", kind=kind, times=times)  # type: ignore[arg-type]
    for _ in range(30):
        await bot.drain()
        clock.advance(seconds=60)
    texts = [m.text for user in people_ for m in user.inbox]
    assert sorted(texts) == sorted(f"Notice {n}" for n in range(total))  # each once, none lost
    async with bot.db.read() as session:
        statuses = dict(
            (
                await session.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                )
            ).all()
        )
    assert statuses == {"sent": total - 40, "uncertain": 40}
    faults = [c for c in bot.telegram.errors if c.method == "sendMessage"]
    assert len(faults) == sum(injected.values())
