"""The event log's writes: events numbered after the last ``seq`` and stored in multi-row
inserts (``handoff.infra.eventlog`` drives them, in the writer's transaction).

:func:`append_plan` is a :data:`storage.sql.Plan`: pure, it may run in SQLite's thread.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from storage import columns
from storage.models import EventRecord
from storage.sql import Plan, is_postgres

INSERT_CHUNK = 500  # rows per INSERT statement

LAST_SEQ = 'SELECT MAX("seq") AS "last" FROM "events"'
_GIVEN = ("seq", "type", "chat_id", "data", "audience", "created_at")
_DEFAULTS = columns.defaults(EventRecord, _GIVEN)
_NAMES = (*_GIVEN, *_DEFAULTS)
_DEFAULT_VALUES = tuple(_DEFAULTS.values())


@lru_cache(maxsize=512)
def insert_events(count: int) -> str:
    """The INSERT of ``count`` events, each ``(seq, type, chat_id, data, audience,
    created_at)``."""
    return columns.insert(EventRecord, _NAMES, rows=count)


@lru_cache(maxsize=512)
def insert_numbered(count: int) -> str:
    """PostgreSQL: the INSERT of ``count`` events numbered after the last ``seq`` in the same
    statement (each row's ``seq`` is the last one plus its place; the rest as in
    :func:`insert_events`), returning their ``seq``."""
    table = columns.table(EventRecord)  # the names are the model's, not input
    row = ", ".join("?" for _ in _NAMES[1:])
    seq = '(SELECT "seq" FROM "last")'
    marks = ", ".join(f"({seq} + {n}, {row})" for n in range(1, count + 1))
    return (
        f'WITH "last" AS (SELECT COALESCE(MAX("seq"), 0) AS "seq" FROM "{table}") '  # noqa: S608
        f'INSERT INTO "{table}" ({columns.quoted(_NAMES)}) VALUES {marks} RETURNING "seq"'
    )


STATEMENTS = (LAST_SEQ, insert_events(2))
PG_STATEMENTS = (insert_numbered(2),)


def append_plan(rows: list[tuple[Any, ...]], now: datetime | str) -> Plan[int]:
    """The last seq, then ``rows`` (type, chat id, data JSON, audience JSON) numbered after
    it, at ``now``; the last seq before them. Pure. On PostgreSQL, where each statement is a
    round trip, the first insert reads the last seq itself."""
    if is_postgres() and rows:
        return _append_numbered(rows, now)
    return _append_after_last(rows, now)


def _append_numbered(rows: list[tuple[Any, ...]], now: datetime | str) -> Plan[int]:
    first = rows[:INSERT_CHUNK]
    numbered = yield (
        insert_numbered(len(first)),
        [value for row in first for value in (*row, now, *_DEFAULT_VALUES)],
    )
    last = min(int(r["seq"]) for r in numbered) - 1
    yield from _insert_after(rows, now, last, len(first))
    return last


def _append_after_last(rows: list[tuple[Any, ...]], now: datetime | str) -> Plan[int]:
    found = yield LAST_SEQ, []
    last = int(found[0]["last"] or 0) if found else 0
    yield from _insert_after(rows, now, last, 0)
    return last


def _insert_after(
    rows: list[tuple[Any, ...]], now: datetime | str, last: int, done: int
) -> Plan[None]:
    """``rows[done:]`` numbered after ``last`` (``last + done + 1``, ...)."""
    for start in range(done, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        values: list[Any] = []
        for offset, row in enumerate(chunk, start + 1):
            values.extend((last + offset, *row, now, *_DEFAULT_VALUES))
        yield insert_events(len(chunk)), values
