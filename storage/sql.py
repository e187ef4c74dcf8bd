"""Hand-written SQL for the few statements on the ingest and delivery hot paths.

The ORM builds every query anew (pypika), which costs more than SQLite takes to run it; a
message in bot mode makes a dozen. These statements are written once, with ``?`` placeholders
(turned into ``$n`` for PostgreSQL), and use ``RETURNING`` (SQLite >= 3.35, PostgreSQL) so
that one statement both changes a row and reads it back. They run on the connection of the
current transaction, like the ORM's own queries.

A :data:`Plan` is a generator that yields ``(sql, values)`` steps and is sent each step's
rows back; it holds the logic between statements (e.g. "if the insert found a repeat, read
the chat instead"). :func:`run` drives it. On SQLite, in the writer's :func:`transaction`, the
statements run right on the event loop's thread: each is an indexed lookup or a row written
(microseconds), while a hand-off to aiosqlite's thread costs a wait for the GIL, which the
loop holds while it parses HTTP (see ``storage.sqlite``); only COMMIT, which waits on the
disk, goes to that thread. Outside it, the whole plan runs in aiosqlite's thread in one
hand-off. On PostgreSQL it awaits each statement. A plan computes only: it touches no shared
state and no asyncio object, because it may run in another thread.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Generator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from tortoise.backends.base.client import ConnectionWrapper
from tortoise.backends.sqlite.client import SqliteTransactionWrapper
from tortoise.connection import get_connection, get_connections
from tortoise.exceptions import IntegrityError, OperationalError, TransactionManagementError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from storage import columns
from storage.sqlite import SqliteClient, start_now

M = TypeVar("M", bound=Model)
T = TypeVar("T")
Step = tuple[str, Sequence[Any]]
Plan = Generator[Step, list[dict[str, Any]], T]


@lru_cache(maxsize=256)
def _prepare(sql: str, postgres: bool) -> str:
    if postgres:
        counter = iter(range(1, 10_000))
        sql = re.sub(r"\?", lambda _: f"${next(counter)}", sql)
    return sql


def is_postgres() -> bool:
    return get_connection("default").capabilities.dialect == "postgres"


async def fetch(sql: str, values: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Run ``sql`` (``?`` placeholders) in the current transaction; rows as dicts."""
    connection = get_connection("default")
    sql = _prepare(sql, connection.capabilities.dialect == "postgres")
    return await connection.execute_query_dict(sql, list(values))


async def run(plan: Plan[T], *, commit: bool = False) -> T:
    """Drive ``plan`` on the current connection (see the module docstring); its result.

    In a :func:`transaction` on SQLite, the statements run on the event loop's own thread
    (each is short: an indexed lookup or a row written) and ``commit`` ends the transaction
    after the plan. Elsewhere ``commit`` is left to the transaction.
    """
    connection = get_connection("default")
    if connection.capabilities.dialect == "sqlite":
        try:
            if isinstance(connection, _DeferredBegin):
                async with connection._lock:
                    await connection.ensure_begun()
                    result: T = _drive(connection._connection._conn, plan)
                if commit:
                    await connection.commit()
            else:
                async with connection.acquire_connection() as aio:
                    result = await aio._execute(_drive, aio._conn, plan)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(exc) from exc
        except sqlite3.OperationalError as exc:
            raise OperationalError(exc) from exc
        return result
    try:
        step = next(plan)
        while True:
            step = plan.send(await fetch(*step))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


@asynccontextmanager
async def transaction() -> AsyncIterator[None]:
    """A transaction, as Tortoise's ``in_transaction`` (the ORM and nested savepoints work in
    it), with fewer hand-offs to SQLite's thread: it begins with its first statement, on the
    loop's thread, and a plan's statements run there too (:func:`run`); ``run(plan,
    commit=True)`` commits after the last plan. A writer's batch pays one hand-off, COMMIT,
    instead of 5. On PostgreSQL it is ``in_transaction``."""
    client = get_connection("default")
    if client.capabilities.dialect != "sqlite":
        async with in_transaction():
            yield
        return
    if not isinstance(client, SqliteClient):
        raise TypeError("SQLite is opened through the storage.sqlite engine (storage.db)")
    async with client._lock:  # the lock Tortoise's own SQLite transactions hold
        if not client._connection:
            await client.create_connection(with_db=True)
        tx = _DeferredBegin(client)
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


