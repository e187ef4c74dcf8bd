"""Tortoise's SQLite engine, with a connection the event loop's own thread may use as well.

aiosqlite runs every statement in a thread of its own. On the ingest path that costs more
than the statements: the thread must win the GIL back from the event loop, which is busy
with HTTP, before it can start (about 0.9 ms of a 2 ms batch, measured). So the writer's
transaction (``handoff.rawsql``) runs its short statements right on the event loop's thread
and leaves only what waits on the disk, COMMIT and its fsync, to aiosqlite's thread. Both
use the one connection, never at the same time (Tortoise's lock is held by the transaction);
this engine only opens it without sqlite3's same-thread check. Configured as
``{"engine": "storage.sqlite", ...}`` by ``storage.db.tortoise_config``.
"""

from __future__ import annotations

import sqlite3

import aiosqlite
from tortoise.backends.sqlite.client import SqliteClient as TortoiseSqliteClient


class SqliteClient(TortoiseSqliteClient):
    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        # As Tortoise's own, but usable from the event loop's thread too.
        self._connection = await aiosqlite.connect(
            self.filename, isolation_level=None, check_same_thread=False
        )
        self._connection._conn.row_factory = sqlite3.Row
        for pragma, value in self.pragmas.items():
            cursor = await self._connection.execute(f"PRAGMA {pragma}={value}")
            await cursor.close()
        await self._post_connect()


client_class = SqliteClient
