"""PostgreSQL advisory locks held by a transaction until it ends (``handoff.infra.locks``
names them)."""

from __future__ import annotations

from functools import lru_cache

from tortoise.connection import get_connection

XACT_LOCK = "SELECT pg_advisory_xact_lock({key})"
PG_STATEMENTS = (XACT_LOCK.format(key=1),)


@lru_cache(maxsize=16)
def _xact_lock(key: int) -> str:
    return XACT_LOCK.format(key=int(key))


async def hold_in_transaction(key: int) -> None:
    """Wait for the lock ``key``, held by the current transaction until it ends."""
    await get_connection("default").execute_query(_xact_lock(key))
