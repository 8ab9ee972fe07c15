"""Faults the bot meets in production: updates delivered twice, double taps, a database that
is locked or loses its connection mid-transaction. Nothing happens twice, nothing is lost."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
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
from tests.figures import record
from tests.helpers import STRESS, ManualClock, Plant, changed_rows, plant, snapshot
from tests.test_review import card_of, submit
from tests.test_submission import _idea_until_summary

# ---- duplicate delivery -----------------------------------------------------------------------


class Redeliver:
    """Processes every update twice, as Telegram does after a webhook timeout, and counts the
    second deliveries that made a Bot API call or changed a record (there must be none)."""

    def __init__(self, bot: BotHarness) -> None:
        self.bot = bot
        self.once = bot.process
        self.count = 0  # updates delivered twice
        self.acted: list[tuple[Any, list[str], bool]] = []  # (update id, calls, records changed)
        bot.process = self.process  # type: ignore[method-assign]

    async def process(self, update: Mapping[str, Any], *, validate: bool = True) -> None:
        data = dict(update)
        data.setdefault("update_id", self.bot.telegram.next_update_id())
        await self.once(data, validate=validate)
        calls, records = len(self.bot.telegram.calls), await snapshot(self.bot.db)
        await self.once(data, validate=validate)
        again = [c.method for c in self.bot.telegram.calls[calls:]]
        changed = await snapshot(self.bot.db) != records
        if again or changed:
            self.acted.append((data["update_id"], again, changed))
        self.count += 1


async def _count(db: Database, *where: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Item).where(*where)) or 0)


async def test_every_update_delivered_twice_acts_once(bot: BotHarness, clock: ManualClock) -> None:
    p = await plant(bot, clock, "en", assessor=False)
    twice = Redeliver(bot)
    rounds = 20 * STRESS
    for n in range(rounds):
        await _idea_until_summary(p, "en", title=f"Idea number {n}")
        replies = await p.worker.press(p.worker.last, "✅ Submit")
        assert f"JY-2026-{n + 1:04d}" in replies.texts[0]
        card = card_of(p.committee, f"JY-2026-{n + 1:04d}")
        await p.committee.press(card, "✅ 批准")
        await p.committee.press(p.committee.last, "✅ 确认批准")
        await p.worker.command("my")
    stored = await _count(bot.db)
    approved_items = await _count(bot.db, Item.status == ItemStatus.APPROVED)
    approved = [m for m in p.worker.inbox if "was approved!" in m.text]
    record(
        "reliability: duplicate delivery",
        f"{twice.count:,} updates delivered twice: {len(twice.acted)} acted twice (a Bot API "
        f"call or a changed record on the second delivery); {rounds} ideas submitted and "
        f"approved that way: {stored} items, {approved_items} approved, {len(approved)} "
        "approval notices",
    )
    assert twice.acted == []
    assert stored == rounds
    assert approved_items == rounds
    assert len(approved) == rounds
    assert twice.count == rounds * 12  # every step of every round went through twice


async def test_update_ids_are_remembered_for_two_days(bot: BotHarness, clock: ManualClock) -> None:
    p = await plant(bot, clock, "en")
    updates = [
        {
            "update_id": bot.telegram.next_update_id(),
            "message": bot.telegram.add_user_message(
                p.worker.id, p.worker.to_dict(), {"text": "/my", "entities": [_command(3)]}
            ),
        }
        for _ in range(3 * STRESS)
    ]
    for update in updates:
        await bot.process(update)
    await bot.app.update_persistence()  # PTB's timer: within a second in a running bot
    calls = len(bot.telegram.calls)
    sweep = next(j for j in bot.app.job_queue.jobs() if j.name == "drafts")  # type: ignore[union-attr]
    clock.advance(hours=30)
    await sweep.run(bot.app)
    async with bot.db.read() as session:
        stored = set(await session.scalars(select(ProcessedUpdate.update_id)))
    assert {u["update_id"] for u in updates} <= stored  # in the database, not only in memory
    acted = 0  # redeliveries 30 hours later that made a Bot API call
    for update in updates:
        before = len(bot.telegram.calls)
        await bot.process(update)
        acted += len(bot.telegram.calls) > before
    clock.advance(seconds=MEMORY.total_seconds() - timedelta(hours=29).total_seconds())
    await sweep.run(bot.app)
    async with bot.db.read() as session:
        kept = set(await session.scalars(select(ProcessedUpdate.update_id)))
    forgotten = sum(u["update_id"] not in kept for u in updates)
    record(
        "reliability: update ids remembered",
        f"{len(updates)} updates redelivered 30 hours later: {acted} acted again; "
        f"{forgotten} of {len(updates)} ids forgotten after {MEMORY.total_seconds() / 3600:g} "
        "hours",
    )
    assert acted == 0 and len(bot.telegram.calls) == calls  # still ignored after 30 hours
    assert forgotten == len(updates)  # forgotten after MEMORY (48 hours)


def _command(length: int) -> dict[str, Any]:
    return {"type": "bot_command", "offset": 0, "length": length}


# ---- double taps ------------------------------------------------------------------------------


async def test_a_double_tap_acts_once_and_an_unchanged_edit_is_harmless(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en", assessor=False)
    taps = 50 * STRESS
    refusals = 0
    wrong: list[Any] = []  # double taps that did not get exactly one refusal
    for n in range(taps):
        item = await submit(p, f"Idea {n}")
        await p.committee.press(card_of(p.committee, item.number), "✅ 批准")
        panel = p.committee.last
        await asyncio.gather(*(p.committee.press(panel, "✅ 确认批准") for _ in range(2)))
        refused = [a for a in p.committee.answers[-2:] if a.show_alert]
        refusals += len(refused)
        if len(refused) != 1:
            wrong.append(p.committee.answers[-2:])
    async with bot.db.read() as session:
        approvals = await session.scalar(
            select(func.count()).select_from(ItemEvent).where(ItemEvent.action == "approve")
        )
    notices = sum("was approved!" in m.text for m in p.worker.inbox)
    record(
        "reliability: double taps",
        f"{taps} double taps on Confirm approval ({2 * taps} presses): {approvals} decisions, "
        f"{refusals} presses refused, {notices} approval notices; {len(wrong)} double taps "
        "without exactly one refusal",
    )
    assert wrong == []
    assert approvals == taps
    assert notices == taps
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
    """Break the next submission mid-way. SQLite: another connection holds the write lock
    throughout (reads go on), so the submission's transaction cannot begin within the busy
    timeout. PostgreSQL: the connection is killed inside the transaction, after the item row
    was written."""
    fired: list[str] = []
    holder: list[sqlite3.Connection] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if not fired and statement.startswith("INSERT INTO item_author"):
            fired.append("killed")
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    if db.is_sqlite:
        other = sqlite3.connect(str(make_url(url).database), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        holder.append(other)
        fired.append("locked")
    else:
        event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield fired
    finally:
        if not db.is_sqlite:
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
    rounds = STRESS
    faults: Counter[str] = Counter()
    half_saved = 0  # rows a failed submission left changed
    apologies = stored = reviewers_told = 0
    unexpected: list[BaseException] = []  # errors other than the faults' own
    failures = 0  # errors seen so far
    try:
        p: Plant = await plant(bot, clock, "en")
        for n in range(rounds):
            await _idea_until_summary(p, "en", title=f"夜班加热节约电费 {n}")
            card = p.worker.last
            before = await snapshot(bot.db)
            with database_fault(bot.db, db_url) as fired:
                await p.worker.press(card, "✅ Submit")
            assert fired and fired[-1] in ("locked", "killed")
            faults[fired[-1]] += 1
            answer = p.worker.answers[-1]
            sorry = "Sorry, something went wrong. Please try again."
            apologies += bool(answer.show_alert and answer.text == sorry)
            half_saved += changed_rows(before, await snapshot(bot.db))  # nothing half-saved
            # Logged: the submission, and the conversation's position that could not be saved.
            logged = bot.errors[failures:]
            assert logged  # the fault was reported
            if db_url.startswith("sqlite"):
                assert any("database is locked" in str(e) for e in logged)
            unexpected += [e for e in logged if not isinstance(e, DBAPIError)]
            failures = len(bot.errors)
            # Everyone else is served, and the worker's draft is still at its last step.
            [help_text] = await p.colleague.command("help")
            assert "Savings campaign bot" in help_text.text
            replies = await p.worker.press(card, "✅ Submit")
            number = f"JY-2026-{n + 1:04d}"
            stored += f"Submitted! Registration number: {number}" in replies.texts[0]
            reviewers_told += sum(
                number in m.text and "New item to review" in m.text for m in p.assessor.inbox
            )
            unexpected += bot.errors[failures:]  # nothing fails after the fault is gone
            failures = len(bot.errors)
        items_stored = await _count(bot.db)
    finally:
        await stop_app(app)
    unexpected += bot.errors[failures:]
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(faults.items()))
    record(
        "reliability: database trouble",
        f"submissions hit by a database fault: {rounds} ({kinds}); rows half-saved: "
        f"{half_saved}; apologies shown: {apologies}; other errors: {len(unexpected)}; retried: "
        f"{stored} stored once ({items_stored} items, {reviewers_told} review cards)",
    )
    assert telegram.violations == []
    assert half_saved == 0
    assert apologies == rounds
    assert unexpected == []
    assert stored == items_stored == reviewers_told == rounds


# ---- Telegram trouble while notifying ---------------------------------------------------------


async def test_notifications_under_injected_faults_arrive_once_each(
    bot: BotHarness, clock: ManualClock
) -> None:
    people_ = [bot.user(first_name=f"P{n}", language_code="en") for n in range(50 * STRESS)]
    total = 500 * STRESS
    async with bot.db.write() as session:
        for n in range(total):
            user = people_[n % len(people_)]
            outbox.enqueue(session, user.id, f"Notice {n}", clock.now(), purpose="test")
    injected = {
        "retry_after": 40 * STRESS,  # 429: wait retry_after, then send
        "network": 40 * STRESS,  # never reached Telegram: send again
        "connect_timeout": 40 * STRESS,  # never reached Telegram: send again
        "timeout_after_accept": 40 * STRESS,  # Telegram has it: never send again
    }
    for kind, times in injected.items():
        bot.telegram.inject("sendMessage", kind=kind, times=times)  # type: ignore[arg-type]
    for _ in range(30):
        await bot.drain()
        clock.advance(seconds=60)
    texts = [m.text for user in people_ for m in user.inbox]
    copies = Counter(texts)
    async with bot.db.read() as session:
        rows = list(await session.scalars(select(OutboxMessage)))
    statuses = Counter(row.status for row in rows)
    arrived = [(row.status, copies[row.payload["text"]]) for row in rows]
    faults = [c for c in bot.telegram.errors if c.method == "sendMessage"]
    seen = Counter(_fault_kind(c.status, c.error or "") for c in faults)
    record(
        "reliability: notifications under Telegram faults",
        f"{total:,} notifications to {len(people_)} people under {len(faults)} injected faults "
        f"({seen['429']} 429s, {seen['network']} network errors, {seen['connect']} connect "
        f"timeouts, {seen['accepted']} timeouts after Telegram accepted): "
        f"{sum(s == 'sent' and n == 1 for s, n in arrived):,} delivered once, "
        f"{statuses['uncertain']} uncertain (not resent; "
        f"{sum(s == 'uncertain' and n == 1 for s, n in arrived)} had arrived), "
        f"{sum(n == 0 for _, n in arrived)} lost, {sum(n > 1 for _, n in arrived)} twice",
    )
    assert sorted(texts) == sorted(f"Notice {n}" for n in range(total))  # each once, none lost
    assert statuses == {"sent": total - 40 * STRESS, "uncertain": 40 * STRESS}
    assert len(faults) == sum(injected.values())


def _fault_kind(status: int, error: str) -> str:
    """Which injected fault a failed call met (see FakeTelegram.handle)."""
    if status == 429:
        return "429"
    for kind in ("network", "connect", "timed out"):
        if error.startswith(kind):
            return "accepted" if kind == "timed out" else kind
    return error
