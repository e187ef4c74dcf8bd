"""The event log: every durable event gets its ``seq`` in the transaction that made it.

Numbers are allocated while the writer's transaction holds the write lock
(SQLite has one writer; on PostgreSQL an advisory lock serialises the
allocation across processes until commit), so ``seq`` order is commit order in
every process. The log keeps recent events so a dashboard that reconnects with
``after_seq`` gets exactly what it missed, in order.

A new message's event (``message.created`` with the message and its chat's row, seen by the
chat's own audience) is stored as a reference to the message: copying its ~1 KB of JSON was
the largest single cost of storing a webhook. Read back, it is rebuilt from the message and
chat rows as they are now (the newest state, which is what the dashboard ends on anyway),
and only for those who may see the chat both then and now.

Outgoing webhooks hook in here (``also``): the deliveries a transaction's events make are
queued by the same plan as the events, in the same transaction (``handoff.usecases.webhooks``);
with no endpoint registered the hook is None and costs nothing.

A replay (``page``) reads a bounded page at a time and leaves out, before rebuilding
anything, the events not stored for the viewer: an agent's replay rebuilds only the
agent's messages however many others' there are.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from tortoise import timezone
from tortoise.functions import Max, Min

from handoff.domain.events import MESSAGE_CREATED, Audience, Event
from handoff.infra.locks import EVENT_LOG, exclusive
from storage import events as event_store
from storage import sql
from storage.models import EventRecord

REF = "$ref"  # the stored data of an event kept as a reference: {"$ref": {"message": id}}


Viewer = tuple[int, bool]  # (user id, is admin): whose replay it is


def audience_dict(audience: Audience) -> dict[str, Any]:
    found = {
        "agents": sorted(audience.agent_ids),
        "queue": audience.queue,
        "everyone": audience.everyone,
    }
    if audience.personal:  # a person's own (their notifications): not even admins
        found["personal"] = True
    return found


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
        personal=bool(data.get("personal")),
    )


def both(first: Audience, second: Audience) -> Audience:
    """Who both audiences admit (admins always, unless one is personal)."""
    if first.personal or second.personal:
        agents = first.agent_ids if first.personal else second.agent_ids
        return Audience(agent_ids=agents, personal=True)
    if first.everyone or first.queue:
        return second
    if second.everyone or second.queue:
        return first
    return Audience(agent_ids=first.agent_ids & second.agent_ids)


# A transaction's events and its time -> a plan of more statements to run in it after the
# events are stored (the outgoing webhooks' deliveries), or None.
Also = Callable[[Sequence[Event], datetime | str], sql.Plan[int] | None]


def _then(first: sql.Plan[int], then: sql.Plan[int]) -> sql.Plan[int]:
    """``first``, then ``then``, as one plan; ``first``'s result."""
    result = yield from first
    yield from then
    return result


# message ids -> the data of their message.created events and their chats' audiences now.
Rebuild = Callable[[set[int]], Awaitable[dict[int, tuple[dict[str, Any], Audience]]]]


