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
from storage.sql import Plan

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


STATEMENTS = (LAST_SEQ, insert_events(2))


def append_plan(rows: list[tuple[Any, ...]], now: datetime | str) -> Plan[int]:
    """The last seq, then ``rows`` (type, chat id, data JSON, audience JSON) numbered after
    it, at ``now``; the last seq before them. Pure."""
    found = yield LAST_SEQ, []
    last = int(found[0]["last"] or 0) if found else 0
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        values: list[Any] = []
        for offset, row in enumerate(chunk, start + 1):
            values.extend((last + offset, *row, now, *_DEFAULT_VALUES))
        yield insert_events(len(chunk)), values
    return last
