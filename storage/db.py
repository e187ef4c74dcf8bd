"""Database set-up: Tortoise configuration, migrations, opening and closing.

SQLite is the default (WAL mode, one connection); PostgreSQL is used when the
URL says ``postgres://``. Both get the same migrations from ``storage/migrations``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext
from tortoise.exceptions import DBConnectionError
from tortoise.exceptions import OperationalError as TortoiseOperationalError
from tortoise.migrations.api import migrate as tortoise_migrate

from storage.adapters import aiosqlite as aiosqlite_adapter
from storage.adapters import tortoise as tortoise_adapter
from storage.files import private_dir
from storage.postgres import caused_by
from storage.sqlite import private_database

log = logging.getLogger(__name__)

MODELS = ["storage.models"]
APP = "models"


# PostgreSQL: seconds to wait for a new connection and for a statement's answer (the
# defaults of storage.connect_timeout_seconds and storage.statement_timeout_seconds).
CONNECT_TIMEOUT = 5.0
STATEMENT_TIMEOUT = 15.0


def tortoise_config(
    url: str,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    statement_timeout: float | None = STATEMENT_TIMEOUT,
) -> dict[str, Any]:
    """The Tortoise config dict for a database URL, with our models and migrations.

    On PostgreSQL (Tortoise's engine, whose transactions survive a failed BEGIN:
    ``storage.postgres``), asyncpg gets a connect ``timeout`` and a ``command_timeout`` (None: no
    limit), unless the URL gives its own (``?timeout=5&command_timeout=15``): without them a
    silent network partition hangs every query, and whatever waits on one, for good.
    """
    connection = _normalise_url(url)
    if isinstance(connection, str):  # PostgreSQL
        connection = {**expand_db_url(connection), "engine": "storage.postgres"}
        credentials = connection["credentials"]
        credentials["timeout"] = float(credentials.get("timeout", connect_timeout))
        if "command_timeout" in credentials:
            credentials["command_timeout"] = float(credentials["command_timeout"])
        elif statement_timeout is not None:
            credentials["command_timeout"] = statement_timeout
    return {
        "connections": {"default": connection},
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


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for ``:memory:`` and other databases)."""
    if not is_sqlite(url):
        return None
    path = url[len("sqlite://") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def shown_url(url: str) -> str:
    """``url`` fit to print: the password (if any) replaced by ``***``, no query."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class DatabaseUnavailable(Exception):
    """The database could not be opened: the message names it (without its password) and
    what failed, in one line."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot open the database {shown_url(url)}: {reason}")
        self.url = url
        self.reason = reason


def _reason(exc: BaseException) -> str:
    """What went wrong opening a database, in a few words."""
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "connection refused (is PostgreSQL running, on that host and port?)"
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "no answer in time (is the host reachable?)"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f"{exc} (create it, e.g. createdb, or fix the URL)"
    if isinstance(
        exc, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError
    ):
        return f"{exc} (check the user and password in the URL)"
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.strerror.lower()}: {exc.filename}"
    cause = exc.__cause__
    if isinstance(exc, DBConnectionError | TortoiseOperationalError) and cause is not None:
        return _reason(cause)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text


# What a query raises when the database does not answer (a timeout) or cannot be reached.
UNREACHABLE: tuple[type[BaseException], ...] = (
    TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    DBConnectionError,
)


