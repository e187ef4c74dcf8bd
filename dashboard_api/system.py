"""Health and the OpenAPI document."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from dashboard_api import schemas as s
from dashboard_api.routing import Call, Route, json_response
from dashboard_api.typedefs import Degraded, Unhealthy
from handoff.infra.bus import BusDegraded

log = logging.getLogger(__name__)


# Each check gets this long (run side by side): /healthz answers within a second, whatever
# hangs (a database behind a silent network partition answers nothing at all).
CHECK_SECONDS = 0.8

# Checks still running after their time (cancelled; a cancelled query may take a moment to
# let go of its connection): kept here until they end, so none is lost half-way.
_LATE: set[asyncio.Future[str]] = set()


async def healthz(call: Call) -> web.Response:
    """Each part's status; 503 when one of them fails.

    A part that works in part (the Redis event bus reconnecting: live events from other
    processes pause, dashboards catch up from the log; the file bucket not answering:
    messages flow, files wait) makes the status ``degraded`` but keeps 200, so a load
    balancer does not take every process out at once. A part that fails (``"database":
    "timeout"``, ``"disk": "low"``, ``"error: ..."``) makes it ``degraded`` with 503.
    """
    tasks: dict[str, asyncio.Future[str]] = {
        name: asyncio.ensure_future(check()) for name, check in call.context.health.items()
    }
    if tasks:
        await asyncio.wait(tasks.values(), timeout=CHECK_SECONDS)
    checks: dict[str, str] = {}
    healthy = serving = True
    for name, task in tasks.items():
        if not task.done():
            task.cancel()
            _LATE.add(task)
            task.add_done_callback(_forget)
            log.warning("health check %s did not answer within %.1f s", name, CHECK_SECONDS)
            checks[name] = "timeout"
            healthy = serving = False
            continue
        exc = task.exception()
        if exc is None:
            checks[name] = task.result()
        elif isinstance(exc, BusDegraded | Degraded):
            checks[name] = f"degraded: {exc}"
            healthy = False
        elif isinstance(exc, Unhealthy):
            checks[name] = exc.status
            healthy = serving = False
        else:
            log.warning("health check %s failed: %s", name, exc)
            checks[name] = f"error: {type(exc).__name__}"
            healthy = serving = False
    body = {"status": "ok" if healthy else "degraded", "checks": checks}
    return json_response(body, status=200 if serving else 503)


def _forget(task: asyncio.Future[str]) -> None:
    _LATE.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a late failure is not "never retrieved"


async def openapi(call: Call) -> web.Response:
    return json_response(call.request.app[OPENAPI])


OPENAPI = web.AppKey("msgcenter.openapi", dict)

ROUTES = [
    Route("GET", "/healthz", healthz, "Service health: database, event bus, connectors.",
          "system", response=s.Health, access="public",
          responses={503: "a part is failing, e.g. \"database\": \"timeout\" (no answer within "
                          "0.8 s) or \"disk\": \"low\" (200 with status degraded: the event "
                          "bus reconnects, the rest serves)"}),
    Route("GET", "/openapi.json", openapi, "This API's OpenAPI 3.1 description.", "system"),
]  # fmt: skip
