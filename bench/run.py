"""Benchmarks of the bot on a generated plant: a plain-text report with PASS/MISS per target.

Run from the repository root (no network, no token; temporary files are removed):

    .venv/bin/python bench/run.py                          # small and large on SQLite
    .venv/bin/python bench/run.py --sizes small --updates 100 --flows 10
    DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/bench .venv/bin/python bench/run.py

With DATABASE_URL pointing at PostgreSQL, the data sets go there instead of a SQLite file, and
the database's `public` schema is DROPPED and recreated for each size: give it a database of
its own. `--out FILE` also writes the report to FILE. Every figure is measured in the same run
and compared with baselines measured in that run, so the ratios hold on any machine.
"""

# ruff: noqa: E402

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import platform
import re
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import textwrap
import threading
import time
import tracemalloc
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

SELF = str(Path(__file__).resolve())
ROOT = Path(SELF).parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from openpyxl import LXML, Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import from_excel
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    Table,
    delete,
    event,
    func,
    insert,
    make_url,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import Application, CommandHandler

from bot import bulletins
from bot.app import BotApplication, build_application, settle_memory
from bot.clock import Clock
from bot.config import Settings
from bot.i18n import translator
from bot.persistence import HANDLED_WAIT
from bot.services import campaigns, export, importer, items, posts, reports
from bot.services.reports import ReportKind
from bot.services.sample import Shape, populate
from storage.db import Database
from storage.migrate import upgrade
from storage.models import (
    Item,
    ItemAuthor,
    ItemEvent,
    ItemKind,
    ItemStatus,
    Member,
    MemberSaving,
    MemberStatus,
    ProcessedUpdate,
    Unit,
    UnitAssessor,
)
from storage.types import UTCDateTime
from tests.fakeapi.core import FakeTelegram, StoredMessage
from tests.fakeapi.request import FakeRequest
from tests.fakeapi.users import FakeUser, Harness

TOKEN = "4242:offline-bench-token-not-a-real-token-0000"
TZ_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TZ_NAME)
TODAY = date(2026, 11, 20)
# After the last generated event (working hours end at 17:30 local on `TODAY`).
NOW = datetime.combine(TODAY, clock_time(18, 0), TZ).astimezone(UTC)

SIZES = {
    "small": Shape(
        units=20,
        workers=2_000,
        ideas=17_000,
        approved=7_500,
        certified_total=None,
        waste=3_000,
        days=730,
    ),
    "large": Shape(
        units=200,
        workers=20_000,
        ideas=170_000,
        approved=75_000,
        certified_total=None,
        waste=30_000,
        days=730,
    ),
}

TITLES = [
    ("空压机管网检漏，减少漏气", "排查压缩空气管网，更换老化的快插接头，空压机加载时间明显减少。"),
    ("退火炉加热改到夜班", "退火炉白班升温正处峰时电价，改到夜班谷电时段升温，白班只做保温。"),
    ("废旧轴承翻新利用", "收集报废的轴承，清洗、检测后作为备件使用，减少外购。"),
    ("食堂洗菜池加装节水龙头", "食堂洗菜池长流水，加装节水龙头并按用餐人数开启蒸饭柜。"),
]  # fmt: skip
# A title sharing no two characters with the generated ones: the similar-idea lookup reads
# its whole window of newest items (the submission flow's titles are found at once).
UNSEEN = ("鹦鹉螺号潜艇模型", "无关的描述。")


# ---- the clock, the harness, the statistics ---------------------------------------------------


class FixedClock(Clock):
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


# (generation, seconds) of every garbage collection while one of the bot's updates was timed.
GC_PAUSES: list[tuple[int, float]] = []
FULL_COLLECTIONS: list[float] = []  # one full collection timed after each size's scenarios
_GC_WATCH = {"on": False, "began": 0.0}


def _collecting(phase: str, info: dict[str, int]) -> None:
    """Collections during the bot's timed updates: their pauses are in the latencies."""
    if not _GC_WATCH["on"]:
        return
    if phase == "start":
        _GC_WATCH["began"] = time.perf_counter()
    else:
        GC_PAUSES.append((info["generation"], time.perf_counter() - _GC_WATCH["began"]))


gc.callbacks.append(_collecting)


class TimedHarness(Harness):
    """The test harness, timing `Application.process_update` of each update (the update's
    conversion from JSON and the outbox draining stay outside) and counting the SQL statements
    it sends to `engine`; `outbox=True` drains the bot's outbox after every update, timed
    separately, as the bot's sender would."""

    def __init__(
        self, app: Any, telegram: FakeTelegram, *, outbox: bool, engine: AsyncEngine | None
    ) -> None:
        super().__init__(app, telegram)
        self.outbox = outbox
        self.samples: list[float] | None = None
        self.drained = 0.0
        self.drained_messages = 0
        self.statements = 0
        self._timing = False
        self.watch_gc = False  # count the collections during its timed updates (GC_PAUSES)
        # Baseline B's harness and user: while recording, one B update follows each update.
        self.partner: tuple[TimedHarness, FakeUser] | None = None
        self.beside: list[float] = []
        self.last = 0.0
        self._timer_fired = time.monotonic()
        if engine is not None:
            event.listen(engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, *_args: object) -> None:
        if self._timing and self.samples is not None:
            self.statements += 1

    async def process(self, update: Mapping[str, Any], *, validate: bool = True) -> None:
        data = dict(update)
        data.setdefault("update_id", self.telegram.next_update_id())
        parsed = Update.de_json(data, self.app.bot)
        self._timing = True
        _GC_WATCH["on"] = self.watch_gc
        began = time.perf_counter()
        try:
            await self.app.process_update(parsed)
            await self._persistence_timer()
        finally:
            elapsed = time.perf_counter() - began
            self._timing = False
            _GC_WATCH["on"] = False
        self.last = elapsed
        if self.samples is not None:
            self.samples.append(elapsed)
        if self.outbox:
            began = time.perf_counter()
            sent = await self.app.bot_data.outbox.drain(self.app.bot)
            if self.samples is not None:
                self.drained += time.perf_counter() - began
                self.drained_messages += sent
        if self.partner is not None and self.samples is not None:
            partner, user = self.partner
            await user.command("ping")
            self.beside.append(partner.last)

    async def _persistence_timer(self) -> None:
        """PTB's persistence timer writes the update ids left waiting every `HANDLED_WAIT`
        seconds. The application is not started here, so the harness fires it as often, and
        its cost counts in the update it follows."""
        if time.monotonic() - self._timer_fired >= HANDLED_WAIT:
            self._timer_fired = time.monotonic()
            await self.app.update_persistence()

    @contextlib.contextmanager
    def recording(self, collect: bool = True) -> Iterator[list[float]]:
        if collect:
            gc.collect()
        self.samples, self.drained, self.drained_messages, self.statements = [], 0.0, 0, 0
        self.beside = []
        try:
            yield self.samples
        finally:
            self.samples = None

    def rate(self, label: str, samples: list[float]) -> Rate:
        return Rate(
            label, samples, self.drained, self.drained_messages, self.statements, self.beside
        )

    def check(self, what: str) -> None:
        """A benchmark of failing updates means nothing: stop at the first problem."""
        problems = [repr(e) for e in self.errors] + list(self.telegram.violations)
        if problems:
            raise BenchError(f"{what}: {problems[:3]}")


class BenchError(Exception):
    pass


@dataclass
class Rate:
    """Per-update latencies of a scenario."""

    label: str
    samples: list[float]
    drained: float = 0.0  # seconds spent draining the outbox after these updates (not in samples)
    messages: int = 0  # messages the drains sent
    statements: int = 0  # SQL statements the updates sent (drains excluded)
    # Baseline B's latencies measured alongside: one B update right after each of these, so
    # that both share the machine's moments (its busy spells slow both, not one).
    beside: list[float] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.samples)

    @property
    def per_second(self) -> float:
        return len(self.samples) / self.total if self.samples else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        return _p99(self.samples)

    @property
    def beside_per_second(self) -> float:
        return len(self.beside) / sum(self.beside) if self.beside else 0.0

    @property
    def beside_p99(self) -> float:
        return _p99(self.beside)


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] if ordered else 0.0


