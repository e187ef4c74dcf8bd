"""The sweeps that look for the few messages in a state (the outbox's queued replies, the
media fetcher's pending files) go through their index on SQLite also once ``ANALYZE`` has
counted that nearly every message is in another state (``storage.sql.seldom``).

Without the hint SQLite took an equality on a column of one value in nearly every row for
true of nearly every row and walked the table in ``"id"`` order: with 1,000,000 messages
(``bench.reports``, which runs ``ANALYZE``) each sweep read every message, 80-150 ms on the
writer's connection every 30 s, and every request that needed that connection waited.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from storage import delivery, media
from tests.conftest import sqlite_url

MESSAGES = 1_000_000


def _index_on(db: sqlite3.Connection, first_column: str) -> str:
    """The name of the index of ``messages`` whose first column is ``first_column``."""
    for _, name, *_ in db.execute("PRAGMA index_list('messages')").fetchall():
        columns = [row[2] for row in db.execute(f"PRAGMA index_info('{name}')").fetchall()]
        if columns and columns[0] == first_column:
            return str(name)
    raise AssertionError(f"no index of messages on {first_column}")


@pytest.fixture
async def analyzed(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database whose statistics are what ``ANALYZE`` writes for 1,000,000
    messages none of which is queued or has a file pending: one ``media_pending`` value
    (every row alike), two values of ``status`` (half the rows each)."""
    path = Path((await sqlite_url(tmp_path, tmp_path_factory)).removeprefix("sqlite://"))
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("ANALYZE")  # creates sqlite_stat1
        pending, status = _index_on(db, "media_pending"), _index_on(db, "status")
        db.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'messages'")
        stats = [
            ("messages", None, f"{MESSAGES}"),
            ("messages", pending, f"{MESSAGES} {MESSAGES} 1"),
            ("messages", status, f"{MESSAGES} {MESSAGES // 2} {MESSAGES // 2}"),
        ]
        db.executemany("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", stats)
    return path


def _plan(path: Path, statement: str, values: list[Any]) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:  # reads the statistics anew
        rows = db.execute(f"EXPLAIN QUERY PLAN {statement}", values).fetchall()
    return [str(row[3]) for row in rows]


def _walks_messages(plan: list[str]) -> bool:
    """Whether ``plan`` reads the messages table in its own order (all of it, or from an id)."""
    return any(step.startswith(("SCAN m", "SEARCH m USING INTEGER PRIMARY KEY")) for step in plan)


def test_the_pending_files_are_found_through_their_index(analyzed: Path) -> None:
    values = [True, 0, media.PAGE]
    plan = _plan(analyzed, media.WAITING_SQLITE, values)
    assert not _walks_messages(plan), plan
    assert any("(media_pending=? AND id>?)" in step for step in plan), plan
    # The statistics are the ones that mattered: without the hint the table is walked.
    assert _walks_messages(_plan(analyzed, media.WAITING, values))


@pytest.mark.parametrize("busy", [0, 2])
def test_the_queued_replies_are_found_through_their_index(analyzed: Path, busy: int) -> None:
    values = ["queued", False, *range(1, busy + 1), delivery.DUE_LIMIT]
    plan = _plan(analyzed, delivery._due(busy, sqlite=True), values)
    assert not _walks_messages(plan), plan
    assert any("(status=?)" in step for step in plan), plan
    assert _walks_messages(_plan(analyzed, delivery._due(busy), values))
