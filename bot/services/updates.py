"""Update ids already handled: Telegram redelivers an update whose webhook call timed out, and
polling refetches what a killed process had not confirmed. Each update acts once.

An update's id is recorded when it has been handled, in the same transaction as the
conversation positions and drafts it changed (`bot.persistence`; an update that changed none
is recorded with the next write, within `bot.persistence.HANDLED_WAIT`, and remembered in
memory until then); an update whose id is recorded is ignored. One that failed, or whose
process died, is not recorded and may be handled again: its own writes are idempotent (a
draft's key, conditional status updates). Ids are kept for `MEMORY` (Telegram keeps
undelivered updates for 24 hours).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    CursorResult,
    Executable,
    bindparam,
    delete,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import campaigns
from storage.db import Database, dialect_insert, table_of
from storage.models import Campaign, Member, ProcessedUpdate

MEMORY = timedelta(hours=48)


_WAS_HANDLED = select(ProcessedUpdate.update_id).where(
    ProcessedUpdate.update_id == bindparam("update_id")
)
# Whether the update was handled, its sender's member row and the active campaign, if any:
# one statement (every update starts with them), built once.
_FIRST_LOOK = (
    select(_WAS_HANDLED.scalar_subquery(), Member, Campaign)
    .select_from(select(literal_column("1").label("one")).subquery())
    .outerjoin(Member, Member.telegram_id == bindparam("telegram_id", type_=BigInteger))
    .outerjoin(Campaign, Campaign.id == campaigns.CURRENT_ID.scalar_subquery())
)


@dataclass(frozen=True)
class FirstLook:
    handled: bool  # a redelivery
    member: Member | None
    campaign: Campaign | None  # the active campaign


async def first_look(session: AsyncSession, update_id: int, telegram_id: int | None) -> FirstLook:
    """Was this update handled before (a redelivery); the member with this Telegram id; the
    active campaign."""
    values = {"update_id": update_id, "telegram_id": telegram_id}
    row = (await session.execute(_FIRST_LOOK, values)).one()
    return FirstLook(row[0] is not None, row[1], row[2])


async def record(
    session: AsyncSession, is_sqlite: bool, handled: Iterable[tuple[int, datetime]]
) -> None:
    """Record handled updates (id, when) in the caller's transaction."""
    rows = [{"update_id": update_id, "handled_at": at} for update_id, at in handled]
    if rows:
        await session.execute(_record(is_sqlite), rows)


@functools.cache
def _record(is_sqlite: bool) -> Executable:
    """The insert of handled ids (parameters `update_id`, `handled_at`), built once."""
    return dialect_insert(is_sqlite, table_of(ProcessedUpdate)).on_conflict_do_nothing()


async def forget_before(db: Database, before: datetime) -> int:
    """Drop ids handled before `before`; returns how many."""
    async with db.write() as session:
        result: CursorResult[tuple[()]] = await session.execute(  # type: ignore[assignment]
            delete(ProcessedUpdate).where(ProcessedUpdate.handled_at < before)
        )
    return result.rowcount
