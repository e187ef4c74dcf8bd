"""Typed application keys and what the API handlers share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from dashboard_api.auth import LoginThrottle, Tokens
from handoff.core import Core
from storage.files import FileStore

# A named check for /healthz: returns a short status ("ok", "polling", ...) or raises.
HealthCheck = Callable[[], Awaitable[str]]


@dataclass(slots=True)
class ApiContext:
    core: Core
    tokens: Tokens
    throttle: LoginThrottle
    health: dict[str, HealthCheck] = field(default_factory=dict)
    # The file store of files customers sent (attachments carry its ids); None: none kept.
    files: FileStore | None = None


CONTEXT = web.AppKey("msgcenter.api", ApiContext)
