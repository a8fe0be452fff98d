"""The services' database: one SQLAlchemy code path for SQLite (the default) and PostgreSQL (production),
with each service's schema brought up to date by its own Alembic migrations at start.

SQLAlchemy Core gives one set of queries for both databases and Alembic versioned, reviewable schema
changes; hand-written SQL and a home-made migration table would each need a second dialect branch.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, ParamSpec, Self, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger("exportwatch.db")
P = ParamSpec("P")
T = TypeVar("T")
# aiosqlite logs every statement with its parameters at DEBUG, and parameters hold secrets (subscription
# settings): it stays quiet whatever level the root logger is set to.
logging.getLogger("aiosqlite").setLevel(logging.WARNING)

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(url: str) -> str:
    """``sqlite:///x.db`` and ``postgresql://…`` as the async drivers' URLs; other drivers pass unchanged."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def safe_url(url: str) -> str:
    """The URL for logs: the password is masked."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers and the writer work at once; busy_timeout waits for a lock instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not open transactions on its own: the "begin" hook below does it.
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, immediate: bool = False) -> AsyncEngine:
    """An async engine for ``url``; for SQLite the folder is created and WAL mode switched on.

    ``immediate``: SQLite transactions take the write lock when they begin. A transaction that reads
    and then writes can otherwise fail at once (SQLITE_BUSY, not a wait) when another connection wrote
    in between; with it, transactions simply wait their turn (busy_timeout)."""
    full = make_url(async_url(url))
    if full.get_backend_name() == "sqlite":
        if full.database and full.database != ":memory:":
            Path(full.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(full)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if immediate:
            event.listen(engine.sync_engine, "connect", _autocommit_driver)
            event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    # Plans made for each execution's own parameters: a generic plan cached while a table was small
    # (or never analysed, with autovacuum off) kept scanning whole tables for id lookups, 40x slower.
    return create_async_engine(
        full,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
    )


def _upgrade(connection: Connection, script_location: str, version_table: str) -> None:
    if connection.dialect.name == "postgresql":
        # Two replicas starting together must not both run the same migration.
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:t))"), {"t": version_table})
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["connection"] = connection
    config.attributes["version_table"] = version_table
    command.upgrade(config, "head")


@contextlib.asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive lock on ``path`` (flock: also between connections of one process)."""
    with path.open("a") as handle:
        await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


async def migrate(engine: AsyncEngine, script_location: Path, version_table: str) -> None:
    """Apply the service's pending migrations (``script_location`` holds its Alembic env and versions).

    Processes starting together take turns: PostgreSQL through an advisory lock inside the migration
    transaction, SQLite through a lock file beside the database."""
    database = engine.url.database
    lock: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        lock = _file_lock(Path(database + ".migrate-lock"))
    async with lock, engine.begin() as conn:
        await conn.run_sync(_upgrade, str(script_location), version_table)
    log.info("database schema up to date", extra={"version_table": version_table})


def uncancellable(method: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Run a database method to its end even when its caller is cancelled; the caller then gets the
    CancelledError once the method has finished (committed or rolled back).

    A transaction interrupted by a cancellation in the middle of an await (seen with SQLAlchemy 2.1 and
    aiosqlite 0.22, about once in a hundred cancellations) can leave its SQLite connection open outside
    the pool with the write lock held, its close never finished: every later write then waits out the
    busy timeout and fails. A stopping service cancels its jobs, so each write transaction runs in its
    own task, shielded from the caller's cancellation."""

    @functools.wraps(method)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        task = asyncio.ensure_future(method(*args, **kwargs))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            while not task.done():  # a transaction takes milliseconds (at most the busy timeout)
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait([task])
            if not task.cancelled():
                task.exception()  # retrieved: the cancelled caller does not want it
            raise

    return run


class Store:
    """Base of a service's database access: engines, and the service's migrations applied by ``open``.

    Subclasses set ``migrations`` (the Alembic folder), ``version_table`` and, for SQLite databases whose
    transactions read then write, ``immediate``. Then reads go through ``reader`` (plain transactions,
    which WAL lets run beside the writer) and writes through ``writing()``, which takes the write lock
    at BEGIN and, within the process, queues writers on an asyncio lock instead of letting them spin in
    SQLite's busy handler (which sleeps up to 100 ms between tries)."""

    migrations: Path
    version_table: str
    immediate: bool = False

    def __init__(self, engine: AsyncEngine, reader: AsyncEngine | None = None) -> None:
        self.engine = engine
        self.reader = reader or engine
        self._serial = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def from_url(cls, url: str) -> Self:
        engine = create_engine(url, immediate=cls.immediate)
        reader = create_engine(url) if cls.immediate and engine.dialect.name == "sqlite" else None
        return cls(engine, reader)

    @classmethod
    async def open(cls, url: str) -> Self:
        store = cls.from_url(url)
        await store.migrate()
        return store

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction (committed on success, rolled back on error)."""
        lock: contextlib.AbstractAsyncContextManager[Any] = self._serial or contextlib.nullcontext()
        async with lock, self.engine.begin() as conn:
            yield conn

    async def migrate(self) -> None:
        await migrate(self.engine, self.migrations, self.version_table)

    async def close(self) -> None:
        await self.engine.dispose()
        if self.reader is not self.engine:
            await self.reader.dispose()


def dialect_insert(conn: AsyncConnection, table: Any) -> Any:
    """An INSERT of ``table`` that knows ``ON CONFLICT`` in the connection's dialect (both SQLite and
    PostgreSQL spell it the same: ``.on_conflict_do_nothing`` / ``.on_conflict_do_update``)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


class Section:
    """The queries of one concept (subscriptions, a queue, ...) on a service's ``Store``: a service with
    many concepts composes one section per concept on a single store, so they share its engines and its
    one queue of writers. Reads go through ``reader``, writes through ``writing()``, as on the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def reader(self) -> AsyncEngine:
        return self.store.reader

    def writing(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        return self.store.writing()


def run_migrations(metadata: Any, default_version_table: str) -> None:
    """The body of a service's Alembic ``env.py``: migrate on the connection ``migrate`` handed over."""
    from alembic import context

    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:  # pragma: no cover - the services always pass their connection
        raise RuntimeError("run migrations through services.common.db.migrate")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=config.attributes.get("version_table", default_version_table),
        render_as_batch=True,  # SQLite can only alter tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()
