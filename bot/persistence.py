"""PTB persistence in our own database: conversation positions and drafts survive a restart.

Each change is written at once (the application calls `update_persistence()` after every
update), as JSON rows in `bot_state`, so a SIGKILL loses nothing and PostgreSQL works the same
as SQLite. Bot data is not persisted (it holds the composition root), nor is callback data.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

from bot.clock import Clock
from storage.db import Database
from storage.models import BotState

USER, CHAT, CONV = "user", "chat", "conv"


class SqlPersistence(BasePersistence[dict[Any, Any], dict[Any, Any], Any]):
    """Stores user data, chat data and conversations as JSON rows."""

    def __init__(self, db: Database, clock: Clock) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, callback_data=False),
            update_interval=60,
        )
        self.db = db
        self.clock = clock

    async def _rows(self, kind: str, name: str = "") -> list[BotState]:
        async with self.db.read() as session:
            return list(
                await session.scalars(
                    select(BotState).where(BotState.kind == kind, BotState.name == name)
                )
            )

    async def _put(self, kind: str, name: str, key: str, data: Any) -> None:
        values = {
            "kind": kind,
            "name": name,
            "key": key,
            "data": data,
            "updated_at": self.clock.now(),
        }
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        statement = insert(BotState).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["kind", "name", "key"],
            set_={"data": statement.excluded.data, "updated_at": statement.excluded.updated_at},
        )
        async with self.db.write() as session:
            await session.execute(statement)

    async def _drop(self, kind: str, name: str, key: str) -> None:
        async with self.db.write() as session:
            await session.execute(
                delete(BotState).where(
                    BotState.kind == kind, BotState.name == name, BotState.key == key
                )
            )

    # ---- user and chat data ----------------------------------------------------------------

    async def get_user_data(self) -> dict[int, dict[Any, Any]]:
        return defaultdict(dict, {int(r.key): dict(r.data or {}) for r in await self._rows(USER)})

    async def get_chat_data(self) -> dict[int, dict[Any, Any]]:
        return defaultdict(dict, {int(r.key): dict(r.data or {}) for r in await self._rows(CHAT)})

    async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
        if data:
            await self._put(USER, "", str(user_id), data)
        else:
            await self._drop(USER, "", str(user_id))

    async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
        if data:
            await self._put(CHAT, "", str(chat_id), data)
        else:
            await self._drop(CHAT, "", str(chat_id))

    async def drop_user_data(self, user_id: int) -> None:
        await self._drop(USER, "", str(user_id))

    async def drop_chat_data(self, chat_id: int) -> None:
        await self._drop(CHAT, "", str(chat_id))

    async def refresh_user_data(self, user_id: int, user_data: dict[Any, Any]) -> None:
        """Nothing to refresh: this process is the only writer of its users' data."""

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[Any, Any]) -> None:
        """Nothing to refresh: this process is the only writer of its chats' data."""

    # ---- conversations -----------------------------------------------------------------------

    async def get_conversations(self, name: str) -> ConversationDict:
        return {
            tuple(json.loads(r.key)): (r.data or {}).get("state")
            for r in await self._rows(CONV, name)
        }

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        encoded = json.dumps(list(key))
        if new_state is None:
            await self._drop(CONV, name, encoded)
        else:
            await self._put(CONV, name, encoded, {"state": new_state})

    # ---- not stored --------------------------------------------------------------------------

    async def get_bot_data(self) -> Any:
        return None

    async def update_bot_data(self, data: Any) -> None:
        """Bot data is the composition root, rebuilt at every start."""

    async def refresh_bot_data(self, bot_data: Any) -> None:
        """Bot data is not persisted."""

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def update_callback_data(self, data: CDCData) -> None:
        """Callback data is not persisted (arbitrary callback data is not used)."""

    async def flush(self) -> None:
        """Every change was written when it happened."""
