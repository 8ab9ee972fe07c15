"""Fixtures: a migrated database per test (SQLite file, or PostgreSQL from DATABASE_URL),
the real application over the strict fake Bot API, and simulated people."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.app import BotApplication, build_application
from bot.clock import Clock
from bot.config import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Base
from tests import figures
from tests.fakeapi.core import FakeTelegram
from tests.fakeapi.request import FakeRequest
from tests.fakeapi.users import Harness
from tests.helpers import NOW, STRESS, ManualClock

# Shaped like a token but obviously not one (a real one has 8-10 digits and 35 characters).
TEST_TOKEN = "4242:offline-test-token-not-a-real-token-000"
ADMIN_TG_ID = 9001


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures the fault tests measured (tests/figures.py), when any ran."""
    if figures.FIGURES:
        database = "PostgreSQL" if postgres_url() else "SQLite"
        terminalreporter.section(f"Reliability figures ({database}, STRESS={STRESS})")
        for line in figures.lines():
            terminalreporter.write_line(line)


def postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgres") else None


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Run the migrations once per session: a template SQLite file, or the PostgreSQL test DB."""
    url = postgres_url()
    if url:
        upgrade(url)
        return url
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return str(path)


@pytest.fixture
async def db_url(migrated_template: str, tmp_path: Path) -> str:
    """A fresh, migrated, empty database for one test."""
    if postgres_url():
        db = Database(migrated_template)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with db.write() as session:
            await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await db.dispose()
        return migrated_template
    path = tmp_path / "bot.db"
    shutil.copyfile(migrated_template, path)
    return f"sqlite+aiosqlite:///{path}"


def make_settings(db_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "bot_token": TEST_TOKEN,
        "database_url": db_url,
        "admin_ids": [ADMIN_TG_ID],
        "default_language": "zh",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
def telegram() -> FakeTelegram:
    return FakeTelegram()


async def start_app(
    settings: Settings, telegram: FakeTelegram, clock: Clock | None = None
) -> BotApplication:
    """Build and initialise the real application over the fake Bot API, as `run` would."""
    app = build_application(
        settings, request=FakeRequest(telegram), clock=clock, rate_limiter=False
    )
    await app.initialize()
    if app.post_init:
        await app.post_init(app)
    return app


async def stop_app(app: BotApplication) -> None:
    await app.shutdown()
    if app.post_shutdown:
        await app.post_shutdown(app)


class BotHarness(Harness):
    """The harness, plus: the outbox is drained after every update, as the sender would."""

    async def process(self, update: Mapping[str, Any], *, validate: bool = True) -> None:
        await super().process(update, validate=validate)
        await self.drain()

    async def drain(self) -> None:
        await self.app.bot_data.outbox.drain(self.app.bot)

    @property
    def db(self) -> Database:
        return self.app.bot_data.db


@pytest.fixture
async def harness(settings: Settings, telegram: FakeTelegram) -> AsyncIterator[BotHarness]:
    """The running bot and its people; fails the test if any call broke the Bot API's rules
    or a handler raised."""
    app = await start_app(settings, telegram)
    bot = BotHarness(app, telegram)
    try:
        yield bot
    finally:
        await stop_app(app)
    assert telegram.violations == [], telegram.violations
    assert bot.errors == [], bot.errors


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
async def bot(
    settings: Settings, telegram: FakeTelegram, clock: ManualClock
) -> AsyncIterator[BotHarness]:
    """The harness with a clock the test moves."""
    app = await start_app(settings, telegram, clock)
    harness = BotHarness(app, telegram)
    try:
        yield harness
    finally:
        await stop_app(app)
    assert telegram.violations == [], telegram.violations
    assert harness.errors == [], harness.errors
