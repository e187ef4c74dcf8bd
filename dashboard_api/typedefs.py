"""Typed application keys and what the API handlers share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from dashboard_api.auth import LoginThrottle, Tokens
from handoff.core import Core
from storage.blobs import Blobs
from storage.files import FileStore

# A named check for /healthz: returns a short status ("ok", "polling", ...) or raises
# (Unhealthy: that status, and /healthz answers 503; Degraded: "degraded: <why>", and 200).
HealthCheck = Callable[[], Awaitable[str]]


class Degraded(Exception):
    """A health check's finding that the part works in part, or not, while the rest of the
    service serves (e.g. the file bucket: messages flow, files wait): /healthz stays 200."""


class Unhealthy(Exception):
    """A health check's finding that the part fails, in a word or two (e.g. "low")."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(slots=True)
class ApiContext:
    core: Core
    tokens: Tokens
    throttle: LoginThrottle
    health: dict[str, HealthCheck] = field(default_factory=dict)
    # The file store of files customers sent (attachments carry its ids); None: none kept.
    files: FileStore | None = None
    # The blob store (storage.blobs): every file kept by content (attachments' sha256).
    blobs: Blobs | None = None


CONTEXT = web.AppKey("msgcenter.api", ApiContext)