class EventLog:
    def __init__(
        self,
        *,
        postgres: bool,
        rebuild: Rebuild,
        keep: timedelta = timedelta(hours=24),
    ) -> None:
        """``rebuild`` gives the events stored as references their data and audience as of
        now (``handoff.read.replay``)."""
        self.postgres = postgres
        self.keep = keep
        self.rebuild = rebuild
        self.rows_read = 0  # rows read by replays (``page``): for tests and benchmarks
        self.rebuilt = 0  # messages rebuilt from their rows for replays
        # Outgoing webhooks: see ``Also``; ``on_queued`` runs after a commit it added to.
        self.also: Also | None = None
        self.on_queued: Callable[[], None] | None = None
        self._queued = False

    async def append(self, events: Sequence[Event], *, commit: bool = False) -> list[Event]:
        """Number and store ``events``; call inside the writer's transaction (``commit``: the
        last statement of it; see ``sql.run``)."""
        if not events:
            return []
        await exclusive(EVENT_LOG, postgres=self.postgres)
        rows = [
            (event.type, event.chat_id, self._stored(event), _audience_json(event.audience))
            for event in events
        ]
        at = sql.time_param(timezone.now())
        plan = event_store.append_plan(rows, at)
        also = self.also
        more = also(events, at) if also is not None else None
        if more is not None:
            plan = _then(plan, more)
            self._queued = True
        last = await sql.run(plan, commit=commit)
        return [
            Event(e.type, e.chat_id, e.data, e.audience, last + i) for i, e in enumerate(events, 1)
        ]

    def committed(self) -> None:
        """The writer's transaction committed: tell ``on_queued`` if ``also`` added to it."""
        if self._queued:
            self._queued = False
            if self.on_queued is not None:
                self.on_queued()

    async def last_seq(self) -> int:
        return await _aggregate(Max("seq")) or 0

    async def since(self, after_seq: int, limit: int = 1000) -> list[Event] | None:
        """Events after ``after_seq`` in order, or None when some of them are no longer kept."""
        first = await _aggregate(Min("seq"))
        if first is not None and after_seq + 1 < first:
            return None
        if first is None and after_seq < await self.last_seq():
            return None
        found: list[Event] = []
        while len(found) < limit:
            want = limit - len(found)
            rows = (
                await EventRecord.filter(seq__gt=after_seq)
                .order_by("seq")
                .limit(want)
                .values("seq", "type", "chat_id", "data", "audience")
            )
            found += await self._events(rows)
            if len(rows) < want:
                break
            after_seq = rows[-1]["seq"]  # an event whose rows are gone was left out: read on
        return found

    async def page(
        self, after_seq: int, upto: int, *, size: int = 200, viewer: Viewer | None = None
    ) -> tuple[list[Event], int] | None:
        """One page of a replay: the logged events in ``(after_seq, upto]`` among the next
        ``size`` rows, in order, and the seq read up to (the next page starts after it);
        None when some of them are no longer kept.

        With ``viewer`` (user id, is admin) only the events stored for that user are
        rebuilt and returned: the others are left out before their messages are read.
        """
        first = await _aggregate(Min("seq"))
        if (first is None and after_seq < upto) or (first is not None and after_seq + 1 < first):
            return None
        rows = (
            await EventRecord.filter(seq__gt=after_seq, seq__lte=upto)
            .order_by("seq")
            .limit(size)
            .values("seq", "type", "chat_id", "data", "audience")
        )
        self.rows_read += len(rows)
        scanned = int(rows[-1]["seq"]) if len(rows) == size else upto
        if viewer is not None:
            user_id, is_admin = viewer
            rows = [row for row in rows if audience_of(row["audience"]).admits(user_id, is_admin)]
        return await self._events(rows), scanned

    def _stored(self, event: Event) -> str:
        """The JSON kept for ``event``: a reference to its message where it can be rebuilt
        from the rows exactly for whom it was meant, else the whole of it."""
        data = event.data
        if event.type == MESSAGE_CREATED and len(data) == 2:
            message, chat = data.get("message"), data.get("chat")
            if (
                isinstance(message, dict)
                and isinstance(chat, dict)
                and message.get("chat_id") == event.chat_id
                and event.audience == _view_audience(chat)
            ):
                return f'{{"{REF}":{{"message":{int(message["id"])}}}}}'
        return encode_json(data)

    async def _events(self, rows: list[dict[str, Any]]) -> list[Event]:
        refs = [_message_ref(row["data"]) for row in rows]
        wanted = {ref for ref in refs if ref is not None}
        rebuilt = {}
        if wanted:
            self.rebuilt += len(wanted)
            rebuilt = await self.rebuild(wanted)
        events = []
        for row, ref in zip(rows, refs, strict=True):
            data, audience = row["data"], audience_of(row["audience"])
            if ref is not None:
                found = rebuilt.get(ref)
                if found is None:
                    continue  # the message or its chat is gone: nothing left to show
                data, now = found
                audience = both(audience, now)
            events.append(Event(row["type"], row["chat_id"], data, audience, row["seq"]))
        return events

    async def prune(self) -> int:
        """Forget events older than the retention; the newest one is always kept."""
        last = await self.last_seq()
        cutoff = timezone.now() - self.keep
        return await EventRecord.filter(created_at__lt=cutoff, seq__lt=last).delete()


def _message_ref(data: Any) -> int | None:
    """The message id of an event stored as a reference, else None."""
    ref = data.get(REF) if isinstance(data, dict) else None
    return int(ref["message"]) if isinstance(ref, dict) else None


def _view_audience(row: dict[str, Any]) -> Audience:
    """The audience of a chat as its row view (``Presenter.chat_row``) shows it."""
    agent = row.get("assigned_agent_id")
    return Audience(
        agent_ids=frozenset() if agent is None else frozenset({agent}),
        queue=bool(row.get("queued")),
    )


async def _aggregate(function: Max | Min) -> int | None:
    rows = await EventRecord.all().annotate(value=function).values("value")
    value = rows[0]["value"] if rows else None
    return int(value) if value is not None else None
