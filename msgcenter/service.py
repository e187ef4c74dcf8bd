"""The composition root: settings in, a running service out.

``build_app(settings)`` returns the aiohttp application with the dashboard API
and everything it needs opened in ``cleanup_ctx`` order: the database (with
migrations), the domain core, then whatever else is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from tortoise import timezone

from bot import Bot, BotLoadError, Retriever, load_bot
from bot.llm_client import LlmClient
from connectors.base import Connector, ReportsHealth
from dashboard_api.app import create_api
from dashboard_api.auth import LoginThrottle, Tokens, load_or_create_secret
from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, Route
from dashboard_api.typedefs import ApiContext, Degraded, HealthCheck, Unhealthy
from dashboard_api.widget import setup_widget
from dashboard_api.ws import SOCKETS
from handoff.core import ASSIGN_SWEEP, Core, CoreSink
from handoff.domain.events import CHAT_UPDATED, MESSAGE_CREATED
from handoff.domain.webhooks import SOURCES as WEBHOOK_SOURCES
from handoff.infra.bus import EventBus, MemoryEventBus
from handoff.infra.bus_redis import RedisEventBus
from handoff.infra.presence_redis import RedisPresence
from handoff.read.kb import KbRetriever
from handoff.usecases.autopilot import HISTORY, ReplyLimit
from handoff.usecases.copilot import CopilotOptions
from handoff.usecases.csat import CsatOptions
from handoff.usecases.llm_usage import LlmUsage
from handoff.usecases.presence import PresenceStore
from handoff.usecases.staff import Passwords
from handoff.usecases.webhooks import WebhookOptions
from handoff.usecases.widget import Visitors, WidgetOptions, Widgets
from msgcenter.channels import (
    add_web_routes,
    build_connector,
    build_connectors,
    callback_poster,
    connect_widget,
    running,
)
from msgcenter.lease import Lease, leased
from msgcenter.metrics import MeteredSink, Metrics, may_scrape, webhook_timer
from msgcenter.roles import ALL as ALL_ROLES
from msgcenter.roles import INBOUND_ROLE, LEASED, check_roles
from msgcenter.settings import Settings, SettingsError
from storage.blobs import Blobs, DiskBlobs
from storage.db import Database, is_sqlite
from storage.files import FileStore, private_dir

log = logging.getLogger(__name__)


# A part of the service that opens after the core and closes before it.
Part = Callable[["Service"], AbstractAsyncContextManager[None]]


@dataclass(slots=True)
class Service:
    settings: Settings
    database: Database
    core: Core
    api: ApiContext
    metrics: Metrics = field(default_factory=Metrics)
    roles: frozenset[str] = ALL_ROLES
    parts: list[Part] = field(default_factory=list)
    leases: dict[str, Lease] = field(default_factory=dict)
    # The website widget's settings and keys' secret (docs/api.md, "Website widget").
    widget: WidgetOptions | None = None

    @property
    def leased(self) -> bool:
        """Exclusive parts run under a lease (PostgreSQL: other processes may run them too)."""
        return not self.database.is_sqlite


SERVICE = web.AppKey("msgcenter.service", Service)


def kb_embedder(settings: Settings) -> LlmClient | None:
    """The client that embeds knowledge-base passages and questions: the model's endpoint
    with ``bot.llm.embedding_model``; None (full-text search alone) when either is unset.
    The knowledge base closes it."""
    return llm_client(settings) if settings.bot.llm.embedding_model else None


def build_service(
    settings: Settings,
    roles: frozenset[str] = ALL_ROLES,
    *,
    clock: Callable[[], datetime] = timezone.now,
) -> Service:
    """The service for ``roles``; ``clock``: the core's current time (tests pass a fake one)."""
    check_roles(roles, settings)
    passwords = Passwords(
        time_cost=settings.auth.argon2_time_cost, memory_kib=settings.auth.argon2_memory_kib
    )
    events = settings.events
    bus: EventBus = MemoryEventBus()
    presence: PresenceStore | None = None
    if events.redis:
        bus = RedisEventBus(events.url, prefix=events.prefix)
        presence = RedisPresence(events.url, prefix=events.prefix)
    blobs = blob_store(settings)
    files = file_store(settings)
    private_dir(settings.storage.data_dir)  # 0700 when msgcenter creates it
    secret = load_or_create_secret(
        settings.auth.jwt_secret.get_secret_value() if settings.auth.jwt_secret else None,
        settings.storage.data_dir,
    )
    # The knowledge base's embeddings (bot.llm.embedding_model) and its retrieval: the one
    # GET /kb/search answers with, and the one to give the LLM engine.
    embedder = kb_embedder(settings)
    retriever = KbRetriever(embedder)
    llm_usage = LlmUsage(settings.bot.llm.daily_tokens, clock=clock)
    core = Core.build(
        bus,
        passwords,
        timezone=settings.server.timezone,
        default_capacity=settings.handoff.default_capacity,
        postgres=not is_sqlite(settings.storage.url),
        presence_store=presence,
        auto_assign=settings.handoff.auto_assign,
        bot=_load_bot(settings, llm_usage, retriever),
        llm_usage=llm_usage,
        bot_timeout=bot_timeout(settings),
        bot_history=max(HISTORY, settings.bot.llm.history) if _llm(settings) else HISTORY,
        handoff_message=lambda chat: settings.bot.handoff_text(
            # An unverified email sender's name is a stranger's words: not repeated to them.
            customer_name="" if chat.sender_unverified else chat.customer_name,
            channel=str(chat.channel),
        ),
        # Automatic answers per email address.
        reply_limit=ReplyLimit(settings.channels.email.auto_replies_per_hour),
        # Kicked by what happens here; the outbox process sweeps.
        assign_sweep=ASSIGN_SWEEP if "outbox" in roles else None,
        blobs=blobs,
        legacy_files=files,
        queue_waiting_minutes=settings.handoff.queue_waiting_notify_minutes,
        media_limits={
            "Telegram": settings.channels.telegram.media_max_bytes,
            "WhatsApp": settings.channels.whatsapp.media_max_bytes,
        },
        offline_grace_minutes=settings.handoff.offline_grace_minutes,
        return_chats_when_offline=settings.handoff.return_chats_when_offline,
        contact_history_for_agents=settings.contacts.history_for_agents,
        reports_timezone=settings.reports.timezone,
        clock=clock,
        # The reports' business seconds (business_hours=true) are the bot's business hours.
        business_hours=settings.bot.schedule(),
        kb_chunk_chars=settings.kb.chunk_chars,
        kb_max_body_chars=settings.kb.max_body_chars,
        kb_passages=settings.bot.llm.passages,
        embedder=embedder,
        kb_retriever=retriever,
        csat=CsatOptions(
            enabled=settings.csat.enabled,
            after=settings.csat.after,
            comment_minutes=settings.csat.comment_minutes,
            secret=secret,  # the email links' key is derived from it
            public_url=settings.server.public_url,
            words=settings.csat.words(),
        ),
        copilot=copilot_options(settings, retriever),
        api_requests_per_minute=settings.api_keys.requests_per_minute,
        callbacks=callback_poster(settings),
        webhooks=WebhookOptions(
            allow_private=settings.integrations.allow_private_destinations,
            timeout_seconds=settings.integrations.timeout_seconds,
            retry_hours=settings.integrations.retry_hours,
            disable_after_hours=settings.integrations.disable_after_hours,
        ),
    )
    api = ApiContext(
        core=core,
        tokens=Tokens(secret, settings.auth.token_ttl_minutes),
        throttle=LoginThrottle(
            settings.auth.login_max_failures,
            settings.auth.login_window_seconds,
            address_max_failures=settings.auth.login_max_failures_per_address,
            lockout_seconds=settings.auth.login_lockout_seconds,
            trusted_proxies=settings.server.trusted_proxies,
        ),
        files=files,
        blobs=blobs,
    )
    storage = settings.storage
    database = Database(
        storage.url,
        connect_timeout=storage.connect_timeout_seconds,
        statement_timeout=storage.statement_timeout_seconds,
    )
    api.health["database"] = _database_check(database)
    api.health["disk"] = _disk_check(storage.data_dir, storage.min_free_bytes)
    api.health["events"] = core.bus.health
    if settings.storage.blobs == "s3":
        api.health["files"] = _bucket_check(blobs)
    metrics = Metrics()
    metrics.watch(core)
    service = Service(settings, database, core, api, metrics, roles)
    service.widget = widget_options(settings, secret)
    return service


