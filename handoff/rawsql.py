"""Hand-written SQL for the few statements on the ingest and delivery hot paths.

The ORM builds every query anew (pypika), which costs more than SQLite takes to run it; a
message in bot mode makes a dozen. These statements are written once, with ``?`` placeholders
(turned into ``$n`` for PostgreSQL), and use ``RETURNING`` (SQLite >= 3.35, PostgreSQL) so
that one statement both changes a row and reads it back. They run on the connection of the
current transaction, like the ORM's own queries.

A :data:`Plan` is a generator that yields ``(sql, values)`` steps and is sent each step's
rows back; it holds the logic between statements (e.g. "if the insert found a repeat, read
the chat instead"). :func:`run` drives it: on SQLite the whole plan runs inside aiosqlite's
worker thread in one hand-off (each statement would otherwise cost a round trip between the
event loop and that thread, which is what bounded ingest); on PostgreSQL it awaits each
statement. A plan computes only: it touches no shared state and no asyncio object, because
on SQLite it runs in another thread.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Generator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.fields import DatetimeField
from tortoise.models import Model

from storage.models import Chat

M = TypeVar("M", bound=Model)
T = TypeVar("T")
Step = tuple[str, Sequence[Any]]
Plan = Generator[Step, list[dict[str, Any]], T]

CHAT_ROW = "<chat row>"  # stands for every column of chats (known once the ORM is set up)


@lru_cache(maxsize=256)
def _prepare(sql: str, postgres: bool) -> str:
    if CHAT_ROW in sql:
        columns = ", ".join(f'"{c}"' for c in sorted(Chat._meta.db_fields))
        sql = sql.replace(CHAT_ROW, columns)
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


async def run(plan: Plan[T]) -> T:
    """Drive ``plan`` on the current connection (see the module docstring); its result."""
    connection = get_connection("default")
    if connection.capabilities.dialect == "sqlite":
        try:
            async with connection.acquire_connection() as aio:
                return await aio._execute(_drive, aio._conn, plan)  # type: ignore[no-any-return]
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(exc) from exc
        except sqlite3.OperationalError as exc:
            raise OperationalError(exc) from exc
    try:
        step = next(plan)
        while True:
            step = plan.send(await fetch(*step))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def _drive(conn: sqlite3.Connection, plan: Plan[T]) -> T:
    """Runs in aiosqlite's worker thread: every statement of ``plan``, in one go."""
    try:
        step = next(plan)
        while True:
            sql, values = step
            rows = conn.execute(_prepare(sql, False), list(values)).fetchall()
            step = plan.send([dict(row) for row in rows])
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def instance(model: type[M], row: dict[str, Any]) -> M:
    """A model instance from a full row (database column names), as the ORM would build it."""
    parsed = values(model, row)  # times read from text are set after the ORM's own reading
    fast = {n: parsed[n] for n in _datetime_columns(model) if isinstance(row.get(n), str)}
    obj = model._init_from_db(**{**row, **{name: None for name in fast}})
    for name, value in fast.items():
        object.__setattr__(obj, model._meta.fields_db_projection_reverse[name], value)
    return obj


def values(model: type[Model], row: dict[str, Any]) -> dict[str, Any]:
    """A row (database column names) with its times as aware datetimes, without a model
    instance: what :mod:`handoff.views` formats. Enums and booleans stay as stored (text, 0/1).

    SQLite returns times as text; they are read with ``datetime.fromisoformat`` (C, ten times
    faster than the ORM's parser; the same instant, in UTC).
    """
    out = dict(row)
    for name in _datetime_columns(model):
        value = out.get(name)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            out[name] = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return out


@lru_cache(maxsize=16)
def _datetime_columns(model: type[Model]) -> tuple[str, ...]:
    return tuple(
        model._meta.fields_db_projection[name]
        for name, field in model._meta.fields_map.items()
        if isinstance(field, DatetimeField) and name in model._meta.fields_db_projection
    )


def db_value(model: type[Model], field: str, value: Any) -> Any:
    """``value`` as the driver takes it for ``model.field`` (JSON text, enum value, ...)."""
    return model._meta.fields_map[field].to_db_value(value, model)


def returning_chat(sql: str) -> str:
    """``sql`` (an UPDATE of chats) that also reads back the whole changed row."""
    return f"{sql} RETURNING {CHAT_ROW}"
