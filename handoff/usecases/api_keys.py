"""API keys (docs/api.md, "API keys"): made and revoked by admins, looked up per request,
their last use recorded at most once a minute, their requests counted per minute.

A key is ``mck_`` and 32 random bytes (URL-safe base64). Only its SHA-256 is stored: with
256 bits of randomness nobody can guess a key from its hash, so a slow password hash
(argon2, made for short human passwords) would add nothing but milliseconds of CPU to every
request. The lookup by hash is one read of a unique index; nothing is cached, so a revoked
key fails at once in every process.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import timezone

from handoff.domain.errors import Invalid, NotFound
from handoff.domain.modes import Actor
from handoff.domain.sanitize import clean
from handoff.infra.writer import Unit, Writer
from handoff.read.views import Presenter
from handoff.usecases import audit
from storage.models import ApiKey, User

log = logging.getLogger(__name__)

PREFIX = "mck_"
# What a list shows of a key: "mck_" and its first 8 characters.
SHOWN_CHARS = len(PREFIX) + 8
# The longest bearer value taken for a key (a key is 47 characters).
MAX_KEY_CHARS = 128
SCOPES = ("chats:read", "messages:write", "contacts:write", "reports:read", "webhooks:write")
# The last use is written at most this often per key (seconds).
TOUCH_SECONDS = 60.0
MAX_NAME_CHARS = 100


def is_key(token: str) -> bool:
    """Whether a bearer value is an API key (a person's token is a JWT)."""
    return token.startswith(PREFIX)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyUse:
    """A key that authenticated a request: who it is (as an actor) and what it may do."""

    id: int
    name: str
    scopes: frozenset[str]

    @property
    def actor(self) -> Actor:
        return Actor.integration(self.id, self.name)


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class KeyRate:
    """Requests per key and minute, counted in this process (a token bucket: a key may
    spend ``per_minute`` at once, and gets them back evenly over a minute)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[int, tuple[float, float]] = {}  # key id -> (tokens, at)

    def take(self, key_id: int, now: float | None = None) -> None:
        """Count one request of ``key_id``; RateLimited (with the seconds to wait) when it
        has none left."""
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        tokens, at = self._buckets.get(key_id, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - at) * rate)
        if tokens < 1.0:
            self._buckets[key_id] = (tokens, now)
            raise RateLimited(max(1, math.ceil((1.0 - tokens) / rate)))
        self._buckets[key_id] = (tokens - 1.0, now)


class ApiKeys:
    """Makes, lists, revokes and authenticates keys."""

    def __init__(
        self,
        writer: Writer,
        presenter: Presenter,
        *,
        requests_per_minute: int = 600,
        clock: Callable[[], datetime] = timezone.now,
    ) -> None:
        self.writer = writer
        self.presenter = presenter
        self.clock = clock
        self.rate = KeyRate(requests_per_minute)
        self._touched: dict[int, float] = {}  # key id -> when its last use was written
        self._touching: set[asyncio.Task[None]] = set()

    async def create(self, actor: Actor, name: str, scopes: Sequence[str]) -> dict[str, Any]:
        """A new key: its view with ``key``, the only time the key is shown."""
        name = clean(name).strip()
        if not name or len(name) > MAX_NAME_CHARS:
            raise Invalid(f"name: 1 to {MAX_NAME_CHARS} characters", field="name")
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise Invalid(
                f"scopes: one or more of {', '.join(SCOPES)}", field="scopes", unknown=unknown
            )
        if len(set(scopes)) != len(scopes):
            raise Invalid("scopes: each once", field="scopes")
        key = PREFIX + secrets.token_urlsafe(32)

        async def operation(unit: Unit) -> ApiKey:
            row = await ApiKey.create(
                name=name,
                prefix=key[:SHOWN_CHARS],
                key_hash=digest(key),
                scopes=[scope for scope in SCOPES if scope in scopes],
                created_by_id=actor.user_id,
                created_at=self.clock(),
            )
            await audit.record(
                None, actor, audit.API_KEY_CREATED, api_key_id=row.id, name=name,
                scopes=row.scopes,
            )  # fmt: skip
            return row

        row = await self.writer.run(operation)
        return {"id": row.id, "key": key, **(await self._view(row))}

    async def list(self) -> list[dict[str, Any]]:
        rows = await ApiKey.all().order_by("-id").limit(1000)
        return [await self._view(row) for row in rows]

    async def revoke(self, actor: Actor, key_id: int) -> None:
        """The key stops working now (kept, as revoked, in the list)."""

        async def operation(unit: Unit) -> None:
            row = await ApiKey.get_or_none(id=key_id)
            if row is None:
                raise NotFound(f"no such API key: {key_id}")
            if row.revoked_at is not None:
                return
            row.revoked_at = self.clock()
            await row.save(update_fields=["revoked_at"])
            await audit.record(None, actor, audit.API_KEY_REVOKED, api_key_id=row.id, name=row.name)

        await self.writer.run(operation)

    async def authenticate(self, key: str) -> KeyUse | None:
        """The key in use, or None when there is no such key or it was revoked."""
        if len(key) > MAX_KEY_CHARS:
            return None
        row = (
            await ApiKey.filter(key_hash=digest(key), revoked_at=None)
            .first()
            .values("id", "name", "scopes")
        )
        if row is None:
            return None
        return KeyUse(row["id"], row["name"], frozenset(row["scopes"] or ()))

    def touch(self, key_id: int) -> None:
        """The key was used now: its ``last_used_at`` is written soon, off the request's
        path, unless it was written less than a minute ago (by this process)."""
        now = time.monotonic()
        if now - self._touched.get(key_id, -math.inf) < TOUCH_SECONDS:
            return
        self._touched[key_id] = now
        task = asyncio.get_running_loop().create_task(self._write_use(key_id, self.clock()))
        self._touching.add(task)
        task.add_done_callback(self._touching.discard)

    async def _write_use(self, key_id: int, at: datetime) -> None:
        async def operation(unit: Unit) -> None:
            await ApiKey.filter(id=key_id).update(last_used_at=at)

        try:
            await self.writer.run(operation)
        except Exception:  # a missed last use is logged, never the request's failure
            log.warning("recording the last use of API key %d failed", key_id, exc_info=True)
            self._touched.pop(key_id, None)  # the next request tries again

    async def drain(self) -> None:
        """Wait for the last uses being written (at shutdown, and in tests)."""
        while self._touching:
            await asyncio.gather(*list(self._touching), return_exceptions=True)

    async def _view(self, row: ApiKey) -> dict[str, Any]:
        by = None
        if row.created_by_id is not None:
            user = await User.get_or_none(id=row.created_by_id).only("id", "username")
            if user is not None:
                by = {"id": user.id, "username": user.username}
        return {
            "id": row.id,
            "name": row.name,
            "prefix": row.prefix,
            "scopes": list(row.scopes),
            "created_at": self.presenter.when(row.created_at),
            "created_by": by,
            "last_used_at": self.presenter.when(row.last_used_at),
            "revoked_at": self.presenter.when(row.revoked_at),
        }
