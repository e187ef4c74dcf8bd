"""The Redis event bus: events committed in one process reach the subscribers of every process.

``publish`` sends each batch of committed events as one JSON message on the
pub/sub channel ``<prefix>:events``. A reader task in every process receives
the batches (its own included, so all processes see one order per publisher)
and hands them to the local subscriptions: a :class:`MemoryEventBus` inside,
so slow listeners are bounded and dropped exactly as in one process.

Redis pub/sub keeps nothing. While the reader is disconnected, this process's
own events still reach its subscribers directly; other processes' events are
missed. When the reader is subscribed again, every local subscription is
interrupted, and its listener (a WebSocket) catches up from the event log by
``seq``. The reader reconnects with exponential backoff; ``health`` reports
the outage meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from handoff.domain.events import Event
from handoff.infra.bus import BusDegraded, MemoryEventBus, Subscription, Watcher
from handoff.infra.eventlog import audience_dict, audience_of

log = logging.getLogger(__name__)

CONNECT_WAIT = 2.0  # seconds start() waits for the first subscription before going on


def redis_client(url: str) -> Redis:
    """A client that fails fast (one reconnect per command): callers decide what to do."""
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        socket_keepalive=True,
        health_check_interval=10,
        retry=Retry(NoBackoff(), 1),
    )


def encode(events: Sequence[Event]) -> str:
    return json.dumps(
        [
            {
                "type": e.type,
                "seq": e.seq,
                "chat_id": e.chat_id,
                "data": e.data,
                "audience": audience_dict(e.audience),
            }
            for e in events
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode(payload: str) -> list[Event]:
    items: list[dict[str, Any]] = json.loads(payload)
    return [
        Event(
            item["type"],
            item.get("chat_id"),
            item.get("data") or {},
            audience_of(item.get("audience") or {}),
            item.get("seq"),
        )
        for item in items
    ]


class RedisEventBus:
    """The EventBus for several processes: see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "msgcenter",
        retry_base_seconds: float = 0.5,
        retry_max_seconds: float = 10.0,
    ) -> None:
        self.channel = f"{prefix}:events"
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self._redis = redis_client(url)
        self._local = MemoryEventBus()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._lost = False  # events may have been missed since the last subscription
        self._down_since: float | None = None
        self._error = ""
        self.reconnects = 0
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._subscribed.is_set()

    async def start(self) -> None:
        if self._task is not None:
            return
        self._task = asyncio.get_running_loop().create_task(self._read(), name="redis-events")
        try:
            async with asyncio.timeout(CONNECT_WAIT):
                await self._subscribed.wait()
        except TimeoutError:
            log.warning("Redis event bus not connected yet (%s); retrying meanwhile", self._error)

    async def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        if self.connected:
            try:
                await self._redis.publish(self.channel, encode(events))
                return  # the reader hands them to the local subscriptions
            except (RedisError, OSError) as exc:
                log.warning("publishing %d events to Redis failed: %s", len(events), exc)
        # Redis is away: this process's listeners still get this process's events.
        await self._local.publish(events)

    def subscribe(self, max_pending: int = 1000) -> Subscription:
        return self._local.subscribe(max_pending)

    def watch(self, watcher: Watcher) -> None:
        self._local.watch(watcher)

    async def health(self) -> str:
        if self.connected:
            return "ok"
        since = time.strftime("%H:%M:%S", time.localtime(self._down_since or time.time()))
        raise BusDegraded(f"reconnecting to Redis since {since} ({self._error or 'starting'})")

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            # redis-py may swallow a cancellation mid-command; the flag ends the loop then.
            await asyncio.wait({task}, timeout=5)
        await self._local.close()
        await self._redis.aclose()

    # -- the reader -----------------------------------------------------------------------

    async def _read(self) -> None:
        failures = 0
        while not self._closing:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                await self._listen(pubsub)
            except (RedisError, OSError) as exc:
                failures = 1 if self.connected else failures + 1
                self._went_down(exc)
                delay = self.retry_base_seconds * 2 ** min(failures - 1, 8)
                await asyncio.sleep(min(delay, self.retry_max_seconds))
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await _close(pubsub)

    async def _listen(self, pubsub: PubSub) -> None:
        while not self._closing:
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            if message["type"] == "subscribe":
                # The first confirmation, or redis-py re-subscribed after reconnecting by
                # itself: in that case messages may have been missed in between.
                if self.connected:
                    self._lost = True
                self._came_up()
            elif message["type"] == "message":
                try:
                    events = decode(message["data"])
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("ignoring a malformed event batch on %s: %s", self.channel, exc)
                    continue
                await self._local.publish(events)

    def _came_up(self) -> None:
        if not self.connected and self._down_since is not None:
            log.info("Redis event bus connected again")
            self.reconnects += 1
        self._subscribed.set()
        self._down_since = None
        self._error = ""
        if self._lost:
            self._lost = False
            self._local.interrupt()  # listeners catch up from the event log

    def _went_down(self, exc: BaseException) -> None:
        self._error = f"{type(exc).__name__}: {exc}"[:200]
        if self.connected or self._down_since is None:
            log.warning("Redis event bus disconnected: %s", self._error)
            self._down_since = time.time()
        self._subscribed.clear()
        self._lost = True


async def _close(pubsub: PubSub) -> None:
    """``PubSub.aclose``, typed: redis 8.1 leaves it unannotated, 8.2 annotates it."""
    aclose: Callable[[], Awaitable[None]] = pubsub.aclose
    await aclose()
