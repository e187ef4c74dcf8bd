"""Tortoise's asyncpg engine, whose transactions let go of a connection that stops answering.

Tortoise's pooled transaction (``TransactionContextPooled``) takes a connection from the
pool, makes it the task's current connection, then sends BEGIN. When BEGIN fails (a
statement timeout: the database stopped answering), ``async with`` never reaches
``__aexit__``: the connection is never given back to the pool, and the task's context keeps
pointing at that transaction. The writer's long-lived task then ran every later transaction
as a savepoint of that dead one ("connection has been released back to the pool") and never
recovered once the database answered again. Here a failed BEGIN gives the connection back
and restores the task's context, and a transaction whose statement timed out drops its
connection instead of sending ROLLBACK down it (which waited a second statement timeout).
Configured as ``{"engine": "storage.postgres", ...}`` by ``storage.db.tortoise_config``.
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.asyncpg.client import AsyncpgDBClient as TortoiseAsyncpgClient
from tortoise.backends.asyncpg.client import TransactionWrapper
from tortoise.backends.base.client import TransactionalDBClient, TransactionContextPooled
from tortoise.connection import get_connections


class _Transaction(TransactionContextPooled):
    async def __aenter__(self) -> TransactionalDBClient:
        await self.ensure_connection()
        pool = self.client._parent._pool
        self.client._connection = await pool.acquire()
        self.token = get_connections().set(self.connection_name, self.client)
        try:
            await self.client.begin()
        except BaseException as exc:
            get_connections().reset(self.token)
            if _timed_out(exc):
                self.client._connection.terminate()  # gives the pool its place back
            else:
                await pool.release(self.client._connection)
            raise
        return self.client

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        if exc_val is not None and _timed_out(exc_val) and not self.client._finalized:
            # No ROLLBACK on a connection that stopped answering: it would wait another
            # statement timeout (asyncpg first cancels the timed-out statement). The server
            # rolls back a transaction whose connection goes; the pool opens a new one.
            try:
                self.client._connection.terminate()
            finally:
                get_connections().reset(self.token)
            return
        await super().__aexit__(exc_type, exc_val, exc_tb)


def caused_by(
    exc: BaseException, kinds: type[BaseException] | tuple[type[BaseException], ...]
) -> bool:
    """True when ``exc``, or one of the (up to five) exceptions that caused it, is a ``kinds``."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _timed_out(exc: BaseException) -> bool:
    return caused_by(exc, TimeoutError)


class AsyncpgClient(TortoiseAsyncpgClient):
    def _in_transaction(self) -> _Transaction:
        return _Transaction(TransactionWrapper(self), self._pool_init_lock)


client_class = AsyncpgClient
