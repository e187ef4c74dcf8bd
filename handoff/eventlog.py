"""The event log: every durable event gets its ``seq`` in the transaction that made it.

Numbers are allocated while the writer's transaction holds the write lock
(SQLite has one writer; on PostgreSQL an advisory lock serialises the
allocation across processes until commit), so ``seq`` order is commit order in
every process. The log keeps recent events so a dashboard that reconnects with
``after_seq`` gets exactly what it missed, in order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from tortoise import timezone
from tortoise.functions import Max, Min

from handoff import rawsql
from handoff.events import Audience, Event
from handoff.locks import EVENT_LOG, exclusive
from storage.models import EventRecord


def audience_dict(audience: Audience) -> dict[str, Any]:
    return {
        "agents": sorted(audience.agent_ids),
        "queue": audience.queue,
        "everyone": audience.everyone,
    }


# What Tortoise's JSONField writes (compact, ASCII), from one encoder: ``json.dumps`` with
# options builds a new encoder on every call, and the event log is on the hot path.
encode_json = json.JSONEncoder(separators=(",", ":")).encode


@lru_cache(maxsize=1024)
def _audience_json(audience: Audience) -> str:
    return encode_json(audience_dict(audience))


def audience_of(data: dict[str, Any]) -> Audience:
    return Audience(
        agent_ids=frozenset(int(a) for a in data.get("agents", [])),
        queue=bool(data.get("queue")),
        everyone=bool(data.get("everyone")),
    )


class EventLog:
    def __init__(self, *, postgres: bool, keep: timedelta = timedelta(hours=24)) -> None:
        self.postgres = postgres
        self.keep = keep

    async def append(self, events: Sequence[Event], *, commit: bool = False) -> list[Event]:
        """Number and store ``events``; call inside the writer's transaction (``commit``: the
        last statement of it; see ``rawsql.run``)."""
        if not events:
            return []
        await exclusive(EVENT_LOG, postgres=self.postgres)
        rows = [
            (event.type, event.chat_id, encode_json(event.data), _audience_json(event.audience))
            for event in events
        ]
        at = rawsql.time_param(timezone.now())
        last = await rawsql.run(_append_plan(rows, at), commit=commit)
        return [
            Event(e.type, e.chat_id, e.data, e.audience, last + i) for i, e in enumerate(events, 1)
        ]

    async def last_seq(self) -> int:
        return await _aggregate(Max("seq")) or 0

    async def since(self, after_seq: int, limit: int = 1000) -> list[Event] | None:
        """Events after ``after_seq`` in order, or None when some of them are no longer kept."""
        first = await _aggregate(Min("seq"))
        if first is not None and after_seq + 1 < first:
            return None
        if first is None and after_seq < await self.last_seq():
            return None
        rows = (
            await EventRecord.filter(seq__gt=after_seq)
            .order_by("seq")
            .limit(limit)
            .values("seq", "type", "chat_id", "data", "audience")
        )
        return [
            Event(
                row["type"], row["chat_id"], row["data"], audience_of(row["audience"]), row["seq"]
            )
            for row in rows
        ]

    async def prune(self) -> int:
        """Forget events older than the retention; the newest one is always kept."""
        last = await self.last_seq()
        cutoff = timezone.now() - self.keep
        return await EventRecord.filter(created_at__lt=cutoff, seq__lt=last).delete()


INSERT_CHUNK = 500  # rows per INSERT statement (6 parameters each)


def _append_plan(rows: list[tuple[Any, ...]], now: datetime | str) -> rawsql.Plan[int]:
    """The last seq, then the rows numbered after it (multi-row INSERTs). Pure."""
    found = yield 'SELECT MAX("seq") AS "last" FROM "events"', []
    last = int(found[0]["last"] or 0) if found else 0
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        marks = ", ".join("(?, ?, ?, ?, ?, ?)" for _ in chunk)
        values: list[Any] = []
        for offset, row in enumerate(chunk, start + 1):
            values.extend((last + offset, *row, now))
        yield INSERT_EVENTS.format(marks=marks), values
    return last


INSERT_EVENTS = (
    'INSERT INTO "events" ("seq", "type", "chat_id", "data", "audience", "created_at") '
    "VALUES {marks}"
)


async def _aggregate(function: Max | Min) -> int | None:
    rows = await EventRecord.all().annotate(value=function).values("value")
    value = rows[0]["value"] if rows else None
    return int(value) if value is not None else None
