"""The domain wired together: one writer, one bus, and the services that share them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import Connector, InboundEdit, InboundMessage, StatusUpdate
from handoff.desk import Desk
from handoff.errors import Conflict
from handoff.events import EventBus
from handoff.inbox import Inbox, Received
from handoff.outbox import Outbox
from handoff.queries import ChatQueries
from handoff.staff import Passwords, Staff
from handoff.unit import Writer
from handoff.views import Presenter
from storage.models import Chat


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
    connectors: dict[str, Connector] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        bus: EventBus,
        passwords: Passwords,
        *,
        timezone: str = "UTC",
        default_capacity: int = 5,
    ) -> Core:
        writer = Writer(bus)
        staff = Staff(passwords, default_capacity=default_capacity)
        presenter = Presenter(timezone)
        connectors: dict[str, Connector] = {}
        core = cls(
            bus=bus,
            writer=writer,
            staff=staff,
            presenter=presenter,
            inbox=Inbox(writer, staff, presenter),
            desk=Desk(writer, staff, presenter),
            queries=ChatQueries(staff, presenter),
            outbox=Outbox(writer, presenter, connectors),
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

    async def stop(self) -> None:
        await self.outbox.stop()
        await self.inbox.drain()
        await self.writer.stop()


class CoreSink:
    """What connectors call (the ``connectors.base.Sink`` contract), backed by the core."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def receive(self, messages: Sequence[InboundMessage]) -> Sequence[Received]:
        return await self.core.inbox.receive_many(messages)

    async def status(self, updates: Sequence[StatusUpdate]) -> None:
        await self.core.outbox.record_statuses(updates)

    async def edit(self, edit: InboundEdit) -> None:
        await self.core.inbox.edit(edit)