def widget_options(settings: Settings, secret: str) -> WidgetOptions:
    """The widget's settings (``[widget]``); its keys are derived from ``secret``."""
    widget = settings.widget
    return WidgetOptions(
        secret=secret,
        public_url=settings.server.public_url,
        max_message_chars=widget.max_message_chars,
        messages_per_minute=widget.messages_per_minute,
        visitor_token_days=widget.visitor_token_days,
        new_visitors_per_minute=widget.new_visitors_per_minute,
        max_file_bytes=widget.max_file_bytes,
    )


def widget_parts(service: Service) -> tuple[Widgets, Visitors]:
    """The widget's admin side and visitor side, on the service's core."""
    core = service.core
    options = service.widget or widget_options(service.settings, "")
    visitors = Visitors(
        options, core.inbox, core.receipts, core.presence, core.staff, core.presenter, core.bus,
        clock=core.clock,
    )  # fmt: skip
    return Widgets(options), visitors


@runtime_checkable
class Opens(Protocol):
    """A part with a connection to open at start and close at shutdown (S3Blobs' client)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...


def blob_store(settings: Settings) -> Blobs:
    """Where every kept file lives, by content: ``<data_dir>/blobs`` (``storage.blobs =
    "disk"``) or the bucket of ``storage.s3`` (``"s3"``; opened and closed with the service,
    its spools in ``<data_dir>/blobs/tmp``)."""
    storage = settings.storage
    if storage.blobs == "disk":
        return DiskBlobs(storage.data_dir / "blobs")
    from storage.s3 import S3Blobs, S3Config  # botocore: imported only where it is used

    s3 = storage.s3
    config = S3Config(
        bucket=s3.bucket,
        prefix=s3.prefix,
        endpoint_url=s3.endpoint_url or None,
        region=s3.region or None,
        access_key_id=s3.access_key_id.get_secret_value() if s3.access_key_id else None,
        secret_access_key=(
            s3.secret_access_key.get_secret_value() if s3.secret_access_key else None
        ),
        addressing_style=s3.addressing_style,
        connect_timeout=s3.connect_timeout_seconds,
        read_timeout=s3.read_timeout_seconds,
        max_attempts=s3.max_attempts,
    )
    return S3Blobs(config, storage.data_dir / "blobs" / "tmp")


def file_store(settings: Settings) -> FileStore:
    """The old store of email attachments: ``<data_dir>/<channels.email.attachments_dir>``
    (an absolute ``attachments_dir`` as it is). Read only: the email connector keeps files in
    the blob store since issue 18; messages stored before still name these files."""
    return FileStore(settings.storage.data_dir / settings.channels.email.attachments_dir)


# The autopilot's limit on a bot's answer, and how much longer than ``bot.llm.timeout`` the
# LLM engine gets (retrieval and the writer's queue come on top of the model's call): its
# own error path (a timeout as "AI assistant unavailable: no answer within N s", with what
# the call cost) decides, not the autopilot's cut.
BOT_TIMEOUT = 15.0
LLM_TIMEOUT_MARGIN = 5.0


def bot_timeout(settings: Settings) -> float:
    """Seconds the autopilot waits for the bot: ``bot.llm.timeout`` plus a margin for the LLM
    engine, else :data:`BOT_TIMEOUT`."""
    if _llm(settings):
        return settings.bot.llm.timeout + LLM_TIMEOUT_MARGIN
    return BOT_TIMEOUT


def _llm(settings: Settings) -> bool:
    return settings.bot.engine == "llm"


def llm_client(settings: Settings) -> LlmClient | None:
    """A client of the model of ``bot.llm`` (None when none is set)."""
    llm = settings.bot.llm
    if not llm.configured:
        return None
    return LlmClient(
        base_url=llm.base_url,
        model=llm.model,
        api_key=llm.api_key.get_secret_value() if llm.api_key else None,
        timeout=llm.timeout,
        max_tokens=llm.max_tokens,
        temperature=llm.temperature,
        embedding_model=llm.embedding_model or None,
    )


def copilot_options(settings: Settings, retriever: Retriever) -> CopilotOptions:
    """The copilot's model (its own client of ``bot.llm``), knowledge base and settings."""
    llm = settings.bot.llm
    return CopilotOptions(
        client=llm_client(settings) if settings.copilot.enabled else None,
        enabled=settings.copilot.enabled,
        summarize_at_handoff=settings.copilot.summarize_at_handoff,
        retriever=retriever,
        passages=llm.passages,
        min_score=llm.min_score,
        history=llm.history,
        instructions=llm.instructions,
    )


