"""SQLite: commits synced, the WAL kept at its size, a write lock that another process holds
waited for off the event loop's thread, private files. (Which thread runs what is in
tests/test_adapters.py.)"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tortoise import Tortoise

from msgcenter.service import build_service
from msgcenter.settings import Settings, build_settings
from storage import sql
from storage.adapters.aiosqlite import raw as raw_connection
from storage.adapters.tortoise import SqliteClient
from storage.db import Database
from storage.models import User
from storage.sqlite import JOURNAL_SIZE_LIMIT
from tests.conftest import sqlite_url
from tests.support import Api


@pytest.fixture
async def db_url(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return await sqlite_url(tmp_path, tmp_path_factory)


def rename(name: str) -> sql.Plan[int]:
    """Renames the demo agent; the thread it ran on."""
    yield 'UPDATE "users" SET "display_name" = ? WHERE "username" = ?', [name, "agent"]
    return threading.get_ident()


async def agent_name() -> str | None:
    return (await User.get(username="agent")).display_name


def raw() -> sqlite3.Connection:
    """The service's own sqlite3 connection (under Tortoise and aiosqlite)."""
    client = Tortoise.get_connection("default")
    assert isinstance(client, SqliteClient)
    return raw_connection(client.aio)


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
        # The other connection lets go once the loop has turned 15 times: a transaction that
        # waited for the lock on the loop's thread would hold the ticks (and itself) up.
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1
            if ticks == 15:
                release.set()

    ticking = asyncio.create_task(ticker())
    try:
        async with sql.transaction():
            await sql.run(rename("Eve"), commit=True)
    finally:
        ticking.cancel()
        release.set()
        await asyncio.to_thread(holder.join, 5)
    assert ticks >= 15  # the loop went on while the transaction waited for the lock
    assert await agent_name() == "Eve"  # after the other connection's "Dan"
    assert pragma("busy_timeout") == patience  # the loop thread's no-wait attempt left it as it was


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


async def test_reads_apart_keep_a_few_read_only_connections(tmp_path: Path) -> None:
    """The reports' reads (``storage.sql.tuples``) run on read-only connections of their
    own, a few kept between statements: a kept one sees what was committed after its last
    read, cannot write, and is closed with the database."""
    database = Database(f"sqlite://{tmp_path / 'msgcenter.db'}")
    await database.open()
    client = Tortoise.get_connection("default")
    assert isinstance(client, SqliteClient)
    count = 'SELECT COUNT(*) FROM "users" WHERE "username" = ?'
    try:
        assert await sql.tuples(count, ["ann"]) == [(0,)]
        assert len(client._readers) == 1
        kept = client._readers[0]
        await User.create(username="ann", display_name="Ann", password_hash="x")
        assert await sql.tuples(count, ["ann"]) == [(1,)]
        assert client._readers == [kept]  # the same connection, read again
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await sql.tuples('UPDATE "users" SET "display_name" = ?', ["Bob"])
        assert kept not in client._readers  # a failed read's connection is not kept
        many = await asyncio.gather(*(sql.tuples(count, ["ann"]) for _ in range(8)))
        assert many == [[(1,)]] * 8
        assert 1 <= len(client._readers) <= client.readers_kept
        readers = list(client._readers)
    finally:
        await database.close()
    assert client._readers == []
    for reader in readers:
        with pytest.raises(sqlite3.ProgrammingError):
            reader.execute("SELECT 1")
