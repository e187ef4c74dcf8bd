"""Shared fixtures: a real database per test (SQLite file, and PostgreSQL when configured),
the whole service as an aiohttp app, and a small API client that logs in."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio
from tortoise.backends.base.executor import EXECUTOR_CACHE

from connectors.mock.openai import MockOpenAI
from connectors.mock.smtp import MockSmtp
from connectors.mock.whatsapp import MockWhatsApp
from msgcenter import demo
from msgcenter.cli import new_event_loop
from msgcenter.service import SERVICE, Service, build_app
from msgcenter.settings import ServerSettings, Settings
from storage.db import migrate
from tests.redis_support import REDIS_URL, RedisProxy
from tests.support import Api, ClientFactory, make_settings
from tests.whatsapp_support import WhatsApp, running_mock, start_whatsapp

POSTGRES_URL = os.environ.get("MSGCENTER_TEST_POSTGRES_URL")


def _backends() -> list[Any]:
    return [
        "sqlite",
        pytest.param(
            "postgres",
            marks=pytest.mark.skipif(
                not POSTGRES_URL, reason="MSGCENTER_TEST_POSTGRES_URL is not set"
            ),
        ),
    ]


@pytest.fixture(params=_backends())
async def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A fresh database with every migration applied (a copy of one migrated once per
    session), or an empty one for a test marked ``empty_database``: a SQLite file, or a new
    PostgreSQL database dropped after."""
    # Tortoise caches insert SQL per connection name, not per dialect; tests switch dialects.
    EXECUTOR_CACHE.clear()
    empty = request.node.get_closest_marker("empty_database") is not None
    if request.param == "sqlite":
        yield await sqlite_url(tmp_path, tmp_path_factory, empty=empty)
        return
    assert POSTGRES_URL
    name = f"msgcenter_test_{uuid.uuid4().hex[:12]}"
    template = "" if empty else f' TEMPLATE "{await _postgres_template()}"'
    await _postgres(f'CREATE DATABASE "{name}"{template}')
    yield _postgres_url(name)
    await _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Migrated once per session: copying a database is much cheaper than migrating one per test.
_templates: dict[str, Any] = {}


async def sqlite_url(
    tmp_path: Path, factory: pytest.TempPathFactory, *, empty: bool = False
) -> str:
    """A fresh SQLite file in ``tmp_path``: migrated (a copy of the template) unless ``empty``."""
    path = tmp_path / "msgcenter.db"
    if not empty:
        shutil.copyfile(await _sqlite_template(factory), path)
    return f"sqlite://{path}"


async def _sqlite_template(factory: pytest.TempPathFactory) -> Path:
    if "sqlite" not in _templates:
        path = factory.mktemp("template") / "msgcenter.db"
        await migrate(f"sqlite://{path}")
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file itself
        _templates["sqlite"] = path
    path: Path = _templates["sqlite"]
    return path


async def _postgres_template() -> str:
    if "postgres" not in _templates:
        name = f"msgcenter_template_{uuid.uuid4().hex[:12]}"
        await _postgres(f'CREATE DATABASE "{name}"')
        await migrate(_postgres_url(name))
        _templates["postgres"] = name
    name: str = _templates["postgres"]
    return name


def _postgres_url(name: str) -> str:
    assert POSTGRES_URL
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{name}"


async def _postgres(statement: str) -> None:
    assert POSTGRES_URL
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


@pytest.fixture(scope="session", autouse=True)
def _drop_templates() -> Iterator[None]:
    yield
    name = _templates.pop("postgres", None)
    if name is not None:  # every test's event loop is closed by now
        asyncio.run(_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path / "data")


@pytest.fixture
async def anon(settings: Settings, aiohttp_client: ClientFactory) -> Api:
    """The service with the seed's demo users and chats, and no token.

    ``settings`` (and so the database) comes first: torn down last, after the service.
    """
    client = await aiohttp_client(build_app(settings))
    service: Service = client.app[SERVICE]
    users = await demo.seed_users(service.core.staff)
    await demo.seed_chats(users[1], settings.bot)
    return Api(client)


@pytest.fixture
async def admin(anon: Api) -> Api:
    return await anon.login("admin", "admin123")


@pytest.fixture
async def agent(anon: Api) -> Api:
    return await anon.login("agent", "agent123")


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every test runs on the event loop the service runs on (``server.event_loop``)."""
    kind = ServerSettings.model_fields["event_loop"].default
    return {kind: functools.partial(new_event_loop, kind)}


# .ci/run sets MSGCENTER_TEST_REQUIRE_SERVICES: there, a skipped test is a failure (the
# PostgreSQL, Redis and browser tests must run in CI, not quietly skip).
REQUIRE_SERVICES = bool(os.environ.get("MSGCENTER_TEST_REQUIRE_SERVICES"))
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if REQUIRE_SERVICES and report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped:
        print(f"\n{len(_skipped)} tests skipped where CI requires them to run:")
        for nodeid in _skipped[:20]:
            print(f"  {nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def redis_url() -> str:
    """MSGCENTER_TEST_REDIS_URL (the test is skipped without it)."""
    if not REDIS_URL:
        pytest.skip("MSGCENTER_TEST_REDIS_URL is not set")
    return REDIS_URL


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key and channel prefix of this test's own; its keys are deleted after."""
    prefix = f"msgcenter-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_proxy(redis_url: str) -> AsyncIterator[RedisProxy]:
    proxy = RedisProxy(redis_url)
    await proxy.start()
    yield proxy
    await proxy.cut()


@pytest.fixture
async def mock() -> AsyncIterator[MockWhatsApp]:
    """The mock WhatsApp Cloud API on its own socket (test_telegram.py has its own ``mock``)."""
    async for running in running_mock():
        yield running


@pytest.fixture
async def wa(
    mock: MockWhatsApp, db_url: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> WhatsApp:
    """The service with its WhatsApp channel pointed at ``mock``, and clients for both."""
    # In this order, the service stops before its database is dropped and the mock last.
    return await start_whatsapp(mock, aiohttp_client, db_url, tmp_path)


@pytest.fixture
async def model() -> AsyncIterator[MockOpenAI]:
    """The OpenAI-compatible mock model on 127.0.0.1, without a key (extractive unless a
    test scripts it)."""
    server = MockOpenAI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def relay() -> AsyncIterator[MockSmtp]:
    """The mock SMTP relay (outbound mail) on 127.0.0.1."""
    mock = MockSmtp()
    await mock.start()
    yield mock
    await mock.stop()
