"""Members: lookup and preferences."""

from __future__ import annotations

from sqlalchemy import select, update

from storage.db import Database
from storage.models import Member


async def by_telegram_id(db: Database, telegram_id: int) -> Member | None:
    """The member with this Telegram user id, if any."""
    async with db.read() as session:
        return await session.scalar(select(Member).where(Member.telegram_id == telegram_id))


async def set_language(db: Database, member_id: int, lang: str) -> None:
    """Save a member's language choice."""
    async with db.write() as session:
        await session.execute(update(Member).where(Member.id == member_id).values(language=lang))
