"""The dashboard API as an aiohttp application (the factory the service mounts)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from dashboard_api import (
    api_channels,
    api_keys,
    attachments,
    canned,
    chats,
    contact_merge,
    contacts,
    copilot,
    kb,
    labels,
    notifications,
    reports,
    snooze,
    system,
    templates,
    users,
    webhooks,
    widget,
    ws,
)
from dashboard_api.adapters import aiohttp as aiohttp_adapter
from dashboard_api.console import setup_console
from dashboard_api.csat import setup_csat_page
from dashboard_api.errors import error_middleware
from dashboard_api.openapi import build_openapi
from dashboard_api.routing import Route, to_aiohttp
from dashboard_api.system import OPENAPI
from dashboard_api.typedefs import CONTEXT, ApiContext

ROUTES: list[Route] = api_keys.scoped(
    [
        *users.ROUTES,
        *chats.ROUTES,
        *labels.ROUTES,
        # Before the contacts module's /contacts/{contact_id}: /contacts/suggestions is a path.
        *contact_merge.ROUTES,
        *snooze.ROUTES,
        *copilot.ROUTES,
        *attachments.ROUTES,
        *templates.ROUTES,
        *canned.ROUTES,
        *notifications.ROUTES,
        *contacts.ROUTES,
        *reports.ROUTES,
        *kb.ROUTES,
        *api_keys.ROUTES,
        *api_channels.ROUTES,
        *webhooks.ROUTES,
        *ws.ROUTES,
        *widget.ROUTES,
        *system.ROUTES,
    ]
)


def cors_middleware(origins: Sequence[str]) -> Middleware:
    """Lets the listed browser origins (a dashboard served from elsewhere) call the API."""
    allowed = set(origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin not in allowed:
            return await handler(request)
        headers = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, DELETE, OPTIONS"
            headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            headers["Access-Control-Max-Age"] = "600"
            return web.Response(status=204, headers=headers)
        response = await handler(request)
        response.headers.update(headers)
        return response

    return middleware


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def create_api(
    context: ApiContext,
    *,
    client_max_size: int = 1024 * 1024,
    cors_origins: Sequence[str] = (),
    extra_routes: Iterable[Route] = (),
    dashboard: bool = True,
    extra_middlewares: Sequence[Middleware] = (),
) -> web.Application:
    """The API app: routes, error handling, and ``context`` for the handlers.

    Without ``dashboard`` (a process that runs no ``api`` role) only the system routes
    (health, OpenAPI) and ``extra_routes`` are served. First the adapter checks that the
    installed aiohttp writes WebSocket frames as ``dashboard_api.adapters.aiohttp`` expects.
    """
    aiohttp_adapter.check()
    middlewares: list[Middleware] = [*extra_middlewares, security_headers, error_middleware]
    if cors_origins:
        middlewares.insert(0, cors_middleware(cors_origins))
    app = web.Application(middlewares=middlewares, client_max_size=client_max_size)
    app[CONTEXT] = context
    ws.setup_websocket(app)
    routes = [*(ROUTES if dashboard else system.ROUTES), *extra_routes]
    app.add_routes([to_aiohttp(route) for route in routes])
    app[OPENAPI] = build_openapi(routes)
    setup_console(app)  # the web console at / (not API: left out of the OpenAPI document)
    if dashboard:  # the survey links' public page (its signed token is its key)
        setup_csat_page(app)
    return app
