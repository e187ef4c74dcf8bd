"""Health and the OpenAPI document."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from dashboard_api import schemas as s
from dashboard_api.routing import Call, Route, json_response
from handoff.events import BusDegraded

log = logging.getLogger(__name__)


async def healthz(call: Call) -> web.Response:
    """Each part's status; 503 when one of them fails.

    A part that works in part (the Redis event bus reconnecting: live events from other
    processes pause, dashboards catch up from the log) makes the status ``degraded``
    but keeps 200, so a load balancer does not take every process out at once.
    """
    checks: dict[str, str] = {}
    healthy = serving = True
    for name, check in call.context.health.items():
        try:
            async with asyncio.timeout(2):
                checks[name] = await check()
        except BusDegraded as exc:
            checks[name] = f"degraded: {exc}"
            healthy = False
        except Exception as exc:  # noqa: BLE001 - reported as that part's status
            log.warning("health check %s failed: %s", name, exc)
            checks[name] = f"error: {type(exc).__name__}"
            healthy = serving = False
    body = {"status": "ok" if healthy else "degraded", "checks": checks}
    return json_response(body, status=200 if serving else 503)


async def openapi(call: Call) -> web.Response:
    return json_response(call.request.app[OPENAPI])


OPENAPI = web.AppKey("msgcenter.openapi", dict)

ROUTES = [
    Route("GET", "/healthz", healthz, "Service health: database, event bus, connectors.",
          "system", response=s.Health, access="public",
          responses={503: "a part is failing (200 with status degraded: the event bus "
                          "reconnects, the rest serves)"}),
    Route("GET", "/openapi.json", openapi, "This API's OpenAPI 3.1 description.", "system"),
]  # fmt: skip
