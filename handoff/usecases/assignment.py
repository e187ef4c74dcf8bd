"""Automatic assignment: a chat that needs a human goes to an online agent with room.

Online means connected (a console open, or heartbeats) and online by the person's own
choice: away and offline people get no chats automatically (``PUT /presence/me``).

The least loaded online agent under their capacity gets the waiting chat of the highest
priority, of those the one that has waited longest; among equally loaded agents, the one
idle longest (oldest last assignment). When nobody can take it, the chat waits in the queue, and the
queue drains by itself when an agent comes online or frees capacity (close,
transfer, return to the bot, a higher capacity) and every few seconds anyway.

The decision is made in the database inside one writer operation, under the
assignment lock on PostgreSQL, so two processes reacting to the same event
never give one chat twice or an agent more than their capacity.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import datetime

from tortoise import timezone
from tortoise.functions import Count

from handoff.domain import modes
from handoff.domain.modes import Action
from handoff.domain.rights import OPEN_MODES
from handoff.infra.locks import ASSIGNMENT, exclusive
from handoff.infra.tasks import Background
from handoff.infra.writer import Unit, Writer
from handoff.read.queries import QUEUE_ORDER
from handoff.usecases.desk import ChatMoved, Desk
from handoff.usecases.presence import Presence
from storage.models import Availability, Chat, Mode, Role, User

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.get_default_timezone())
# Actions after which an agent may have room for a waiting chat.
FREEING = frozenset(
    {Action.CLOSE, Action.RETURN_TO_BOT, Action.TRANSFER, Action.UNASSIGN, Action.PAUSE,
     Action.HANDOFF, Action.ASSIGN, Action.REOPEN_TO_BOT, Action.RESUME}
)  # fmt: skip


class Assigner:
    def __init__(
        self,
        writer: Writer,
        desk: Desk,
        presence: Presence,
        *,
        enabled: bool = True,
        postgres: bool = False,
        sweep_seconds: float | None = 10.0,
        clock: Callable[[], datetime] = timezone.now,
    ) -> None:
        self.clock = clock  # the time an assignment is stamped with (the desk's)
        self.writer = writer
        self.desk = desk
        self.presence = presence
        self.enabled = enabled
        self.postgres = postgres
        # Look at the queue this often even without a kick (None: only when kicked; with
        # several processes one of them sweeps, the outbox's).
        self.sweep_seconds = sweep_seconds
        self._wake = asyncio.Event()
        self._task = Background("assignment")
        self.assigned = 0

    def kick(self) -> None:
        """Something changed: look at the queue soon."""
        self._wake.set()

    def on_came_online(self, _user_id: int) -> None:
        """Listens to ``Presence.came_online``: someone may take a waiting chat."""
        self.kick()

    def start(self) -> None:
        if self.enabled and self._task.start(self._run):
            self.kick()

    async def stop(self) -> None:
        await self._task.stop()

    def on_moved(self, moved: ChatMoved) -> None:
        """Listens to ``Desk.moved``: a chat joined the queue or an agent has room again."""
        transition = moved.transition
        if transition.action in FREEING or (
            transition.to_mode == Mode.AGENT and transition.to_agent_id is None
        ):
            self.kick()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):  # (asyncio.timeout: see Outbox._run)
                async with asyncio.timeout(self.sweep_seconds):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
            except Exception:
                log.exception("automatic assignment failed; trying again later")

    async def drain(self) -> int:
        """Assign waiting chats, highest priority then oldest first, while someone online
        has room."""
        count = 0
        while True:
            online = await self.presence.online()
            if not online:
                return count
            assigned = await self.writer.run(functools.partial(self._assign_next, online=online))
            if not assigned:
                return count
            count += 1
            self.assigned += 1

    async def _assign_next(self, unit: Unit, *, online: set[int]) -> bool:
        await exclusive(ASSIGNMENT, postgres=self.postgres)
        chat = (
            await Chat.filter(mode=Mode.AGENT, assigned_agent_id=None)
            .order_by(*QUEUE_ORDER)  # highest priority first, then longest waiting
            .first()
        )
        if chat is None:
            return False
        agent = await self._best_agent(online)
        if agent is None:
            return False
        now = self.clock()
        await self.desk.transition(
            unit, chat, Action.ASSIGN, modes.SYSTEM, to_agent_id=agent.id,
            reason_code=modes.AUTOMATIC, now=now,
        )  # fmt: skip
        agent.last_assigned_at = now
        await agent.save(update_fields=["last_assigned_at"])
        log.info("chat %d assigned to %s", chat.id, agent.username)
        return True

    async def _best_agent(self, online: set[int]) -> User | None:
        """The online, active agent with room: least loaded, then idle longest (admins claim)."""
        people, loads = await _loads(online)
        with_room = [p for p in people if loads.get(p.id, 0) < p.capacity]
        if not with_room:
            return None
        return min(with_room, key=lambda p: (loads.get(p.id, 0), p.last_assigned_at or EPOCH, p.id))


async def room_for_one_more(online: set[int]) -> bool:
    """Whether a human can take one more chat now: the online agents who could be given chats
    (those automatic assignment picks from: connected and online by choice) have more free
    places than chats already wait in the queue. Inside a writer operation; ``online`` from
    ``Presence.online``."""
    if not online:
        return False
    people, loads = await _loads(online)
    free = sum(max(p.capacity - loads.get(p.id, 0), 0) for p in people)
    if not free:
        return False
    waiting = await Chat.filter(mode=Mode.AGENT, assigned_agent_id=None).count()
    return free > waiting


async def _loads(online: set[int]) -> tuple[list[User], dict[int, int]]:
    """The agents who may be given chats, and their open chats by id: active, with a
    capacity, connected (``online``) and online by their own choice (not away or offline:
    ``handoff.domain.availability``)."""
    people = await User.filter(
        id__in=list(online), role=Role.AGENT, active=True, capacity__gt=0,
        availability=Availability.ONLINE,
    )  # fmt: skip
    if not people:
        return [], {}
    rows = (
        await Chat.filter(assigned_agent_id__in=[p.id for p in people], mode__in=OPEN_MODES)
        .annotate(open_chats=Count("id"))
        .group_by("assigned_agent_id")
        .values_list("assigned_agent_id", "open_chats")
    )
    return people, {int(agent_id): int(count) for agent_id, count in rows}