def _load_bot(settings: Settings, llm_usage: LlmUsage, retriever: Retriever) -> Bot:
    """The configured bot; the LLM engine searches with ``retriever`` (the knowledge base's,
    the one ``GET /kb/search`` answers with) and asks ``llm_usage`` whether the day's
    budget is spent."""
    try:
        if _llm(settings):
            return load_bot(
                "llm", settings.bot, retriever=retriever, budget_spent=llm_usage.exhausted
            )
        return load_bot(settings.bot.engine, settings.bot)
    except BotLoadError as exc:
        raise SettingsError(str(exc)) from exc


def _database_check(database: Database) -> HealthCheck:
    """``ok`` when the database answers. /healthz gives up on it after 0.8 s; a ping still
    waiting then (the database does not answer) is waited for by the next /healthz rather
    than joined by another, so a load balancer's polling piles nothing up on the pool."""
    pending: asyncio.Future[bool] | None = None

    async def check() -> str:
        nonlocal pending
        if pending is None or pending.done():
            pending = asyncio.ensure_future(database.ping())
            pending.add_done_callback(_retrieved)
        await asyncio.shield(pending)
        return "ok"

    return check


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # whoever awaited it reported it; none left is "never retrieved"


# The bucket's HEAD gets this long in /healthz (which gives up on every check at 0.8 s): a
# bucket that is slow to answer is reported as degraded, not as a failed process.
BUCKET_CHECK_SECONDS = 0.5


