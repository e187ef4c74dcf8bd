"""``GET /metrics`` in the Prometheus text format, and the hooks that feed it.

Counters and histograms are per process (Prometheus scrapes each process and
sums): messages stored per channel, replies sent per channel, outbox retries
and failures, handoffs, webhook and ingest latency. Gauges about shared state
(the queue, the outbox backlog, agents online) are counted in the database or
Redis at scrape time, so every process reports the same numbers.

Who may scrape: addresses in ``metrics.allow_from`` (loopback by default) with
no proxy header, or anyone with ``Authorization: Bearer <metrics.token>``.
Prometheus usually scrapes without credentials from inside the network; the
load balancer must not be a way in, hence the proxy-header rule.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from connectors.base import InboundEdit, InboundMessage, Sink, StatusUpdate
from handoff.core import Core
from handoff.domain.modes import Action
from handoff.usecases.delivery import Attempt
from handoff.usecases.desk import ChatMoved
from handoff.usecases.ingest import Received
from handoff.usecases.llm_usage import Recorded
from handoff.usecases.media import Settled
from msgcenter.settings import MetricsSettings
from storage.models import Chat, Mode

PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")
LLM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


M = TypeVar("M", Counter, Histogram)


@lru_cache(maxsize=1024)
def child(metric: M, *labels: str) -> M:
    """``metric.labels(*labels)``, remembered (the call validates and locks each time); for
    label values from a small known set."""
    return metric.labels(*labels)


class Metrics:
    """This process's metrics, in a registry of its own (tests run several services)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages_in = Counter(
            "msgcenter_messages_in", "Customer messages stored (repeats not counted).",
            ["channel"], registry=r,
        )  # fmt: skip
        self.messages_out = Counter(
            "msgcenter_messages_out", "Replies the provider accepted.", ["channel"], registry=r
        )
        self.outbox_failures = Counter(
            "msgcenter_outbox_failures",
            "Send attempts that failed: kind=retry (tried again later) or failed (given up).",
            ["channel", "kind"], registry=r,
        )  # fmt: skip
        self.media_files = Counter(
            "msgcenter_media_files",
            "Customers' files fetched from the providers: status=stored or failed (for good).",
            ["channel", "status"], registry=r,
        )  # fmt: skip
        self.handoffs = Counter(
            "msgcenter_handoffs", "Chats handed to a human, by who asked.", ["by"], registry=r
        )
        self.assignments = Counter(
            "msgcenter_assignments",
            "Chats given to an agent: automatic, assign, claim, ...",
            ["how"],
            registry=r,
        )
        self.ingest_seconds = Histogram(
            "msgcenter_ingest_seconds",
            "Time to store a provider's batch of messages, commit included.",
            ["channel"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.webhook_seconds = Histogram(
            "msgcenter_webhook_seconds",
            "Provider webhook requests: time from request to answer.",
            ["channel", "status"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.websockets = Gauge(
            "msgcenter_websocket_connections", "Open dashboard WebSockets in this process.",
            registry=r,
        )  # fmt: skip
        self.queue_length = Gauge(
            "msgcenter_queue_length", "Chats waiting for an agent (all processes).", registry=r
        )
        self.outbox_queued = Gauge(
            "msgcenter_outbox_queued", "Replies waiting to be sent (all processes).", registry=r
        )
        self.agents_online = Gauge(
            "msgcenter_agents_online", "People online (all processes).", registry=r
        )
        self.bus_connected = Gauge(
            "msgcenter_event_bus_connected", "1 when the event bus works, 0 while it reconnects.",
            registry=r,
        )  # fmt: skip
        self.llm_calls = Counter(
            "msgcenter_llm_calls",
            "Language-model calls recorded (llm_calls), by purpose (answer, suggest, summarize, "
            "translate, embed) and outcome (answered, handoff, no_match, budget, error, "
            "timeout, invalid).",
            ["purpose", "outcome"], registry=r,
        )  # fmt: skip
        self.llm_tokens = Counter(
            "msgcenter_llm_tokens", "Language-model tokens spent, by purpose and kind "
            "(prompt, completion).", ["purpose", "kind"], registry=r,
        )  # fmt: skip
        self.llm_seconds = Histogram(
            "msgcenter_llm_seconds", "Time spent waiting for the language model, by purpose.",
            ["purpose"], buckets=LLM_BUCKETS, registry=r,
        )  # fmt: skip
        self.lease_held = Gauge(
            "msgcenter_lease_held", "1 while this process runs the leased part.", ["part"],
            registry=r,
        )  # fmt: skip

    def watch(self, core: Core) -> None:
        """Count what the core does in this process."""
        core.outbox.outcome.register(self._outbox_outcome)
        core.desk.moved.register(self._moved)
        if core.media is not None:
            core.media.settled.register(self._media_settled)
        core.llm_usage.recorded.register(self._llm_recorded)

    def _llm_recorded(self, recorded: Recorded) -> None:
        purpose, usage = recorded.purpose, recorded.usage
        child(self.llm_calls, purpose, usage.outcome).inc()
        if usage.prompt_tokens:
            child(self.llm_tokens, purpose, "prompt").inc(usage.prompt_tokens)
        if usage.completion_tokens:
            child(self.llm_tokens, purpose, "completion").inc(usage.completion_tokens)
        if usage.seconds > 0:
            child(self.llm_seconds, purpose).observe(usage.seconds)

    def _media_settled(self, settled: Settled) -> None:
        self.media_files.labels(settled.channel, settled.status).inc()

    def _outbox_outcome(self, attempt: Attempt) -> None:
        if attempt.outcome == "sent":
            self.messages_out.labels(attempt.channel).inc()
        elif attempt.outcome in ("retry", "failed"):
            self.outbox_failures.labels(attempt.channel, attempt.outcome).inc()

    def _moved(self, moved: ChatMoved) -> None:
        transition = moved.transition
        if transition.to_mode == Mode.AGENT and transition.from_mode != Mode.AGENT:
            self.handoffs.labels(str(transition.actor.kind)).inc()
        if transition.action in (Action.ASSIGN, Action.CLAIM, Action.TAKE_OVER):
            how = str(transition.action) + (
                " (automatic)" if transition.reason == "automatic" else ""
            )
            self.assignments.labels(how).inc()

    async def scrape(self, core: Core, websockets: int) -> bytes:
        """The text exposition, with the shared gauges counted now."""
        self.websockets.set(websockets)
        self.queue_length.set(await Chat.filter(mode=Mode.AGENT, assigned_agent_id=None).count())
        self.outbox_queued.set(await core.outbox.queue_depth())
        self.agents_online.set(len(await core.presence.online()))
        self.bus_connected.set(1 if await _bus_ok(core) else 0)
        return generate_latest(self.registry)


async def _bus_ok(core: Core) -> bool:
    try:
        await core.bus.health()
    except Exception:  # noqa: BLE001 - any trouble is "not connected"
        return False
    return True


class MeteredSink:
    """A Sink that times and counts what connectors hand to the core."""

    def __init__(self, sink: Sink, metrics: Metrics) -> None:
        self.sink = sink
        self.metrics = metrics

    async def receive(self, messages: Sequence[InboundMessage]) -> Sequence[Received]:
        started = time.perf_counter()
        results: Sequence[Received] = await self.sink.receive(messages)
        channel = messages[0].channel if messages else "unknown"
        child(self.metrics.ingest_seconds, channel).observe(time.perf_counter() - started)
        stored = sum(1 for result in results if result.stored)
        if stored:  # one channel per call
            child(self.metrics.messages_in, channel).inc(stored)
        return results

    async def status(self, updates: Sequence[StatusUpdate]) -> None:
        await self.sink.status(updates)

    async def edit(self, edit: InboundEdit) -> None:
        await self.sink.edit(edit)


def webhook_timer(metrics: Metrics) -> Middleware:
    """Times every request under ``/webhooks/<channel>``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/webhooks/"):
            return await handler(request)
        # The route's own path, not the request's: a label per made-up URL would let anyone
        # grow the registry without bound.
        resource = request.match_info.route.resource
        channel = resource.canonical.split("/")[2] if resource is not None else "unknown"
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            elapsed = time.perf_counter() - started
            child(metrics.webhook_seconds, channel, str(status)).observe(elapsed)

    return middleware


def may_scrape(request: web.Request, settings: MetricsSettings) -> bool:
    """The token, or an allowed address that did not come through a proxy."""
    token = settings.token.get_secret_value() if settings.token else ""
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    if any(header in request.headers for header in PROXY_HEADERS) or not request.remote:
        return False
    try:
        address = ipaddress.ip_address(request.remote)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in settings.allow_from)
