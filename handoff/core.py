"""The domain wired together: one writer, one bus, and the services that share them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise import timezone

from bot import Bot, close_bot
from bot.hours import Schedule
from connectors.base import (
    Connector,
    DeliveryError,
    InboundEdit,
    InboundMessage,
    ShowsTyping,
    StatusUpdate,
    StorageUnavailable,
)
from connectors.callbacks import CallbackPoster
from handoff.domain import events
from handoff.domain.events import Event
from handoff.domain.modes import Actor
from handoff.infra.bus import EventBus
from handoff.infra.eventlog import EventLog
from handoff.infra.writer import Writer
from handoff.read.kb import Embedder, KbRetriever
from handoff.read.names import AgentNames, LabelNames
from handoff.read.queries import ChatQueries
from handoff.read.replay import MessageEvents
from handoff.read.reports import Reports
from handoff.read.views import Presenter, chat_audience
from handoff.usecases.api_channels import ApiChannels
from handoff.usecases.api_keys import ApiKeys
from handoff.usecases.assignment import Assigner
from handoff.usecases.autopilot import HISTORY, Autopilot, ReplyLimit
from handoff.usecases.bulk import Bulk
from handoff.usecases.canned import CannedResponses
from handoff.usecases.contact_merge import ContactMerges
from handoff.usecases.contacts import Contacts
from handoff.usecases.copilot import Copilot, CopilotOptions
from handoff.usecases.csat import CsatOptions, Surveys
from handoff.usecases.delivery import Outbox
from handoff.usecases.desk import Desk
from handoff.usecases.erasure import Erasure
from handoff.usecases.ingest import Inbox, Received
from handoff.usecases.kb import KnowledgeBase
from handoff.usecases.llm_usage import LlmUsage
from handoff.usecases.media import MediaFetcher
from handoff.usecases.notes import Notes
from handoff.usecases.notifications import Notifications, QueueWatch
from handoff.usecases.presence import MemoryPresence, Presence, PresenceStore
from handoff.usecases.receipts import Receipts
from handoff.usecases.reporting import Reporting
from handoff.usecases.roster import Roster
from handoff.usecases.snooze import Snoozer
from handoff.usecases.staff import Passwords, Staff
from handoff.usecases.tags import Tags
from handoff.usecases.templates import Templates
from handoff.usecases.webhooks import WebhookOptions, Webhooks
from storage.blobs import Blobs
from storage.db import unreachable
from storage.files import FileStore
from storage.models import Chat

log = logging.getLogger(__name__)

TYPING_EVERY = 4.0  # seconds: Telegram shows "typing" for about five
ASSIGN_SWEEP = 10.0  # seconds between looks at the queue when nothing kicks the assigner
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
    receipts: Receipts
    log: EventLog
    presence: Presence
    assigner: Assigner
    autopilot: Autopilot | None
    templates: Templates
    canned: CannedResponses
    # Availability: people's choice, and the chats of those gone offline (its sweeper runs
    # where the outbox runs).
    roster: Roster
    tags: Tags
    bulk: Bulk
    notes: Notes
    notifications: Notifications
    # Admins told of chats waiting too long (started where the outbox runs).
    queue_watch: QueueWatch

    # Wakes snoozed chats at their time (started where the outbox runs: one process).
    snoozer: Snoozer
    # Satisfaction surveys: asked when a conversation closes, answered through the inbox.
    surveys: Surveys
    # Contacts: the customers across channels; their merges; their data exported or erased.
    contacts: Contacts
    merges: ContactMerges
    erasure: Erasure
    # The reports (docs/api.md "Reports"), in the account's time zone.
    reports: Reports
    # The knowledge base: articles, their passages, retrieval (``kb.retriever``).
    kb: KnowledgeBase
    # Every call of the language model recorded (llm_calls), and the day's token budget.
    llm_usage: LlmUsage
    # Suggest a reply, summarize, translate (docs/api.md "Copilot").
    copilot: Copilot
    # API keys (made, revoked, authenticated, rate-limited) and API channels.
    api_keys: ApiKeys
    api_channels: ApiChannels
    # Outgoing webhooks: endpoints, deliveries queued with each change, the dispatcher
    # (started where the outbox runs).
    webhooks: Webhooks
    connectors: dict[str, Connector] = field(default_factory=dict)
    # Where kept files live (customer media, agents' uploads); None: files are not kept.
    blobs: Blobs | None = None
    # Fetches the files customers send into ``blobs`` (started where the outbox runs).
    media: MediaFetcher | None = None
    # The current time of every service that stamps what the reports read (tests fake it).
    clock: Callable[[], datetime] = timezone.now
    # What the reports count, and the business hours their durations are counted in.
    reporting: Reporting = field(default_factory=Reporting)
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
        assign_sweep: float | None = ASSIGN_SWEEP,
        bot: Bot | None = None,
        handoff_message: Callable[[Chat], str] | None = None,
        reply_limit: ReplyLimit | None = None,
        blobs: Blobs | None = None,
        legacy_files: FileStore | None = None,
        media_limits: Mapping[str, int] | None = None,
        offline_grace_minutes: float = 10,
        return_chats_when_offline: bool = True,
        queue_waiting_minutes: int = 10,
        contact_history_for_agents: bool = True,
        reports_timezone: str = "UTC",
        clock: Callable[[], datetime] = timezone.now,
        business_hours: Schedule | None = None,
        csat: CsatOptions | None = None,
        kb_chunk_chars: int = 1200,
        kb_max_body_chars: int = 100_000,
        kb_passages: int = 4,
        embedder: Embedder | None = None,
        kb_retriever: KbRetriever | None = None,
        llm_usage: LlmUsage | None = None,
        bot_timeout: float = 15.0,
        bot_history: int = HISTORY,
        copilot: CopilotOptions | None = None,
        api_requests_per_minute: int = 600,
        callbacks: CallbackPoster | None = None,
        webhooks: WebhookOptions | None = None,
    ) -> Core:
        """Every service, and who listens to whom.

        ``assign_sweep``: seconds between looks at the queue without a reason to (None: only
        when something happens here; with several processes one of them sweeps).
        ``media_limits``: channel -> the largest customer file kept, in bytes.
        ``offline_grace_minutes``, ``return_chats_when_offline``: see ``Roster``.
        ``contact_history_for_agents``: see ``Contacts``.
        ``reports_timezone``: the account's time zone, the reports' days and hours.
        ``csat``: the satisfaction surveys' settings (None: the defaults, without email
        links).
        ``legacy_files``: the old store of email attachments (erasing a contact removes
        theirs).
        ``clock``: the current time, for every time the reports read (messages, transitions,
        facts; tests pass a fake one); kept as ``core.clock``.
        ``business_hours``: the ``bot.hours`` schedule the reports' business seconds count
        (None: every second).
        ``kb_chunk_chars``, ``kb_max_body_chars``: the knowledge base's passages and
        articles ([kb]); ``kb_passages``: passages a search gives by default;
        ``embedder``: computes embeddings of passages and questions (None: full text alone).
        ``kb_retriever``: the retrieval the knowledge base answers ``/kb/search`` with (pass
        the one the LLM engine uses, so both find the same; default: one over ``embedder``).
        ``llm_usage``: where the language model's calls are recorded and the day's budget is
        kept (None: a new one without a budget); the LLM engine's budget check must be the
        same one's ``exhausted``.
        ``bot_timeout``: seconds the bot may take before the autopilot hands the chat over;
        ``bot_history``: earlier messages the bot sees.
        ``copilot``: the copilot's model, knowledge base and settings (None: no model, the
        copilot answers 409).
        ``api_requests_per_minute``: what one API key may make (``[api_keys]``).
        ``callbacks``: checks the URLs msgcenter posts to (API channels' callbacks) as
        ``[integrations]`` says (None: public destinations only).
        ``webhooks``: the outgoing webhooks' settings ([integrations]; None: the defaults).
        """
        connectors: dict[str, Connector] = {}
        names = AgentNames()
        labels = LabelNames()
        staff = Staff(passwords, names=names, labels=labels, default_capacity=default_capacity)
        presenter = Presenter(timezone)
        log = EventLog(postgres=postgres, rebuild=MessageEvents(presenter, names, labels).rebuild)
        writer = Writer(bus, log)
        presence = Presence(presence_store or MemoryPresence(), writer)
        reporting = Reporting(business_hours)
        desk = Desk(
            writer,
            staff,
            presenter,
            connectors=connectors,
            handoff_message=handoff_message,
            postgres=postgres,
            clock=clock,
            reporting=reporting,
        )
        surveys = Surveys(desk, presenter, connectors, csat or CsatOptions(), clock=clock)
        inbox = Inbox(writer, staff, presenter, surveys=surveys, clock=clock, reporting=reporting)
        outbox = Outbox(writer, presenter, connectors, blobs=blobs, interactive=surveys.outbound)
        tags = Tags(writer, desk, staff, presenter)
        snoozer = Snoozer(writer, desk, staff, presenter, clock=clock)
        bulk = Bulk(desk, tags, snoozer.snooze)
        assigner = Assigner(
            writer, desk, presence, enabled=auto_assign, postgres=postgres,
            sweep_seconds=assign_sweep, clock=clock,
        )  # fmt: skip
        # The roster's own clock times people's absence against presence (real time); its
        # transitions are the desk's, stamped by ``clock``.
        roster = Roster(
            writer, desk, presence, return_chats=return_chats_when_offline,
            grace_minutes=offline_grace_minutes, postgres=postgres,
        )  # fmt: skip
        contacts = Contacts(writer, staff, presenter, history_for_agents=contact_history_for_agents)
        erasure = Erasure(writer, contacts, blobs, legacy_files=legacy_files, postgres=postgres)
        media = None
        if blobs is not None:
            media = MediaFetcher(writer, presenter, connectors, blobs, limits=media_limits)
        llm_usage = llm_usage or LlmUsage(clock=clock)
        notes = Notes(writer, staff, presenter, postgres=postgres)
        helper = Copilot(copilot or CopilotOptions(), desk, notes, llm_usage)
        destinations = callbacks or CallbackPoster(allow_private=False, timeout_seconds=10)
        autopilot = None
        if bot is not None:
            autopilot = Autopilot(
                bot, writer, desk, who_is_online=presence.online, reply_limit=reply_limit,
                clock=clock, usage=llm_usage, timeout=bot_timeout, history=bot_history,
            )  # fmt: skip

        # Who listens to what (msgcenter.metrics also counts outbox.outcome and desk.moved).
        desk.queued.register(outbox.on_queued)
        desk.closing.register(surveys.on_closing)
        if helper.summarizes_at_handoff:  # a summary note when the bot hands a chat over
            desk.moved.register(helper.on_moved)
        if autopilot is not None:
            inbox.arriving.register(autopilot.on_arriving)
            inbox.received.register(autopilot.on_received)
            autopilot.queued.register(outbox.on_queued)
        erasure.erased.register(inbox.forget_chats)
        if media is not None:
            inbox.arriving.register(media.on_arriving)
            inbox.received.register(media.on_received)
        if auto_assign:
            desk.moved.register(assigner.on_moved)
            presence.came_online.register(assigner.on_came_online)
            roster.available.register(assigner.on_came_online)

        return cls(
            bus=bus,
            writer=writer,
            staff=staff,
            presenter=presenter,
            inbox=inbox,
            desk=desk,
            queries=ChatQueries(
                names, presenter, labels, history_for_agents=contact_history_for_agents
            ),
            outbox=outbox,
            receipts=Receipts(writer, presenter),
            log=log,
            presence=presence,
            assigner=assigner,
            autopilot=autopilot,
            templates=Templates(writer, connectors),
            canned=CannedResponses(writer, presenter),
            roster=roster,
            tags=tags,
            bulk=bulk,
            notes=notes,
            notifications=Notifications(writer, presenter),
            queue_watch=QueueWatch(writer, presenter, queue_waiting_minutes),
            snoozer=snoozer,
            surveys=surveys,
            contacts=contacts,
            merges=ContactMerges(writer, contacts, postgres=postgres),
            erasure=erasure,
            reports=Reports(names, labels, reports_timezone, clock=clock),
            kb=KnowledgeBase(
                writer,
                presenter,
                chunk_chars=kb_chunk_chars,
                max_body_chars=kb_max_body_chars,
                embedder=embedder,
                retriever=kb_retriever,
                default_passages=kb_passages,
            ),
            llm_usage=llm_usage,
            copilot=helper,
            api_keys=ApiKeys(
                writer, presenter, requests_per_minute=api_requests_per_minute, clock=clock
            ),
            api_channels=ApiChannels(writer, presenter, destinations.check, clock=clock),
            webhooks=Webhooks(writer, log, presenter, webhooks),
            connectors=connectors,
            blobs=blobs,
            media=media,
            clock=clock,
            reporting=reporting,
        )

    def sink(self) -> CoreSink:
        """What a connector is given (the API channel's route hands its messages here)."""
        return CoreSink(self)

    def add_connector(self, connector: Connector) -> None:
        """Route the channel's replies to ``connector`` (the desk applies its reply rules)."""
        self.connectors[connector.channel] = connector
        self.outbox.wake()
        if self.media is not None:
            self.media.wake()

    def start(self) -> None:
        """Start the writer; call after the database is open (its context must be visible)."""
        self.writer.start()
        self.webhooks.start()
        self.presence.start()
        self.assigner.start()
        self._tidying = asyncio.get_running_loop().create_task(self._tidy(), name="tidy")
        if self.autopilot is not None:
            # One process owns SQLite: messages whose bot answer a crash interrupted get it now.
            self.autopilot.start(answer_pending=not self.log.postgres)

    async def drain(self) -> None:
        """Wait for the work started after commits so far (the bot's answers): tests."""
        if self.autopilot is not None:
            await self.autopilot.drain()
        await self.copilot.drain()
        await self.api_keys.drain()

    async def _tidy(self) -> None:
        """Now and then: forget events older than the log keeps, and receipts never matched."""
        while True:
            try:
                pruned = await self.log.prune()
                stale = timezone.now() - RECEIPTS_KEPT
                receipts = await self.receipts.prune(stale)
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
        await self.roster.stop()
        await self.presence.stop()
        await self.outbox.stop()
        await self.queue_watch.stop()
        await self.snoozer.stop()
        await self.api_keys.drain()  # last uses being written, before the writer stops
        if self.media is not None:
            await self.media.stop()
        if self.autopilot is not None:
            await self.autopilot.drain()
        await self.kb.close()
        await self.copilot.close()
        await self.webhooks.stop()
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
        now = time.monotonic()
        if not isinstance(connector, ShowsTyping):
            return
        if not chat.external_id or self._typing.get(chat.id, 0) > now:
            return
        self._typing[chat.id] = now + TYPING_EVERY
        if len(self._typing) > 10_000:
            self._typing = {k: v for k, v in self._typing.items() if v > now}
        try:
            await connector.typing(chat.external_id)
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
            await self.core.receipts.record(updates)

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
