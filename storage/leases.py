"""Leases' statements: a session-level advisory lock, held as long as its connection lives,
and a check that the connection still answers (``msgcenter.lease``)."""

from __future__ import annotations

import asyncpg

TRY_LOCK = "SELECT pg_try_advisory_lock($1)"
ALIVE = "SELECT 1"
PG_STATEMENTS = (TRY_LOCK, ALIVE)


async def try_lock(connection: asyncpg.Connection, key: int) -> bool:
    """Take the lock ``key`` for ``connection``'s session if it is free; whether it was."""
    return bool(await connection.fetchval(TRY_LOCK, key))


async def alive(connection: asyncpg.Connection) -> None:
    """A round trip on ``connection`` (raises when it is gone)."""
    await connection.fetchval(ALIVE)
