"""Who is online: an agent is online while a dashboard socket is open or heartbeats come.

The store says who is online (in memory for one process; Redis for several,
``handoff.infra.presence_redis``);
:class:`Presence` turns changes into ``presence.updated`` events and tells
listeners (automatic assignment) when someone comes online.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Protocol

from tortoise import timezone

from handoff.domain import events
from handoff.domain.availability import effective_status
from handoff.domain.events import Audience, Event
from handoff.hooks import Hook
from handoff.infra.tasks import Background
from handoff.infra.writer import Unit, Writer
from storage.models import User

log = logging.getLogger(__name__)

HEARTBEAT_TTL = 60.0  # seconds a heartbeat keeps someone online without a socket


def presence_event(user: User, connected: bool, at: datetime) -> Event:
    """``presence.updated`` for ``user``, to everyone: ``online`` (a console is connected),
    ``availability`` (their choice) and ``status`` (what others see)."""
    data = {
        "user_id": user.id,
        "online": connected,
        "availability": str(user.availability),
        "status": effective_status(user.availability, connected),
        "at": at.isoformat(),
    }
    return Event(events.PRESENCE_UPDATED, None, data, Audience(everyone=True))


class PresenceStore(Protocol):
    async def connect(self, user_id: int, connection: str) -> None: ...

    async def disconnect(self, user_id: int, connection: str) -> None: ...

    async def heartbeat(self, user_id: int, ttl: float) -> None: ...

    async def online(self) -> set[int]: ...

    async def announce(self, online: set[int]) -> tuple[set[int], set[int]]:
        """Record ``online`` as what was last published; return who came and who went.

        Processes sharing a store share this record, so each change is published once.
        """
        ...

    async def close(self) -> None: ...


class MemoryPresence:
    """Presence of one process: open sockets and heartbeat deadlines."""

    def __init__(self) -> None:
        self._sockets: dict[int, set[str]] = {}
        self._until: dict[int, float] = {}
        self._announced: set[int] = set()

    async def connect(self, user_id: int, connection: str) -> None:
        self._sockets.setdefault(user_id, set()).add(connection)

    async def disconnect(self, user_id: int, connection: str) -> None:
        sockets = self._sockets.get(user_id)
        if sockets is not None:
            sockets.discard(connection)
            if not sockets:
                del self._sockets[user_id]

    async def heartbeat(self, user_id: int, ttl: float) -> None:
        self._until[user_id] = time.monotonic() + ttl

    async def online(self) -> set[int]:
        now = time.monotonic()
        for user_id in [u for u, until in self._until.items() if until <= now]:
            del self._until[user_id]
        return set(self._sockets) | set(self._until)

    async def announce(self, online: set[int]) -> tuple[set[int], set[int]]:
        came, went = online - self._announced, self._announced - online
        self._announced = set(online)
        return came, went

    async def close(self) -> None:
        self._sockets.clear()
        self._until.clear()


class Presence:
    """Publishes presence changes and wakes listeners when an agent comes online."""

    def __init__(self, store: PresenceStore, writer: Writer, *, sweep_seconds: float = 5.0) -> None:
        self.store = store
        self.writer = writer
        self.sweep_seconds = sweep_seconds
        # Someone this process sees come online (their user id).
        self.came_online: Hook[int] = Hook("presence.came_online")
        self._known: set[int] = set()
        self._lock = asyncio.Lock()
        self._task = Background("presence")

    def start(self) -> None:
        self._task.start(self._sweep)

    async def stop(self) -> None:
        await self._task.stop()

    async def connected(self, user_id: int, connection: str) -> None:
        await self.store.connect(user_id, connection)
        await self.refresh()

    async def disconnected(self, user_id: int, connection: str) -> None:
        await self.store.disconnect(user_id, connection)
        await self.refresh()

    async def heartbeat(self, user_id: int, ttl: float = HEARTBEAT_TTL) -> None:
        await self.store.heartbeat(user_id, ttl)
        await self.refresh()

    async def online(self) -> set[int]:
        return await self.store.online()

    async def refresh(self) -> None:
        """Compare who is online with what was last published; publish the difference.

        Listeners hear of everyone this process sees come online (with several
        processes, each reacts); the event is published once, by whichever process
        records the change in the shared store first.
        """
        async with self._lock:
            now_online = await self.store.online()
            seen = now_online - self._known
            self._known = now_online
            came, went = await self.store.announce(now_online)
        if came or went:
            await self._publish(came, went)
        for user_id in seen:
            self.came_online.fire(user_id)

    async def _publish(self, came: set[int], went: set[int]) -> None:
        async def operation(unit: Unit) -> None:
            now = timezone.now()
            changed = came | went
            await User.filter(id__in=list(changed)).update(last_seen_at=now)
            for user in await User.filter(id__in=list(changed)).order_by("id"):
                unit.emit(presence_event(user, user.id in came, now))

        await self.writer.run(operation)

    async def _sweep(self) -> None:
        """Heartbeats expire silently: look now and then (also picks up other processes)."""
        while True:
            await asyncio.sleep(self.sweep_seconds)
            try:
                await self.refresh()
            except Exception:
                log.exception("presence sweep failed")
