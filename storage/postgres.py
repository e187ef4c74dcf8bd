"""Tortoise's asyncpg engine, whose transactions let go of a connection that stops answering.

When BEGIN fails (a statement timeout: the database stopped answering), Tortoise's pooled
transaction keeps the connection and leaves the task's context pointing at the dead
transaction; the writer's long-lived task then ran every later transaction as a savepoint
of it and never recovered once the database answered again. The client
(``storage.adapters.tortoise.AsyncpgClient``) gives the connection back and restores the
task's context, and drops the connection of a transaction whose statement timed out instead
of sending ROLLBACK down it; this module says what a timeout is (:func:`caused_by`).
A connection given back to the pool costs no round trip (:func:`keep_session`).
Configured as ``{"engine": "storage.postgres", ...}`` by ``storage.db.tortoise_config``.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from storage.adapters import tortoise


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


async def keep_session(_connection: asyncpg.Connection[Any]) -> None:
    """The pool's reset of a connection given back, after asyncpg's own (which rolls back a
    transaction left open): nothing. asyncpg's default sends ``SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``, a round trip on every
    release, i.e. on every statement run outside a transaction; msgcenter's pooled
    connections keep no session state to undo (no LISTEN, cursors, SET or session advisory
    locks: leases and migrations hold theirs on connections of their own)."""


class AsyncpgClient(tortoise.AsyncpgClient):
    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool[Any]:
        return await super().create_pool(reset=keep_session, **kwargs)

    def timed_out(self, exc: BaseException) -> bool:
        return caused_by(exc, TimeoutError)


client_class = AsyncpgClient
