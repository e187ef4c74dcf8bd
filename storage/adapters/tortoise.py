"""Tortoise ORM's internals, used here only: checked against tortoise-orm 1.1.9.

- :class:`SqliteClient`: Tortoise's SQLite client (its ``_connection``, ``_lock`` and
  ``_post_connect``) with a connection the event loop's own thread may use as well, and
  ``BEGIN IMMEDIATE`` tried there first.
- :func:`deferred_transaction` and :class:`DeferredBegin`: Tortoise's SQLite transaction
  (``SqliteTransactionWrapper``: ``_lock``, ``_connection``, ``_finalized``), begun by its
  first statement and committed in aiosqlite's thread at once.
- :class:`AsyncpgClient`: Tortoise's asyncpg client whose transactions
  (``TransactionContextPooled``: ``_parent._pool``, ``_connection``, ``_finalized``) let go of
  a connection that stops answering.
- Model metadata (``Model._meta``: table, columns, fields and their conversions) and rows
  made instances (``Model._init_from_db``).

:func:`check` says whether the installed Tortoise still has all of this.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiosqlite
from tortoise.backends.asyncpg.client import AsyncpgDBClient as TortoiseAsyncpgClient
from tortoise.backends.asyncpg.client import TransactionWrapper
from tortoise.backends.base.client import (
    ConnectionWrapper,
    TransactionalDBClient,
    TransactionContextPooled,
)
from tortoise.backends.sqlite.client import SqliteClient as TortoiseSqliteClient
from tortoise.backends.sqlite.client import SqliteTransactionWrapper
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError
from tortoise.fields import Field
from tortoise.models import MetaInfo, Model

from storage.adapters import is_classmethod, is_coroutine_function, is_method, problem, require
from storage.adapters.aiosqlite import raw, start_now

CHECKED = "tortoise-orm 1.1.9"

M = TypeVar("M", bound=Model)


class SqliteClient(TortoiseSqliteClient):
    """Tortoise's SQLite client, its connection opened without sqlite3's same-thread check:
    the writer's transaction runs its short statements on the event loop's thread and hands
    COMMIT to aiosqlite's (see ``storage.sqlite``). ``before_connect`` runs before the
    database is opened; ``busy_timeout`` is the connection's, read when it is opened."""

    busy_timeout = 0  # ms
    readers_kept = 4  # idle read-only connections kept for reads apart (:meth:`reader`)
    read_timeout = 5.0  # seconds a read apart waits for a lock (WAL readers rarely wait)

    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        self._readers: list[sqlite3.Connection] = []
        self._readers_open = True

    def before_connect(self) -> None:
        """Called before the database file is opened."""

    def reader(self) -> sqlite3.Connection:
        """A read-only connection of its own to the database file, for one statement in a
        worker thread (``storage.sql.shaped``): an idle one kept from before (its schema
        read and its page cache warm), or a new one. Give it back with :meth:`release`."""
        try:
            return self._readers.pop()  # atomic: any thread may take or give back
        except IndexError:
            pass
        uri = "file:" + urllib.parse.quote(os.path.abspath(self.filename)) + "?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=self.read_timeout, check_same_thread=False)

    def release(self, conn: sqlite3.Connection, *, broken: bool = False) -> None:
        """``conn`` from :meth:`reader` done with: kept for the next read (up to
        :attr:`readers_kept`), or closed (when ``broken`` too, or the client closed)."""
        if broken or not self._readers_open or len(self._readers) >= self.readers_kept:
            conn.close()
        else:
            self._readers.append(conn)

    async def close(self) -> None:
        self._readers_open = False
        while self._readers:
            self._readers.pop().close()
        await super().close()

    @property
    def aio(self) -> aiosqlite.Connection:
        """The open aiosqlite connection (ValueError before it is opened)."""
        if self._connection is None:
            raise ValueError("the database is not open")
        return self._connection

    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        self._readers_open = True
        self.before_connect()
        # As Tortoise's own, but usable from the event loop's thread too.
        self._connection = await aiosqlite.connect(
            self.filename, isolation_level=None, check_same_thread=False
        )
        raw(self._connection).row_factory = sqlite3.Row
        for pragma, value in self.pragmas.items():
            cursor = await self._connection.execute(f"PRAGMA {pragma}={value}")
            await cursor.close()
        async with self._connection.execute("PRAGMA busy_timeout") as cursor:
            row = await cursor.fetchone()
        self.busy_timeout = int(row[0]) if row is not None else 0
        await self._post_connect()

    async def begin_immediate(self) -> None:
        """BEGIN IMMEDIATE: the write lock taken on the event loop's thread when it is free
        (no wait), else waited for (up to the busy timeout) in aiosqlite's thread. After it no
        statement of the transaction waits for another process, so the loop never does."""
        assert self._connection is not None
        conn = raw(self._connection)
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # another process writes: wait off the loop
            conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout}")
            cursor = await self._connection.execute("BEGIN IMMEDIATE")
            await cursor.close()
        else:
            conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout}")


