"""Migrations when several processes start at once on one PostgreSQL database."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from storage.db import migrate
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="MSGCENTER_TEST_POSTGRES_URL is not set")


@pytest.mark.empty_database
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_processes_starting_together_migrate_once(db_url: str) -> None:
    # Without the migration lock two of these fail with IntegrityError (tables made twice).
    results = await asyncio.gather(*(migrate(db_url) for _ in range(3)), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results
    applied = sorted(results, key=len)  # migrate() returns the migrations it applied
    assert applied[0] == applied[1] == [] and applied[2][0] == "0001_initial"  # one did all
    connection = await asyncpg.connect(db_url)
    try:
        tables = {r["tablename"] for r in await connection.fetch("SELECT tablename FROM pg_tables")}
    finally:
        await connection.close()
    assert {"users", "chats", "messages", "events"} <= tables