class _DeferredBegin(SqliteTransactionWrapper):
    """Tortoise's SQLite transaction, begun by the first statement that runs in it."""

    def __init__(self, client: SqliteClient) -> None:
        super().__init__(client)
        self.client = client
        self.begun = False

    async def ensure_begun(self) -> None:
        if not self.begun:
            await self.client.begin_immediate()  # without the loop waiting for another process
            self.begun = True

    async def commit(self) -> None:
        """COMMIT in aiosqlite's thread (it waits on the disk), started right away."""
        if self._finalized:
            raise TransactionManagementError("Transaction already finalised")
        await start_now(self._connection, self._connection._conn.commit)
        self._finalized = True

    def acquire_connection(self) -> Any:
        return _BeginFirst(self)

    def _in_transaction(self) -> Any:  # a nested savepoint: the transaction begins first
        return _BeginFirst(self, super()._in_transaction())


class _BeginFirst:
    """Enters ``inner`` (the connection, or a savepoint) after the transaction's BEGIN."""

    def __init__(self, tx: _DeferredBegin, inner: Any = None) -> None:
        self.tx = tx
        self.inner = inner if inner is not None else ConnectionWrapper(tx._lock, tx)

    async def __aenter__(self) -> Any:
        if not self.tx.begun:
            async with self.tx._lock:
                await self.tx.ensure_begun()
        return await self.inner.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.inner.__aexit__(*exc)


def _drive(conn: sqlite3.Connection, plan: Plan[T]) -> T:
    """Every statement of ``plan``, in one go (on the loop's thread, or in SQLite's).

    Rows are read as tuples and zipped with the statement's column names, kept per statement:
    a chat row as a dict costs 7 µs this way against 11 µs through ``sqlite3.Row``."""
    cursor = conn.cursor()
    cursor.row_factory = None
    try:
        step = next(plan)
        while True:
            sql, values = step
            sql = _prepare(sql, False)
            rows = cursor.execute(sql, values).fetchall()
            if rows:
                names = _columns.get(sql) or _remember_columns(sql, cursor.description)
                step = plan.send([dict(zip(names, row, strict=True)) for row in rows])
            else:
                step = plan.send([])
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        cursor.close()


_columns: dict[str, tuple[str, ...]] = {}  # a statement's result columns, by its SQL


def _remember_columns(sql: str, description: Sequence[Sequence[Any]]) -> tuple[str, ...]:
    if len(_columns) >= 512:  # statements built per count of values (IN lists): start over
        _columns.clear()
    names = _columns[sql] = tuple(column[0] for column in description)
    return names


def instance(model: type[M], row: dict[str, Any]) -> M:
    """A model instance from a full row (database column names), as the ORM would build it."""
    parsed = values(model, row)  # times read from text are set after the ORM's own reading
    times = columns.datetime_columns(model)
    fast = {n: parsed[n] for n in times if isinstance(row.get(n), str)}
    obj = model._init_from_db(**{**row, **{name: None for name in fast}})
    for name, value in fast.items():
        object.__setattr__(obj, columns.field_name(model, name), value)
    return obj


def values(model: type[Model], row: dict[str, Any]) -> dict[str, Any]:
    """A row (database column names) with its times as aware datetimes, without a model
    instance: what :mod:`handoff.read.views` formats. Enums and booleans stay as stored (text, 0/1).

    SQLite returns times as text; they are read with ``datetime.fromisoformat`` (C, ten times
    faster than the ORM's parser; the same instant, in UTC).
    """
    out = dict(row)
    for name in columns.datetime_columns(model):
        value = out.get(name)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            out[name] = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return out


def time_param(value: datetime) -> datetime | str:
    """``value`` as a statement parameter: on SQLite the text Tortoise's adapter would store.

    sqlite3 calls that adapter, a Python function, for every datetime parameter of every
    statement, in SQLite's thread; a plan that uses one instant many times passes it
    formatted once. PostgreSQL (asyncpg) takes the datetime itself.
    """
    return value if is_postgres() else value.isoformat(" ")