def _bucket_check(blobs: Blobs) -> HealthCheck:
    """``ok`` when the bucket answers a HEAD; else ``degraded: <why>`` (200: messages flow,
    files wait for the bucket). As with the database, a HEAD still waiting is waited for by
    the next /healthz rather than joined by another."""
    from storage.s3 import BucketUnavailable, S3Blobs

    if not isinstance(blobs, S3Blobs):
        raise TypeError("the files check is the bucket's")
    pending: asyncio.Future[None] | None = None

    async def check() -> str:
        nonlocal pending
        if pending is None or pending.done():
            pending = asyncio.ensure_future(blobs.check())
            pending.add_done_callback(_retrieved)
        try:
            await asyncio.wait_for(asyncio.shield(pending), BUCKET_CHECK_SECONDS)
        except TimeoutError:
            raise Degraded("the bucket does not answer") from None
        except BucketUnavailable as exc:
            log.warning("file bucket %s: %s", blobs.config.bucket, exc)
            raise Degraded(str(exc)) from exc
        return "ok"

    return check


def _disk_check(data_dir: Path, min_free_bytes: int) -> HealthCheck:
    """``low`` (503) when the data dir's disk has less than ``min_free_bytes`` free: the
    database and the files customers send cannot grow there much longer."""

    async def check() -> str:
        free = (await asyncio.to_thread(shutil.disk_usage, data_dir)).free
        if free < min_free_bytes:
            log.warning("disk of %s low: %d bytes free (min %d)", data_dir, free, min_free_bytes)
            raise Unhealthy("low")
        return "ok"

    return check


