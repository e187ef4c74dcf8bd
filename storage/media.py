"""The media fetcher's reads and writes (``handoff.usecases.media``): the messages whose
customer files are still to be fetched, and a file's outcome written into its message's
attachments.

A message waits while ``media_pending`` is true (set at ingest, ``storage.ingest``); each of
its files is an item of ``attachments`` with ``status`` "pending" and the fetcher's
bookkeeping (``attempts``, ``next_at``), until it is "stored" or "failed". The flag is
cleared in the statement that settles the message's last pending file. The plans are
:data:`storage.sql.Plan` s: pure, they may run in SQLite's thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage import columns, sql
from storage.models import Message

PENDING = "pending"
PAGE = 200  # messages read per statement of a sweep

# A message read back: the columns views show (as storage.delivery reads them back).
_ROW = columns.row(
    Message,
    without=("external_id", "reply_to_external_id", "attempts", "next_attempt_at", "updated_at"),
)
# The columns are the model's, not input: no injection below.
_WAITING = (
    'SELECT m."id", m."chat_id", m."attachments", m."created_at", c."channel" '
    'FROM "messages" m JOIN "chats" c ON c."id" = m."chat_id" '
    'WHERE {pending} AND m."id" > ? ORDER BY m."id" LIMIT ?'
)
WAITING = _WAITING.format(pending='m."media_pending" = ?')
# SQLite: the flag marked as rare (``storage.sql.seldom``), so the index on ("media_pending",
# "id") finds the few pending messages also once ANALYZE has seen nearly none is.
WAITING_SQLITE = _WAITING.format(pending=sql.seldom('m."media_pending" = ?'))
ATTACHMENTS_OF = 'SELECT "attachments" FROM "messages" WHERE "id" = ?'
SETTLE = (
    'UPDATE "messages" SET "attachments" = ?, "media_pending" = ? '  # noqa: S608
    f'WHERE "id" = ? RETURNING {_ROW}'
)
AUDIENCE = (
    'SELECT "id", "mode", "assigned_agent_id", "channel" FROM "chats" WHERE "id" IN ({marks})'
)

_read_attachments = columns.reader(Message, "attachments")

Row = dict[str, Any]
Chats = dict[int, Row]  # chat id -> its "id", "mode", "assigned_agent_id" and "channel"


@dataclass(frozen=True, slots=True)
class Waiting:
    """A message with files still to fetch."""

    message_id: int
    chat_id: int
    channel: str
    created_at: datetime
    attachments: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Change:
    """What becomes of the file at ``index`` of a message's attachments (still ``ref``):
    ``update`` is merged into it, the keys in ``drop`` removed. A file no longer pending (or
    not that file) is left as it is."""

    message_id: int
    index: int
    ref: str
    update: dict[str, Any]
    drop: tuple[str, ...] = ()


def waiting_plan(after_id: int, limit: int = PAGE) -> sql.Plan[list[Waiting]]:
    """The next ``limit`` messages after ``after_id`` with files to fetch, oldest first. Pure."""
    # The dialect is asked here, not in the plan's steps (which may run in SQLite's thread).
    waiting = WAITING if sql.is_postgres() else WAITING_SQLITE
    return _waiting_rows(waiting, [True, after_id, limit])


def _waiting_rows(waiting: str, params: list[Any]) -> sql.Plan[list[Waiting]]:
    rows = yield waiting, params
    found = []
    for row in rows:
        values = sql.values(Message, row)
        attachments = _read_attachments(row["attachments"]) if row["attachments"] else []
        found.append(
            Waiting(
                int(row["id"]),
                int(row["chat_id"]),
                str(row["channel"]),
                values["created_at"],
                list(attachments or []),
            )
        )
    return found


def settle_plan(changes: Sequence[Change]) -> sql.Plan[tuple[list[Row | None], Chats]]:
    """Each change written into its message's attachments, ``media_pending`` cleared when no
    file of the message is pending any more; each message read back (None where nothing
    changed), then who may see their chats. Pure."""
    updated: list[Row | None] = []
    for change in changes:
        rows = yield ATTACHMENTS_OF, [change.message_id]
        if not rows:
            updated.append(None)
            continue
        attachments = list(_read_attachments(rows[0]["attachments"]) or [])
        if not 0 <= change.index < len(attachments):
            updated.append(None)
            continue
        item = dict(attachments[change.index])
        if item.get("status") != PENDING or item.get("ref") != change.ref:
            updated.append(None)  # settled before (a repeat), or not this file
            continue
        item.update(change.update)
        for key in change.drop:
            item.pop(key, None)
        attachments[change.index] = item
        pending = any(a.get("status") == PENDING for a in attachments)
        rows = yield SETTLE, [_encode(attachments), pending, change.message_id]
        updated.append(rows[0] if rows else None)
    return updated, (yield from _chats(updated))


def clear_plan(message_id: int) -> sql.Plan[None]:
    """Clear ``media_pending`` of a message none of whose files is pending. Pure."""
    rows = yield ATTACHMENTS_OF, [message_id]
    if not rows:
        return
    attachments = list(_read_attachments(rows[0]["attachments"]) or [])
    if not any(a.get("status") == PENDING for a in attachments):
        yield SETTLE, [_encode(attachments), False, message_id]


def _encode(attachments: list[dict[str, Any]]) -> Any:
    return columns.db_value(Message, "attachments", attachments)


def _chats(rows: Sequence[Row | None]) -> sql.Plan[Chats]:
    """The chats of these message rows (one query for all of them)."""
    chat_ids = sorted({row["chat_id"] for row in rows if row is not None})
    if not chat_ids:
        return {}
    marks = ", ".join("?" for _ in chat_ids)
    chats = yield AUDIENCE.format(marks=marks), chat_ids
    return {c["id"]: c for c in chats}


STATEMENTS = (WAITING, ATTACHMENTS_OF, SETTLE, AUDIENCE.format(marks="?, ?"))
SQLITE_STATEMENTS = (WAITING_SQLITE,)