@dataclass
class Wall:
    """Wall time of a call (the median of its runs, if repeated) and its SQL statements."""

    label: str
    seconds: float
    statements: int


@dataclass
class ExportFigures:
    items: int
    rows: dict[str, int]
    seconds: float
    rss_peak: int  # the process's highest RSS during the export (bytes)
    rss_start: int  # its RSS just before
    traced_peak: int | None  # tracemalloc's peak in a second run (--tracemalloc)
    size: int
    plain_seconds: float  # scaled to all rows
    plain_share: float  # the share of the rows the plain writer wrote
    cells: int  # cells in the export's sheets
    plain_cells: int  # cells the plain writer wrote, scaled to all rows


@dataclass
class SizeFigures:
    name: str
    shape: Shape
    url: str
    populate_seconds: float
    builder_rss: int  # peak RSS of the child process that built the data set (bytes)
    counts: dict[str, int]
    rates: dict[str, Rate] = field(default_factory=dict)
    walls: dict[str, Wall] = field(default_factory=dict)
    export: ExportFigures | None = None
    importer_rss: int = 0  # peak RSS of the child process that imported a roster (bytes)


# ---- databases ----------------------------------------------------------------------------


def postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgres") else None


async def fresh_database(name: str, workdir: Path, *, last: bool) -> str:
    """An empty, migrated database for one size: a new SQLite file, or on PostgreSQL the
    given database's public schema dropped and recreated for the last size and a database
    beside it (`<name>_bench_<size>`, made anew) for each other one: the sizes are kept until
    the growth from one to the other is measured."""
    url = postgres_url()
    if url:
        if not last:
            url = await sibling_database(url, name, create=True)
        db = Database(url)
        try:
            async with db.engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        finally:
            await db.dispose()
    else:
        url = f"sqlite+aiosqlite:///{workdir / (name + '.db')}"
    await asyncio.to_thread(upgrade, url)
    return url


async def sibling_database(url: str, name: str, *, create: bool) -> str:
    """The URL of the database `<database>_bench_<name>` on the same PostgreSQL server,
    dropped, then (with `create`) made anew with the given one's encoding and collation (the
    user needs CREATEDB; PostgreSQL 13 or later)."""
    given = make_url(url)
    sibling = f"{given.database}_bench_{name}"
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{sibling}" WITH (FORCE)'))
            if create:
                encoding, collate, ctype = (
                    await conn.execute(
                        text(
                            "SELECT pg_encoding_to_char(encoding), datcollate, datctype"
                            " FROM pg_database WHERE datname = current_database()"
                        )
                    )
                ).one()
                await conn.execute(
                    text(
                        f"CREATE DATABASE \"{sibling}\" TEMPLATE template0 ENCODING '{encoding}'"
                        f" LC_COLLATE '{collate}' LC_CTYPE '{ctype}'"
                    )
                )
    finally:
        await db.dispose()
    return given.set(database=sibling).render_as_string(hide_password=False)


@contextlib.contextmanager
def counting(engine: AsyncEngine) -> Iterator[list[int]]:
    """Count the SQL statements the engine sends while inside (the count in [0])."""
    seen = [0]

    def count(*_args: object) -> None:
        seen[0] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def table_counts(db: Database) -> dict[str, int]:
    async with db.read() as session:
        return {
            name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in (
                ("members", Member),
                ("items", Item),
                ("authors", ItemAuthor),
                ("events", ItemEvent),
            )
        }


# ---- baselines ----------------------------------------------------------------------------

