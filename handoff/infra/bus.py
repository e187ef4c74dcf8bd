"""The EventBus that carries committed events to listeners (WebSockets, workers), and its
in-process implementation (``handoff.infra.bus_redis`` carries them across processes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from handoff.domain.events import Event

log = logging.getLogger(__name__)


class Subscription:
    """One listener's bounded queue of events.

    It ends (``get`` returns None) when closed, and says why when events may have been
    missed: ``overflowed`` when the listener could not keep up, ``interrupted`` when the
    bus itself lost events (the Redis bus after a lost connection). Either way the
    listener catches up from the event log by ``seq``.
    """

    def __init__(self, bus: MemoryEventBus, max_pending: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(max_pending)
        self.overflowed = False
        self.interrupted = False
        self.closed = False
        self._ended = False  # the end marker has been taken from the queue

    def offer(self, event: Event) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            # A slow listener is dropped rather than left to grow memory; it resumes by seq.
            self.overflowed = True
            self.close()

    def interrupt(self) -> None:
        """End the subscription because the bus may have lost events meant for it."""
        if not self.closed:
            self.interrupted = True
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
        if self._ended or (self.closed and self._queue.empty()):
            return None
        event = await self._queue.get()
        self._ended = event is None
        return event

    def ready(self) -> list[Event]:
        """The events already waiting, in order, without waiting for more (a listener that
        woke for one event takes those published with it in the same go)."""
        events: list[Event] = []
        while not self._ended and not self._queue.empty():
            event = self._queue.get_nowait()
            if event is None:
                self._ended = True
            else:
                events.append(event)
        return events

    async def __aiter__(self) -> AsyncIterator[Event]:
        while (event := await self.get()) is not None:
            yield event


class EventBus(Protocol):
    """Carries committed events (already numbered by the event log) to every subscriber.

    ``publish`` never raises: a bus that cannot carry events delivers what it can and
    reports the trouble in ``health``. Listeners that may have missed events see their
    subscription end with ``interrupted`` and catch up from the event log.
    """

    async def start(self) -> None:
        """Connect (call inside the running loop, before the first subscription)."""
        ...

    async def publish(self, events: Sequence[Event]) -> None: ...

    def subscribe(self, max_pending: int = 1000) -> Subscription: ...

    def watch(self, watcher: Watcher) -> None:
        """Call ``watcher`` with every batch of events, at once, before any subscription
        gets them (it must not block: it runs inside ``publish`` or the bus's reader)."""
        ...

    async def health(self) -> str:
        """``ok``, or raise ``BusDegraded`` saying what is wrong."""
        ...

    async def close(self) -> None: ...


Watcher = Callable[[Sequence[Event]], None]


class BusDegraded(Exception):
    """The bus works in part (e.g. reconnecting to Redis): events of other processes wait."""


class MemoryEventBus:
    """The in-process bus: enough for one process; see the Redis bus for several."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self._watchers: list[Watcher] = []

    async def start(self) -> None:
        return None

    async def health(self) -> str:
        return "ok"

    async def publish(self, events: Sequence[Event]) -> None:
        for watcher in self._watchers:
            try:
                watcher(events)
            except Exception:
                log.exception("an event watcher failed")
        for event in events:
            for subscriber in list(self._subscribers):
                subscriber.offer(event)

    def subscribe(self, max_pending: int = 1000) -> Subscription:
        subscription = Subscription(self, max_pending)
        self._subscribers.add(subscription)
        return subscription

    def watch(self, watcher: Watcher) -> None:
        self._watchers.append(watcher)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def interrupt(self) -> None:
        """Events may have been lost: end every subscription (its listener catches up by seq)."""
        for subscriber in list(self._subscribers):
            subscriber.interrupt()

    async def close(self) -> None:
        for subscriber in list(self._subscribers):
            subscriber.close()
