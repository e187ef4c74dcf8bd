"""The "message" notifications of the ingest path: a customer wrote in a chat someone holds.

At most one unread "message" notification per chat and person: a new customer message in a
chat whose holder has not read the last one updates that one (its text, message and count)
instead of adding another. :func:`message_plan` does it for a whole batch of stored messages
after the ingest plan, in the same transaction: one statement finds the unread ones of the
batch's chats, then one statement per chat and person (microseconds each on SQLite, where it
runs on the loop's thread like the ingest plan). Pure: a :data:`storage.sql.Plan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage import columns
from storage.models import Notification
from storage.sql import Plan

MESSAGE = "message"
UNREAD_OF_CHATS = (
    'SELECT "id", "user_id", "chat_id", "data" FROM "notifications" '
    'WHERE "user_id" IN ({users}) AND "read" = ? AND "kind" = ? AND "chat_id" IN ({chats})'
)
_ROW = columns.quoted(("id", "user_id", "kind", "chat_id", "message_id", "data", "read"))
UPDATE_MESSAGE = (  # the columns are the model's, not input
    'UPDATE "notifications" SET "data" = ?, "message_id" = ? '  # noqa: S608
    f'WHERE "id" = ? RETURNING {_ROW}, "created_at"'
)
INSERT_MESSAGE = columns.insert(
    Notification,
    ("user_id", "kind", "chat_id", "message_id", "data", "read", "created_at"),
    f'RETURNING {_ROW}, "created_at"',
)
STATEMENTS = (
    UNREAD_OF_CHATS.format(users="?", chats="?, ?"),
    UPDATE_MESSAGE,
    INSERT_MESSAGE,
)


@dataclass(frozen=True, slots=True)
class Wrote:
    """Customer messages stored in one chat that ``user_id`` holds (the newest last)."""

    user_id: int
    chat_id: int
    message_id: int  # the newest
    customer: str
    text: str  # the newest message's preview
    count: int  # how many this batch stored


def message_plan(wrote: Sequence[Wrote], now: datetime | str) -> Plan[list[dict[str, Any]]]:
    """Notify each holder of the messages in ``wrote`` (one per chat and person: see the
    module); the notification rows written, as stored."""
    users = sorted({w.user_id for w in wrote})
    chats = sorted({w.chat_id for w in wrote})
    found = yield (
        UNREAD_OF_CHATS.format(
            users=", ".join("?" for _ in users), chats=", ".join("?" for _ in chats)
        ),
        [*users, False, MESSAGE, *chats],
    )
    unread = {(int(r["user_id"]), int(r["chat_id"])): r for r in found}
    written: list[dict[str, Any]] = []
    for item in wrote:
        old = unread.get((item.user_id, item.chat_id))
        data: dict[str, Any] = {"customer": item.customer, "text": item.text, "count": item.count}
        if old is not None:
            before = old["data"]
            if isinstance(before, str | bytes):
                before = columns.reader(Notification, "data")(before)
            data["count"] += int((before or {}).get("count", 1))
            rows = yield UPDATE_MESSAGE, [_data(data), item.message_id, old["id"]]
        else:
            rows = yield INSERT_MESSAGE, [
                item.user_id, MESSAGE, item.chat_id, item.message_id, _data(data), False, now,
            ]  # fmt: skip
        written += rows
    return written


def _data(data: dict[str, Any]) -> Any:
    return columns.db_value(Notification, "data", data)