PINGS = MetaData()
PING = Table(
    "bench_ping",
    PINGS,
    Column("id", Integer, primary_key=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)


def bare_application(
    telegram: FakeTelegram, db: Database | None
) -> Application[Any, Any, Any, Any, Any, Any]:
    """A bare PTB application over the same fake: /ping sends one message; with `db`, the
    handler first inserts a row and commits."""
    request = FakeRequest(telegram)
    app = Application.builder().token(TOKEN).request(request).get_updates_request(request).build()

    async def ping(update: Update, _context: Any) -> None:
        assert update.effective_message and update.effective_chat
        if db is not None:
            async with db.write() as session:
                await session.execute(
                    insert(PING).values(chat_id=update.effective_chat.id, created_at=NOW)
                )
        await update.effective_message.reply_text("<b>pong</b>", parse_mode=ParseMode.HTML)

    app.add_handler(CommandHandler("ping", ping))
    return app


def reply_application(
    telegram: FakeTelegram, message: Mapping[str, Any]
) -> Application[Any, Any, Any, Any, Any, Any]:
    """A bare PTB application over the same fake whose /reply sends the message the bot sent
    (`message`: the parameters of its sendMessage call, keyboard included) to the chat the
    command came from, with no database: what that one Bot API call costs through PTB."""
    request = FakeRequest(telegram)
    app = Application.builder().token(TOKEN).request(request).get_updates_request(request).build()
    kwargs = {key: value for key, value in message.items() if key != "chat_id"}
    if isinstance(kwargs.get("reply_markup"), dict):
        kwargs["reply_markup"] = InlineKeyboardMarkup.de_json(kwargs["reply_markup"], app.bot)

    async def reply(update: Update, _context: Any) -> None:
        assert update.effective_chat
        await app.bot.send_message(update.effective_chat.id, **kwargs)

    app.add_handler(CommandHandler("reply", reply))
    return app


async def measure_reply(
    telegram: FakeTelegram,
    message: Mapping[str, Any],
    label: str,
    n: int,
    budget: float,
    partner: tuple[TimedHarness, FakeUser],
) -> Rate:
    """The bot's reply to a command sent by `reply_application`, timed beside baseline B."""
    app = reply_application(telegram, message)
    await app.initialize()
    try:
        harness = TimedHarness(app, telegram, outbox=False, engine=None)
        harness.partner = partner
        return await measure_commands(
            harness, harness.user(first_name="Alone"), "reply", n, label, budget
        )
    finally:
        await app.shutdown()


async def measure_commands(
    harness: TimedHarness, user: FakeUser, command: str, n: int, label: str, budget: float
) -> Rate:
    """`n` timed updates (fewer, but at least `MIN_SAMPLES`, once `budget` seconds are spent)."""
    for _ in range(warmup(n)):
        await user.command(command)
    began = time.perf_counter()
    with harness.recording() as samples:
        for i in range(n):
            await user.command(command)
            if i + 1 >= MIN_SAMPLES and time.perf_counter() - began > budget:
                break
    harness.check(label)
    return harness.rate(label, samples)


MIN_SAMPLES = 30


def warmup(n: int) -> int:
    return max(3, n // 10)


@contextlib.asynccontextmanager
async def ping_database(url: str) -> AsyncIterator[Database]:
    """The database with the baselines' table, dropped afterwards."""
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(PINGS.create_all)
        yield db
        async with db.engine.begin() as conn:
            await conn.run_sync(PINGS.drop_all)
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def baseline_b(
    url: str, telegram: FakeTelegram
) -> AsyncIterator[tuple[TimedHarness, FakeUser]]:
    """Baseline B kept running beside the bot: its harness and its user (warmed up)."""
    async with ping_database(url) as db:
        app = bare_application(telegram, db)
        await app.initialize()
        try:
            harness = TimedHarness(app, telegram, outbox=False, engine=None)
            user = harness.user(first_name="Beside")
            for _ in range(10):
                await user.command("ping")
            yield harness, user
            harness.check("baseline B alongside")
        finally:
            await app.shutdown()


async def baselines(url: str, telegram: FakeTelegram, n: int, budget: float) -> dict[str, Rate]:
    rates: dict[str, Rate] = {}
    async with ping_database(url) as db:
        for key, label, with_db in (
            ("A", "baseline A: bare PTB, one message", None),
            ("B", "baseline B: A + one insert and commit", db),
        ):
            app = bare_application(telegram, with_db)
            await app.initialize()
            try:
                harness = TimedHarness(app, telegram, outbox=False, engine=db.engine)
                user = harness.user(first_name="Ping")
                rates[key] = await measure_commands(harness, user, "ping", n, label, budget)
            finally:
                await app.shutdown()
    return rates


# ---- the bot ------------------------------------------------------------------------------


def bench_settings(url: str) -> Settings:
    values: dict[str, Any] = {
        "bot_token": TOKEN,
        "database_url": url,
        "admin_ids": [],
        "default_language": "zh",
        "timezone": TZ_NAME,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def start_bot(
    settings: Settings, telegram: FakeTelegram, *, settle: bool = True
) -> BotApplication:
    """Start the bot as `savings-bot run` does (its start-up objects out of the garbage
    collector's sight unless `settle` is False), over the fake Bot API."""
    app = build_application(
        settings, request=FakeRequest(telegram), clock=FixedClock(NOW), rate_limiter=False
    )
    if settle:
        settle_memory()
    await app.initialize()
    if app.post_init:
        await app.post_init(app)
    return app


async def stop_bot(app: BotApplication) -> None:
    gc.unfreeze()  # what start_bot froze may go now
    await app.shutdown()
    if app.post_shutdown:
        await app.post_shutdown(app)


@dataclass(frozen=True)
class Cast:
    """Generated people the scenarios act as (Telegram ids as the generator gave them)."""

    reader: int  # the worker with the most items: /my, /rank, /progress
    newcomer: int  # a worker with nothing certified yet: ranks last, behind every other one
    submitter: int  # a worker of a unit with an assessor: the submission flow
    committee: int  # a committee member: approvals
    committee_member_id: int
    to_approve: list[int]  # ideas with the committee that this member did not write
    recipients: list[int]  # everyone the scenarios' notifications go to


async def cast(db: Database, approvals: int) -> Cast:
    async with db.read() as session:
        authored = func.count(ItemAuthor.item_id)
        reader = (
            await session.execute(
                select(Member.telegram_id)
                .join(ItemAuthor, ItemAuthor.member_id == Member.id)
                .where(
                    Member.status == MemberStatus.ACTIVE,
                    Member.is_admin.is_(False),
                    Member.is_committee.is_(False),
                )
                .group_by(Member.id, Member.telegram_id)
                .order_by(authored.desc(), Member.id)
                .limit(1)
            )
        ).one()[0]
        credited = select(MemberSaving.member_id).where(
            MemberSaving.member_id == Member.id, MemberSaving.fen > 0
        )
        newcomer = await session.scalar(
            select(Member.telegram_id)
            .where(
                Member.status == MemberStatus.ACTIVE,
                Member.unit_id.is_not(None),
                Member.is_admin.is_(False),
                Member.is_committee.is_(False),
                ~credited.exists(),
            )
            .order_by(Member.id)
            .limit(1)
        )
        submitter_row = (
            await session.execute(
                select(Member.telegram_id, UnitAssessor.member_id)
                .join(UnitAssessor, UnitAssessor.unit_id == Member.unit_id)
                .where(
                    Member.id != UnitAssessor.member_id,
                    Member.status == MemberStatus.ACTIVE,
                    Member.is_admin.is_(False),
                    Member.is_committee.is_(False),
                    Member.telegram_id.not_in((reader, newcomer)),
                )
                .order_by(Member.id.desc())
                .limit(1)
            )
        ).one()
        committee_id, committee_tg = (
            await session.execute(
                select(Member.id, Member.telegram_id)
                .where(Member.is_committee.is_(True), Member.status == MemberStatus.ACTIVE)
                .order_by(Member.id)
                .limit(1)
            )
        ).one()
        mine = select(ItemAuthor.item_id).where(ItemAuthor.member_id == committee_id)
        to_approve = list(
            await session.scalars(
                select(Item.id)
                .where(
                    Item.kind == ItemKind.IDEA,
                    Item.status == ItemStatus.COMMITTEE,
                    Item.id.not_in(mine),
                )
                .order_by(Item.id.desc())
                .limit(approvals)
            )
        )
        recipients = set(
            await session.scalars(
                select(Member.telegram_id)
                .join(ItemAuthor, ItemAuthor.member_id == Member.id)
                .where(ItemAuthor.item_id.in_(to_approve))
            )
        )
        recipients |= set(
            await session.scalars(
                select(Member.telegram_id).where(
                    Member.id.in_(select(UnitAssessor.member_id)) | Member.is_committee.is_(True)
                )
            )
        )
        recipients.add(
            await session.scalar(select(Member.telegram_id).where(Member.id == submitter_row[1]))
        )
    if None in (reader, newcomer, submitter_row[0], committee_tg):
        raise BenchError("generated members have Telegram ids")
    return Cast(
        reader=int(reader),
        newcomer=int(newcomer),
        submitter=int(submitter_row[0]),
        committee=int(committee_tg),
        committee_member_id=int(committee_id),
        to_approve=to_approve,
        recipients=sorted(int(r) for r in recipients if r is not None),
    )


async def reply_of(user: FakeUser, command: str) -> dict[str, Any]:
    """The parameters of the one sendMessage call the bot answers `command` with."""
    began = len(user.telegram.calls)
    await user.command(command)
    calls = user.telegram.calls[began:]
    if [c.method for c in calls] != ["sendMessage"]:
        raise BenchError(f"/{command} answered with {[c.method for c in calls]}")
    return dict(calls[0].params)


def last_message(user: FakeUser) -> StoredMessage:
    messages = user.telegram.bot_messages(user.id)
    if not messages:
        raise BenchError(f"{user!r} got nothing from the bot")
    return messages[-1]


def button(message: StoredMessage, pattern: str) -> str:
    for row in message.inline_keyboard:
        for b in row:
            data = b.get("callback_data")
            if data and re.search(pattern, data):
                return str(data)
    raise BenchError(f"no button {pattern!r} on {message.text[:80]!r}")


async def press(user: FakeUser, pattern: str) -> None:
    message = last_message(user)
    await user.press(message, button(message, pattern))


async def submission_flow(user: FakeUser, n: int) -> None:
    """The whole idea conversation (as in tests/test_submission.py), without files."""
    title, body = TITLES[n % len(TITLES)]
    await user.command("idea")
    await press(user, r":cat:\d+$")
    await user.send(title)
    await user.send(body)
    await user.send("1.5万")
    await press(user, r":unit:\d+$")  # the member's own unit comes first
    await press(user, r":done$")  # no files
    await press(user, r":done$")  # no co-authors
    await press(user, r":submit$")


async def measure_submissions(
    harness: TimedHarness, user: FakeUser, n: int, db: Database, budget: float
) -> Rate:
    label = "submission flow (9 updates per idea)"
    async with db.read() as session:
        before = int(await session.scalar(select(func.count()).select_from(Item)) or 0)
    warm = warmup(n)
    for i in range(warm):
        await submission_flow(user, i)
    began = time.perf_counter()
    done = 0
    with harness.recording() as samples:
        for i in range(n):
            await submission_flow(user, i)
            done += 1
            if len(samples) >= MIN_SAMPLES * 3 and time.perf_counter() - began > budget:
                break
    harness.check(label)
    async with db.read() as session:
        after = int(await session.scalar(select(func.count()).select_from(Item)) or 0)
    if after - before != done + warm:
        raise BenchError(f"{label}: {after - before} items submitted, not {done + warm}")
    return harness.rate(label, samples)


async def measure_approvals(
    harness: TimedHarness, user: FakeUser, items: Sequence[int], budget: float
) -> Rate:
    """The committee member opens each card (not timed), presses Approve, then Confirm."""
    label = "approve press (Approve, then Confirm)"
    await user.command("review")
    anchor = last_message(user)
    warm = warmup(len(items))
    total = Rate(label, [])
    began = time.perf_counter()
    decided = []
    for i, item_id in enumerate(items):
        await user.press_raw(anchor, f"rv:{item_id}:open")
        with harness.recording(collect=False) as timed:
            await press(user, rf"^rv:{item_id}:ok$")
            await press(user, rf"^rvx:{item_id}:confirm$")
        decided.append(item_id)
        if i < warm:
            began = time.perf_counter()
            continue
        total.samples += timed
        total.drained += harness.drained
        total.messages += harness.drained_messages
        total.statements += harness.statements
        total.beside += harness.beside
        if len(total.samples) >= MIN_SAMPLES * 2 and time.perf_counter() - began > budget:
            break
    harness.check(label)
    async with harness.app.bot_data.db.read() as session:
        approved = await session.scalar(
            select(func.count())
            .select_from(Item)
            .where(Item.id.in_(decided), Item.status == ItemStatus.APPROVED)
        )
    if approved != len(decided):
        raise BenchError(f"{label}: {approved} of {len(decided)} ideas approved")
    return total


async def bot_rates(url: str, telegram: FakeTelegram, args: argparse.Namespace) -> dict[str, Rate]:
    app = await start_bot(bench_settings(url), telegram, settle=not args.no_settle)
    budget = args.budget
    try:
        async with baseline_b(url, telegram) as partner:
            return await _bot_scenarios(app, telegram, args, partner, budget)
    finally:
        await stop_bot(app)


async def _bot_scenarios(
    app: BotApplication,
    telegram: FakeTelegram,
    args: argparse.Namespace,
    partner: tuple[TimedHarness, FakeUser],
    budget: float,
) -> dict[str, Rate]:
    db = app.bot_data.db
    harness = TimedHarness(app, telegram, outbox=True, engine=db.engine)
    harness.watch_gc = True
    harness.partner = partner
    people = await cast(db, args.approvals + warmup(args.approvals))
    for telegram_id in people.recipients:
        telegram.register_user({"id": telegram_id, "is_bot": False, "first_name": "Worker"})
    reader = harness.user(user_id=people.reader, first_name="Reader")
    newcomer = harness.user(user_id=people.newcomer, first_name="Newcomer")
    rates = {}
    replies = {}
    # The least any update of the bot does: its first statement, then one fixed reply.
    label = "/help: the bot's least update"
    rates["help"] = await measure_commands(harness, reader, "help", args.updates, label, budget)
    for key in ("my", "rank", "progress"):
        rates[key] = await measure_commands(harness, reader, key, args.updates, f"/{key}", budget)
        replies[key] = await reply_of(reader, key)
    for key in ("my", "rank"):
        label = f"/{key}, a worker with nothing yet"
        rates[f"{key}_new"] = await measure_commands(
            harness, newcomer, key, args.updates, label, budget
        )
    for key, message in replies.items():
        label = f"/{key}: its reply alone, bare PTB"
        rates[f"{key}_reply"] = await measure_reply(
            telegram, message, label, args.updates, budget, partner
        )
    submitter = harness.user(user_id=people.submitter, first_name="Submitter")
    rates["submit"] = await measure_submissions(harness, submitter, args.flows, db, budget)
    if len(people.to_approve) < args.approvals + warmup(args.approvals):
        raise BenchError("not enough ideas with the committee to approve")
    committee = harness.user(user_id=people.committee, first_name="Committee")
    label = "/review: the committee's queue"
    rates["review"] = await measure_commands(
        harness, committee, "review", args.updates, label, budget
    )
    rates["approve"] = await measure_approvals(harness, committee, people.to_approve, budget)
    began = time.perf_counter()  # what a full collection costs with the bot running
    gc.collect()
    FULL_COLLECTIONS.append(time.perf_counter() - began)
    return rates


GROWTH_BLOCK = 10  # updates on one set before the other's turn


@dataclass
class Growth:
    """A command's latencies on the small and the large set, measured in turns."""

    label: str
    small: list[float]
    large: list[float]

    @property
    def ratio(self) -> float:
        return statistics.fmean(self.large) / statistics.fmean(self.small)


async def measure_growth(
    small_url: str, large_url: str, args: argparse.Namespace
) -> dict[str, Growth]:
    """/my and /rank, for the reader and for a worker with nothing yet, on the small and the
    large set in turns of `GROWTH_BLOCK` updates (which set goes first alternates), so that
    both share the machine's moments: measured minutes apart, the two halves of a run differ
    by as much as the 1.5 target allows."""
    urls = {"small": small_url, "large": large_url}
    apps: dict[str, BotApplication] = {}
    users: dict[tuple[str, str], tuple[TimedHarness, FakeUser]] = {}
    try:
        for name, url in urls.items():
            db = Database(url)
            try:  # the update ids of the earlier scenarios, so that a new harness's are new
                async with db.write() as session:
                    await session.execute(delete(ProcessedUpdate))
            finally:
                await db.dispose()
            telegram = FakeTelegram()
            app = apps[name] = await start_bot(
                bench_settings(url), telegram, settle=not args.no_settle
            )
            harness = TimedHarness(app, telegram, outbox=True, engine=None)
            people = await cast(app.bot_data.db, 0)
            for who, telegram_id in (("reader", people.reader), ("newcomer", people.newcomer)):
                users[(name, who)] = harness, harness.user(user_id=telegram_id, first_name=who)
        growth: dict[str, Growth] = {}
        for key, who, command, label in (
            ("my", "reader", "my", "/my"),
            ("rank", "reader", "rank", "/rank"),
            ("my_new", "newcomer", "my", "/my, a worker with nothing yet"),
            ("rank_new", "newcomer", "rank", "/rank, a worker with nothing yet"),
        ):
            samples: dict[str, list[float]] = {name: [] for name in urls}
            for name in urls:
                for _ in range(warmup(args.updates)):
                    await users[(name, who)][1].command(command)
            gc.collect()
            for turn in range(max(2, args.updates // GROWTH_BLOCK)):
                for name in (("small", "large"), ("large", "small"))[turn % 2]:
                    harness, user = users[(name, who)]
                    with harness.recording(collect=False) as got:
                        for _ in range(GROWTH_BLOCK):
                            await user.command(command)
                    samples[name] += got
                    harness.check(f"growth: {label} [{name}]")
            growth[key] = Growth(label, samples["small"], samples["large"])
        return growth
    finally:
        for app in apps.values():
            await stop_bot(app)


# ---- reports ------------------------------------------------------------------------------

AGGREGATE = "SELECT count(*), sum(certified_amount) FROM item"


async def timed_rounds(
    db: Database, repeat: int, calls: Mapping[str, Callable[[], Awaitable[object]]]
) -> dict[str, tuple[float, int]]:
    """Median wall time of each call over `repeat` rounds, and the statements one run of it
    issues. Each call runs once untimed first; then every round runs each call in turn, so
    that the calls compared share the machine's moments (a busy spell slows them all, not
    one of them), after a garbage collection."""
    counts = {}
    for key, call in calls.items():
        with counting(db.engine) as seen:
            await call()
        counts[key] = seen[0]
    gc.collect()
    times: dict[str, list[float]] = {key: [] for key in calls}
    for _ in range(repeat):
        for key, call in calls.items():
            began = time.perf_counter()
            await call()
            times[key].append(time.perf_counter() - began)
    return {key: (statistics.median(times[key]), counts[key]) for key in calls}


async def report_walls(url: str, repeat: int) -> dict[str, Wall]:
    settings = bench_settings(url)
    db = Database(url)
    walls: dict[str, Wall] = {}
    tr = translator("zh")
    try:

        async def aggregate() -> None:
            async with db.read() as session:
                (await session.execute(text(AGGREGATE))).one()

        local = NOW.astimezone(TZ)
        labels = {"aggregate": "one aggregate pass over item"}
        calls: dict[str, Callable[[], Awaitable[object]]] = {"aggregate": aggregate}
        for key, kind, label in (
            ("weekly", ReportKind.WEEKLY, "weekly bulletin: data (reports.build)"),
            ("monthly", ReportKind.MONTHLY, "monthly assessment: data (reports.build)"),
        ):
            period = posts.last_due(kind, local, settings).period

            async def build(kind: ReportKind = kind, period: Any = period) -> Any:
                return await reports.build(db, kind, period, settings, NOW)

            labels[key] = label
            calls[key] = build
        async with db.read() as session:
            campaign_id = int(await session.scalar(campaigns.CURRENT_ID) or 0)
        for key, (title, body), label in (
            ("similar_seen", TITLES[0], "similar-idea hint: a title seen before"),
            ("similar_new", UNSEEN, "similar-idea hint: a title like no other"),
        ):

            async def similar(title: str = title, body: str = body) -> object:
                return await items.similar_idea(db, campaign_id, title, body)

            labels[key] = label
            calls[key] = similar
        for key, (seconds, n) in (await timed_rounds(db, repeat, calls)).items():
            walls[key] = Wall(labels[key], seconds, n)
        for key in ("weekly", "monthly"):
            report = await calls[key]()
            assert report is not None
            times = []
            for _ in range(max(1, repeat // 2)):
                began = time.perf_counter()
                bulletins.post(tr, report)
                times.append(time.perf_counter() - began)
            walls[key + "_post"] = Wall(
                labels[key].split(":")[0] + ": text and chart (bulletins.post)",
                statistics.median(times),
                0,
            )
    finally:
        await db.dispose()
    order = ["aggregate", "weekly", "weekly_post", "monthly", "monthly_post"]
    order += ["similar_seen", "similar_new"]
    return {key: walls[key] for key in order}


# ---- export -------------------------------------------------------------------------------


def own_peak_rss() -> int:
    """This process's own peak RSS (bytes). Not getrusage's ru_maxrss, which in a child
    started by this process counts the parent's peak at the start too."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise BenchError("no VmHWM in /proc/self/status")


def rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssPeak:
    """The highest resident set size while inside, sampled every few milliseconds, above
    the RSS at the start."""

    def __init__(self) -> None:
        self.start = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_now())

    def __enter__(self) -> RssPeak:
        gc.collect()
        self.start = self.peak = rss_now()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_now())

    @property
    def above_start(self) -> int:
        return self.peak - self.start


@dataclass(frozen=True)
class SampledCell:
    column: int  # 1-based
    value: Any
    number_format: str | None  # None: General
    bold: bool


@dataclass
class SheetSample:
    """A written sheet: its title, header, data-row and cell counts, and data rows taken
    evenly through the whole sheet (every k-th), each cell with its value and style, to write
    the same mix of cells again without the database."""

    title: str
    header: list[SampledCell]
    rows: int  # data rows in the sheet
    cells: int  # cells in the sheet, header included
    sample: list[list[SampledCell]]


SAMPLE_ROWS = 1000
# openpyxl writes with lxml when it is installed, else with the pure-Python et_xmlfile (about
# a third slower); the export writes its XML itself either way.
XML_WRITER = "lxml" if LXML else "et_xmlfile (no lxml installed)"
SHEET_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
ROW_XML = re.compile(rb"<row\b[^>]*?(?:/>|>.*?</row>)", re.S)
CELL_XML = re.compile(rb"<c[ >]")
CHUNK = 1 << 20


def _styles(book: zipfile.ZipFile) -> list[tuple[str | None, bool]]:
    """(number format or None, bold) of each cell style (`s="i"`) of a workbook."""
    root = ElementTree.fromstring(book.read("xl/styles.xml"))
    codes = dict(BUILTIN_FORMATS)
    for fmt in root.iter(f"{SHEET_NS}numFmt"):
        codes[int(fmt.get("numFmtId", "0"))] = fmt.get("formatCode", "General")
    fonts = [font.find(f"{SHEET_NS}b") is not None for font in root.iter(f"{SHEET_NS}font")]
    styles: list[tuple[str | None, bool]] = []
    xfs = root.find(f"{SHEET_NS}cellXfs")
    for xf in xfs if xfs is not None else []:
        code = codes.get(int(xf.get("numFmtId", "0")), "General")
        font = int(xf.get("fontId", "0"))
        styles.append((None if code == "General" else code, font < len(fonts) and fonts[font]))
    return styles or [(None, False)]


def _sheet_parts(book: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(title, part name) of each sheet, in the workbook's order."""
    ns_rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): str(r.get("Target", "")).lstrip("/") for r in rels}
    workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
    parts = []
    for sheet in workbook.iter(f"{SHEET_NS}sheet"):
        target = targets[sheet.get(ns_rel)]
        parts.append(
            (str(sheet.get("name")), target if target.startswith("xl/") else f"xl/{target}")
        )
    return parts


def _rows(stream: IO[bytes]) -> Iterator[bytes]:
    """The `<row>` elements of a sheet's XML, streamed."""
    rest = b""
    while chunk := stream.read(CHUNK):
        data = rest + chunk
        end = 0
        for match in ROW_XML.finditer(data):
            end = match.end()
            yield match.group()
        rest = data[end:]


def _column(ref: str) -> int:
    n = 0
    for ch in ref:
        if not ch.isalpha():
            break
        n = n * 26 + ord(ch.upper()) - 64
    return n


def _cells(row: bytes, styles: Sequence[tuple[str | None, bool]]) -> list[SampledCell]:
    """A row's cells as written: text, booleans, numbers; a number styled as a date read
    back as the date, one styled as money as the exact decimal written."""
    cells = []
    for c in ElementTree.fromstring(row):
        kind = c.get("t", "n")
        number_format, bold = styles[int(c.get("s", "0"))]
        v = c.find("v")
        value: Any
        if kind == "inlineStr":
            value = "".join(t.text or "" for t in c.iter("t"))
        elif v is None or v.text is None:
            value = None
        elif kind == "b":
            value = v.text == "1"
        elif kind in ("str", "e", "s"):
            value = v.text
        elif number_format and is_date_format(number_format):
            value = from_excel(float(v.text))
        elif number_format and ("元" in number_format or "¥" in number_format):
            value = Decimal(v.text)
        else:
            number = float(v.text)
            value = int(number) if number.is_integer() and "." not in v.text else number
        if value is None and number_format is None and not bold:
            continue
        cells.append(SampledCell(_column(str(c.get("r", "A"))), value, number_format, bold))
    return cells


def read_samples(path: Path) -> list[SheetSample]:
    """What the export wrote, sheet by sheet: every row and cell is counted, then the header
    and every k-th data row are read (k so that about SAMPLE_ROWS are), so that the sample
    has the whole sheet's mix of cells (the first rows alone are the oldest items, fuller than
    the average, and the waste reports come last)."""
    samples = []
    with zipfile.ZipFile(path) as book:
        styles = _styles(book)
        for title, part in _sheet_parts(book):
            total = cells = 0
            with book.open(part) as stream:
                frozen = int(b'state="frozen"' in stream.read(4096))  # a header row
            with book.open(part) as stream:
                for row in _rows(stream):
                    total += 1
                    cells += len(CELL_XML.findall(row))
            step = max(1, math.ceil((total - frozen) / SAMPLE_ROWS))
            header: list[SampledCell] = []
            sample: list[list[SampledCell]] = []
            with book.open(part) as stream:
                for i, row in enumerate(_rows(stream)):
                    if i < frozen:
                        header = _cells(row, styles)
                    elif (i - frozen) % step == 0:
                        sample.append(_cells(row, styles))
            samples.append(SheetSample(title, header, total - frozen, cells, sample or [[]]))
    return samples


def write_plain(path: Path, sheets: Sequence[SheetSample], share: float) -> int:
    """The same sheets, cells and styles with openpyxl's write-only mode alone: the header
    row (with a frozen pane, as written), then `share` of each sheet's data rows, cycling
    through the sampled rows (text is written inline, as the export does: there is no table
    of shared strings whose size repeated rows would shrink). Returns the cells written."""
    wb = Workbook(write_only=True)
    written = 0
    for s in sheets:
        ws = wb.create_sheet(s.title)
        styled: dict[tuple[int, str | None, bool], WriteOnlyCell] = {}

        def cell_of(c: SampledCell, ws: Any = ws, styled: Any = styled) -> WriteOnlyCell:
            key = (c.column, c.number_format, c.bold)
            cell = styled.get(key)
            if cell is None:
                cell = styled[key] = WriteOnlyCell(ws)
                if c.number_format is not None:
                    cell.number_format = c.number_format
                if c.bold:
                    cell.font = Font(bold=True)
            return cell

        def row_of(cells: Sequence[SampledCell]) -> list[Any]:
            row: list[Any] = [None] * max((c.column for c in cells), default=0)
            for c in cells:
                if c.number_format is None and not c.bold:
                    row[c.column - 1] = c.value
                else:
                    cell = cell_of(c)
                    cell.value = c.value
                    row[c.column - 1] = cell
            return row

        if s.header:
            ws.freeze_panes = "A2"
            ws.append(row_of(s.header))
            written += len(s.header)
        for i in range(max(1, round(s.rows * share))):
            cells = s.sample[i % len(s.sample)]
            ws.append(row_of(cells))
            written += len(cells)
    wb.save(path)
    return written


async def measure_export(url: str, workdir: Path, args: argparse.Namespace) -> ExportFigures:
    db = Database(url)
    out = workdir / "export.xlsx"
    tr = translator("zh")
    try:
        async with db.read() as session:
            items = int(await session.scalar(select(func.count()).select_from(Item)) or 0)
        with RssPeak() as rss:
            began = time.perf_counter()
            summary = await export.write_workbook(db, out, tr=tr, tz=TZ, now=NOW)
            seconds = time.perf_counter() - began
        traced_peak = None
        if args.tracemalloc:
            traced = workdir / "traced.xlsx"
            gc.collect()
            tracemalloc.start()
            try:
                await export.write_workbook(db, traced, tr=tr, tz=TZ, now=NOW)
                traced_peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
                traced.unlink(missing_ok=True)
    finally:
        await db.dispose()
    size = out.stat().st_size
    sheets = await asyncio.to_thread(read_samples, out)
    out.unlink()
    plain = workdir / "plain.xlsx"
    share = min(1.0, max(0.01, args.plain_share))
    gc.collect()
    began = time.perf_counter()
    written = await asyncio.to_thread(write_plain, plain, sheets, share)
    plain_seconds = (time.perf_counter() - began) / share
    plain.unlink(missing_ok=True)
    headers = sum(len(s.header) for s in sheets)
    return ExportFigures(
        items=items,
        rows=dict(summary.rows),
        seconds=seconds,
        rss_peak=rss.peak,
        rss_start=rss.start,
        traced_peak=traced_peak,
        size=size,
        plain_seconds=plain_seconds,
        plain_share=share,
        cells=sum(s.cells for s in sheets),
        plain_cells=round(headers + (written - headers) / share),
    )


# ---- one size -----------------------------------------------------------------------------


async def in_child(flag: str, name: str, url: str, what: str) -> dict[str, Any]:
    """Run this script as a child process (`flag` SIZE URL) and read the facts it prints
    last, as JSON."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        SELF,
        flag,
        name,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await child.communicate()
    if child.returncode:
        raise BenchError(f"{what} failed:\n{stderr.decode()[-3000:]}")
    facts: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    return facts


async def build_in_child(name: str, url: str) -> tuple[float, int]:
    """Populate the database from a child process (its memory is not the bot's): the time
    it took and the child's peak RSS."""
    facts = await in_child("--build", name, url, f"building {name}")
    return float(facts["seconds"]), int(facts["maxrss"])


async def import_in_child(name: str, url: str) -> tuple[dict[str, Wall], int]:
    """A roster of one row per worker of the data set imported from a child process (the
    import holds its members in memory, not the bot's), then the same file again."""
    facts = await in_child("--import-roster", name, url, f"importing a roster into {name}")
    rows = int(facts["rows"])
    walls = {
        "import_new": Wall(
            f"roster import: {rows:,} new members", facts["new"][0], facts["new"][1]
        ),
        "import_again": Wall(
            f"the same roster again: {rows:,} updated", facts["again"][0], facts["again"][1]
        ),
    }
    return walls, int(facts["maxrss"])


async def import_roster(name: str, url: str) -> None:
    """The child: a roster file of new members spread over the units (one row per worker of
    the data set, at most importer.MAX_ROWS) imported twice, as an admin sends it; prints the
    time and statements of each import and the peak RSS."""
    db = Database(url)
    statements = [0]

    def count(*_args: object) -> None:
        statements[0] += 1

    try:
        async with db.read() as session:
            units = list(await session.scalars(select(Unit.name).order_by(Unit.id)))
            admin = await session.scalar(select(Member.id).where(Member.is_admin.is_(True)))
        rows = min(SIZES[name].workers, importer.MAX_ROWS)
        lines = ["姓名,单位,政治面貌,用户名"]
        lines += [f"新员工{n},{units[n % len(units)]},群众,@roster_{n}" for n in range(rows)]
        data = "\n".join(lines).encode()
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        facts: dict[str, object] = {"rows": rows}
        for key, field_ in (("new", "members_created"), ("again", "members_updated")):
            statements[0] = 0
            began = time.perf_counter()
            result = await importer.import_file(db, admin, "roster.csv", data, NOW)  # type: ignore[arg-type]
            seconds = time.perf_counter() - began
            if not result.ok or getattr(result, field_) != rows:
                raise BenchError(f"roster import ({key}): {result}")
            facts[key] = (seconds, statements[0])
    finally:
        await db.dispose()
    facts["maxrss"] = own_peak_rss()
    print(json.dumps(facts))


async def build(name: str, url: str) -> None:
    """The child: write the data set, then print the time and the peak RSS."""
    db = Database(url)
    try:
        began = time.perf_counter()
        await populate(db, SIZES[name], TODAY, TZ)
        seconds = time.perf_counter() - began
    finally:
        await db.dispose()
    print(json.dumps({"seconds": seconds, "maxrss": own_peak_rss()}))


async def run_size(
    name: str, shape: Shape, workdir: Path, args: argparse.Namespace, *, last: bool
) -> SizeFigures:
    say(f"[{name}] building the data set ...")
    url = await fresh_database(name, workdir, last=last)
    seconds, builder_rss = await build_in_child(name, url)
    db = Database(url)
    try:
        if not db.is_sqlite:
            # What autovacuum soon does after a bulk load (statistics, visibility map).
            async with db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE"))
        counts = await table_counts(db)
    finally:
        await db.dispose()
    figures = SizeFigures(name, shape, url, seconds, builder_rss, counts)
    telegram = FakeTelegram()
    say(f"[{name}] baselines ...")
    figures.rates.update(await baselines(url, telegram, args.updates, args.budget))
    say(f"[{name}] the bot: /my, /rank, /progress, submissions, approvals ...")
    figures.rates.update(await bot_rates(url, telegram, args))
    del telegram
    say(f"[{name}] reports ...")
    figures.walls.update(await report_walls(url, args.repeat))
    progress = figures.rates["progress"]
    figures.walls["progress"] = Wall(
        "/progress (one update, process_update)",
        progress.p50,
        round(progress.statements / len(progress.samples)),
    )
    if last and not args.no_export:
        say(f"[{name}] export ...")
        figures.export = await measure_export(url, workdir, args)
    return figures


# ---- the report ---------------------------------------------------------------------------


PHASES: list[tuple[str, int]] = []  # (phase begun, peak RSS so far) of this process


def say(message: str) -> None:
    """Progress on stderr; the peak RSS at each step is kept for the report."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    PHASES.append((message.rstrip(" ."), peak))
    print(f"{message} (peak RSS so far {mb(peak)})", file=sys.stderr, flush=True)


def package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def ram() -> str:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GB"
    return "?"


async def postgres_version(url: str) -> str:
    db = Database(url)
    try:
        async with db.read() as session:
            return str(await session.scalar(text("SHOW server_version")))
    finally:
        await db.dispose()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def mb(size: float) -> str:
    return f"{size / 2**20:.0f} MB"


@dataclass
class Target:
    what: str
    measured: str
    ratio: float
    limit: float
    higher_is_better: bool = False

    @property
    def passed(self) -> bool:
        return self.ratio >= self.limit if self.higher_is_better else self.ratio <= self.limit


def against_b(found: list[Target], size: SizeFigures, key: str, *, p99: bool) -> None:
    """Against baseline B measured alongside the scenario (one B update after each of its
    updates), or the separate baseline run if there was none."""
    r, b = size.rates[key], size.rates["B"]
    b_rate, b_p99 = (r.beside_per_second, r.beside_p99) if r.beside else (b.per_second, b.p99)
    found.append(
        Target(
            f"[{size.name}] {r.label}: updates/s vs baseline B",
            f"{r.per_second:.0f} vs {b_rate:.0f}/s",
            r.per_second / b_rate,
            0.5,
            higher_is_better=True,
        )
    )
    if p99:
        found.append(
            Target(
                f"[{size.name}] {r.label}: p99 vs baseline B's p99",
                f"{ms(r.p99)} vs {ms(b_p99)} ms",
                r.p99 / b_p99,
                2.0,
            )
        )


def targets(
    sizes: Sequence[SizeFigures], growth: Mapping[str, Growth], peak_rss: int
) -> list[Target]:
    found: list[Target] = []
    by_name = {s.name: s for s in sizes}
    for s in sizes:
        against_b(found, s, "submit", p99=True)
        against_b(found, s, "approve", p99=True)
    large = by_name.get("large")
    for key in ("my", "rank", "my_new", "rank_new"):
        if large is None:
            break
        against_b(found, large, key, p99=False)
        g = growth.get(key)
        if g is not None:
            large_ms, small_ms = ms(statistics.fmean(g.large)), ms(statistics.fmean(g.small))
            found.append(
                Target(
                    f"{g.label}: large vs small (mean latency, in turns)",
                    f"{large_ms} vs {small_ms} ms",
                    g.ratio,
                    1.5,
                )
            )
    for s in sizes:
        aggregate = s.walls["aggregate"].seconds
        for key in ("weekly", "monthly"):
            w = s.walls[key]
            found.append(
                Target(
                    f"[{s.name}] {w.label} vs one aggregate pass",
                    f"{ms(w.seconds)} vs {ms(aggregate)} ms",
                    w.seconds / aggregate,
                    5.0,
                )
            )
    if len(sizes) > 1:
        for key, name in (("weekly", "weekly bulletin"), ("monthly", "monthly assessment")):
            counts = [s.walls[key].statements for s in sizes]
            found.append(
                Target(
                    f"{name}: SQL statements, " + " vs ".join(s.name for s in sizes),
                    " vs ".join(str(c) for c in counts),
                    max(counts) / max(1, min(counts)),
                    1.0,
                )
            )
    for s in sizes:
        e = s.export
        if e is None:
            continue
        found.append(
            Target(
                f"[{s.name}] export time vs plain openpyxl write-only",
                f"{e.seconds:.1f} vs {e.plain_seconds:.1f} s",
                e.seconds / e.plain_seconds,
                2.0,
            )
        )
        if e.traced_peak is not None:
            peak, how = e.traced_peak, "tracemalloc"
        else:  # the whole process while exporting: an upper bound
            peak, how = e.rss_peak, "process RSS"
        found.append(
            Target(
                f"[{s.name}] export peak memory, {e.items:,} items (MB, {how})",
                mb(peak),
                peak / 2**20,
                300,
            )
        )
    found.append(
        Target(
            "peak RSS of the measuring process (MB)",
            mb(peak_rss),
            peak_rss / 2**20,
            250,
        )
    )
    return found


def render(
    sizes: Sequence[SizeFigures],
    growth: Mapping[str, Growth],
    machine: list[tuple[str, str]],
    args: argparse.Namespace,
    seconds: float,
    start_rss: int,
) -> str:
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    lines = ["savings-bot benchmark", "=" * 21, ""]
    width = max(len(k) for k, _ in machine)
    lines += [f"{k.ljust(width)}  {v}" for k, v in machine]
    lines += [
        f"{'run'.ljust(width)}  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {seconds:.0f} s; "
        f"--updates {args.updates} --flows {args.flows} --approvals {args.approvals} "
        f"--budget {args.budget:g} --repeat {args.repeat} --plain-share {args.plain_share:g}",
        "",
        "Data sets (bot.services.sample: two years of submissions, every status, claimed,",
        "certified and verified amounts, co-authors, review histories), built by a child process:",
    ]
    for s in sizes:
        c = s.counts
        lines.append(
            f"  {s.name:<6} {s.shape.units} units, {c['members']:,} workers, {c['items']:,} items "
            f"({s.shape.approved:,} ideas approved), {c['authors']:,} authorships, "
            f"{c['events']:,} events; {s.populate_seconds:.0f} s"
        )
    lines += [
        "",
        "Updates through Application.process_update over the offline fake Bot API (it validates",
        "every call: its cost is in every figure, baselines included). Latency is process_update",
        "alone; draining the outbox afterwards (the bot does it in a background task) is excluded",
        "and shown as 'outbox ms/upd'. upd/s = updates / their summed latency (the bot handles",
        "updates one at a time). SQL/upd: statements sent per update. 'B beside': baseline B",
        "run alongside the scenario, one B update after each of its updates (upd/s, p99 ms);",
        "the targets compare each scenario with its B beside, which shared its moments.",
        "'a worker with nothing yet': one who ranks last (the most members ahead to count).",
        "'its reply alone': the bot's answer to the command (its text and keyboard as sent),",
        "sent by a bare PTB handler with no database: what that one Bot API call costs.",
        "'/help: the bot's least update': the redelivery check, who is writing and the campaign",
        "(one statement), then one fixed reply: what every update of the bot pays.",
        "",
    ]
    header = (
        f"  {'scenario':<40} {'updates':>7} {'upd/s':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'SQL/upd':>7} {'outbox ms/upd':>13} {'B beside':>12}"
    )
    for s in sizes:
        lines += [f"[{s.name}]", header]
        for r in s.rates.values():
            n = len(r.samples)
            outbox = ms(r.drained / n) if r.drained else "-"
            beside = f"{r.beside_per_second:.0f}/s {ms(r.beside_p99)}" if r.beside else "-"
            lines.append(
                f"  {r.label:<40} {n:>7} {r.per_second:>6.0f} {ms(r.p50):>7} {ms(r.p99):>7} "
                f"{r.statements / n:>7.1f} {outbox:>13} {beside:>12}"
            )
        lines.append("")
    if growth:
        lines += [
            f"Growth: /my and /rank on both sets in turns of {GROWTH_BLOCK} updates, after the",
            "scenarios above (both bots running, which set goes first alternating), so that the",
            "two share the machine's moments: mean latency of process_update.",
            f"  {'scenario':<40} {'updates':>7} {'small ms':>9} {'large ms':>9} "
            f"{'large/small':>11}",
        ]
        for g in growth.values():
            lines.append(
                f"  {g.label:<40} {len(g.large):>7} {ms(statistics.fmean(g.small)):>9} "
                f"{ms(statistics.fmean(g.large)):>9} {g.ratio:>11.2f}"
            )
        lines.append("")
    lines += [
        "Reports: median wall time and SQL statements per call, against one aggregate pass",
        f"over the items ({AGGREGATE}). The similar-idea hint is",
        "the submission's summary step looking among the newest 20,000 items for an idea like",
        "the draft: the flow's titles are found among the newest at once; one like no other is",
        "compared with the whole window. The roster import (importer.import_file, from a child",
        "process, after everything else; one run each) reads a file of one new member per",
        "worker of the data set, then the same file again, which updates each of them.",
        "",
    ]
    header = f"  {'report':<52} {'ms':>8} {'x pass':>7} {'SQL':>4}"
    for s in sizes:
        lines += [f"[{s.name}]", header]
        aggregate = s.walls["aggregate"].seconds
        for w in s.walls.values():
            statements = str(w.statements) if w.statements else "-"
            lines.append(
                f"  {w.label:<52} {ms(w.seconds):>8} {w.seconds / aggregate:>7.1f} {statements:>4}"
            )
        lines.append("")
    for s in sizes:
        e = s.export
        if e is None:
            continue
        rows = ", ".join(f"{k} {v:,}" for k, v in e.rows.items())
        share = "" if e.plain_share >= 1 else f" ({e.plain_share:.0%} of the rows written, scaled)"
        traced = "" if e.traced_peak is None else f", tracemalloc peak {mb(e.traced_peak)}"
        lines += [
            f"Export [{s.name}] (export.write_workbook, {e.items:,} items; rows {rows}):",
            f"  export          {e.seconds:6.1f} s, file {mb(e.size)}; process RSS "
            f"{mb(e.rss_start)} before, peak {mb(e.rss_peak)}{traced}",
            f"  plain openpyxl  {e.plain_seconds:6.1f} s: the same sheets, rows, cells and styles "
            f"in write-only mode",
            f"                  ({e.plain_cells:,} cells; the export {e.cells:,}), without the "
            f"database{share};",
            f"                  openpyxl writing its XML with {XML_WRITER}",
            "",
        ]
    full = [seconds for generation, seconds in GC_PAUSES if generation == 2]
    longest = max((seconds for _, seconds in GC_PAUSES), default=0.0)
    settled = (
        "left to the collector (--no-settle)"
        if args.no_settle
        else "out of its sight (bot.app.settle_memory, as `savings-bot run` does)"
    )
    each = ", ".join(f"{s.name} {ms(t)} ms" for s, t in zip(sizes, FULL_COLLECTIONS, strict=False))
    lines += [
        f"Garbage collector during the bot's timed updates: {len(GC_PAUSES)} collections, "
        f"{len(full)} of them full ({ms(sum(full))} ms in all), longest pause {ms(longest)} ms.",
        f"  A full collection with the bot running (timed once after the scenarios): {each};",
        f"  the objects built at start {settled}.",
        "",
    ]
    builders = ", ".join(f"{s.name} {mb(s.builder_rss)}" for s in sizes)
    importers = ", ".join(f"{s.name} {mb(s.importer_rss)}" for s in sizes if s.importer_rss)
    steps = "; ".join(f"{label}: {mb(peak)}" for label, peak in [*PHASES, ("end", peak_rss)])
    lines += [
        f"Memory: peak RSS of this process {mb(peak_rss)} (after imports {mb(start_rss)}); "
        f"data set builders (child processes): {builders}; roster imports: {importers}.",
        *textwrap.wrap(
            f"Peak RSS so far at each step: {steps}.",
            width=96,
            initial_indent="  ",
            subsequent_indent="  ",
        ),
        "",
        "Targets (ratios within this run):",
    ]
    found = targets(sizes, growth, peak_rss)
    width = max(len(t.what) for t in found)
    measured = max(20, *(len(t.measured) for t in found))
    for t in found:
        sign = ">=" if t.higher_is_better else "<="
        verdict = "PASS" if t.passed else "MISS"
        ratio = f"{t.ratio:7.2f} {sign} {t.limit:g}"
        lines.append(f"  {verdict}  {t.what.ljust(width)}  {t.measured:<{measured}} {ratio}")
    missed = sum(not t.passed for t in found)
    verdict = f"{missed} MISSED" if missed else "all met"
    lines += ["", f"{len(found) - missed} of {len(found)} targets met; {verdict}."]
    return "\n".join(lines) + "\n"


async def machine_facts() -> list[tuple[str, str]]:
    url = postgres_url()
    database = f"PostgreSQL {await postgres_version(url)}" if url else "SQLite"
    names = ("python-telegram-bot", "SQLAlchemy", "aiosqlite", "asyncpg", "openpyxl", "lxml")
    return [
        ("machine", f"{cpu_model()}, {os.cpu_count()} cores, {ram()} RAM, {platform.system()}"),
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("database", f"{database} (SQLite library {sqlite3.sqlite_version})"),
        ("packages", ", ".join(f"{p} {package(p)}" for p in names)),
    ]


async def main(args: argparse.Namespace) -> str:
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    began = time.perf_counter()
    machine = await machine_facts()
    names = [n.strip() for n in args.sizes.split(",") if n.strip()]
    unknown = [n for n in names if n not in SIZES]
    if unknown or not names or len(set(names)) < len(names):
        raise SystemExit(f"sizes {names}: each at most once, from {', '.join(SIZES)}")
    workdir = Path(tempfile.mkdtemp(prefix="savings-bench-"))
    sizes: list[SizeFigures] = []
    growth: dict[str, Growth] = {}
    try:
        for name in names:
            sizes.append(await run_size(name, SIZES[name], workdir, args, last=name == names[-1]))
        by_name = {s.name: s for s in sizes}
        if "small" in by_name and "large" in by_name:
            say("growth: /my and /rank on the small and the large set in turn ...")
            growth = await measure_growth(by_name["small"].url, by_name["large"].url, args)
        for s in sizes:  # last: it adds members
            say(f"[{s.name}] roster import ...")
            walls, s.importer_rss = await import_in_child(s.name, s.url)
            s.walls.update(walls)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        url = postgres_url()
        for name in names[:-1] if url else []:
            try:
                await sibling_database(url, name, create=False)
            except Exception as exc:  # the run's own error, if any, is the one to see
                say(f"could not drop the database of the {name} set: {exc}")
    return render(sizes, growth, machine, args, time.perf_counter() - began, start_rss)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="small,large", help="comma-separated: small,large")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    parser.add_argument("--updates", type=int, default=200, help="timed updates per command")
    parser.add_argument("--flows", type=int, default=30, help="timed idea submissions")
    parser.add_argument("--approvals", type=int, default=60, help="timed approvals")
    parser.add_argument(
        "--budget",
        type=float,
        default=20.0,
        help="seconds per scenario after which it stops early (with at least 30 updates)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each report")
    parser.add_argument("--no-export", action="store_true", help="skip the XLSX export")
    parser.add_argument(
        "--no-settle",
        action="store_true",
        help="leave the start-up objects to the garbage collector (to compare its pauses)",
    )
    parser.add_argument(
        "--plain-share",
        type=float,
        default=0.25,
        help="share of the rows the plain openpyxl baseline writes (its time is scaled up)",
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace the export's Python allocations"
    )
    parser.add_argument("--build", nargs=2, metavar=("SIZE", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--import-roster", nargs=2, metavar=("SIZE", "URL"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.build:  # the child that writes a data set
        asyncio.run(build(*args.build))
        return 0
    if args.import_roster:  # the child that imports a roster
        asyncio.run(import_roster(*args.import_roster))
        return 0
    report = asyncio.run(main(args))
    print(report, end="")
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(run())
