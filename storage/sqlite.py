"""Tortoise's SQLite engine, with a connection the event loop's own thread may use as well.

aiosqlite runs every statement in a thread of its own. On the ingest path that costs more
than the statements: the thread must win the GIL back from the event loop, which is busy
with HTTP, before it can start (about 0.9 ms of a 2 ms batch, measured). So the writer's
transaction (``storage.sql``) runs its short statements right on the event loop's thread
and leaves only what waits on the disk, COMMIT and its fsync, to aiosqlite's thread, handed
over with ``storage.adapters.aiosqlite.start_now``. Both use the one connection, never at
the same time (Tortoise's lock is held by the transaction); the client
(``storage.adapters.tortoise.SqliteClient``) only opens it without sqlite3's same-thread
check. This module adds msgcenter's settings of the database. Configured as
``{"engine": "storage.sqlite", ...}`` by ``storage.db.tortoise_config``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from storage.adapters import tortoise
from storage.files import private_file

# Bytes the WAL file keeps when it starts over after a checkpoint (Tortoise sets 16 KiB). A
# WAL that keeps its size is overwritten in place, and fdatasync of a file that did not grow
# needs no journal commit of its new size: COMMIT took 0.37-0.44 ms instead of 0.56-0.63
# (median; ~40% less time in COMMIT over 3000 batches, bench-free script on this VM's ext4).
# With SQLite's checkpoint every 1000 pages the WAL stays near 4 MiB; a WAL that grew past
# this (a long read kept it from being checkpointed) is cut back to it.
JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024


class SqliteClient(tortoise.SqliteClient):
    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        # Every acknowledged message is on disk: FULL whatever the SQLite build's default
        # (a URL's ?synchronous=NORMAL still chooses otherwise).
        self.pragmas.setdefault("synchronous", "FULL")
        if self.pragmas.get("journal_size_limit") == 16384:  # Tortoise's, not a URL's choice
            self.pragmas["journal_size_limit"] = JOURNAL_SIZE_LIMIT

    def before_connect(self) -> None:
        with contextlib.suppress(OSError):  # storage.db.ensure_sqlite_dir said it already
            private_database(self.filename)


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


client_class = SqliteClient
