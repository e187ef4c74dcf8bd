"""Tortoise's asyncpg engine, with transactions that let go of a connection whose BEGIN failed.

Tortoise's pooled transaction (``TransactionContextPooled``) takes a connection from the
pool, makes it the task's current connection, then sends BEGIN. When BEGIN fails (a
statement timeout: the database stopped answering), ``async with`` never reaches
``__aexit__``: the connection is never given back to the pool, and the task's context keeps
pointing at that transaction. The writer's long-lived task then ran every later transaction
as a savepoint of that dead one ("connection has been released back to the pool") and never
recovered once the database answered again. Here a failed BEGIN gives the connection back
and restores the task's context. Configured as ``{"engine": "storage.postgres", ...}`` by
``storage.db.tortoise_config``.
"""

from __future__ import annotations

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
        except BaseException:
            get_connections().reset(self.token)
            await pool.release(self.client._connection)
            raise
        return self.client


class AsyncpgClient(TortoiseAsyncpgClient):
    def _in_transaction(self) -> _Transaction:
        return _Transaction(TransactionWrapper(self), self._pool_init_lock)


client_class = AsyncpgClient
