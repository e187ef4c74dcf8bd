"""Who is on duty: people set themselves online, away or offline; the chats of someone who
went offline go back to the queue.

- :meth:`Roster.set_availability` (``PUT /presence/me``) stores the choice, pushes
  ``presence.updated`` to everyone and, on ``offline``, returns the person's agent-mode
  chats to the queue (``return_chats_when_offline``), each with a system note (reason
  ``agent_offline``).
- :meth:`Roster.sweep` returns the chats of people whose console has been gone longer than
  the grace period (no socket and no heartbeat, in any process). It runs in one process,
  where the outbox runs (under its lease), every ``sweep_seconds``. The grace counts from
  ``User.last_seen_at``, which the sweep keeps fresh for everyone connected, and never from
  before the sweeper started: after a restart every console has the whole grace period to
  reconnect.
- :meth:`Roster.release` returns a deactivated person's open chats (paused ones too:
  nobody else would ever answer them).

Paused chats stay with someone who goes offline: they are theirs and wait on nobody (the
bot is paused, the customer is not waiting for a reply); agent-mode chats are returned.
Going away keeps every chat: an away person only gets no new ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tortoise import timezone

from handoff.domain import modes
from handoff.domain.availability import effective_status
from handoff.domain.errors import NotFound
from handoff.domain.modes import Action, Actor
from handoff.hooks import Hook
from handoff.infra.locks import ASSIGNMENT, exclusive
from handoff.infra.tasks import Background
from handoff.infra.writer import Unit, Writer
from handoff.usecases import audit
from handoff.usecases.desk import Desk
from handoff.usecases.presence import Presence, presence_event
from storage.models import Availability, Chat, Mode, User

log = logging.getLogger(__name__)

SWEEP_SECONDS = 30.0


class Roster:
    def __init__(
        self,
        writer: Writer,
        desk: Desk,
        presence: Presence,
        *,
        return_chats: bool = True,
        grace_minutes: float = 10,
        sweep_seconds: float = SWEEP_SECONDS,
        postgres: bool = False,
        clock: Callable[[], datetime] = timezone.now,
    ) -> None:
        self.writer = writer
        self.desk = desk
        self.presence = presence
        self.return_chats = return_chats
        self.grace = timedelta(minutes=grace_minutes)
        self.sweep_seconds = sweep_seconds
        self.postgres = postgres
        self.clock = clock
        # Someone set themselves online (their user id): automatic assignment looks again.
        self.available: Hook[int] = Hook("roster.available")
        self.started_at: datetime | None = None  # when this process's sweeper started
        self._task = Background("roster")

    # -- the person's choice --------------------------------------------------------------

    async def set_availability(self, actor: Actor, availability: Availability) -> dict[str, Any]:
        """Store ``actor``'s choice, push ``presence.updated``; on ``offline`` return their
        agent-mode chats to the queue. Returns ``{user_id, availability, status, online,
        returned}`` (``returned``: the ids of the chats returned)."""
        assert actor.user_id is not None
        user_id = actor.user_id
        connected = user_id in await self.presence.online()

        async def operation(unit: Unit) -> tuple[str, dict[str, Any]]:
            user = await User.get_or_none(id=user_id)
            if user is None:
                raise NotFound(f"user {user_id} not found")
            before = str(user.availability)
            user.availability = availability
            await user.save(update_fields=["availability", "updated_at"])
            await audit.record(
                None, actor, audit.AVAILABILITY_CHANGED, before=before, after=str(availability)
            )
            returned: list[int] = []
            if availability == Availability.OFFLINE and self.return_chats:
                returned = await self._return_chats(unit, user_id, modes.AGENT_OFFLINE)
            now = timezone.now()
            unit.emit(presence_event(user, connected, now))
            answer = {
                "user_id": user_id,
                "availability": str(availability),
                "status": effective_status(availability, connected),
                "online": connected,
                "returned": returned,
            }
            return before, answer

        before, answer = await self.writer.run(operation)
        log.info(
            "user %d set availability %s (was %s); %d chats returned to the queue",
            user_id, availability, before, len(answer["returned"]),
        )  # fmt: skip
        if availability == Availability.ONLINE and before != Availability.ONLINE:
            self.available.fire(user_id)
        return answer

    async def release(self, user_id: int, reason_code: str) -> list[int]:
        """Return every open chat of ``user_id`` to the queue (a deactivated account): agent
        mode ones unassigned, paused ones handed to the queue. Returns the chats' ids."""

        async def operation(unit: Unit) -> list[int]:
            await exclusive(ASSIGNMENT, postgres=self.postgres)
            returned = await self._return_chats(unit, user_id, reason_code, lock=False)
            paused = await Chat.filter(assigned_agent_id=user_id, mode=Mode.PAUSED).order_by("id")
            for chat in paused:
                await self.desk.transition(
                    unit, chat, Action.HANDOFF, modes.SYSTEM, reason_code=reason_code,
                    announce=False,
                )  # fmt: skip
                returned.append(chat.id)
            return returned

        returned = await self.writer.run(operation)
        if returned:
            log.info("user %d: %d open chats returned to the queue (%s)",
                     user_id, len(returned), reason_code)  # fmt: skip
        return returned

    async def _return_chats(
        self, unit: Unit, user_id: int, reason_code: str, *, lock: bool = True
    ) -> list[int]:
        """Unassign ``user_id``'s agent-mode chats (inside an operation), each with a note."""
        if lock:
            await exclusive(ASSIGNMENT, postgres=self.postgres)
        chats = await Chat.filter(assigned_agent_id=user_id, mode=Mode.AGENT).order_by("id")
        for chat in chats:
            await self.desk.transition(
                unit, chat, Action.UNASSIGN, modes.SYSTEM, reason_code=reason_code
            )
        return [chat.id for chat in chats]

    # -- lapsed consoles ------------------------------------------------------------------

    def start(self) -> None:
        """Start the sweeper (in one process: where the outbox runs)."""
        if not self._task.running:
            self.started_at = self.clock()
            self._task.start(self._run)

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("the availability sweep failed; trying again later")
            await asyncio.sleep(self.sweep_seconds)

    async def sweep(self, now: datetime | None = None) -> dict[int, list[int]]:
        """Note who is connected (``last_seen_at``), then return the agent-mode chats of
        everyone gone longer than the grace period. Returns user id -> chats returned."""
        now = now or self.clock()
        if self.started_at is None:
            self.started_at = now
        online = await self.presence.online()
        if online:
            await self.writer.run(lambda _unit: _seen(online, now))
        if not self.return_chats:
            return {}
        holders: list[int | None] = await (
            Chat.filter(mode=Mode.AGENT, assigned_agent_id__not_isnull=True)
            .distinct()
            .values_list("assigned_agent_id", flat=True)
        )  # type: ignore[assignment]
        absent = sorted({int(u) for u in holders if u is not None} - online)
        if not absent:
            return {}
        cutoff = now - self.grace
        since = self.started_at
        lapsed = [
            user.id
            for user in await User.filter(id__in=absent).only("id", "last_seen_at")
            if max(user.last_seen_at or since, since) <= cutoff
        ]
        returned: dict[int, list[int]] = {}
        for user_id in lapsed:
            if user_id in await self.presence.online():  # came back meanwhile
                continue

            async def operation(unit: Unit, user_id: int = user_id) -> list[int]:
                return await self._return_chats(unit, user_id, modes.AGENT_OFFLINE)

            chats = await self.writer.run(operation)
            if chats:
                returned[user_id] = chats
                log.info("user %d offline past the grace period: %d chats returned to the "
                         "queue", user_id, len(chats))  # fmt: skip
        return returned


async def _seen(online: set[int], now: datetime) -> None:
    await User.filter(id__in=list(online)).update(last_seen_at=now)