@asynccontextmanager
async def deferred_transaction(client: SqliteClient) -> AsyncIterator[None]:
    """A :class:`DeferredBegin` transaction on ``client``, the task's current connection
    while it lasts; committed on the way out unless a statement committed it, rolled back
    on an exception. It holds the lock Tortoise's own SQLite transactions hold."""
    async with client._lock:
        if not client._connection:
            await client.create_connection(with_db=True)
        tx = DeferredBegin(client)
        token = get_connections().set(client.connection_name, tx)
        try:
            yield
            if tx.begun and not tx._finalized:
                await tx.commit()
        except BaseException:
            if tx.begun and not tx._finalized:
                await tx.rollback()
            raise
        finally:
            get_connections().reset(token)


class DeferredBegin(SqliteTransactionWrapper):
    """Tortoise's SQLite transaction, begun by the first statement that runs in it.

    ``lock`` is held while a statement runs in it; ``raw`` is its sqlite3 connection, for
    statements run on the event loop's thread (after :meth:`ensure_begun`)."""

    def __init__(self, client: SqliteClient) -> None:
        super().__init__(client)
        self.client = client
        self.begun = False
        self.lock: asyncio.Lock = self._lock
        self.raw: sqlite3.Connection = raw(self._connection)

    async def ensure_begun(self) -> None:
        if not self.begun:
            await self.client.begin_immediate()  # without the loop waiting for another process
            self.begun = True

    async def commit(self) -> None:
        """COMMIT in aiosqlite's thread (it waits on the disk), started right away."""
        if self._finalized:
            raise TransactionManagementError("Transaction already finalised")
        await start_now(self._connection, self.raw.commit)
        self._finalized = True

    def acquire_connection(self) -> Any:
        return _BeginFirst(self)

    def _in_transaction(self) -> Any:  # a nested savepoint: the transaction begins first
        return _BeginFirst(self, super()._in_transaction())


class _BeginFirst:
    """Enters ``inner`` (the connection, or a savepoint) after the transaction's BEGIN."""

    def __init__(self, tx: DeferredBegin, inner: Any = None) -> None:
        self.tx = tx
        self.inner = inner if inner is not None else ConnectionWrapper(tx._lock, tx)

    async def __aenter__(self) -> Any:
        if not self.tx.begun:
            async with self.tx._lock:
                await self.tx.ensure_begun()
        return await self.inner.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.inner.__aexit__(*exc)


class AsyncpgClient(TortoiseAsyncpgClient):
    """Tortoise's asyncpg client, whose transactions let go of a connection that stops
    answering (see :class:`_Transaction`); :meth:`timed_out` says which failures mean it."""

    def timed_out(self, exc: BaseException) -> bool:
        return isinstance(exc, TimeoutError)

    def _in_transaction(self) -> _Transaction:
        return _Transaction(TransactionWrapper(self), self._pool_init_lock, self.timed_out)


class _Transaction(TransactionContextPooled):
    """Tortoise's pooled transaction, which takes a connection from the pool, makes it the
    task's current connection, then sends BEGIN. When BEGIN fails (a statement timeout: the
    database stopped answering), Tortoise's never reaches ``__aexit__``: the connection is
    never given back to the pool and the task's context keeps pointing at the dead
    transaction, so a long-lived task runs every later transaction as a savepoint of it.
    Here a failed BEGIN gives the connection back and restores the task's context, and a
    transaction whose statement timed out drops its connection instead of sending ROLLBACK
    down it (which waits a second statement timeout)."""

    def __init__(
        self,
        client: TransactionalDBClient,
        pool_init_lock: asyncio.Lock,
        timed_out: Callable[[BaseException], bool],
    ) -> None:
        super().__init__(client, pool_init_lock)
        self.timed_out = timed_out

    async def __aenter__(self) -> TransactionalDBClient:
        await self.ensure_connection()
        pool = self.client._parent._pool
        self.client._connection = await pool.acquire()
        self.token = get_connections().set(self.connection_name, self.client)
        try:
            await self.client.begin()
        except BaseException as exc:
            get_connections().reset(self.token)
            if self.timed_out(exc):
                self.client._connection.terminate()  # gives the pool its place back
            else:
                await pool.release(self.client._connection)
            raise
        return self.client

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        if exc_val is not None and self.timed_out(exc_val) and not self.client._finalized:
            # No ROLLBACK on a connection that stopped answering: it would wait another
            # statement timeout (asyncpg first cancels the timed-out statement). The server
            # rolls back a transaction whose connection goes; the pool opens a new one.
            try:
                self.client._connection.terminate()
            finally:
                get_connections().reset(self.token)
            return
        await super().__aexit__(exc_type, exc_val, exc_tb)


# Model metadata. Table, columns and field maps are complete once Tortoise.init has run;
# ``fields`` (the declared fields) is complete at import.


