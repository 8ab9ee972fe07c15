"""Helpers for tests: database snapshots and seeding through the services."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.services import people, units
from storage.db import Database
from storage.models import AdminEvent, Base, Member, MemberGroup, Unit

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of records, to show that an action changed nothing.

    `bot_state` (where a conversation stands, rewritten after each update) is not a record.
    """
    result: dict[str, list[tuple[Any, ...]]] = {}
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            if table.name == "bot_state":
                continue
            rows = (await session.execute(select(table))).all()
            result[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return result


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
