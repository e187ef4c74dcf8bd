"""The Redis event bus and Redis presence: what one process publishes, every process sees;
a Redis outage degrades, crashes nothing, and listeners catch up after it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from connectors.base import InboundMessage
from handoff.domain.events import Audience, Event
from handoff.infra.bus import BusDegraded, Subscription
from handoff.infra.bus_redis import RedisEventBus
from handoff.infra.presence_redis import RedisPresence
from msgcenter import demo
from msgcenter.service import SERVICE, Service, build_app
from storage.models import EventRecord
from tests.redis_support import RedisProxy
from tests.support import Api, ClientFactory, make_settings

T = TypeVar("T")


async def _until(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], within: float = 5.0
) -> T:
    """``probe()`` once ``done`` holds for what it returns; fails after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not done(value := await probe()):
        assert loop.time() < deadline, value
        await asyncio.sleep(0.02)
    return value


def _event(seq: int, chat_id: int = 1, agent: int | None = None) -> Event:
    audience = Audience(agent_ids=frozenset({agent})) if agent else Audience(queue=True)
    return Event(
        "message.created", chat_id, {"message": {"text": "Halo ✓", "n": seq}}, audience, seq
    )


async def _got(subscription: Subscription, within: float = 2.0) -> Event | None:
    return await asyncio.wait_for(subscription.get(), timeout=within)


@pytest.fixture
async def two_buses(redis_url: str, redis_prefix: str) -> AsyncIterator[tuple[RedisEventBus, ...]]:
    buses = (
        RedisEventBus(redis_url, prefix=redis_prefix),
        RedisEventBus(redis_url, prefix=redis_prefix),
    )
    for bus in buses:
        await bus.start()
    yield buses
    for bus in buses:
        await bus.close()


async def test_an_event_published_in_one_process_reaches_both(
    two_buses: tuple[RedisEventBus, RedisEventBus],
) -> None:
    a, b = two_buses
    at_a, at_b = a.subscribe(), b.subscribe()
    await a.publish([_event(1, agent=7), _event(2)])
    for subscription in (at_a, at_b):
        first, second = await _got(subscription), await _got(subscription)
        assert first == _event(1, agent=7)  # type, seq, chat, data and audience survive the trip
        assert second is not None and second.seq == 2 and second.audience.queue
    assert await a.health() == "ok"


async def test_another_deployment_on_the_same_redis_hears_nothing(
    redis_url: str, two_buses: tuple[RedisEventBus, RedisEventBus]
) -> None:
    a, b = two_buses
    other = RedisEventBus(redis_url, prefix="another-deployment-x")
    await other.start()
    try:
        listening, same_deployment = other.subscribe(), b.subscribe()
        await a.publish([_event(1)])
        heard = await _got(same_deployment)  # it went through Redis ...
        assert heard is not None and heard.seq == 1
        with pytest.raises(TimeoutError):  # ... and not to the other deployment
            await _got(listening, within=0.3)
    finally:
        await other.close()


async def test_a_slow_subscriber_is_dropped_like_in_memory(
    two_buses: tuple[RedisEventBus, RedisEventBus],
) -> None:
    a, b = two_buses
    slow, fine = b.subscribe(max_pending=2), b.subscribe()
    await a.publish([_event(n) for n in range(1, 6)])
    for n in range(1, 6):
        event = await _got(fine)
        assert event is not None and event.seq == n
    seen = [e async for e in slow]
    assert slow.overflowed and not slow.interrupted
    assert len(seen) <= 2


async def test_a_watcher_sees_every_process_events_before_the_subscribers(
    two_buses: tuple[RedisEventBus, RedisEventBus],
) -> None:
    """How a user's sessions end in every process (``dashboard_api.ws.Sockets.observe``)."""
    a, b = two_buses
    listening = b.subscribe()
    watched: list[tuple[int | None, bool]] = []
    b.watch(lambda events: watched.extend((e.seq, listening.ready() == []) for e in events))
    await a.publish([_event(1), _event(2)])
    got = await _got(listening)
    assert got is not None and got.seq == 1
    assert watched == [(1, True), (2, True)]  # seen before the subscription had them


async def test_a_redis_outage_degrades_then_listeners_are_told_to_catch_up(
    redis_proxy: RedisProxy, redis_url: str, redis_prefix: str
) -> None:
    here = RedisEventBus(redis_proxy.url, prefix=redis_prefix, retry_base_seconds=0.05)
    there = RedisEventBus(redis_url, prefix=redis_prefix)
    await here.start()
    await there.start()
    try:
        listening = here.subscribe()
        await redis_proxy.cut()
        assert await _wait_for(lambda: not here.connected)
        with pytest.raises(BusDegraded, match="reconnecting to Redis"):
            await here.health()
        # This process's own events still reach its listeners; nothing raises.
        await here.publish([_event(1)])
        event = await _got(listening)
        assert event is not None and event.seq == 1
        await there.publish([_event(2)])  # another process: missed while cut off
        await redis_proxy.restore()
        assert await _wait_for(lambda: here.connected, within=5)
        assert await _got(listening) is None and listening.interrupted  # catch up from the log
        assert await here.health() == "ok" and here.reconnects == 1
        again = here.subscribe()
        await there.publish([_event(3)])
        event = await _got(again)
        assert event is not None and event.seq == 3
    finally:
        await here.close()
        await there.close()


async def test_a_bus_started_while_redis_is_away_connects_later(
    redis_proxy: RedisProxy, redis_prefix: str
) -> None:
    await redis_proxy.cut()
    bus = RedisEventBus(redis_proxy.url, prefix=redis_prefix, retry_base_seconds=0.05)
    try:
        await bus.start()  # does not hang or raise: the service starts, degraded
        assert not bus.connected
        await redis_proxy.restore()
        assert await _wait_for(lambda: bus.connected, within=5)
    finally:
        await bus.close()