def table(model: type[Model]) -> str:
    """The model's table name."""
    return str(model._meta.db_table)


def fields(model: type[Model]) -> dict[str, Field[Any]]:
    """Field name -> field, as declared (and, after Tortoise.init, relations' id fields)."""
    return model._meta.fields_map


def db_columns(model: type[Model]) -> set[str]:
    """Every column of the model's table."""
    return model._meta.db_fields


def field_name(model: type[Model], column: str) -> str:
    """The model's field that holds ``column``."""
    return str(model._meta.fields_db_projection_reverse[column])


def db_value(model: type[Model], field: str, value: Any) -> Any:
    """``value`` as the driver takes it for ``model.field`` (JSON text, enum value, ...)."""
    return model._meta.fields_map[field].to_db_value(value, model)


def python_reader(model: type[Model], field: str) -> Callable[[Any], Any]:
    """What reads a stored value of ``model.field`` as the ORM does (JSON parsed, a time made
    aware), looked up once (for a loop over rows)."""
    return model._meta.fields_map[field].to_python_value


def from_db(model: type[M], row: dict[str, Any]) -> M:
    """A model instance from a full row (database column names), read as the ORM reads one."""
    return model._init_from_db(**row)


def check() -> None:
    """Raise ``LibraryMismatch`` naming each internal used here that Tortoise lacks."""

    def lock(value: Any) -> bool:
        return isinstance(value, asyncio.Lock)

    def flag(value: Any) -> bool:
        return isinstance(value, bool)

    def anything(value: Any) -> bool:
        return True

    def of(kind: type) -> Callable[[Any], bool]:
        return lambda value: isinstance(value, kind)

    sqlite = TortoiseSqliteClient(":memory:", connection_name="check")
    sqlite_tx = SqliteTransactionWrapper(sqlite)
    asyncpg = TortoiseAsyncpgClient(database="check", connection_name="check")
    asyncpg_tx = TransactionWrapper(asyncpg)
    pooled = TransactionContextPooled(asyncpg_tx, asyncio.Lock())
    meta = Model._meta
    sq, sqtx = "tortoise SqliteClient", "tortoise SqliteTransactionWrapper"
    pg, pgtx = "tortoise AsyncpgDBClient", "tortoise asyncpg TransactionWrapper"
    require(
        "tortoise-orm",
        CHECKED,
        [
            problem(sqlite, sq, "_connection", "an attribute (None until connected)", anything),
            problem(sqlite, sq, "_lock", "an asyncio.Lock", lock),
            problem(sqlite, sq, "pragmas", "a dict", of(dict)),
            problem(sqlite, sq, "filename", "a str", of(str)),
            problem(
                TortoiseSqliteClient,
                sq,
                "_post_connect",
                "a coroutine function",
                is_coroutine_function,
            ),
            problem(TortoiseSqliteClient, sq, "_in_transaction", "a method", is_method),
            problem(sqlite_tx, sqtx, "_connection", "an attribute", anything),
            problem(sqlite_tx, sqtx, "_lock", "an asyncio.Lock", lock),
            problem(sqlite_tx, sqtx, "_finalized", "a bool", flag),
            problem(TortoiseAsyncpgClient, pg, "_in_transaction", "a method", is_method),
            problem(asyncpg, pg, "_pool", "an attribute (None until connected)", anything),
            problem(asyncpg, pg, "_pool_init_lock", "an asyncio.Lock", lock),
            problem(asyncpg_tx, pgtx, "_parent", "the client", lambda v: v is asyncpg),
            problem(asyncpg_tx, pgtx, "_connection", "an attribute", anything),
            problem(asyncpg_tx, pgtx, "_finalized", "a bool", flag),
            problem(
                pooled,
                "tortoise TransactionContextPooled",
                "client",
                "the transaction",
                lambda v: v is asyncpg_tx,
            ),
            problem(
                TransactionContextPooled,
                "tortoise TransactionContextPooled",
                "ensure_connection",
                "a coroutine function",
                is_coroutine_function,
            ),
            problem(Model, "tortoise Model", "_meta", "a MetaInfo", of(MetaInfo)),
            problem(Model, "tortoise Model", "_init_from_db", "a classmethod", is_classmethod),
            problem(meta, "tortoise Model._meta", "db_table", "an attribute", anything),
            problem(meta, "tortoise Model._meta", "fields_map", "a dict", of(dict)),
            problem(meta, "tortoise Model._meta", "db_fields", "a set", of(set)),
            problem(meta, "tortoise Model._meta", "fields_db_projection", "a dict", of(dict)),
            problem(
                meta, "tortoise Model._meta", "fields_db_projection_reverse", "a dict", of(dict)
            ),
            problem(Field, "tortoise Field", "to_db_value", "a method", is_method),
            problem(Field, "tortoise Field", "to_python_value", "a method", is_method),
        ],
    )