def build_app(settings: Settings, service: Service | None = None) -> web.Application:
    """The whole service (or the roles ``service`` was built for) as one aiohttp application."""
    service = service or build_service(settings)
    roles = service.roles
    app = create_api(
        service.api,
        client_max_size=settings.server.client_max_size,
        cors_origins=settings.server.cors_origins,
        extra_routes=[metrics_route(service)],
        dashboard="api" in roles,
        extra_middlewares=[webhook_timer(service.metrics)],
    )
    app[SERVICE] = service
    sink = MeteredSink(CoreSink(service.core), service.metrics)
    # The core's own store (opened with the service): email keeps customers' files there.
    blobs = service.core.blobs or blob_store(settings)
    connectors = build_connectors(settings, sink, blobs)
    widgets, visitors = widget_parts(service)
    if "api" in roles:
        setup_widget(app, widgets, visitors)
    connect_widget(connectors, visitors)
    if "api" in roles:
        add_web_routes(app, connectors)
    # Where each channel's inbound side runs: here with the sender, here under a lease
    # (a second connector that only receives), or in another process.
    inbound_here: set[str] = set()
    leased_inbound: dict[str, Connector] = {}
    for connector in connectors:
        role = INBOUND_ROLE.get(connector.channel)
        if role is None:  # webhooks only (WhatsApp): received wherever the API runs
            if "api" in roles:
                inbound_here.add(connector.channel)
            continue
        if role not in roles:
            continue
        if role in LEASED and service.leased:
            receiver = build_connector(settings, sink, connector.channel, blobs)
            if receiver is not None:
                leased_inbound[connector.channel] = receiver
                service.leases[role] = Lease(settings.storage.url, role)
        else:
            inbound_here.add(connector.channel)
    for connector in connectors:
        receiver = leased_inbound.get(connector.channel)
        lease = service.leases.get(INBOUND_ROLE.get(connector.channel, ""))
        check = _connector_check(connector)
        if receiver is not None and lease is not None:
            check = _leased_check(receiver, lease)
        service.api.health[connector.channel.lower()] = check
    if "outbox" in roles and service.leased:
        service.leases["outbox"] = Lease(settings.storage.url, "outbox")

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        core = service.core
        await service.database.open()
        blobs = core.blobs
        if isinstance(blobs, Opens):  # before the core's workers, which may keep files
            try:
                await blobs.open()
            except BaseException:
                await service.database.close()
                raise
        core.start()
        async with AsyncExitStack() as stack:
            stack.push_async_callback(service.database.close)
            if isinstance(blobs, Opens):  # after the core's workers stopped
                stack.push_async_callback(blobs.close)
            stack.push_async_callback(core.bus.close)
            stack.push_async_callback(core.presence.store.close)
            stack.push_async_callback(core.stop)
            await core.bus.start()
            # What the webhook endpoints want is known before anything is stored.
            await core.webhooks.refresh()
            if core.autopilot is not None:  # the labels the bot's intents put on chats exist
                await core.tags.ensure_labels(settings.bot.intent_labels())
            await stack.enter_async_context(running(connectors, inbound_here))
            for connector in connectors:
                core.add_connector(connector)
            for channel, receiver in leased_inbound.items():
                lease = service.leases[INBOUND_ROLE[channel]]
                await stack.enter_async_context(leased(lease, receiver.start, receiver.stop))
            if "outbox" in roles:
                # Passages not embedded by bot.llm.embedding_model (new model, failed calls).
                core.kb.start()
                await stack.enter_async_context(_outbox(service))
                await stack.enter_async_context(_template_sync(service))
            for part in service.parts:
                await stack.enter_async_context(part(service))
            yield

    app.cleanup_ctx.append(lifecycle)
    return app


@asynccontextmanager
async def _outbox(service: Service) -> AsyncIterator[None]:
    """The delivery worker, the media fetcher, the availability sweep (chats of people gone
    offline), the queue watch (admins told of chats waiting too long), the snoozer (waking
    snoozed chats at their time) and the webhooks' dispatcher: right here with SQLite; under
    the outbox lease otherwise, woken by what other processes store (``message.created`` on
    the bus: replies queued, customer files pending; ``chat.updated`` of a chat snoozed until
    a time kicks the snoozer, which also looks every 30 s; the events webhook deliveries are
    made of wake the dispatcher, which also looks every 10 s)."""
    outbox, media, roster = service.core.outbox, service.core.media, service.core.roster
    snoozer = service.core.snoozer
    lease = service.leases.get("outbox")
    watch = service.core.queue_watch  # admins told of chats waiting too long
    webhooks = service.core.webhooks
    if lease is None:
        outbox.start()
        webhooks.start_dispatcher()
        roster.start()
        watch.start()
        snoozer.start()
        if media is not None:
            media.start()
        try:
            yield
        finally:
            await webhooks.stop_dispatcher()
            await roster.stop()
            await watch.stop()
            await snoozer.stop()
            if media is not None:  # before the connectors it fetches through stop
                await media.stop()
        return

    async def start() -> None:
        outbox.start()
        webhooks.start_dispatcher()
        roster.start()
        watch.start()
        snoozer.start()
        if media is not None:
            media.start()

    async def stop() -> None:
        await outbox.stop()
        await webhooks.stop_dispatcher()
        await roster.stop()
        await watch.stop()
        await snoozer.stop()
        if media is not None:
            await media.stop()

    async with leased(lease, start, stop), _waking(service.core):
        yield


