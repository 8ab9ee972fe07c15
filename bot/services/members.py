"""Members: lookup and preferences."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from storage.db import Database
from storage.models import Member

# Built once: every update looks its sender up (building a statement costs more than running it).
_BY_TELEGRAM_ID = select(Member).where(Member.telegram_id == bindparam("telegram_id"))


async def by_telegram_id(db: Database, telegram_id: int) -> Member | None:
    """The member with this Telegram user id, if any."""
    async with db.read() as session:
        return await session.scalar(_BY_TELEGRAM_ID, {"telegram_id": telegram_id})


async def set_language(db: Database, member_id: int, lang: str) -> None:
    """Save a member's language choice."""
    async with db.write() as session:
        await session.execute(update(Member).where(Member.id == member_id).values(language=lang))
