"""Database set-up: Tortoise configuration, migrations, opening and closing.

SQLite is the default (WAL mode, one connection); PostgreSQL is used when the
URL says ``postgres://``. Both get the same migrations from ``storage/migrations``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate as tortoise_migrate

log = logging.getLogger(__name__)

MODELS = ["storage.models"]
APP = "models"


def tortoise_config(url: str) -> dict[str, Any]:
    """The Tortoise config dict for a database URL, with our models and migrations."""
    return {
        "connections": {"default": _normalise_url(url)},
        "apps": {
            APP: {
                "models": MODELS,
                "default_connection": "default",
                "migrations": "storage.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _normalise_url(url: str) -> str | dict[str, Any]:
    if url.startswith("postgresql://"):
        return "postgres://" + url[len("postgresql://") :]
    if is_sqlite(url):  # Tortoise's engine, opened for the event loop's thread too
        return {**expand_db_url(url), "engine": "storage.sqlite"}
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite://")


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file so a fresh checkout starts without set-up."""
    if not is_sqlite(url):
        return
    path = url[len("sqlite://") :].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


# For `tortoise makemigrations` (pyproject [tool.tortoise]): models only, the URL is not used.
TORTOISE_ORM = tortoise_config("sqlite://data/makemigrations.db")


MIGRATION_LOCK = 0x6D6967  # "mig": one process at a time applies migrations (PostgreSQL)


async def migrate(url: str) -> None:
    """Apply every pending migration to the database at ``url``.

    On PostgreSQL several processes may start at once: each waits for a session
    advisory lock, so one applies the migrations and the others then find nothing to do.
    """
    ensure_sqlite_dir(url)
    if is_sqlite(url):
        async with TortoiseContext():
            await tortoise_migrate(config=tortoise_config(url))
        return
    holder = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await holder.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
        async with TortoiseContext():
            await tortoise_migrate(config=tortoise_config(url))
    finally:
        await holder.close()  # ends the session: the lock goes with it


def asyncpg_dsn(url: str) -> str:
    """asyncpg takes libpq's parameters only; Tortoise's own (min_size, ...) are dropped."""
    parts = urlsplit(url)
    keep = {"sslmode", "ssl", "sslrootcert", "sslcert", "sslkey", "connect_timeout"}
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k in keep])
    return urlunsplit(("postgresql", parts.netloc, parts.path, query, ""))


class Database:
    """An open Tortoise context for one database; visible to tasks created after ``open``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._context: TortoiseContext | None = None

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    async def open(self, *, run_migrations: bool = True) -> None:
        if run_migrations:
            await migrate(self.url)
        ensure_sqlite_dir(self.url)
        context = TortoiseContext()
        context.__enter__()
        await context.init(config=tortoise_config(self.url))
        self._context = context
        log.info("database open (%s)", self.url.split("://", 1)[0])

    async def close(self) -> None:
        if self._context is not None:
            await self._context.close_connections()
            try:
                self._context.__exit__(None, None, None)
            except ValueError:
                # Closed from another task than the one that opened it (aiohttp cleanup):
                # the connections are closed, which is what matters.
                log.debug("tortoise context closed outside its opening task")
            self._context = None

    async def ping(self) -> bool:
        """True when a trivial query succeeds."""
        connection = Tortoise.get_connection("default")
        await connection.execute_query("SELECT 1")
        return True
