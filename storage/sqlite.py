"""Tortoise's SQLite engine, with a connection the event loop's own thread may use as well.

aiosqlite runs every statement in a thread of its own. On the ingest path that costs more
than the statements: the thread must win the GIL back from the event loop, which is busy
with HTTP, before it can start (about 0.9 ms of a 2 ms batch, measured). So the writer's
transaction (``storage.sql``) runs its short statements right on the event loop's thread
and leaves only what waits on the disk, COMMIT and its fsync, to aiosqlite's thread, handed
over with :func:`start_now`. Both use the one connection, never at the same time (Tortoise's
lock is held by the transaction); this engine only opens it without sqlite3's same-thread
check. Configured as ``{"engine": "storage.sqlite", ...}`` by ``storage.db.tortoise_config``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from tortoise.backends.sqlite.client import SqliteClient as TortoiseSqliteClient

from storage.files import private_file

T = TypeVar("T")

# Longest the event loop waits for aiosqlite's thread to start a job (measured under load:
# 0.11 ms median, 0.34 ms p90, 0.55 ms p99, the thread being scheduled on a busy core);
# past it, the job starts whenever the thread gets to it (it is busy with an earlier one).
START_WAIT = 0.001

# Bytes the WAL file keeps when it starts over after a checkpoint (Tortoise sets 16 KiB). A
# WAL that keeps its size is overwritten in place, and fdatasync of a file that did not grow
# needs no journal commit of its new size: COMMIT took 0.37-0.44 ms instead of 0.56-0.63
# (median; ~40% less time in COMMIT over 3000 batches, bench-free script on this VM's ext4).
# With SQLite's checkpoint every 1000 pages the WAL stays near 4 MiB; a WAL that grew past
# this (a long read kept it from being checkpointed) is cut back to it.
JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024


class SqliteClient(TortoiseSqliteClient):
    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        # Every acknowledged message is on disk: FULL whatever the SQLite build's default
        # (a URL's ?synchronous=NORMAL still chooses otherwise).
        self.pragmas.setdefault("synchronous", "FULL")
        if self.pragmas.get("journal_size_limit") == 16384:  # Tortoise's, not a URL's choice
            self.pragmas["journal_size_limit"] = JOURNAL_SIZE_LIMIT
        self.busy_timeout = 0  # ms; the connection's own, read when it is opened

    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        with contextlib.suppress(OSError):  # storage.db.ensure_sqlite_dir said it already
            private_database(self.filename)
        # As Tortoise's own, but usable from the event loop's thread too.
        self._connection = await aiosqlite.connect(
            self.filename, isolation_level=None, check_same_thread=False
        )
        self._connection._conn.row_factory = sqlite3.Row
        for pragma, value in self.pragmas.items():
            cursor = await self._connection.execute(f"PRAGMA {pragma}={value}")
            await cursor.close()
        async with self._connection.execute("PRAGMA busy_timeout") as cursor:
            row = await cursor.fetchone()
        self.busy_timeout = int(row[0]) if row is not None else 0
        await self._post_connect()

    async def begin_immediate(self) -> None:
        """BEGIN IMMEDIATE: the write lock taken on the event loop's thread when it is free
        (no wait), else waited for (up to the busy timeout) in aiosqlite's thread. After it no
        statement of the transaction waits for another process, so the loop never does."""
        assert self._connection is not None
        conn = self._connection._conn
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # another process writes: wait off the loop
            conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout}")
            cursor = await self._connection.execute("BEGIN IMMEDIATE")
            await cursor.close()
        else:
            conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout}")


def private_database(filename: str) -> None:
    """The database file readable by its owner only: created 0600 (SQLite gives its -wal and
    -shm files the database's mode), and an existing one (or those) made so if looser.

    An OSError says the file cannot be created there: raised before Tortoise opens the
    database, it stops start-up with that reason (inside Tortoise's connection lock, a failed
    open would leave the lock held and the start-up waiting for good)."""
    if not filename or filename == ":memory:" or filename.startswith("file:"):
        return
    try:
        fd = os.open(filename, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for path in (filename, f"{filename}-wal", f"{filename}-shm"):
            private_file(Path(path))
    else:
        os.close(fd)  # an empty file is an empty database


def start_now(connection: aiosqlite.Connection, job: Callable[[], T]) -> asyncio.Future[T]:
    """Run ``job`` in ``connection``'s thread, started before this returns; its future.

    ``await connection._execute(job)`` only queues the job: the thread wakes up, then waits
    for the GIL until the event loop next lets go of it, after whatever Python is ready to
    run (measured: 0.7 ms before a COMMIT started, longer than its fsync). Here the loop
    waits for the job to start (at most :data:`START_WAIT`) with the GIL released, so the
    thread takes it at once; the job (COMMIT) then waits on the disk without the GIL while
    the loop goes on. Uses aiosqlite's queue of (future, function) as its own ``_execute``
    does (the version is pinned in pyproject.toml).
    """
    started = threading.Lock()
    started.acquire()

    def run() -> T:
        started.release()
        return job()

    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    connection._tx.put_nowait((future, run))
    started.acquire(timeout=START_WAIT)
    return future


client_class = SqliteClient