async def _wait_for(condition: object, within: float = 3.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if condition():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return False


# -- presence -------------------------------------------------------------------------------


@pytest.fixture
async def two_stores(redis_url: str, redis_prefix: str) -> AsyncIterator[tuple[RedisPresence, ...]]:
    stores = (
        RedisPresence(redis_url, prefix=redis_prefix),
        RedisPresence(redis_url, prefix=redis_prefix),
    )
    yield stores
    for store in stores:
        await store.close()


async def test_online_is_the_union_of_every_process(
    two_stores: tuple[RedisPresence, RedisPresence],
) -> None:
    a, b = two_stores
    await a.connect(1, "socket-a")
    await b.connect(2, "socket-b")
    await b.heartbeat(3, ttl=60)
    assert await a.online() == await b.online() == {1, 2, 3}
    await a.disconnect(1, "socket-a")
    assert await b.online() == {2, 3}


async def test_each_change_is_announced_by_one_process(
    two_stores: tuple[RedisPresence, RedisPresence],
) -> None:
    a, b = two_stores
    await a.connect(5, "x")
    online = await a.online()
    assert await a.announce(online) == ({5}, set())
    assert await b.announce(await b.online()) == (set(), set())  # already published
    await a.disconnect(5, "x")
    assert await b.announce(await b.online()) == (set(), {5})
    assert await a.announce(await a.online()) == (set(), set())


async def test_sockets_of_a_dead_process_expire(redis_url: str, redis_prefix: str) -> None:
    dead = RedisPresence(redis_url, prefix=redis_prefix, socket_ttl=0.3, renew_every=60)
    alive = RedisPresence(redis_url, prefix=redis_prefix, socket_ttl=0.3, renew_every=0.1)
    try:
        await dead.connect(1, "gone")
        await alive.connect(2, "here")
        assert await alive.online() == {1, 2}
        # The dead process renews nothing: its socket goes once its 0.3 s are up ...
        await _until(alive.online, lambda online: 1 not in online)
        await asyncio.sleep(0.3)  # ... while the live one's, renewed, stays twice as long
        assert await alive.online() == {2}
    finally:
        await alive.close()
        await dead._redis.aclose()


async def test_presence_answers_alone_while_redis_is_away(
    redis_proxy: RedisProxy, redis_prefix: str, redis_url: str
) -> None:
    store = RedisPresence(redis_proxy.url, prefix=redis_prefix, renew_every=0.1)
    other = RedisPresence(redis_url, prefix=redis_prefix)
    try:
        await other.connect(9, "elsewhere")
        await store.connect(1, "a")
        await redis_proxy.cut()
        await store.connect(2, "b")  # no exception: kept here
        await store.heartbeat(3, ttl=60)
        assert await store.online() == {1, 2, 3}
        await redis_proxy.restore()
        # The renewal puts what this process has back into Redis.
        await _until(other.online, lambda online: online == {1, 2, 3, 9})
    finally:
        await store.close()
        await other.close()


# -- the service on the Redis bus ------------------------------------------------------------


async def test_after_an_outage_a_dashboard_socket_catches_up_from_the_log(
    aiohttp_client: ClientFactory,
    db_url: str,
    tmp_path: Path,
    redis_proxy: RedisProxy,
    redis_prefix: str,
) -> None:
    settings = make_settings(
        db_url, tmp_path / "data", events={"url": redis_proxy.url, "prefix": redis_prefix}
    )
    client = await aiohttp_client(build_app(settings))
    service: Service = client.app[SERVICE]
    await demo.seed_users(service.core.staff)
    admin = await Api(client).login("admin", "admin123")
    ws = await client.ws_connect(f"/ws?token={admin.token}")
    await _frame(ws, "hello")
    customer = InboundMessage("WhatsApp", "62811", "w1", "Halo", "Budi", customer_phone="62811")
    received = await service.core.inbox.receive(customer)
    assert (await _frame(ws, "message.created"))["data"]["message"]["text"] == "Halo"

    await redis_proxy.cut()
    assert await _wait_for(lambda: not service.core.bus.connected)  # type: ignore[attr-defined]
    status, health = await admin.get("/healthz")
    assert status == 200 and health["status"] == "degraded"  # the API still serves
    assert health["checks"]["events"].startswith("degraded: reconnecting to Redis")
    # Meanwhile another process commits an event; its publication never reaches us.
    seq = await service.core.log.last_seq() + 1
    data = {"chat_id": received.chat_id, "unread": 0}
    audience = {"agents": [], "queue": False, "everyone": True}
    await EventRecord.create(seq=seq, type="chat.read", chat_id=received.chat_id, data=data,
                             audience=audience)  # fmt: skip

    await redis_proxy.restore()
    frame = await _frame(ws, "chat.read", within=5)
    assert (frame["seq"], frame["data"]) == (seq, data)
    status, health = await admin.get("/healthz")
    assert (status, health["checks"]["events"]) == (200, "ok")
    await service.core.inbox.receive(
        InboundMessage("WhatsApp", "62811", "w2", "lagi", "Budi", customer_phone="62811")
    )
    assert (await _frame(ws, "message.created"))["data"]["message"]["text"] == "lagi"
    await ws.close()


async def _frame(ws: aiohttp.ClientWebSocketResponse, kind: str, within: float = 2.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        left = max(deadline - asyncio.get_running_loop().time(), 0.01)
        message = await ws.receive(timeout=left)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        frame = json.loads(message.data)
        if frame["type"] == kind:
            return frame
