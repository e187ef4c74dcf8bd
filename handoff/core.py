"""The domain wired together: one writer, one bus, and the services that share them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise import timezone

from bot import Bot, close_bot
from connectors.base import (
    Connector,
    DeliveryError,
    InboundEdit,
    InboundMessage,
    StatusUpdate,
    StorageUnavailable,
)
from handoff.domain import events
from handoff.domain.errors import Conflict
from handoff.domain.events import Event
from handoff.domain.modes import Actor
from handoff.infra.bus import EventBus
from handoff.infra.eventlog import EventLog
from handoff.infra.writer import Writer
from handoff.read.queries import ChatQueries
from handoff.read.views import Presenter, chat_audience
from handoff.usecases.assignment import Assigner
from handoff.usecases.autopilot import Autopilot
from handoff.usecases.delivery import Outbox
from handoff.usecases.desk import Desk
from handoff.usecases.ingest import Inbox, Received
from handoff.usecases.presence import MemoryPresence, Presence, PresenceStore
from handoff.usecases.staff import Passwords, Staff
from storage.db import unreachable
from storage.models import Chat, EarlyReceipt

log = logging.getLogger(__name__)

TYPING_EVERY = 4.0  # seconds: Telegram shows "typing" for about five
BURST_DEFER = 3.0  # seconds a bot answer may wait while a burst of messages is stored
TIDY_EVERY = 600.0  # seconds between prunes of the event log
RECEIPTS_KEPT = timedelta(days=1)  # a receipt for a send we never recorded is dropped then


@dataclass(slots=True)
class Core:
    bus: EventBus
    writer: Writer
    staff: Staff
    presenter: Presenter
    inbox: Inbox
    desk: Desk
    queries: ChatQueries
    outbox: Outbox
    log: EventLog
    presence: Presence
    assigner: Assigner
    autopilot: Autopilot | None
    connectors: dict[str, Connector] = field(default_factory=dict)
    _typing: dict[int, float] = field(default_factory=dict)
    _tidying: asyncio.Task[None] | None = None

    @classmethod
    def build(
        cls,
        bus: EventBus,
        passwords: Passwords,
        *,
        timezone: str = "UTC",
        default_capacity: int = 5,
        postgres: bool = False,
        presence_store: PresenceStore | None = None,
        auto_assign: bool = True,
        bot: Bot | None = None,
        handoff_message: Callable[[Chat], str] | None = None,
    ) -> Core:
        staff = Staff(passwords, default_capacity=default_capacity)
        presenter = Presenter(timezone)
        log = EventLog(postgres=postgres, presenter=presenter, staff=staff)
        writer = Writer(bus, log)
        connectors: dict[str, Connector] = {}
        desk = Desk(writer, staff, presenter, postgres=postgres)
        desk.handoff_message = handoff_message
        inbox = Inbox(writer, staff, presenter, defer=BURST_DEFER)
        autopilot = None
        if bot is not None:
            autopilot = Autopilot(bot, writer, desk, wait_turn=lambda: inbox.calm(BURST_DEFER))
            inbox.reactions.append(autopilot.react)
        presence = Presence(presence_store or MemoryPresence(), writer)
        if autopilot is not None:  # an out-of-hours note only when nobody online has room
            autopilot.who_is_online = presence.online
        core = cls(
            bus=bus,
            writer=writer,
            staff=staff,
            presenter=presenter,
            inbox=inbox,
            desk=desk,
            queries=ChatQueries(staff, presenter),
            outbox=Outbox(writer, presenter, connectors),
            log=log,
            presence=presence,
            assigner=Assigner(writer, desk, presence, enabled=auto_assign, postgres=postgres),
            autopilot=autopilot,
            connectors=connectors,
        )
        core.desk.on_queued.append(core.outbox.wake)
        return core

    def add_connector(self, connector: Connector) -> None:
        """Route the channel's replies to ``connector`` and apply its reply rules."""
        self.connectors[connector.channel] = connector
        refusal = getattr(connector, "reply_refusal", None)
        if refusal is not None:

            def policy(chat: Chat, now: datetime) -> None:
                reason = refusal(chat.last_customer_message_at, now)
                if reason:
                    raise Conflict(reason, code="channel_refused", channel=connector.channel)

            self.desk.reply_policies[connector.channel] = policy
        self.outbox.wake()

    def start(self) -> None:
        """Start the writer; call after the database is open (its context must be visible)."""
        self.writer.start()
        self.presence.start()
        self.assigner.start()
        self._tidying = asyncio.get_running_loop().create_task(self._tidy(), name="tidy")
        if self.autopilot is not None and not self.log.postgres:
            # One process owns SQLite: messages whose bot answer a crash interrupted get it now.
            self.inbox.track(self._answer_pending(self.autopilot))

    async def _answer_pending(self, autopilot: Autopilot) -> None:
        for received in await autopilot.pending():
            self.inbox.react(received)

    async def _tidy(self) -> None:
        """Now and then: forget events older than the log keeps, and receipts never matched."""
        while True:
            try:
                pruned = await self.log.prune()
                stale = timezone.now() - RECEIPTS_KEPT
                receipts = await EarlyReceipt.filter(created_at__lt=stale).delete()
                log.debug("tidied %d events and %d early receipts", pruned, receipts)
            except Exception:
                log.exception("tidying the event log failed; trying again later")
            await asyncio.sleep(TIDY_EVERY)

    async def stop(self) -> None:
        if self._tidying is not None:
            self._tidying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tidying
        await self.assigner.stop()
        await self.presence.stop()
        await self.outbox.stop()
        await self.inbox.drain()
        await self.writer.stop()
        if self.autopilot is not None:
            await close_bot(self.autopilot.bot)

    async def typing(self, actor: Actor, chat_id: int) -> None:
        """An agent types in ``chat_id``: tell the other dashboards, and the customer if the
        channel can show it (at most every few seconds per chat)."""
        chat = await self.desk.writable_chat(actor, chat_id)
        data = {"chat_id": chat.id, "user_id": actor.user_id, "name": actor.name}
        await self.bus.publish([Event(events.CHAT_TYPING, chat.id, data, chat_audience(chat))])
        connector = self.connectors.get(str(chat.channel))
        show = getattr(connector, "typing", None)
        now = time.monotonic()
        if show is None or not chat.external_id or self._typing.get(chat.id, 0) > now:
            return
        self._typing[chat.id] = now + TYPING_EVERY
        if len(self._typing) > 10_000:
            self._typing = {k: v for k, v in self._typing.items() if v > now}
        try:
            await show(chat.external_id)
        except DeliveryError as exc:  # a typing hint is best effort
            log.info("typing hint for chat %d not shown: %s", chat.id, exc.reason)


class CoreSink:
    """What connectors call (the ``connectors.base.Sink`` contract), backed by the core."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def receive(self, messages: Sequence[InboundMessage]) -> Sequence[Received]:
        async with _storing():
            return await self.core.inbox.receive_many(messages)

    async def status(self, updates: Sequence[StatusUpdate]) -> None:
        async with _storing():
            await self.core.outbox.record_statuses(updates)

    async def edit(self, edit: InboundEdit) -> None:
        async with _storing():
            await self.core.inbox.edit(edit)


@asynccontextmanager
async def _storing() -> AsyncIterator[None]:
    """A database that does not answer (timeout, no connection) as StorageUnavailable."""
    try:
        yield
    except Exception as exc:
        if unreachable(exc):
            raise StorageUnavailable(f"the database is unavailable: {type(exc).__name__}") from exc
        raise
