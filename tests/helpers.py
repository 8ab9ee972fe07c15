"""Helpers for tests: database snapshots and seeding through the services."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.services import campaigns, people, units
from storage.db import Database
from storage.models import AdminEvent, Base, Member, MemberGroup, Unit

if TYPE_CHECKING:
    from tests.conftest import BotHarness
    from tests.fakeapi.users import FakeUser

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def stress() -> int:
    """`STRESS` from the environment: a positive integer (default 1) that multiplies the rounds
    of the fault tests and the fuzzing's examples, for a longer run than CI's."""
    raw = os.environ.get("STRESS", "").strip()
    if not raw:
        return 1
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"STRESS must be a positive integer, not {raw!r}")
    return value


STRESS = stress()


BOOKKEEPING = {"bot_state", "processed_update"}


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of records, to show that an action changed nothing.

    `bot_state` (where a conversation stands, rewritten after each update) and
    `processed_update` (the update ids seen) are not records.
    """
    result: dict[str, list[tuple[Any, ...]]] = {}
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in BOOKKEEPING:
                continue
            rows = (await session.execute(select(table))).all()
            result[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return result


def changed_rows(
    before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]
) -> int:
    """How many rows two snapshots differ by: rows added, removed or changed (a changed row
    counts twice: its old and its new version)."""
    changed = 0
    for table in before.keys() | after.keys():
        old = Counter(map(repr, before.get(table, [])))
        new = Counter(map(repr, after.get(table, [])))
        changed += sum(((old - new) + (new - old)).values())
    return changed


async def seed_unit(db: Database, name: str = "一车间", headcount: int = 100) -> Unit:
    return await units.create_unit(db, None, name, headcount, NOW)  # type: ignore[arg-type]


async def seed_member(
    db: Database,
    telegram_id: int,
    unit_id: int,
    name: str = "张三",
    *,
    group: str = MemberGroup.STAFF,
    language: str | None = None,
) -> Member:
    return await people.join(
        db,
        telegram_id=telegram_id,
        username=None,
        name=name,
        unit_id=unit_id,
        group=group,
        language=language,
        pending=False,
        now=NOW,
    )


async def admin_events(db: Database) -> list[AdminEvent]:
    async with db.read() as session:
        return list(await session.scalars(select(AdminEvent).order_by(AdminEvent.id)))


async def member_by_tg(db: Database, telegram_id: int) -> Member | None:
    async with db.read() as session:
        return await session.scalar(select(Member).where(Member.telegram_id == telegram_id))


class ManualClock:
    """A clock the test moves forward."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@dataclass
class Plant:
    """One unit with a worker, a colleague, an assessor, a committee member and the office."""

    bot: BotHarness
    clock: ManualClock
    unit_id: int
    worker: FakeUser
    colleague: FakeUser
    assessor: FakeUser
    committee: FakeUser
    office: FakeUser
    worker_id: int
    colleague_id: int


async def plant(bot: BotHarness, clock: ManualClock, lang: str, *, assessor: bool = True) -> Plant:
    db = bot.db
    await campaigns.ensure_default(db, NOW.date())
    unit = await seed_unit(db, "一车间")
    other = await seed_unit(db, "二车间")
    code = "zh-hans" if lang == "zh" else lang
    worker = bot.user(first_name="Zhang", username="zhang_w", language_code=code)
    colleague = bot.user(first_name="Li", language_code=code)
    assessor_user = bot.user(first_name="Assessor", language_code="en")
    committee_user = bot.user(first_name="Chair", language_code="zh-hans")
    office_user = bot.user(first_name="Office", language_code="en")
    w = await seed_member(db, worker.id, unit.id, "张三", language=lang)
    c = await seed_member(db, colleague.id, other.id, "李四", language=lang)
    a = await seed_member(db, assessor_user.id, unit.id, "王考核", language="en")
    m = await seed_member(db, committee_user.id, other.id, "赵委员", language="zh")
    o = await seed_member(db, office_user.id, other.id, "钱办公室", language="en")
    if assessor:
        await people.set_role(db, a.id, a.id, "assessor", True, NOW, unit_id=unit.id)
    await people.set_role(db, m.id, m.id, "committee", True, NOW)
    await people.set_role(db, o.id, o.id, "admin", True, NOW)
    return Plant(
        bot,
        clock,
        unit.id,
        worker,
        colleague,
        assessor_user,
        committee_user,
        office_user,
        w.id,
        c.id,
    )
