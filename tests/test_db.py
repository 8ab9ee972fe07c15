"""The reads of one update share a session; writes are seen by the reads after them."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from storage.db import Database
from storage.models import Unit
from tests.conftest import BotHarness
from tests.helpers import NOW, ManualClock, plant, seed_unit


async def _units(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Unit)) or 0)


async def test_reads_in_an_update_share_one_session_and_see_its_writes(db_url: str) -> None:
    db = Database(db_url)
    try:
        async with db.read() as first, db.read() as second:
            assert first is not second  # no update: a session each
        async with db.update_scope():
            async with db.read() as first:
                before = await _units(db)
            async with db.read() as second:
                assert second is first
            await seed_unit(db, "三车间")  # a write commits: later reads start afresh
            assert await _units(db) == before + 1

            async def in_a_task() -> bool:
                async with db.read() as session:
                    return session is not first

            assert await asyncio.create_task(in_a_task())  # tasks the update starts: their own
            with pytest.raises(DBAPIError):
                async with db.read() as session:
                    await session.execute(text("SELECT * FROM no_such_table"))
            assert await _units(db) == before + 1  # a failed statement spoils no later read
            other = Database(db_url)
            try:
                async with other.read() as session, db.read() as mine:
                    assert session is not mine  # another database's reads are not shared
            finally:
                await other.dispose()
    finally:
        await db.dispose()


async def test_a_command_that_only_reads_takes_one_connection(
    bot: BotHarness, clock: ManualClock
) -> None:
    """Each session costs a checkout, BEGIN and ROLLBACK (on PostgreSQL also a ping). Its
    update's id waits to be written with others (`bot.persistence.HANDLED_WAIT`)."""
    p = await plant(bot, clock, "en")
    await p.worker.command("my")  # the first command loads the categories' cache
    checkouts: list[object] = []

    def counted(*_: object) -> None:
        checkouts.append(1)

    pool = bot.db.engine.sync_engine.pool
    event.listen(pool, "checkout", counted)
    try:
        expected = {"my": "My items: 0", "progress": "一车间", "rank": "一车间"}
        for command, shown in expected.items():
            checkouts.clear()
            replies = await p.worker.command(command)
            assert shown in replies[-1].text, (command, replies[-1].text)
            taken = len(checkouts)
            checkouts.clear()
            await bot.drain()  # the harness drains the outbox after each update, as the sender
            assert taken - len(checkouts) == 1, (command, taken, len(checkouts))
    finally:
        event.remove(pool, "checkout", counted)


async def test_no_read_transaction_is_open_while_the_bot_calls_telegram(
    bot: BotHarness, clock: ManualClock
) -> None:
    """A call may wait seconds (network, rate limits): PostgreSQL would keep an idle
    transaction and its locks meanwhile. The shared reads end before each call goes out."""
    p = await plant(bot, clock, "en")
    pool = bot.db.engine.sync_engine.pool
    open_at_call: list[tuple[str, int]] = []
    handle = bot.telegram.handle

    def watched(method: str, *args: object, **kwargs: object) -> object:
        open_at_call.append((method, pool.checkedout()))  # type: ignore[attr-defined]
        return handle(method, *args, **kwargs)

    bot.telegram.handle = watched  # type: ignore[method-assign]
    try:
        for command in ("my", "progress", "rank", "idea"):
            await p.worker.command(command)
    finally:
        bot.telegram.handle = handle  # type: ignore[method-assign]
    sent = [method for method, _ in open_at_call]
    assert sent.count("sendMessage") >= 4, sent
    assert all(n == 0 for _, n in open_at_call), open_at_call


async def test_a_write_that_fails_leaves_nothing(db_url: str) -> None:
    """On PostgreSQL reads run in autocommit; a write is still one transaction."""
    db = Database(db_url)
    try:
        before = await _units(db)
        with pytest.raises(RuntimeError):
            async with db.write() as session:
                session.add(Unit(name="三车间", headcount=5, created_at=NOW))
                await session.flush()  # the row is in the database, uncommitted
                async with db.read(own=True) as other:
                    seen = await other.scalar(select(func.count()).select_from(Unit))
                assert seen == before  # not visible outside the transaction
                raise RuntimeError("the rest of the decision failed")
        assert await _units(db) == before
    finally:
        await db.dispose()


def test_the_committee_and_the_office_are_found_by_their_role() -> None:
    """SQLite reads the committee and the office from their role's index; by the status index
    it would read every active member (20,000 on the benchmark's large set) to find a few."""
    from sqlalchemy import create_engine
    from sqlalchemy.dialects import sqlite

    from bot.services.items import _REVIEWERS
    from bot.services.people import _ADMINS
    from storage.models import Base

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    _assessors, committee, office = _REVIEWERS
    try:
        with engine.connect() as connection:
            for query, role in (
                (committee, "committee"),
                (office, "admin"),
                (_ADMINS, "admin"),
            ):
                compiled = query.compile(dialect=sqlite.dialect())
                unbound = (None,) * len(compiled.positiontup or ())  # the plan is the same for any
                explained = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", unbound)
                plan = [row[-1] for row in explained]
                reads = [step for step in plan if step.startswith(("SCAN member", "SEARCH member"))]
                assert reads == [
                    f"SEARCH member USING INDEX ix_member_{role} (is_{role}=? AND status=?)"
                ], plan
    finally:
        engine.dispose()