def unreachable(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says the database did not answer or cannot be
    reached: worth trying again later, unlike a failing statement."""
    return caused_by(exc, UNREACHABLE)


# What opening a database raises when the server, the database or the login is wrong.
_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidPasswordError,
    asyncpg.InterfaceError,
    sqlite3.OperationalError,
    DBConnectionError,
    TortoiseOperationalError,
)


@asynccontextmanager
async def _opening(url: str) -> AsyncIterator[None]:
    """Turn a failure to connect to ``url`` into :class:`DatabaseUnavailable`."""
    try:
        yield
    except _UNAVAILABLE as exc:
        sql_error = isinstance(exc, sqlite3.OperationalError | TortoiseOperationalError)
        if sql_error and "unable to open database" not in str(exc):
            raise  # a statement failed, not the opening: keep the traceback
        raise DatabaseUnavailable(url, _reason(exc)) from exc


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file so a fresh checkout starts without set-up (0700:
    the database is nobody else's business), and the file itself (0600). An OSError says
    either cannot be made."""
    if not is_sqlite(url):
        return
    path = url[len("sqlite://") :].split("?", 1)[0]
    if path and path != ":memory:" and not path.startswith("file:"):
        private_dir(Path(path).parent)
        private_database(path)


# For `tortoise makemigrations` (pyproject [tool.tortoise]): models only, the URL is not used.
TORTOISE_ORM = tortoise_config("sqlite://data/makemigrations.db")


MIGRATION_LOCK = 0x6D6967  # "mig": one process at a time applies migrations (PostgreSQL)


async def migrate(
    url: str, *, connect_timeout: float = CONNECT_TIMEOUT, target: str | None = None
) -> list[str]:
    """Apply every pending migration to the database at ``url``; the names of those applied.
    ``target`` (e.g. ``"models.0009_agent_day"``): up to that migration only (tests of a
    migration on a database made before it).

    Statements have no time limit here (an index on a big table takes what it takes);
    connecting does (``connect_timeout``).

    On PostgreSQL several processes may start at once: each waits for a session
    advisory lock, so one applies the migrations and the others then find nothing to do.
    A database that cannot be reached raises :class:`DatabaseUnavailable`.
    """
    applied: list[str] = []

    def progress(event: str, _app: str, name: str) -> None:
        if event == "apply_done":
            applied.append(name)

    if is_sqlite(url):
        async with _opening(url):
            ensure_sqlite_dir(url)
            async with TortoiseContext():
                await tortoise_migrate(
                    config=tortoise_config(url), target=target, progress=progress
                )
        return applied
    config = tortoise_config(url, connect_timeout=connect_timeout, statement_timeout=None)
    async with _opening(url):
        holder = await asyncpg.connect(asyncpg_dsn(url), timeout=connect_timeout)
    try:
        await holder.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
        async with TortoiseContext():
            await tortoise_migrate(config=config, target=target, progress=progress)
    finally:
        await holder.close()  # ends the session: the lock goes with it
    return applied


def asyncpg_dsn(url: str) -> str:
    """asyncpg takes libpq's parameters only; Tortoise's own (min_size, ...) are dropped."""
    parts = urlsplit(url)
    keep = {"sslmode", "ssl", "sslrootcert", "sslcert", "sslkey", "connect_timeout"}
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k in keep])
    return urlunsplit(("postgresql", parts.netloc, parts.path, query, ""))


class Database:
    """An open Tortoise context for one database; visible to tasks created after ``open``."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        statement_timeout: float = STATEMENT_TIMEOUT,
    ) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self._context: TortoiseContext | None = None

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    async def open(self, *, run_migrations: bool = True) -> None:
        """Migrate (unless told not to), set Tortoise up and connect. First the adapters check
        that the installed Tortoise and aiosqlite have the internals they use: a mismatched
        install stops here, naming what is missing (``storage.adapters``)."""
        tortoise_adapter.check()
        aiosqlite_adapter.check()
        if run_migrations:
            await migrate(self.url, connect_timeout=self.connect_timeout)
        context = TortoiseContext()
        context.__enter__()
        try:
            async with _opening(self.url):
                ensure_sqlite_dir(self.url)
                config = tortoise_config(
                    self.url,
                    connect_timeout=self.connect_timeout,
                    statement_timeout=self.statement_timeout,
                )
                await context.init(config=config)
                # Connect now, before any task queries: Tortoise connects lazily, under the
                # connection's lock, and a task cancelled while connecting (a start-up that
                # fails and stops at once) would keep that lock for good, hanging shutdown.
                await self.ping()
        except BaseException:
            with contextlib.suppress(Exception):
                await context.close_connections()
            context.__exit__(None, None, None)
            raise
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
