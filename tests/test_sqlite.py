"""SQLite: the writer's transaction runs its statements on the event loop's own thread (no
hand-off to aiosqlite's thread, whose start waits for the GIL), waits for a write lock that
another process holds off that thread, and hands COMMIT over so that it starts at once."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tortoise import Tortoise

from msgcenter.service import build_service
from msgcenter.settings import Settings, build_settings
from storage import sql as rawsql
from storage.db import Database
from storage.models import User
from storage.sqlite import JOURNAL_SIZE_LIMIT, START_WAIT, start_now
from tests.conftest import sqlite_url
from tests.support import Api


@pytest.fixture
async def db_url(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return await sqlite_url(tmp_path, tmp_path_factory)


def rename(name: str) -> rawsql.Plan[int]:
    """Renames the demo agent; the thread it ran on."""
    yield 'UPDATE "users" SET "display_name" = ? WHERE "username" = ?', [name, "agent"]
    return threading.get_ident()


async def agent_name() -> str | None:
    return (await User.get(username="agent")).display_name


def raw() -> sqlite3.Connection:
    """The service's own sqlite3 connection (under Tortoise and aiosqlite)."""
    conn: sqlite3.Connection = Tortoise.get_connection("default")._connection._conn
    return conn


def pragma(name: str) -> int:
    value: int = raw().execute(f"PRAGMA {name}").fetchone()[0]
    return value


async def test_commits_are_synced_and_other_writers_waited_for(admin: Api) -> None:
    assert pragma("synchronous") == 2  # FULL, whatever the SQLite build's default
    assert pragma("busy_timeout") > 0


def wal_size(db_url: str) -> int:
    return Path(db_url.removeprefix("sqlite://") + "-wal").stat().st_size


async def test_the_wal_keeps_its_size_after_a_checkpoint(admin: Api, db_url: str) -> None:
    """Commits overwrite the WAL in place instead of growing a file cut back to 16 KiB."""
    assert pragma("journal_size_limit") == JOURNAL_SIZE_LIMIT
    conn = raw()
    conn.execute("CREATE TABLE filler (data BLOB)")
    for _ in range(50):
        conn.execute("INSERT INTO filler VALUES (?)", [bytes(8192)])
    grown = wal_size(db_url)
    assert grown > 400_000
    busy, pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, copied) == (0, pages)
    conn.execute("INSERT INTO filler VALUES (x'00')")  # starts the WAL over, from its start
    assert wal_size(db_url) == grown


async def test_a_transaction_runs_its_statements_on_the_loop_thread(admin: Api) -> None:
    async with rawsql.transaction():
        here = await rawsql.run(rename("Ann"))
        also_here = await rawsql.run(rename("Bea"), commit=True)
    assert here == also_here == threading.get_ident()
    assert await agent_name() == "Bea"
    elsewhere = await rawsql.run(rename("Cid"))  # no transaction: in aiosqlite's thread
    assert elsewhere != threading.get_ident()
    assert await agent_name() == "Cid"


async def test_a_write_lock_held_elsewhere_is_waited_for_off_the_loop(
    admin: Api, settings: Settings
) -> None:
    patience = pragma("busy_timeout")
    held, release = threading.Event(), threading.Event()

    def other_process() -> None:  # another connection, as `msgcenter` run from a shell would be
        db = sqlite3.connect(settings.storage.url.removeprefix("sqlite://"), isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE users SET display_name = 'Dan' WHERE username = 'agent'")
            held.set()
            release.wait(5)
            db.execute("COMMIT")
        finally:
            db.close()

    holder = threading.Thread(target=other_process)
    holder.start()
    await asyncio.to_thread(held.wait, 5)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    asyncio.get_running_loop().call_later(0.3, release.set)
    try:
        async with rawsql.transaction():
            await rawsql.run(rename("Eve"), commit=True)
    finally:
        ticking.cancel()
        release.set()
        await asyncio.to_thread(holder.join, 5)
    assert ticks >= 15  # the loop went on while the transaction waited for the lock
    assert await agent_name() == "Eve"  # after the other connection's "Dan"
    assert pragma("busy_timeout") == patience  # the loop thread's no-wait attempt left it as it was


async def test_a_job_handed_over_runs_in_sqlite_thread(admin: Api) -> None:
    aio = Tortoise.get_connection("default")._connection
    assert await start_now(aio, threading.get_ident) != threading.get_ident()
    with pytest.raises(sqlite3.OperationalError):
        await start_now(aio, lambda: aio._conn.execute("SELECT nope FROM nowhere"))


async def test_a_busy_sqlite_thread_holds_the_loop_up_for_start_wait_at_most(
    admin: Api,
) -> None:
    aio = Tortoise.get_connection("default")._connection
    busy = asyncio.ensure_future(aio._execute(time.sleep, 0.3))  # an earlier, slow job
    await asyncio.sleep(0.01)
    began = time.perf_counter()
    handed = start_now(aio, threading.get_ident)
    assert time.perf_counter() - began < START_WAIT + 0.05  # not the slow job's 0.3 s
    assert not handed.done()
    await handed  # runs once the slow job is over
    assert busy.done()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask (022), under which a plain open() gives 0644 and mkdir 0755."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.usefixtures("loose_umask")
async def test_a_new_database_and_its_folder_are_private(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "data" / "msgcenter.db"
    database = Database(f"sqlite://{path}")
    await database.open()
    try:
        await User.create(username="ann", display_name="Ann", password_hash="x")
        for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert each.exists() and _mode(each) == 0o600, each
        assert _mode(path.parent) == 0o700 and _mode(path.parent.parent) == 0o700
    finally:
        await database.close()


@pytest.mark.usefixtures("loose_umask")
async def test_an_existing_database_readable_by_others_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "msgcenter.db"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    database = Database(f"sqlite://{path}")
    await database.open()
    try:
        assert _mode(path) == 0o600
        assert _mode(Path(f"{path}-wal")) == 0o600
    finally:
        await database.close()


@pytest.mark.usefixtures("loose_umask")
def test_the_data_dir_and_the_generated_key_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    settings = build_settings(
        {"storage": {"url": f"sqlite://{data_dir / 'msgcenter.db'}", "data_dir": str(data_dir)}},
        environ={},
    )
    build_service(settings)
    assert _mode(data_dir) == 0o700 and _mode(data_dir.parent) == 0o700
    assert _mode(data_dir / "jwt_secret") == 0o600
