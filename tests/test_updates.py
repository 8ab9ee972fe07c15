"""Which updates count as handled: one a handler failed on is handled again when Telegram
delivers it again; one that was handled is not."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from storage.models import ItemEvent, ItemStatus, ProcessedUpdate
from tests.conftest import BotHarness, make_settings, start_app, stop_app
from tests.fakeapi.core import FakeTelegram
from tests.helpers import ManualClock, plant
from tests.test_review import card_of, item_row, submit


class Recorder:
    """Keeps every update the harness processes, to deliver one again as Telegram would."""

    def __init__(self, bot: BotHarness) -> None:
        self.telegram = bot.telegram
        self.once = bot.process
        self.updates: list[dict[str, Any]] = []
        bot.process = self.process  # type: ignore[method-assign]

    async def process(self, update: Mapping[str, Any], *, validate: bool = True) -> None:
        data = dict(update)
        data.setdefault("update_id", self.telegram.next_update_id())
        self.updates.append(data)
        await self.once(data, validate=validate)


@contextmanager
def decisions_fail(bot: BotHarness) -> Iterator[list[str]]:
    """The database refuses the next change of an item's status (the decision's own statement),
    while everything else (the conversation's position, the update's id) can be written."""
    fired: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not fired and statement.startswith("UPDATE item SET status"):
            fired.append(statement)
            raise OperationalError(statement, None, Exception("injected: disk I/O error"))

    engine = bot.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield fired
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def _handled(bot: BotHarness, update_id: int) -> bool:
    async with bot.db.read() as session:
        found = await session.scalar(
            select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id == update_id)
        )
    return found is not None


async def test_an_update_that_failed_is_handled_when_delivered_again(
    db_url: str, telegram: FakeTelegram, clock: ManualClock
) -> None:
    app = await start_app(make_settings(db_url), telegram, clock)
    bot = BotHarness(app, telegram)
    try:
        p = await plant(bot, clock, "en")
        item = await submit(p, "Night shift heating")
        await p.assessor.press(card_of(p.assessor, item.number), "❌ Reject")
        recorder = Recorder(bot)
        # The reason arrives while the database cannot take the decision.
        with decisions_fail(bot) as fired:
            replies = await p.assessor.send("Tariffs have changed")
        assert fired, "the fault was not injected"
        assert replies.texts == ["Sorry, something went wrong. Please try again."]
        [reason] = recorder.updates
        assert not await _handled(bot, reason["update_id"])
        assert (await item_row(bot, item.id)).status == ItemStatus.FIRST_REVIEW
        # Telegram delivers it again (the bot had not confirmed it): now it takes.
        replies = await bot.deliver(p.assessor.id, reason)
        assert replies.texts == [f"Done: {item.number}: Not adopted. The author is told."]
        assert (await item_row(bot, item.id)).status == ItemStatus.REJECTED
        assert await _handled(bot, reason["update_id"])
        # A third delivery is ignored: nothing is sent, nothing decided twice.
        calls = len(telegram.calls)
        await bot.process(reason)
        assert len(telegram.calls) == calls
        async with bot.db.read() as session:
            actions = list(
                await session.scalars(select(ItemEvent.action).where(ItemEvent.item_id == item.id))
            )
        assert actions == ["submit", "reject"]
        assert [type(e) for e in bot.errors] == [OperationalError]  # the injected one only
    finally:
        await stop_app(app)
    assert telegram.violations == []


async def test_a_read_only_update_is_remembered_until_its_id_is_written_with_others(
    db_url: str, telegram: FakeTelegram, clock: ManualClock
) -> None:
    """/my changes nothing: its id waits in memory for the next write (PTB's persistence timer
    within a second, or the next change), and a redelivery meanwhile is ignored all the same."""
    app = await start_app(make_settings(db_url), telegram, clock)
    bot = BotHarness(app, telegram)
    try:
        p = await plant(bot, clock, "en")
        recorder = Recorder(bot)
        replies = await p.worker.command("my")
        assert "My items" in replies.texts[0]
        [mine] = recorder.updates
        assert not await _handled(bot, mine["update_id"])  # waiting in memory
        calls = len(telegram.calls)
        await bot.process(mine)  # delivered again: ignored
        assert len(telegram.calls) == calls
        await app.update_persistence()  # PTB's timer
        assert await _handled(bot, mine["update_id"])
        # The next update that changes something writes the ids waiting with its change.
        await p.worker.command("my")
        [_, waiting] = recorder.updates[-2:]
        assert waiting["update_id"] != mine["update_id"]
        await p.worker.command("idea")  # the conversation's position changes
        assert all([await _handled(bot, u["update_id"]) for u in recorder.updates[-2:]])
        # At shutdown what waits is written: a restarted bot ignores a redelivery.
        await p.worker.command("cancel")
        await p.worker.command("my")
        last = recorder.updates[-1]
    finally:
        await stop_app(app)
    app = await start_app(make_settings(db_url), telegram, clock)
    bot = BotHarness(app, telegram)
    try:
        calls = len(telegram.calls)
        await bot.process(last)
        assert len(telegram.calls) == calls
        assert await _handled(bot, last["update_id"])
    finally:
        await stop_app(app)
    assert telegram.violations == []


async def test_a_failed_timed_write_keeps_the_waiting_ids_for_the_next(
    db_url: str, telegram: FakeTelegram, clock: ManualClock
) -> None:
    """PTB's timer must survive a failed write (an exception would end it, and `stop()` would
    raise it again and skip the last write): it is logged and the ids stay queued."""
    app = await start_app(make_settings(db_url), telegram, clock)
    bot = BotHarness(app, telegram)
    fired: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not fired and statement.startswith("INSERT INTO processed_update"):
            fired.append(statement)
            raise OperationalError(statement, None, Exception("injected: database is locked"))

    try:
        p = await plant(bot, clock, "en")
        recorder = Recorder(bot)
        await p.worker.command("my")
        [mine] = recorder.updates
        engine = bot.db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", before)
        try:
            await app.update_persistence()  # PTB's timer: the write fails, nothing is raised
        finally:
            event.remove(engine, "before_cursor_execute", before)
        assert fired, "the fault was not injected"
        assert not await _handled(bot, mine["update_id"])
        calls = len(telegram.calls)
        await bot.process(mine)  # still remembered: a redelivery is ignored
        assert len(telegram.calls) == calls
        await app.update_persistence()  # the next tick writes it
        assert await _handled(bot, mine["update_id"])
    finally:
        await stop_app(app)
    assert telegram.violations == []
