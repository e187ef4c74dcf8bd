"""The composition root: settings in, a running service out.

``build_app(settings)`` returns the aiohttp application with the dashboard API
and everything it needs opened in ``cleanup_ctx`` order: the database (with
migrations), the domain core, then whatever else is configured.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field

from aiohttp import web

from bot import Bot, BotLoadError, load_bot
from connectors.base import Connector
from dashboard_api.app import create_api
from dashboard_api.auth import LoginThrottle, Tokens, load_or_create_secret
from dashboard_api.typedefs import ApiContext, HealthCheck
from handoff.core import Core, CoreSink
from handoff.events import MemoryEventBus
from handoff.staff import Passwords
from msgcenter.channels import add_web_routes, build_connectors, running
from msgcenter.settings import Settings, SettingsError
from storage.db import Database, is_sqlite

log = logging.getLogger(__name__)


# A part of the service that opens after the core and closes before it.
Part = Callable[["Service"], AbstractAsyncContextManager[None]]


@dataclass(slots=True)
class Service:
    settings: Settings
    database: Database
    core: Core
    api: ApiContext
    parts: list[Part] = field(default_factory=list)


SERVICE = web.AppKey("msgcenter.service", Service)


def build_service(settings: Settings) -> Service:
    if not settings.events.url.startswith("memory://"):
        raise ValueError(f"events.url: {settings.events.url!r} is not supported yet")
    passwords = Passwords(
        time_cost=settings.auth.argon2_time_cost, memory_kib=settings.auth.argon2_memory_kib
    )
    core = Core.build(
        MemoryEventBus(),
        passwords,
        timezone=settings.server.timezone,
        default_capacity=settings.handoff.default_capacity,
        postgres=not is_sqlite(settings.storage.url),
        auto_assign=settings.handoff.auto_assign,
        bot=_load_bot(settings),
        handoff_message=lambda chat: settings.bot.handoff_text(
            customer_name=chat.customer_name, channel=str(chat.channel)
        ),
    )
    secret = load_or_create_secret(
        settings.auth.jwt_secret.get_secret_value() if settings.auth.jwt_secret else None,
        settings.storage.data_dir,
    )
    api = ApiContext(
        core=core,
        tokens=Tokens(secret, settings.auth.token_ttl_minutes),
        throttle=LoginThrottle(
            settings.auth.login_max_failures, settings.auth.login_window_seconds
        ),
        files_dir=settings.storage.data_dir,
    )
    database = Database(settings.storage.url)
    api.health["database"] = _database_check(database)
    return Service(settings, database, core, api)


def _load_bot(settings: Settings) -> Bot:
    try:
        return load_bot(settings.bot.engine, settings.bot)
    except BotLoadError as exc:
        raise SettingsError(str(exc)) from exc


def _database_check(database: Database) -> HealthCheck:
    async def check() -> str:
        await database.ping()
        return "ok"

    return check


def build_app(settings: Settings, service: Service | None = None) -> web.Application:
    """The whole service as one aiohttp application."""
    service = service or build_service(settings)
    app = create_api(
        service.api,
        client_max_size=settings.server.client_max_size,
        cors_origins=settings.server.cors_origins,
    )
    app[SERVICE] = service
    connectors = build_connectors(settings, CoreSink(service.core))
    add_web_routes(app, connectors)
    for connector in connectors:
        service.api.health[connector.channel.lower()] = _connector_check(connector)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        core = service.core
        await service.database.open()
        core.start()
        async with AsyncExitStack() as stack:
            stack.push_async_callback(service.database.close)
            stack.push_async_callback(core.bus.close)
            stack.push_async_callback(core.stop)
            await stack.enter_async_context(running(connectors))
            for connector in connectors:
                core.add_connector(connector)
            core.outbox.start()
            for part in service.parts:
                await stack.enter_async_context(part(service))
            yield

    app.cleanup_ctx.append(lifecycle)
    return app


def _connector_check(connector: Connector) -> HealthCheck:
    async def check() -> str:
        health = getattr(connector, "health", None)
        return str(await health()) if health is not None else "ok"

    return check
