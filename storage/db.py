"""The async engine and sessions, built from a URL at start-up (never at import time)."""

from __future__ import annotations

import asyncio
import enum
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Table,
    bindparam,
    event,
    literal,
    literal_column,
    pool,
)
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.dialects.sqlite.base import SQLiteExecutionContext
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.util.concurrency import await_

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


def one_of(
    column: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """`column IN (values)` for a fixed list, each value its own parameter: `in_` of a plain
    list makes an expanding parameter, whose SQL is rewritten at every execution. The code's
    own constants (members of an enum, e.g. statuses) are written into the SQL instead: a plan
    PostgreSQL keeps for the statement then knows how few rows they select."""
    return column.in_([_element(value, column) for value in values])


def _element(value: Any, column: ColumnElement[Any] | QueryableAttribute[Any]) -> Any:
    """An enum member's value as an SQL string literal (the values are plain words); any
    other value as a parameter."""
    if not isinstance(value, enum.Enum):
        return literal(value, column.type)
    text = str(value.value)
    if not text.replace("_", "").isalnum():
        raise ValueError(f"not a plain word: {text!r}")
    return literal_column(f"'{text}'")


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


class InlineSqliteContext(SQLiteExecutionContext):
    """Execution context of `InlineSqliteDialect`: a streaming cursor for `stream()` (the
    export) fetches rows as they are read."""

    def create_server_side_cursor(self) -> Any:
        return self._dbapi_connection.cursor(_StreamingCursor)


class InlineSqliteDialect(SQLiteDialect_pysqlite):
    """SQLite for the async engine, with the standard library's sqlite3 called directly on the
    event loop's thread (no driver thread; one await of nothing per statement, see
    `_awaited`).

    A statement on an indexed table takes microseconds; handing it to a driver thread and back
    (aiosqlite) takes about a hundred times as long, and each await SQLAlchemy's async layer
    makes for a driver call costs a greenlet switch. As nothing here waits, a transaction runs
    from BEGIN to COMMIT without letting another task in between, so one process never waits on
    its own locks. Another process holding the write lock does make this one wait, up to the
    busy timeout (PostgreSQL is the database for several busy processes)."""

    is_async = True  # run through AsyncEngine; its greenlet finds nothing to await
    supports_server_side_cursors = True
    supports_statement_cache = True
    execution_ctx_cls = InlineSqliteContext
    has_terminate = True  # a connection the pool gives up on is closed, not left to the GC

    def do_terminate(self, dbapi_connection: Any) -> None:
        dbapi_connection.close()

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        # Waiting for a free connection must let other tasks run: the asyncio-aware queue.
        return pool.AsyncAdaptedQueuePool if cls._is_url_file_db(url) else pool.StaticPool


registry.register("sqlite.savings_inline", __name__, "InlineSqliteDialect")


def _inline_url(url: str) -> URL:
    """The URL of `InlineSqliteDialect` for a SQLite URL of any driver."""
    return make_url(url).set(drivername="sqlite+savings_inline")


async def _ready() -> None:
    """Nothing to wait for."""


def _awaited() -> None:
    """AsyncConnection.execute insists that the driver awaited something (an async driver
    always does): one await of nothing, which returns at once without letting other tasks in
    (a greenlet switch, microseconds). Outside SQLAlchemy's greenlet (a lazy load in async
    code) it raises MissingGreenlet, as the PostgreSQL driver does."""
    await_(_ready())


class _StreamingCursor(sqlite3.Cursor):
    """sqlite3's cursor as SQLAlchemy's async layer expects a driver's cursor; rows are fetched
    as they are read (`stream()`)."""

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        _awaited()
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        _awaited()
        return super().executemany(sql, parameters)

    async def _async_soft_close(self) -> None:
        """SQLAlchemy's async layer closes a driver's cursor this way before handing a result
        to sync code; a sqlite3 cursor is read synchronously anyway."""


class _InlineCursor(_StreamingCursor):
    """Reads a statement's rows at once, as aiosqlite's adapter did: a result left unread
    does not keep its statement, and with it a read snapshot, open after the transaction."""

    _rows: deque[Any]

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        super().execute(sql, parameters)
        self._rows = deque(super().fetchall() if self.description is not None else ())
        return self

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        super().executemany(sql, parameters)
        self._rows = deque()
        return self

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __next__(self) -> Any:
        if not self._rows:
            raise StopIteration
        return self._rows.popleft()


class _InlineSqliteConnection(sqlite3.Connection):
    def cursor(self, factory: Any = _InlineCursor) -> Any:
        return super().cursor(factory)


def _connect_args() -> dict[str, Any]:
    # Autocommit in the driver: SQLAlchemy, not sqlite3, issues BEGIN (see _on_begin).
    return {
        "isolation_level": None,
        "check_same_thread": False,
        "factory": _InlineSqliteConnection,
    }


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
        # Straight to the driver: through SQLAlchemy's execution this costs as much as a query.
        sql = "BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITE_OPTION) else "BEGIN"
        try:
            connection.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
        except sqlite3.Error as error:  # as SQLAlchemy would have raised it
            raise DBAPIError.instance(sql, (), error, sqlite3.Error) from error


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
        engine_url: str | URL = self.url
        if self.is_sqlite:
            engine_url = _inline_url(self.url)
            kwargs.update(connect_args=_connect_args())
        else:
            # Reads run in autocommit: under READ COMMITTED each statement had its own snapshot
            # anyway, and no BEGIN, ROLLBACK or idle transaction costs a round trip; the pool's
            # ping is one statement instead of three. Writes are READ COMMITTED transactions.
            kwargs.update(
                pool_pre_ping=True, pool_size=10, max_overflow=10, isolation_level="AUTOCOMMIT"
            )
        self.engine = create_async_engine(engine_url, **kwargs)
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
