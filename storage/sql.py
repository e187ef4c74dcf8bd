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

import asyncio
import re
import sqlite3
from collections.abc import Callable, Generator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from storage import columns
from storage.adapters.aiosqlite import in_thread, raw
from storage.adapters.tortoise import DeferredBegin, SqliteClient, deferred_transaction, from_db

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


def seldom(term: str) -> str:
    """SQLite: ``term`` marked as true of few rows (``likelihood``), for a sweep that looks
    for the few rows in a state (a reply queued, a file pending) through the index on it.
    Once ``ANALYZE`` has counted a column holding one value in nearly every row, SQLite
    takes an equality on it for true of nearly every row and walks the whole table in
    ``ORDER BY "id"``'s order instead (1,000,000 messages: ~100 ms, on the writer's
    connection, every 30 s). Not for PostgreSQL, which has no ``likelihood`` (and keeps
    the most common values apart in its statistics)."""
    return f"likelihood({term}, 0.001)"


async def fetch(sql: str, values: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Run ``sql`` (``?`` placeholders) in the current transaction; rows as dicts."""
    connection = get_connection("default")
    sql = _prepare(sql, connection.capabilities.dialect == "postgres")
    return await connection.execute_query_dict(sql, list(values))


async def tuples(sql: str, values: Sequence[Any] = ()) -> list[Sequence[Any]]:
    """Run ``sql`` (``?`` placeholders) outside any transaction; rows as plain tuples, for
    reads of many rows (the reports). On SQLite a database file is read through a read-only
    connection of its own in a worker thread (``SqliteClient.reader``: a few are kept open
    between statements, their schema read and page cache warm): WAL lets it read the
    committed rows while the writer goes on, so a long read neither waits for the writer's
    connection nor holds it (and statements run side by side use both cores; sqlite3
    releases the GIL while SQLite works). ``:memory:`` goes through the one connection. On
    PostgreSQL: asyncpg's records."""
    return await shaped(sql, values, _as_read)


def _as_read(rows: list[Any]) -> list[Any]:
    return rows


async def shaped(sql: str, values: Sequence[Any], shape: Callable[[list[Any]], T]) -> T:
    """``shape`` of the rows of ``sql``, read as :func:`tuples` reads them. On SQLite
    ``shape`` runs in the thread that read the rows, right after the read: a report's
    grouping of its values then goes on beside its other statements, instead of after the
    last of them on the event loop. ``shape`` computes only (no asyncio object, nothing
    shared)."""
    connection = get_connection("default")
    if connection.capabilities.dialect == "sqlite":
        path = str(getattr(connection, "filename", ""))
        apart = path and path != ":memory:" and not path.startswith("file:")
        if apart and isinstance(connection, SqliteClient):
            return await asyncio.to_thread(_read_apart, connection, sql, values, shape)
        async with connection.acquire_connection() as aio:
            found: T = await in_thread(aio, _read_shaped, raw(aio), sql, values, shape)
            return found
    _, records = await connection.execute_query(_prepare(sql, True), list(values))
    return shape(list(records))  # asyncpg's records (typed as dicts by Tortoise)


def _fetch_all(conn: sqlite3.Connection, sql: str, values: Sequence[Any]) -> list[Any]:
    cursor = conn.cursor()
    cursor.row_factory = None
    try:
        return cursor.execute(sql, values).fetchall()
    finally:
        cursor.close()


def _read_shaped(
    conn: sqlite3.Connection, sql: str, values: Sequence[Any], shape: Callable[[list[Any]], T]
) -> T:
    return shape(_fetch_all(conn, sql, values))


def _read_apart(
    client: SqliteClient, sql: str, values: Sequence[Any], shape: Callable[[list[Any]], T]
) -> T:
    conn = client.reader()
    try:
        found = _fetch_all(conn, sql, values)
    except BaseException:
        client.release(conn, broken=True)
        raise
    client.release(conn)
    return shape(found)


async def run(plan: Plan[T], *, commit: bool = False) -> T:
    """Drive ``plan`` on the current connection (see the module docstring); its result.

    In a :func:`transaction` on SQLite, the statements run on the event loop's own thread
    (each is short: an indexed lookup or a row written) and ``commit`` ends the transaction
    after the plan. Elsewhere ``commit`` is left to the transaction.
    """
    connection = get_connection("default")
    if connection.capabilities.dialect == "sqlite":
        try:
            if isinstance(connection, DeferredBegin):
                async with connection.lock:
                    await connection.ensure_begun()
                    result: T = _drive(connection.raw, plan)
                if commit:
                    await connection.commit()
            else:
                async with connection.acquire_connection() as aio:
                    result = await in_thread(aio, _drive, raw(aio), plan)
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


def transaction() -> AbstractAsyncContextManager[object]:
    """A transaction, as Tortoise's ``in_transaction`` (the ORM and nested savepoints work in
    it), with fewer hand-offs to SQLite's thread: it begins with its first statement, on the
    loop's thread, and a plan's statements run there too (:func:`run`); ``run(plan,
    commit=True)`` commits after the last plan. A writer's batch pays one hand-off, COMMIT,
    instead of 5. On PostgreSQL it is ``in_transaction``."""
    client = get_connection("default")
    if client.capabilities.dialect != "sqlite":
        return in_transaction()
    if not isinstance(client, SqliteClient):
        raise TypeError("SQLite is opened through the storage.sqlite engine (storage.db)")
    return deferred_transaction(client)


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
    obj = from_db(model, {**row, **{name: None for name in fast}})
    for name, value in fast.items():
        object.__setattr__(obj, columns.field_name(model, name), value)
    return obj


def values(model: type[Model], row: dict[str, Any]) -> dict[str, Any]:
    """A row (database column names) with its times as aware datetimes and its JSON parsed,
    without a model instance: what :mod:`handoff.read.views` formats. Enums and booleans stay
    as stored (text, 0/1).

    SQLite returns times as text; they are read with ``datetime.fromisoformat`` (C, ten times
    faster than the ORM's parser; the same instant, in UTC).
    """
    out = dict(row)
    for name in columns.datetime_columns(model):
        value = out.get(name)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            out[name] = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    for name, read in columns.json_columns(model):
        value = out.get(name)
        if isinstance(value, str | bytes):
            out[name] = read(value)
    return out


def time_param(value: datetime) -> datetime | str:
    """``value`` as a statement parameter: on SQLite the text Tortoise's adapter would store.

    sqlite3 calls that adapter, a Python function, for every datetime parameter of every
    statement, in SQLite's thread; a plan that uses one instant many times passes it
    formatted once. PostgreSQL (asyncpg) takes the datetime itself.
    """
    return value if is_postgres() else value.isoformat(" ")
