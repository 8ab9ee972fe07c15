"""PTB persistence in our own database: conversation positions and drafts survive a restart.

Each update's changes are written when it is done (the application calls `update_persistence()`
after every update), as JSON rows in `bot_state`, in one transaction together with the update's
id (`bot.services.updates`), so a SIGKILL loses nothing and a redelivery is recognised.
Unchanged rows are not written again. The id of an update that changed nothing here (a command
that only reads, a press whose decision its own transaction wrote) waits, up to
`HANDLED_WAIT`, to be written with the next change or by PTB's persistence timer: one
transaction for many such updates instead of one each. Meanwhile a redelivery is recognised
from memory; only a crash in that second forgets them, and then a redelivered one is handled
again, as one delivered before its update finished always was. Bot data is not persisted (it
holds the composition root), nor is callback data.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

from bot.clock import Clock
from bot.services import updates
from storage.db import Database, dialect_insert, table_of
from storage.models import BotState

logger = logging.getLogger(__name__)

_TABLE = table_of(BotState)
_DELETE = delete(_TABLE).where(
    _TABLE.c.kind == bindparam("row_kind"),
    _TABLE.c.name == bindparam("row_name"),
    _TABLE.c.key == bindparam("row_key"),
)


@functools.cache
def _upsert(is_sqlite: bool) -> Executable:
    """Insert or replace a row (parameters: the row's columns); built once per dialect."""
    statement = dialect_insert(is_sqlite, _TABLE)
    return statement.on_conflict_do_update(
        index_elements=["kind", "name", "key"],
        set_={"data": statement.excluded.data, "updated_at": statement.excluded.updated_at},
    )


HANDLED_WAIT = 1.0  # seconds an unchanged update's id may wait to be written with others

USER, CHAT, CONV = "user", "chat", "conv"
RowKey = tuple[str, str, str]  # kind, name, key
DROPPED = None  # a pending value that deletes the row


class SqlPersistence(BasePersistence[dict[Any, Any], dict[Any, Any], Any]):
    """Stores user data, chat data and conversations as JSON rows.

    PTB hands over each change through the `update_*` methods; they are collected and written
    by `write_pending()` in one transaction."""

    def __init__(self, db: Database, clock: Clock) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, callback_data=False),
            update_interval=HANDLED_WAIT,  # PTB's timer writes the ids left waiting
        )
        self.db = db
        self.clock = clock
        self._stored: dict[RowKey, Any] = {}  # what the database holds, as last read or written
        self._pending: dict[RowKey, Any] = {}  # what to write next (DROPPED: delete)
        # Update ids to record as handled (with when), kept until written: a redelivery checks
        # here too (`remembers`).
        self._handled: dict[int, datetime] = {}
        self._waiting_since: float | None = None  # monotonic time the oldest unwritten id came
        self._lock = asyncio.Lock()

    async def _rows(self, kind: str, name: str = "") -> list[BotState]:
        async with self.db.read() as session:
            rows = list(
                await session.scalars(
                    select(BotState).where(BotState.kind == kind, BotState.name == name)
                )
            )
        for row in rows:
            self._stored[(kind, name, row.key)] = row.data
        return rows

    def _change(self, kind: str, name: str, key: str, data: Any) -> None:
        """Queue a row's new value (DROPPED to delete it), unless the database has it already.
        A value that is not JSON is refused here (logged), so it cannot hold up every write."""
        row = (kind, name, key)
        if data is not DROPPED:
            try:
                json.dumps(data)
            except (TypeError, ValueError):
                logger.error("Not saved: %s %s %s holds a value that is not JSON", kind, name, key)
                return
        if row in self._pending or self._stored.get(row, DROPPED) != data:
            self._pending[row] = data

    def handled(self, update_id: int) -> None:
        """Record with the next write that this update was handled."""
        if not self._handled:
            self._waiting_since = time.monotonic()
        self._handled[update_id] = self.clock.now()

    def remembers(self, update_id: int) -> bool:
        """Whether this update was handled and its id is not written yet."""
        return update_id in self._handled

    async def write_pending(self, *, ids_may_wait: bool = False) -> None:
        """Write the queued changes and handled update ids in one transaction. If it fails they
        stay queued (changes queued since are newer and win) and the error is raised.

        `ids_may_wait`: with no change queued, handled ids younger than `HANDLED_WAIT` are left
        for a later write."""
        async with self._lock:
            if not self._pending and (not self._handled or (ids_may_wait and self._young())):
                return
            pending, self._pending = self._pending, {}
            handled = dict(self._handled)
            try:
                async with self.db.write() as session:
                    await self._write(session, pending)
                    await updates.record(session, self.db.is_sqlite, handled.items())
            except BaseException:
                self._pending = pending | self._pending
                raise
            for update_id in handled:
                del self._handled[update_id]
            if not self._handled:
                self._waiting_since = None
            for row, data in pending.items():
                if data is DROPPED:
                    self._stored.pop(row, None)
                else:
                    self._stored[row] = data

    async def _write(self, session: AsyncSession, pending: dict[RowKey, Any]) -> None:
        """Delete and upsert the rows, one statement each (built once, run for many rows)."""
        now = self.clock.now()
        upserts, deletes = [], []
        for (kind, name, key), data in pending.items():
            if data is DROPPED:
                deletes.append({"row_kind": kind, "row_name": name, "row_key": key})
            else:
                upserts.append(
                    {"kind": kind, "name": name, "key": key, "data": data, "updated_at": now}
                )
        if deletes:
            await session.execute(_DELETE, deletes)
        if upserts:
            await session.execute(_upsert(self.db.is_sqlite), upserts)

    def _young(self) -> bool:
        since = self._waiting_since
        return since is not None and time.monotonic() - since < HANDLED_WAIT

    # ---- user and chat data ----------------------------------------------------------------

    async def get_user_data(self) -> dict[int, dict[Any, Any]]:
        return defaultdict(dict, {int(r.key): dict(r.data or {}) for r in await self._rows(USER)})

    async def get_chat_data(self) -> dict[int, dict[Any, Any]]:
        return defaultdict(dict, {int(r.key): dict(r.data or {}) for r in await self._rows(CHAT)})

    async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
        self._change(USER, "", str(user_id), data or DROPPED)

    async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
        self._change(CHAT, "", str(chat_id), data or DROPPED)

    async def drop_user_data(self, user_id: int) -> None:
        self._change(USER, "", str(user_id), DROPPED)

    async def drop_chat_data(self, chat_id: int) -> None:
        self._change(CHAT, "", str(chat_id), DROPPED)

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
        self._change(CONV, name, encoded, DROPPED if new_state is None else {"state": new_state})

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
        """At shutdown: whatever is still queued."""
        await self.write_pending()
