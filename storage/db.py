"""The async engine and sessions, built from a URL at start-up (never at import time)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import BindParameter, Table, bindparam, event
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# Execution option that makes a SQLite transaction take the write lock at BEGIN,
# so two writers queue on the busy timeout instead of deadlocking on upgrade.
WRITE_OPTION = "savings_write"


def dialect_insert(is_sqlite: bool, table: type[Any] | Table) -> PgInsert | SqliteInsert:
    """An INSERT of the database's own dialect: both have ON CONFLICT (upserts)."""
    return sqlite_insert(table) if is_sqlite else pg_insert(table)


def table_of(model: type[Any]) -> Table:
    """A mapped class's table, for Core statements (cheaper to run than ORM ones)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def set_parameters(model: type[Any], columns: Iterable[str]) -> dict[str, BindParameter[Any]]:
    """The SET clause of an UPDATE built once for these `columns`: parameter `v_<column>` each
    (see `set_values`), typed like its column."""
    table = table_of(model)
    return {name: bindparam(f"v_{name}", type_=table.c[name].type) for name in sorted(columns)}


def set_values(values: dict[str, Any]) -> dict[str, Any]:
    """Parameters for a `set_parameters` clause."""
    return {f"v_{name}": value for name, value in values.items()}


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file on first run."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def normalise_url(url: str) -> str:
    """Pick the async driver when a plain URL was given."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    return url


class InlineSqliteConnection(aiosqlite.Connection):
    """aiosqlite's connection, but each call runs at once on the event loop's thread instead
    of being handed to a thread of its own.

    A statement on an indexed table takes microseconds, the hand-over to a thread and back
    about a hundred times as long; and as nothing here waits, a transaction runs from BEGIN to
    COMMIT without letting another task in between, so one process never waits on its own
    locks. Another process holding the write lock does make this one wait, up to the busy
    timeout (PostgreSQL is the database for several busy processes)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]  # SQLAlchemy queues some calls here

    def __await__(self) -> Any:
        return self._connect().__await__()  # no thread to start

    async def _connect(self) -> InlineSqliteConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()


class _RunNow:
    """Stands in for aiosqlite's queue to its thread: a call put here runs at once and settles
    its future (SQLAlchemy sets a connection's isolation level this way)."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the waiting caller, as aiosqlite's thread does
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


def _inline_creator(url: str) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy: SQLite connections in autocommit mode (SQLAlchemy, not
    the driver, issues BEGIN: see _on_begin)."""
    database = make_url(url).database or ":memory:"

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, isolation_level=None, check_same_thread=False)

    async def create() -> InlineSqliteConnection:
        return await InlineSqliteConnection(connector)

    return create


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@dataclass(eq=False)
class _ReadScope:
    """The session the reads of one update share, in the task handling it."""

    db: Database
    session: AsyncSession
    task: asyncio.Task[Any] | None


_read_scope: ContextVar[_ReadScope | None] = ContextVar("savings_read_scope", default=None)


class Database:
    """The engine and its two session factories: reads, and writes that own a transaction.

    Within `update_scope()` (one update), every `read()` in the same task shares one session:
    a session costs a pool checkout, BEGIN and ROLLBACK (on PostgreSQL a ping and two round
    trips), more than most of the indexed reads an update makes. A `write()` that commits, and
    every Bot API call (`bot.request`), end the shared transaction: later reads start a new one
    and see the write, and no transaction stays open while the bot waits on the network.
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> None:
        self.url = normalise_url(url)
        ensure_sqlite_dir(self.url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs.update(async_creator=_inline_creator(self.url))
        else:
            # Reads run in autocommit: under READ COMMITTED each statement had its own snapshot
            # anyway, and no BEGIN, ROLLBACK or idle transaction costs a round trip; the pool's
            # ping is one statement instead of three. Writes are READ COMMITTED transactions.
            kwargs.update(
                pool_pre_ping=True, pool_size=10, max_overflow=10, isolation_level="AUTOCOMMIT"
            )
        self.engine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine, busy_timeout_ms)
            write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        else:
            write_engine = self.engine.execution_options(isolation_level="READ COMMITTED")
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(write_engine, expire_on_commit=False)

    def _scope(self) -> _ReadScope | None:
        scope = _read_scope.get()
        if scope is None or scope.db is not self or scope.task is not asyncio.current_task():
            return None  # none, another database's, or inherited by a task the update started
        return scope

    @asynccontextmanager
    async def update_scope(self) -> AsyncIterator[None]:
        """Let the reads of this task share one session until the block ends."""
        # autoflush off: a change made to a loaded object is never written by a later read.
        session = self._reader(autoflush=False)
        token = _read_scope.set(_ReadScope(self, session, asyncio.current_task()))
        try:
            yield
        finally:
            _read_scope.reset(token)
            await session.close()

    async def release_reads(self) -> None:
        """End the shared read transaction of this task's update, if any (before a network
        call: PostgreSQL would hold an idle transaction and its table locks meanwhile, SQLite
        a WAL snapshot). The next read starts a new one, seeing what others committed."""
        scope = self._scope()
        if scope is not None:
            await scope.session.close()

    @asynccontextmanager
    async def read(self, *, own: bool = False) -> AsyncIterator[AsyncSession]:
        """A session for queries; nothing it does is committed. `own`: not the update's
        shared session (for a transaction of its own, such as the export's snapshot)."""
        scope = None if own else self._scope()
        if scope is None:
            async with self._reader() as session:
                yield session
            return
        try:
            yield scope.session
        except Exception:
            await scope.session.close()  # a failed statement may have ended the transaction
            raise

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits as one transaction, or rolls back on error."""
        async with self._writer() as session, session.begin():
            yield session
        await self.release_reads()  # later reads see what was just committed

    async def dispose(self) -> None:
        await self.engine.dispose()
