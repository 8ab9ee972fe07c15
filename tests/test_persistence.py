"""Conversation positions and drafts survive a restart (a new Application, same database)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import select

from bot.config import Settings
from bot.persistence import SqlPersistence
from storage.db import Database
from storage.models import BotState, MemberStatus, ProcessedUpdate
from tests.conftest import BotHarness, start_app, stop_app
from tests.fakeapi.core import FakeTelegram
from tests.helpers import NOW, ManualClock, member_by_tg, seed_unit


async def test_joining_resumes_after_a_restart(settings: Settings) -> None:
    telegram = FakeTelegram()
    first = BotHarness(await start_app(settings, telegram), telegram)
    await seed_unit(first.db, "一车间")
    worker = first.user(first_name="Wu", language_code="en")
    await worker.start()
    await worker.press(worker.last, "一车间")
    ask_name = worker.last
    assert "What name should your colleagues see?" in ask_name.text
    await stop_app(first.app)

    # A new process over the same database: the same step, the same draft.
    second = BotHarness(await start_app(settings, telegram), telegram)
    worker.harness = second
    try:
        await worker.press(ask_name, "Use «Wu»")
        replies = await worker.press(worker.last, "Other staff")
        assert "You are registered, Wu." in replies.texts[-1]
        member = await member_by_tg(second.db, worker.id)
        assert member is not None and member.status == MemberStatus.ACTIVE
        assert member.name == "Wu"
    finally:
        await stop_app(second.app)
    assert telegram.violations == [] and second.errors == [] and first.errors == []


async def test_finished_conversations_leave_no_state(settings: Settings) -> None:
    from sqlalchemy import func, select

    from storage.models import BotState

    telegram = FakeTelegram()
    harness = BotHarness(await start_app(settings, telegram), telegram)
    try:
        await seed_unit(harness.db, "一车间")
        worker = harness.user(first_name="Ma", language_code="en")
        await worker.start()
        await worker.press(worker.last, "一车间")
        await worker.command("cancel")
        async with harness.db.read() as session:
            count = await session.scalar(
                select(func.count()).select_from(BotState).where(BotState.kind == "conv")
            )
        assert count == 0
    finally:
        await stop_app(harness.app)


async def test_the_migrations_build_exactly_the_models(db_url: str) -> None:
    """Alembic's autogenerate finds nothing to add: migrations and models never drift apart."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.models import Base

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_a_value_that_is_not_json_holds_up_no_other_write(db_url: str) -> None:
    """Refused (logged) when handed over; everyone else's changes and update ids are written."""
    db = Database(db_url)
    try:
        persistence = SqlPersistence(db, ManualClock(NOW))
        await persistence.update_user_data(1, {"amount": Decimal("1.5")})
        await persistence.update_user_data(2, {"lang": "en"})
        persistence.handled(77)
        await persistence.write_pending()
        async with db.read() as session:
            rows = {r.key: r.data for r in await session.scalars(select(BotState))}
            handled = list(await session.scalars(select(ProcessedUpdate.update_id)))
        assert rows == {"2": {"lang": "en"}} and handled == [77]
    finally:
        await db.dispose()


async def test_setting_an_isolation_level_on_sqlite_returns(db_url: str) -> None:
    """SQLAlchemy hands this call to aiosqlite's thread queue, which runs inline here."""
    db = Database(db_url)
    try:
        async with db.engine.connect() as conn:
            level = "SERIALIZABLE" if db.is_sqlite else "REPEATABLE READ"
            tuned = await asyncio.wait_for(conn.execution_options(isolation_level=level), 5)
            assert (await tuned.execute(select(1))).scalar() == 1
    finally:
        await db.dispose()
