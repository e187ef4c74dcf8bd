"""Cross-process exclusion inside a transaction (PostgreSQL advisory locks).

SQLite has one writer, so nothing is needed there. On PostgreSQL several
processes write at once; decisions that read then write shared state (who gets
a chat, which seq comes next) take a transaction-scoped advisory lock first.
"""

from __future__ import annotations

from storage import locks
from storage.locks import hold_in_transaction

EVENT_LOG = 0x6D7367  # "msg": numbering of the event log
ASSIGNMENT = 0x617367  # "asg": who holds which chat, and agents' capacity
CONTACTS = locks.CONTACTS  # "cnt": merges, undos and erasures of contacts


async def exclusive(key: int, *, postgres: bool) -> None:
    """Hold ``key`` until the current transaction ends (no-op on SQLite)."""
    if postgres:
        await hold_in_transaction(key)
