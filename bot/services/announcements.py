"""Group chats that receive the campaign's bulletins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.services.audit import record_admin
from bot.services.errors import ServiceError
from storage.db import Database
from storage.models import AnnouncementChat


async def register(
    db: Database, actor_id: int, chat_id: int, title: str, now: datetime
) -> tuple[AnnouncementChat, bool]:
    """Register (or re-activate) a chat; returns the chat and whether it was new or inactive."""
    async with db.write() as session:
        chat = await session.scalar(
            select(AnnouncementChat).where(AnnouncementChat.chat_id == chat_id)
        )
        changed = chat is None or not chat.active
        if chat is None:
            chat = AnnouncementChat(
                chat_id=chat_id, title=title, registered_by=actor_id, created_at=now
            )
            session.add(chat)
        chat.active = True
        chat.title = title
        if changed:
            await session.flush()
            record_admin(
                session, actor_id, "announce.add", f"chat:{chat_id}", {"title": title}, now
            )
        return chat, changed


async def active_chats(db: Database) -> list[AnnouncementChat]:
    async with db.read() as session:
        return list(
            await session.scalars(
                select(AnnouncementChat)
                .where(AnnouncementChat.active.is_(True))
                .order_by(AnnouncementChat.id)
            )
        )


async def deactivate(db: Database, actor_id: int, chat_row_id: int, now: datetime) -> None:
    async with db.write() as session:
        chat = await session.get(AnnouncementChat, chat_row_id)
        if chat is None:
            raise ServiceError("not_found")
        chat.active = False
        record_admin(session, actor_id, "announce.remove", f"chat:{chat.chat_id}", None, now)
