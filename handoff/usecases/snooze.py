"""Snooze: an agent puts a chat they hold aside until a time or until the customer writes.

Snooze is an attribute of an agent (or paused) chat with an assignee, not a mode
(docs/modes.md): ``Chat.snoozed_at`` (since when; None: awake) and ``Chat.snoozed_until``
(when it wakes; None while snoozed: when the customer writes). The columns are the whole
state, so a snooze survives a restart.

A chat wakes, whichever comes first and once only:

- at its time: :class:`Snoozer`'s worker (started where the outbox runs, so in one process
  when several run) sleeps until the next ``snoozed_until`` (the index on it), a kick when a
  snooze is set here, or ``sweep_seconds`` (snoozes set by other processes);
- when the customer writes: the inbox sees ``snoozed_at`` on the chat row it already
  returns (no query per message) and calls :func:`end` in the same transaction;
- by hand (``POST /chats/{id}/unsnooze``).

Waking clears the columns with a conditional update (only if still snoozed, and for the
time, only if due), so of two wakers racing (the worker and a customer's message) one
wins and the other changes nothing. Waking leaves a system note in the chat and notifies
the assignee (``snooze_ended``). A snooze ends quietly (no note) when the chat leaves its
agent (``handoff.usecases.transitions``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from tortoise import timezone

from handoff.domain import events
from handoff.domain.errors import Conflict, Invalid
from handoff.domain.events import Event
from handoff.domain.modes import SYSTEM, Actor, ActorKind, actor_kind
from handoff.infra.tasks import Background
from handoff.infra.writer import Unit, Writer
from handoff.read.views import Presenter, chat_audience, chat_values, message_values
from handoff.usecases import audit
from handoff.usecases.notifications import SNOOZE_ENDED, notify
from handoff.usecases.staff import Staff
from storage.models import Chat, Message, Mode, Sender, Status

if TYPE_CHECKING:  # the desk records transitions, which end snoozes (end_quietly)
    from handoff.usecases.desk import Desk

log = logging.getLogger(__name__)

MAX_AHEAD = timedelta(days=90)  # the latest a chat may be snoozed until
SWEEP_SECONDS = 30.0  # at least this often the worker looks (snoozes set elsewhere)
RETRY_SECONDS = 5.0  # after a failed look
BATCH = 100  # due chats woken per look

# Why a snooze ended (the ``reason`` of the note and the notification).
TIME = "time"
CUSTOMER_REPLIED = "customer_replied"
BY_HAND = "by_hand"
LEFT_AGENT = "left_agent"  # quietly: the chat left its agent (audit only)

SNOOZABLE_MODES = (Mode.AGENT, Mode.PAUSED)


class Snoozer:
    def __init__(
        self,
        writer: Writer,
        desk: Desk,
        staff: Staff,
        presenter: Presenter,
        *,
        clock: Callable[[], datetime] = timezone.now,
        sweep_seconds: float = SWEEP_SECONDS,
    ) -> None:
        """``clock``: the current time (tests move it); ``sweep_seconds``: how long the
        worker sleeps at most without a kick."""
        self.writer = writer
        self.desk = desk
        self.staff = staff
        self.presenter = presenter
        self.clock = clock
        self.sweep_seconds = sweep_seconds
        self._kick = asyncio.Event()
        self._task = Background("snoozer")
        self.looks = 0  # how often the worker looked for due chats (tests)

    # -- people ----------------------------------------------------------------------------

    async def snooze(self, actor: Actor, chat_id: int, *, until: datetime | None) -> dict[str, Any]:
        """Snooze ``chat_id`` until ``until`` (None: until the customer writes); snoozing a
        snoozed chat replaces its time. The chat row."""
        now = self.clock()
        if until is not None:
            if until.tzinfo is None:
                raise Invalid("until needs a time zone offset", field="until")
            if until <= now:
                raise Invalid("until must be in the future", field="until")
            if until > now + MAX_AHEAD:
                days = MAX_AHEAD.days
                raise Invalid(f"until must be within {days} days", field="until", max_days=days)

        async def operation(unit: Unit) -> dict[str, Any]:
            chat = await self.desk.writable_chat(actor, chat_id)
            if chat.mode not in SNOOZABLE_MODES or chat.assigned_agent_id is None:
                raise Conflict(
                    "snooze is for a chat someone holds (agent or paused, with an agent)",
                    code="not_snoozable",
                    mode=str(chat.mode),
                )
            chat.snoozed_at = chat.updated_at = now
            chat.snoozed_until = until
            await chat.save(update_fields=["snoozed_at", "snoozed_until", "updated_at"])
            when = until.isoformat() if until is not None else None
            await audit.record(chat.id, actor, audit.SNOOZED, until=when)
            note = {"action": "snoozed", **_by(actor), "until": self.presenter.when(until)}
            text = _snoozed_text(self.presenter, actor, until)
            _, noted = await _note(self, chat, note, text, now)
            unit.emit(noted)
            row = await self._row(chat)
            unit.emit(Event(events.CHAT_UPDATED, chat.id, {"chat": row}, chat_audience(chat)))
            unit.after_commit(self.kick)
            return row

        return await self.writer.run(operation)

    async def wake(self, actor: Actor, chat_id: int) -> dict[str, Any]:
        """Wake a snoozed chat by hand (Conflict ``not_snoozed`` if it is awake). The chat row."""

        async def operation(unit: Unit) -> dict[str, Any]:
            chat = await self.desk.writable_chat(actor, chat_id)
            woke = await end(unit, self, chat, BY_HAND, actor) if chat.snoozed_at else None
            if woke is None:
                raise Conflict("the chat is not snoozed", code="not_snoozed")
            for event in woke:
                unit.emit(event)
            return await self._row(chat)

        return await self.writer.run(operation)

    # -- the worker --------------------------------------------------------------------------

    def kick(self) -> None:
        """Look again now (a snooze was set: it may be the next due)."""
        self._kick.set()

    def start(self) -> None:
        """Run the worker (where the outbox runs: one process)."""
        self._task.start(self._run)

    @property
    def running(self) -> bool:
        return self._task.running

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            self._kick.clear()
            try:
                await self.wake_due()
                delay = await self._until_next()
            except Exception:
                log.exception("waking snoozed chats failed; trying again")
                delay = RETRY_SECONDS
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(delay, self.sweep_seconds)):
                    await self._kick.wait()

    async def wake_due(self) -> int:
        """Wake every chat whose time has come; how many woke."""
        self.looks += 1
        woken = 0
        while True:
            now = self.clock()
            due = (
                await Chat.filter(snoozed_until__lte=now, snoozed_at__isnull=False)
                .order_by("snoozed_until")
                .limit(BATCH)
                .values("id")
            )
            batch = 0
            for row in due:
                batch += await self._wake_at_time(int(row["id"]), now)
            woken += batch
            if len(due) < BATCH or not batch:  # all done (or others woke them meanwhile)
                return woken

    async def _until_next(self) -> float:
        """Seconds until the next snooze is due (the sweep interval if none is)."""
        upcoming = (
            await Chat.filter(snoozed_until__isnull=False, snoozed_at__isnull=False)
            .order_by("snoozed_until")
            .limit(1)
            .values("snoozed_until")
        )
        if not upcoming:
            return self.sweep_seconds
        due: datetime = upcoming[0]["snoozed_until"]
        return max(0.0, (due - self.clock()).total_seconds())

    async def _wake_at_time(self, chat_id: int, now: datetime) -> bool:
        async def operation(unit: Unit) -> bool:
            chat = await Chat.get_or_none(id=chat_id)
            if chat is None or chat.snoozed_until is None or chat.snoozed_until > now:
                return False  # woken meanwhile, or snoozed again for later
            woke = await end(unit, self, chat, TIME, SYSTEM, due_by=now)
            for event in woke or ():
                unit.emit(event)
            return woke is not None

        return await self.writer.run(operation)

    async def _row(self, chat: Chat) -> dict[str, Any]:
        return await self.staff.chat_row(self.presenter, chat_values(chat))


class Context(Protocol):
    """What :func:`end` needs of its caller (the snoozer, the inbox)."""

    staff: Staff
    presenter: Presenter


async def end(
    unit: Unit,
    context: Context,
    chat: Chat,
    reason: str,
    actor: Actor,
    *,
    due_by: datetime | None = None,
    now: datetime | None = None,
) -> list[Event] | None:
    """Wake ``chat`` inside an operation, if it is still snoozed (and, with ``due_by``, due
    by then): clear the columns, audit, leave the note, notify the assignee (not when they
    woke it themselves). The events to emit (the note's ``message.created`` and
    ``chat.updated``), or None when someone else woke it first (nothing changed)."""
    when = now or timezone.now()
    still = Chat.filter(id=chat.id, snoozed_at__isnull=False)
    if due_by is not None:
        still = still.filter(snoozed_until__lte=due_by)
    if not await still.update(snoozed_at=None, snoozed_until=None, updated_at=when):
        return None
    until = chat.snoozed_until
    chat.snoozed_at = chat.snoozed_until = None
    chat.updated_at = when
    await audit.record(chat.id, actor, audit.WOKE, reason=reason)
    presenter = context.presenter
    note = {
        "action": "snooze_ended",
        "reason": reason,
        **_by(actor),
        "until": presenter.when(until),
    }
    message, noted = await _note(context, chat, note, _woke_text(reason, actor), when)
    agent = chat.assigned_agent_id
    if agent is not None and not (reason == BY_HAND and actor.user_id == agent):
        await notify(
            unit, presenter, [agent], SNOOZE_ENDED, chat_id=chat.id, message_id=message.id,
            reason=reason, customer_name=chat.customer_name,
        )  # fmt: skip
    row = await context.staff.chat_row(presenter, chat_values(chat))
    return [noted, Event(events.CHAT_UPDATED, chat.id, {"chat": row}, chat_audience(chat))]


async def end_quietly(chat: Chat, actor: Actor) -> list[str]:
    """The chat left its agent (closed, to the bot, transferred, unassigned): its snooze
    ends without a note (inside the transition's operation; the caller saves the chat). The
    fields to save."""
    if chat.snoozed_at is None:
        return []
    chat.snoozed_at = chat.snoozed_until = None
    await audit.record(chat.id, actor, audit.WOKE, reason=LEFT_AGENT)
    return ["snoozed_at", "snoozed_until"]


async def _note(
    context: Context, chat: Chat, note: dict[str, Any], text: str, now: datetime
) -> tuple[Message, Event]:
    """The system note in the chat (internal: never sent) at ``now``, and its
    ``message.created``."""
    message = await Message.create(
        chat_id=chat.id, text=text, sender=Sender.SYSTEM, status=Status.SENT, internal=True,
        note=note, created_at=now,
    )  # fmt: skip
    presenter = context.presenter
    row = await context.staff.chat_row(presenter, chat_values(chat))
    view = presenter.message(message_values(message))
    data = {"message": view, "chat": row}
    return message, Event(events.MESSAGE_CREATED, chat.id, data, chat_audience(chat))


def _by(actor: Actor) -> dict[str, Any]:
    return {
        "by": (actor.name or None) if actor.kind == ActorKind.PERSON else None,
        "by_kind": actor_kind(actor),
    }


def _snoozed_text(presenter: Presenter, actor: Actor, until: datetime | None) -> str:
    who = actor.name or str(actor.kind)
    if until is None:
        return f"Snoozed by {who} until the customer replies"
    return f"Snoozed by {who} until {until.astimezone(presenter.zone):%Y-%m-%d %H:%M %Z}"


def _woke_text(reason: str, actor: Actor) -> str:
    texts = {
        TIME: "Snooze ended: the time came",
        CUSTOMER_REPLIED: "Snooze ended: the customer replied",
        BY_HAND: f"Snooze ended: woken by {actor.name or actor.kind}",
    }
    return texts.get(reason, "Snooze ended")
