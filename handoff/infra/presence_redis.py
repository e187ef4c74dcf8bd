"""Presence shared by several processes, in Redis: ``online()`` is the union of all of them.

Every open socket and every heartbeat is a member of one sorted set
(``<prefix>:presence``) whose score is the moment it expires, taken from the
Redis server's clock (inside Lua scripts), so the processes' clocks need not
agree. Each process renews its own sockets every few seconds; those of a
process that died expire after ``socket_ttl``. What was last published lives
in ``<prefix>:presence:announced``, so one change is published by one process.

Redis being away is not an error here: each process keeps its own sockets and
heartbeats and, meanwhile, answers from them alone; the next renewal puts them
back into Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

from redis.exceptions import RedisError

from handoff.infra.bus_redis import redis_client

log = logging.getLogger(__name__)

SOCKET_TTL = 30.0  # seconds a socket stays online unless its process renews it
RENEW_EVERY = 10.0
T = TypeVar("T")

_ADD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) end
return #ARGV - 1
"""
_ONLINE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
_ANNOUNCE = """
local now, was, came, went = {}, {}, {}, {}
for i = 1, #ARGV do now[ARGV[i]] = true end
for _, v in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  was[v] = true
  if not now[v] then table.insert(went, v) end
end
for i = 1, #ARGV do if not was[ARGV[i]] then table.insert(came, ARGV[i]) end end
if #went > 0 then redis.call('SREM', KEYS[1], unpack(went)) end
if #came > 0 then redis.call('SADD', KEYS[1], unpack(came)) end
return {came, went}
"""


class RedisPresence:
    """The PresenceStore for several processes: see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "msgcenter",
        socket_ttl: float = SOCKET_TTL,
        renew_every: float = RENEW_EVERY,
    ) -> None:
        self.key = f"{prefix}:presence"
        self.announced_key = f"{prefix}:presence:announced"
        self.socket_ttl = socket_ttl
        self.renew_every = renew_every
        self._redis = redis_client(url)
        self._add = self._redis.register_script(_ADD)
        self._online = self._redis.register_script(_ONLINE)
        self._announce = self._redis.register_script(_ANNOUNCE)
        self._sockets: dict[str, int] = {}  # member -> user id: this process's sockets
        self._beats: dict[int, float] = {}  # user id -> monotonic deadline (heartbeats here)
        self._announced: set[int] = set()  # used only while Redis is away
        self._renewal: asyncio.Task[None] | None = None
        self._failing = False  # the last call to Redis failed
        self._dirty = False  # a call failed since the last renewal: restore what Redis lacks
        self._closing = False

    async def connect(self, user_id: int, connection: str) -> None:
        member = f"{user_id}:{connection}"
        self._sockets[member] = user_id
        self._start_renewal()
        await self._try(self._add(keys=[self.key], args=[_ms(self.socket_ttl), member]))

    async def disconnect(self, user_id: int, connection: str) -> None:
        member = f"{user_id}:{connection}"
        self._sockets.pop(member, None)
        await self._try(self._redis.zrem(self.key, member))

    async def heartbeat(self, user_id: int, ttl: float) -> None:
        self._beats[user_id] = time.monotonic() + ttl
        self._start_renewal()
        await self._try(self._add(keys=[self.key], args=[_ms(ttl), f"{user_id}:hb"]))

    async def online(self) -> set[int]:
        members = await self._try(self._online(keys=[self.key]))
        if members is None:
            return self._local_online()
        return {int(member.partition(":")[0]) for member in members}

    async def announce(self, online: set[int]) -> tuple[set[int], set[int]]:
        answer = await self._try(
            self._announce(keys=[self.announced_key], args=[str(u) for u in sorted(online)])
        )
        if answer is None:
            came, went = online - self._announced, self._announced - online
        else:
            came, went = ({int(u) for u in part} for part in answer)
        self._announced = set(online)
        return came, went

    async def close(self) -> None:
        self._closing = True
        if self._renewal is not None:
            task, self._renewal = self._renewal, None
            task.cancel()
            # redis-py may swallow a cancellation mid-command; the flag ends the loop then.
            await asyncio.wait({task}, timeout=5)
        if self._sockets:  # this process's sockets go offline now, not after the TTL
            await self._try(self._redis.zrem(self.key, *self._sockets))
        self._sockets.clear()
        await self._redis.aclose()

    # -- internals ------------------------------------------------------------------------

    def _local_online(self) -> set[int]:
        now = time.monotonic()
        beating = {user for user, until in self._beats.items() if until > now}
        return set(self._sockets.values()) | beating

    def _start_renewal(self) -> None:
        if self._renewal is None and not self._closing:
            self._renewal = asyncio.get_running_loop().create_task(
                self._renew(), name="presence-renewal"
            )

    async def _renew(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.renew_every)
            await self.renew()

    async def renew(self) -> None:
        """Push this process's sockets to Redis again with a fresh expiry (and, after an
        outage, the heartbeats it took meanwhile)."""
        restore, self._dirty = self._dirty, False
        if self._sockets:
            members = list(self._sockets)
            await self._try(self._add(keys=[self.key], args=[_ms(self.socket_ttl), *members]))
        now = time.monotonic()
        for user_id, until in list(self._beats.items()):
            if until <= now:
                del self._beats[user_id]
            elif restore:
                beat = [_ms(until - now), f"{user_id}:hb"]
                await self._try(self._add(keys=[self.key], args=beat))

    async def _try(self, call: Awaitable[T]) -> T | None:
        """The call's answer, or None when Redis is away (logged once per outage)."""
        try:
            answer = await call
        except (RedisError, OSError) as exc:
            if not self._failing:
                log.warning("presence: Redis unavailable (%s); this process answers alone", exc)
            self._failing = self._dirty = True
            return None
        if self._failing:
            log.info("presence: Redis is back")
            self._failing = False
        return answer


def _ms(seconds: float) -> str:
    return str(max(int(seconds * 1000), 1))
