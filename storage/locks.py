"""PostgreSQL advisory locks held by a transaction until it ends (``handoff.infra.locks``
names them)."""

from __future__ import annotations

from functools import lru_cache

from tortoise.connection import get_connection

XACT_LOCK = "SELECT pg_advisory_xact_lock({key})"
# Merges, undos and erasures of contacts hold it (``handoff.infra.locks.exclusive``); a new
# chat's contact is looked up holding it shared (``storage.contacts.find_many``), so a chat is
# never filed under a contact that a merge or an erasure is taking away meanwhile.
CONTACTS = 0x636E74  # "cnt"
SHARE_CONTACTS = f"SELECT pg_advisory_xact_lock_shared({CONTACTS})"
PG_STATEMENTS = (XACT_LOCK.format(key=1), SHARE_CONTACTS)


@lru_cache(maxsize=16)
def _xact_lock(key: int) -> str:
    return XACT_LOCK.format(key=int(key))


async def hold_in_transaction(key: int) -> None:
    """Wait for the lock ``key``, held by the current transaction until it ends."""
    await get_connection("default").execute_query(_xact_lock(key))
