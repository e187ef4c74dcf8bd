"""Domain events and the EventBus that carries them to listeners (WebSockets, workers).

Events are created inside a write (see ``handoff.unit``) and published only
after the transaction that made them has committed. Each event says who may
see it, so a transport can filter without touching the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

CHAT_CREATED = "chat.created"
CHAT_UPDATED = "chat.updated"
CHAT_READ = "chat.read"
CHAT_TYPING = "chat.typing"
MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
PRESENCE_UPDATED = "presence.updated"
HANDOFF = "chat.handoff"


@dataclass(frozen=True, slots=True)
class Audience:
    """Who may see an event besides admins (who see everything)."""

    agent_ids: frozenset[int] = frozenset()
    queue: bool = False  # the chat waits in the queue: every agent may see it
    everyone: bool = False  # not about one chat (e.g. presence)

    def admits(self, user_id: int, is_admin: bool) -> bool:
        return is_admin or self.everyone or self.queue or user_id in self.agent_ids


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    chat_id: int | None
    data: dict[str, Any]
    audience: Audience = field(default_factory=Audience)
    seq: int | None = None  # set by the event log; None for passing signals (typing)

    def frame(self) -> dict[str, Any]:
        """The wire form: ``{"type", "seq", "chat_id", "data"}``."""
        return {"type": self.type, "seq": self.seq, "chat_id": self.chat_id, "data": self.data}


class Subscription:
    """One listener's bounded queue of events; ``overflowed`` when it could not keep up."""

    def __init__(self, bus: MemoryEventBus, max_pending: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(max_pending)
        self.overflowed = False
        self.closed = False

    def offer(self, event: Event) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            # A slow listener is dropped rather than left to grow memory; it resumes by seq.
            self.overflowed = True
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._bus.unsubscribe(self)
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        if self._queue.full():
            # Make room for the end marker: the consumer must wake up and see it.
            self._queue.get_nowait()
            self._queue.put_nowait(None)

    async def get(self) -> Event | None:
        """The next event, or None once the subscription is closed."""
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()

    async def __aiter__(self) -> AsyncIterator[Event]:
        while (event := await self.get()) is not None:
            yield event


class EventBus(Protocol):
    """Carries committed events (already numbered by the event log) to every subscriber."""

    async def publish(self, events: Sequence[Event]) -> None: ...

    def subscribe(self, max_pending: int = 1000) -> Subscription: ...

    async def close(self) -> None: ...


class MemoryEventBus:
    """The in-process bus: enough for one process; see the Redis bus for several."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    async def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            for subscriber in list(self._subscribers):
                subscriber.offer(event)

    def subscribe(self, max_pending: int = 1000) -> Subscription:
        subscription = Subscription(self, max_pending)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    async def close(self) -> None:
        for subscriber in list(self._subscribers):
            subscriber.close()
