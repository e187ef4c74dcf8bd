"""The outbox's reads and writes: queued replies found, read for sending, their outcome
recorded; and providers' receipts (``handoff.usecases.delivery`` and ``.receipts``).

The plans are :data:`storage.sql.Plan` s: pure, they may run in SQLite's thread. A message
read back is its row as views show it (:func:`message_row` makes its stored values the
ORM's).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from storage import columns, sql
from storage.models import Chat, EarlyReceipt, Message, Sender, Status

# Receipts only move a message forward: a late "delivered" never undoes "read".
RANK = {Status.QUEUED: 0, Status.SENT: 1, Status.DELIVERED: 2, Status.READ: 3, Status.FAILED: 4}
DUE_LIMIT = 500  # queued messages looked at per pass of the outbox

# A message read back: every column but the outbox's bookkeeping, which no view shows (five
# columns fewer to read per message: 20% of recording a delivery). The columns are the
# model's, not input: no injection below.
_BOOKKEEPING = ("external_id", "reply_to_external_id", "attempts", "next_attempt_at", "updated_at")
_ROW = columns.row(Message, without=_BOOKKEEPING)

_DUE = (
    'SELECT m."id", m."chat_id", m."next_attempt_at", c."channel" FROM "messages" m '
    'JOIN "chats" c ON c."id" = m."chat_id" WHERE {queued} AND m."internal" = ?{busy} '
    'ORDER BY m."id" LIMIT ?'
)
QUEUE_DEPTH = 'SELECT COUNT(*) AS "queued" FROM "messages" WHERE "status" = ? AND "internal" = ?'
# With the message, who wrote it: the agent's name and email signature (NULL for the bot's
# and an integration's, whose key's name is the message's author).
DELIVERY_ROW = (
    'SELECT m."id", m."chat_id", m."status", m."sender", m."text", m."attempts", '
    'm."attachments", m."template", m."interactive", m."author", c."mode", c."channel", '
    'c."external_id", '
    'c."customer_name", c."customer_email", c."subject", '
    'u."display_name" AS "agent_display_name", u."username" AS "agent_username", '
    'u."signature" AS "agent_signature" FROM "messages" m '
    'JOIN "chats" c ON c."id" = m."chat_id" LEFT JOIN "users" u ON u."id" = m."agent_id" '
    'WHERE m."id" = ?'
)
EARLIER_IDS = (
    'SELECT "external_id", "sender" FROM "messages" WHERE "chat_id" = ? AND '
    '"external_id" IS NOT NULL AND "id" < ? ORDER BY "id" DESC LIMIT 20'
)
# PostgreSQL: the message with its chat (one row per provider id before it, newest first;
# one row with none when there are none or the message is no longer queued).
DELIVERY_WITH_EARLIER = (
    'SELECT m."id", m."chat_id", m."status", m."sender", m."text", m."attempts", '
    'm."attachments", m."template", m."interactive", m."author", c."mode", c."channel", '
    'c."external_id", '
    'c."customer_name", c."customer_email", c."subject", '
    'u."display_name" AS "agent_display_name", u."username" AS "agent_username", '
    'u."signature" AS "agent_signature", '
    'e."external_id" AS "$external_id", e."sender" AS "$sender" FROM "messages" m '
    'JOIN "chats" c ON c."id" = m."chat_id" LEFT JOIN "users" u ON u."id" = m."agent_id" '
    'LEFT JOIN LATERAL (SELECT p."id", p."external_id", p."sender" FROM "messages" p '
    'WHERE p."chat_id" = m."chat_id" AND p."external_id" IS NOT NULL AND p."id" < m."id" '
    'AND m."status" = ? ORDER BY p."id" DESC LIMIT 20) e ON TRUE '
    'WHERE m."id" = ? ORDER BY e."id" DESC'
)
RETRY_LATER = (
    'UPDATE "messages" SET "attempts" = ?, "next_attempt_at" = ?, "error" = ? WHERE "id" = ?'
)
FINISH = (
    'UPDATE "messages" SET "status" = ?, "error" = ?, '  # noqa: S608
    '"external_id" = COALESCE(?, "external_id"), "attempts" = COALESCE(?, "attempts") '
    f'WHERE "id" = ? RETURNING {_ROW}'
)
SET_STATUS = f'UPDATE "messages" SET "status" = ? WHERE "id" = ? RETURNING {_ROW}'  # noqa: S608
SET_FAILED = (
    'UPDATE "messages" SET "status" = ?, "error" = ? '  # noqa: S608
    f'WHERE "id" = ? RETURNING {_ROW}'
)
CANCEL = (
    'UPDATE "messages" SET "status" = ?, "error" = ? '  # noqa: S608
    f'WHERE "id" = ? AND "status" = ? RETURNING {_ROW}'
)
CHAT = f'SELECT {columns.row(Chat)} FROM "chats" WHERE "id" = ?'  # noqa: S608
MESSAGE_IN_CHAT = f'SELECT {_ROW} FROM "messages" WHERE "id" = ? AND "chat_id" = ?'  # noqa: S608
AUDIENCE = 'SELECT "id", "mode", "assigned_agent_id" FROM "chats" WHERE "id" IN ({marks})'
STATUS_OF = (
    'SELECT "id", "status" FROM "messages" WHERE "external_id" = ? AND "sender" != ? LIMIT 1'
)
_RECEIPT_GIVEN = ("external_id", "status", "error", "created_at")
_RECEIPT_DEFAULTS = columns.defaults(EarlyReceipt, _RECEIPT_GIVEN)
KEEP_RECEIPT = columns.insert(EarlyReceipt, (*_RECEIPT_GIVEN, *_RECEIPT_DEFAULTS))
EARLY_RECEIPTS = 'SELECT "status", "error" FROM "early_receipts" WHERE "external_id" = ?'
FORGET_RECEIPTS = 'DELETE FROM "early_receipts" WHERE "external_id" = ?'

_RECEIPT_DEFAULT_VALUES = tuple(_RECEIPT_DEFAULTS.values())
_READ = ("attachments", "note", "sender_auth", "created_at", "template", "interactive", "sources")
_READERS = {name: columns.reader(Message, name) for name in _READ}
read_attachments = _READERS["attachments"]
read_template = _READERS["template"]
read_interactive = _READERS["interactive"]

Row = dict[str, Any]
Chats = dict[int, Row]  # chat id -> its "id", "mode" and "assigned_agent_id"


@lru_cache(maxsize=16)
def _due(busy: int, *, sqlite: bool = False) -> str:
    """The due query leaving out ``busy`` chats (a power of two, or 0); on SQLite the
    queued status marked as rare (``storage.sql.seldom``: found through its index, also
    once ``ANALYZE`` has seen that nearly no message is queued)."""
    queued = 'm."status" = ?'
    if sqlite:
        queued = sql.seldom(queued)
    if not busy:
        return _DUE.format(queued=queued, busy="")
    marks = ", ".join("?" for _ in range(busy))
    return _DUE.format(queued=queued, busy=f' AND m."chat_id" NOT IN ({marks})')


def due_plan(busy: Collection[int]) -> sql.Plan[list[Row]]:
    """The oldest queued messages (``id``, ``chat_id``, ``next_attempt_at`` as an aware time,
    ``channel``), of chats other than ``busy``, oldest first. Pure."""
    left_out = sorted(busy)
    if left_out:  # padded to a power of two: a few statements, whatever the count
        size = 1 << (len(left_out) - 1).bit_length()
        left_out += [left_out[-1]] * (size - len(left_out))
    # The dialect is asked here, not in the plan's steps (which may run in SQLite's thread).
    due = _due(len(left_out), sqlite=not sql.is_postgres())
    return _due_rows(due, [Status.QUEUED.value, False, *left_out, DUE_LIMIT])


def _due_rows(due: str, values: list[Any]) -> sql.Plan[list[Row]]:
    rows = yield due, values
    return [sql.values(Message, row) for row in rows]


def queue_depth_plan() -> sql.Plan[int]:
    """How many replies wait to be sent. Pure."""
    rows = yield QUEUE_DEPTH, [Status.QUEUED.value, False]
    return int(rows[0]["queued"]) if rows else 0


def delivery_plan(message_id: int) -> sql.Plan[tuple[Row, list[Row]] | None]:
    """The message with its chat, if still queued, and the provider ids before it. Pure. On
    PostgreSQL, where each statement is a round trip, one statement reads both
    (:data:`DELIVERY_WITH_EARLIER`)."""
    if sql.is_postgres():
        return _delivery_in_one(message_id)
    return _delivery_in_two(message_id)


def _delivery_in_one(message_id: int) -> sql.Plan[tuple[Row, list[Row]] | None]:
    rows = yield DELIVERY_WITH_EARLIER, [Status.QUEUED.value, message_id]
    if not rows or rows[0]["status"] != Status.QUEUED.value:
        return None
    row = {name: value for name, value in rows[0].items() if not name.startswith("$")}
    earlier = [{"external_id": r["$external_id"], "sender": r["$sender"]}
               for r in rows if r["$external_id"] is not None]  # fmt: skip
    return row, earlier


def _delivery_in_two(message_id: int) -> sql.Plan[tuple[Row, list[Row]] | None]:
    rows = yield DELIVERY_ROW, [message_id]
    if not rows or rows[0]["status"] != Status.QUEUED.value:
        return None
    earlier = yield EARLIER_IDS, [rows[0]["chat_id"], message_id]
    return rows[0], earlier


def retry_plan(message_id: int, attempts: int, at: datetime | str, error: str) -> sql.Plan[None]:
    """One more failed attempt, the next one not before ``at``. Pure."""
    yield RETRY_LATER, [attempts, at, error[:512], message_id]


def finish_plan(items: Sequence[Sequence[Any]]) -> sql.Plan[tuple[list[Row | None], Chats]]:
    """Each message's outcome (status, error, external id, attempts, message id), read back
    and moved on by the receipts that came before it; then who may see their chats. Pure.
    On PostgreSQL the outcomes are recorded in one statement (:func:`_finish_together`)."""
    ids = [values[4] for values in items]
    if sql.is_postgres() and len(set(ids)) == len(ids):
        return _finish_together(items)
    return _finish_one_by_one(items)


def _finish_one_by_one(
    items: Sequence[Sequence[Any]],
) -> sql.Plan[tuple[list[Row | None], Chats]]:
    """:func:`finish_plan` a statement or two per message: each runs in microseconds on
    SQLite."""
    updated: list[Row | None] = []
    for values in items:
        rows = yield FINISH, values
        external_id = values[2]
        if rows and external_id is not None:
            early = yield EARLY_RECEIPTS, [external_id]
            if early:
                rows = yield from _apply_early(rows, early)
                yield FORGET_RECEIPTS, [external_id]
        updated.append(rows[0] if rows else None)
    return updated, (yield from _chats(updated))


# PostgreSQL runs a plan a statement at a time, each a round trip (see ``storage.sql``): there
# the outcomes of a batch of sends are recorded in one statement, and the receipts that came
# before them are looked up in one more.
_OUTCOME = ("status", "error", "external_id", "attempts", "id")
_M_ROW = columns.row(Message, '"m".')
_OUTCOME_ROW = "(?::text, ?::text, ?::text, ?::integer, ?::integer)"
FINISH_ALL = (  # the columns are the model's, not input
    f'WITH "d" ({columns.quoted(_OUTCOME)}) AS (VALUES {{outcomes}}) '  # noqa: S608
    'UPDATE "messages" AS "m" SET "status" = "d"."status", "error" = "d"."error", '
    '"external_id" = COALESCE("d"."external_id", "m"."external_id"), '
    '"attempts" = COALESCE("d"."attempts", "m"."attempts") FROM "d" WHERE "m"."id" = "d"."id" '
    f"RETURNING {_M_ROW}"
)
EARLY_RECEIPTS_OF = (
    'SELECT "external_id", "status", "error" FROM "early_receipts" WHERE "external_id" IN ({marks})'
)
PG_STATEMENTS = (
    DELIVERY_WITH_EARLIER,
    FINISH_ALL.format(outcomes=f"{_OUTCOME_ROW}, {_OUTCOME_ROW}"),
    EARLY_RECEIPTS_OF.format(marks="?, ?"),
)


def _finish_together(
    items: Sequence[Sequence[Any]],
) -> sql.Plan[tuple[list[Row | None], Chats]]:
    """:func:`finish_plan` on PostgreSQL (see above), for distinct messages."""
    if not items:
        return [], {}
    rows = yield (
        FINISH_ALL.format(outcomes=", ".join(_OUTCOME_ROW for _ in items)),
        [value for values in items for value in values],
    )
    by_id: dict[int, Row] = {int(row["id"]): row for row in rows}
    sent = [values[2] for values in items if values[2] is not None and values[4] in by_id]
    early: dict[str, list[Row]] = {}
    if sent:
        found = yield EARLY_RECEIPTS_OF.format(marks=", ".join("?" for _ in sent)), sent
        for receipt in found:
            early.setdefault(receipt["external_id"], []).append(receipt)
    updated: list[Row | None] = []
    for values in items:
        row = by_id.get(values[4])
        external_id = values[2]
        if row is not None and external_id is not None and external_id in early:
            applied = yield from _apply_early([row], early[external_id])
            row = applied[0] if applied else None
            yield FORGET_RECEIPTS, [external_id]
        updated.append(row)
    return updated, (yield from _chats(updated))


def cancel_target_plan(chat_id: int, message_id: int) -> sql.Plan[tuple[Row | None, Row | None]]:
    """The chat and the message in it (whole rows). Pure."""
    chats = yield CHAT, [chat_id]
    if not chats:
        return None, None
    rows = yield MESSAGE_IN_CHAT, [message_id, chat_id]
    return chats[0], rows[0] if rows else None


def cancel_plan(chat_id: int, message_id: int, error: str) -> sql.Plan[tuple[Row, bool]]:
    """The message failed with ``error`` if it is still queued; its row, and whether it was.
    Pure."""
    rows = yield CANCEL, [Status.FAILED.value, error[:512], message_id, Status.QUEUED.value]
    if rows:
        return rows[0], True
    rows = yield MESSAGE_IN_CHAT, [message_id, chat_id]
    return rows[0], False


def status_plan(
    updates: Sequence[tuple[str, str, str | None]],
) -> sql.Plan[tuple[list[Row | None], Chats]]:
    """Each receipt (external id, status, error) moves its message forward only (a late
    'delivered' never undoes 'read'), read back when it did; one that came before its send
    was recorded waits (see :func:`finish_plan`). Then who may see those chats. Pure."""
    changed: list[Row | None] = []
    for external_id, status, error in updates:
        found = yield STATUS_OF, [external_id, Sender.CUSTOMER.value]
        if not found:  # early: the send it is about is not recorded yet
            yield KEEP_RECEIPT, [
                external_id, status, (error or "")[:512] or None, datetime.now(UTC),
                *_RECEIPT_DEFAULT_VALUES,
            ]  # fmt: skip
            changed.append(None)
            continue
        if RANK[Status(status)] <= RANK[Status(found[0]["status"])]:
            changed.append(None)  # repeated or out of order: nothing to change
            continue
        if status == Status.FAILED.value:
            reason = (error or "the provider reported a failure")[:512]
            rows = yield SET_FAILED, [status, reason, found[0]["id"]]
        else:
            rows = yield SET_STATUS, [status, found[0]["id"]]
        changed.append(rows[0] if rows else None)
    return changed, (yield from _chats(changed))


def _chats(rows: Sequence[Row | None]) -> sql.Plan[Chats]:
    """The chats of these message rows (one query for all of them)."""
    chat_ids = sorted({row["chat_id"] for row in rows if row is not None})
    if not chat_ids:
        return {}
    marks = ", ".join("?" for _ in chat_ids)
    chats = yield AUDIENCE.format(marks=marks), chat_ids
    return {c["id"]: c for c in chats}


def _apply_early(rows: list[Row], early: list[Row]) -> sql.Plan[list[Row]]:
    """Move a just-recorded send to the furthest status its early receipts report."""
    best = max(early, key=lambda receipt: RANK[Status(receipt["status"])])
    if RANK[Status(best["status"])] <= RANK[Status(rows[0]["status"])]:
        return rows
    if best["status"] == Status.FAILED.value:
        reason = best["error"] or "the provider reported a failure"
        return (yield SET_FAILED, [best["status"], reason, rows[0]["id"]])
    return (yield SET_STATUS, [best["status"], rows[0]["id"]])


def message_row(row: Row) -> Row:
    """A message row read back by these statements with its values as the ORM reads them
    (JSON parsed, times aware); booleans and enums stay as stored."""
    out = dict(row)
    for name, read in _READERS.items():
        value = out[name]
        if value is not None:
            out[name] = read(value)
    return out


STATEMENTS = (
    _due(0), _due(2), QUEUE_DEPTH, DELIVERY_ROW, EARLIER_IDS, RETRY_LATER, FINISH, SET_STATUS,
    SET_FAILED, CANCEL, CHAT, MESSAGE_IN_CHAT, AUDIENCE.format(marks="?, ?"), STATUS_OF,
    KEEP_RECEIPT, EARLY_RECEIPTS, FORGET_RECEIPTS,
)  # fmt: skip
SQLITE_STATEMENTS = (_due(0, sqlite=True), _due(2, sqlite=True))