@asynccontextmanager
async def _template_sync(service: Service) -> AsyncIterator[None]:
    """The WhatsApp templates synced once at start, in the background (the process with the
    outbox role; a failure is logged, not fatal), when a business account is configured."""
    whatsapp = service.settings.channels.whatsapp
    if not (whatsapp.enabled and whatsapp.business_account_id):
        yield
        return
    task = asyncio.get_running_loop().create_task(
        service.core.templates.sync_quietly(), name="templates-sync"
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@asynccontextmanager
async def _waking(core: Core) -> AsyncIterator[None]:
    async def listen() -> None:
        while True:
            subscription = core.bus.subscribe(10_000)
            core.outbox.wake()  # also after a lost connection: replies may have been missed
            core.snoozer.kick()  # and snoozes set elsewhere meanwhile
            core.webhooks.wake()  # and webhook deliveries queued elsewhere
            if core.media is not None:
                core.media.wake()
            while (event := await subscription.get()) is not None:
                message = event.data.get("message") if event.type == MESSAGE_CREATED else None
                if isinstance(message, dict) and message.get("status") == "queued":
                    core.outbox.wake()
                if core.media is not None and _files_pending(message):
                    core.media.wake()
                if event.type == CHAT_UPDATED and _snoozed_until(event.data.get("chat")):
                    core.snoozer.kick()  # snoozed elsewhere: it may be the next due
                if event.type in WEBHOOK_SOURCES and core.webhooks.types:
                    core.webhooks.wake()  # it may have queued webhook deliveries
            if not (subscription.interrupted or subscription.overflowed):
                return  # the bus closed

    task = asyncio.get_running_loop().create_task(listen(), name="outbox-wake")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _snoozed_until(chat: object) -> bool:
    """Whether a chat row is snoozed until a time (the waker has a time to look at)."""
    return isinstance(chat, dict) and bool(chat.get("snoozed_until"))


def _files_pending(message: object) -> bool:
    """Whether a message's view lists a customer file still to fetch."""
    if not isinstance(message, dict) or not isinstance(message.get("attachments"), list):
        return False
    return any(
        isinstance(item, dict) and item.get("status") == "pending"
        for item in message["attachments"]
    )


def metrics_route(service: Service) -> Route:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        settings = service.settings.metrics
        if not settings.enabled:
            raise ApiError(404, "not_found", "metrics are turned off (metrics.enabled)")
        if not may_scrape(request, settings):
            raise ApiError(
                403, "forbidden", "metrics: not an allowed address; send the metrics token"
            )
        for name, lease in service.leases.items():
            service.metrics.lease_held.labels(name).set(1 if lease.held else 0)
        body = await service.metrics.scrape(service.core, len(request.app[SOCKETS].open))
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return Route(
        "GET", "/metrics", _unreachable,
        "Prometheus metrics of this process. Allowed addresses (metrics.allow_from) need no "
        "token when not proxied; others send Authorization: Bearer <metrics.token>.",
        "system", access="public", raw=endpoint, response=str, media_type="text/plain",
        responses={403: "not an allowed address and no valid metrics token",
                   404: "metrics are turned off"},
    )  # fmt: skip


async def _unreachable(call: Call) -> web.StreamResponse:  # the route is served raw
    raise ApiError(500, "internal_error", "not reachable")


def _connector_check(connector: Connector) -> HealthCheck:
    async def check() -> str:
        return await connector.health() if isinstance(connector, ReportsHealth) else "ok"

    return check


def _leased_check(receiver: Connector, lease: Lease) -> HealthCheck:
    """The receiving side's health while this process holds the lease, else ``standby``."""
    inner = _connector_check(receiver)

    async def check() -> str:
        if lease.held:
            return await inner()
        return f"{lease.state} (the {lease.name} lease is held by another process)"

    return check
