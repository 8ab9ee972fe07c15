"""Update ids already handled: Telegram redelivers an update whose webhook call timed out, and
polling refetches what a killed process had not confirmed. Each update acts once.

An update is claimed before any handler runs and marked done after the last one. A claim that
exists but is not done (the process died, or a handler failed) may be taken again; a done one
may not. Ids are kept for `MEMORY` (Telegram keeps undelivered updates for 24 hours).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import CursorResult, delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.models import ProcessedUpdate

MEMORY = timedelta(hours=48)


async def claim(db: Database, update_id: int, now: datetime) -> bool:
    """True when this update should be handled: never seen, or seen but never finished."""
    insert = sqlite_insert if db.is_sqlite else pg_insert
    statement = insert(ProcessedUpdate).values(update_id=update_id, received_at=now, done=False)
    statement = statement.on_conflict_do_update(
        index_elements=["update_id"],
        set_={"received_at": statement.excluded.received_at},
        where=ProcessedUpdate.done.is_(False),
    )
    async with db.write() as session:
        result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def finish(db: Database, update_id: int) -> None:
    """The update was handled: a redelivery is now ignored."""
    async with db.write() as session:
        await session.execute(
            update(ProcessedUpdate).where(ProcessedUpdate.update_id == update_id).values(done=True)
        )


async def forget_before(db: Database, before: datetime) -> int:
    """Drop ids received before `before`; returns how many."""
    async with db.write() as session:
        result: CursorResult[tuple[()]] = await session.execute(  # type: ignore[assignment]
            delete(ProcessedUpdate).where(ProcessedUpdate.received_at < before)
        )
    return result.rowcount
