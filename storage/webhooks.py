"""Outgoing webhooks' hand-written statements (``handoff.usecases.webhooks`` drives them).

:func:`queue_plan` runs in the writer's transaction, right after the event log's append (one
plan with it, see ``handoff.infra.eventlog``): it reads the active endpoints and their event
types (on PostgreSQL locking them against a delete until the commit, so a delivery is never
queued for an endpoint deleted meanwhile) and queues one delivery per endpoint and event it
wants, in multi-row INSERTs. :func:`due_plan` finds what the dispatcher posts next: the
oldest pending delivery of each (endpoint, chat) that is due, of active endpoints.

The plans are :data:`storage.sql.Plan` s: pure, they may run in SQLite's thread.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from storage import columns
from storage.models import WebhookDelivery
from storage.sql import Plan, is_postgres

INSERT_CHUNK = 500  # deliveries per INSERT statement
DUE_LIMIT = 200  # deliveries looked at per pass of the dispatcher

ACTIVE = 'SELECT "id", "events" FROM "webhook_endpoints" WHERE "active"'
# PostgreSQL: the endpoints stay until this transaction commits (a DELETE waits for it).
ACTIVE_LOCKED = ACTIVE + " FOR KEY SHARE"

_GIVEN = (
    "endpoint_id",
    "delivery_id",
    "event_type",
    "chat_id",
    "body",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "queued_at",
)
_DEFAULTS = columns.defaults(WebhookDelivery, _GIVEN)
_NAMES = (*_GIVEN, *_DEFAULTS)
_DEFAULT_VALUES = tuple(_DEFAULTS.values())


@lru_cache(maxsize=64)
def insert_deliveries(count: int) -> str:
    """The INSERT of ``count`` deliveries (the columns of ``_NAMES``)."""
    return columns.insert(WebhookDelivery, _NAMES, rows=count)


# The head of each (endpoint, chat): a delivery of a chat waits while an earlier one of the
# same chat to the same endpoint is pending (retried); deliveries without a chat do not wait.
_HEAD = (
    'WHERE d."status" = \'pending\' AND e."active" '
    'AND (d."chat_id" IS NULL OR NOT EXISTS (SELECT 1 FROM "webhook_deliveries" p '
    'WHERE p."endpoint_id" = d."endpoint_id" AND p."chat_id" = d."chat_id" '
    'AND p."status" = \'pending\' AND p."id" < d."id")) '
)
_JOIN = 'FROM "webhook_deliveries" d JOIN "webhook_endpoints" e ON e."id" = d."endpoint_id" '
DUE = (
    'SELECT d."id", d."endpoint_id", d."delivery_id", d."chat_id", d."body", d."attempts", '
    f'd."queued_at", e."url", e."secret" {_JOIN}{_HEAD}'
    'AND d."next_attempt_at" <= ? ORDER BY d."next_attempt_at", d."id" LIMIT ?'
)
# When the next head not yet due is due (those due now are being posted).
NEXT_DUE = f'SELECT MIN(d."next_attempt_at") AS "due" {_JOIN}{_HEAD}AND d."next_attempt_at" > ?'

# A delivery posted: recorded unless it changed meanwhile (deleted, or queued again).
DELIVERED = (
    'UPDATE "webhook_deliveries" SET "status" = \'delivered\', "attempts" = ?, '
    '"last_attempt_at" = ?, "response_status" = ?, "error" = NULL, "duration_ms" = ?, '
    '"delivered_at" = ?, "next_attempt_at" = NULL '
    'WHERE "id" = ? AND "status" = \'pending\''
)
# Its endpoint is not failing (any more).
SUCCEEDED = (
    'UPDATE "webhook_endpoints" SET "failing_since" = NULL, "failures_in_row" = 0 '
    'WHERE "id" = ? AND "failures_in_row" > 0'
)

STATEMENTS = (ACTIVE, insert_deliveries(2), DUE, NEXT_DUE, DELIVERED, SUCCEEDED)
PG_STATEMENTS = (ACTIVE_LOCKED,)


def new_delivery_id() -> str:
    """A delivery's ``X-Msgcenter-Delivery``: random, never reused."""
    return str(uuid.uuid4())


def body(delivery_id: str, rest: str) -> str:
    """The posted JSON: ``{"id": delivery_id, ...rest}`` (``rest``, a JSON object's text)."""
    return f'{{"id":"{delivery_id}",{rest[1:]}' if rest != "{}" else f'{{"id":"{delivery_id}"}}'


def queue_plan(items: Sequence[tuple[str, int | None, str]], now: datetime | str) -> Plan[int]:
    """Queue each of ``items`` (webhook event type, chat id, the body without its ``id``)
    for every active endpoint that wants its type, at ``now``; how many were queued. Pure."""
    found = yield (ACTIVE_LOCKED if is_postgres() else ACTIVE), []
    rows: list[tuple[Any, ...]] = []
    for endpoint in found:
        wanted = endpoint["events"]
        if isinstance(wanted, str | bytes):
            wanted = json.loads(wanted)
        types = set(wanted) if isinstance(wanted, list) else set()
        for event_type, chat_id, rest in items:
            if event_type in types:
                delivery_id = new_delivery_id()
                rows.append(
                    (endpoint["id"], delivery_id, event_type, chat_id, body(delivery_id, rest))
                )
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        values: list[Any] = []
        for row in chunk:
            values.extend((*row, "pending", 0, now, now, now, *_DEFAULT_VALUES))
        yield insert_deliveries(len(chunk)), values
    return len(rows)


def due_plan(now: datetime | str, limit: int = DUE_LIMIT) -> Plan[list[dict[str, Any]]]:
    """The deliveries to post now (see ``DUE``), soonest due first. Pure."""
    rows = yield DUE, [now, limit]
    return rows


# A delivery posted with success: (id, endpoint id, attempts, response status, duration in
# ms, when: a statement parameter).
Posted = tuple[int, int, int, int, int, datetime | str]


def delivered_plan(posted: Sequence[Posted]) -> Plan[None]:
    """Record deliveries posted with success; their endpoints are failing no more. Pure."""
    for row_id, _, attempts, status, duration_ms, at in posted:
        yield DELIVERED, [attempts, at, status, duration_ms, at, row_id]
    for endpoint_id in sorted({row[1] for row in posted}):
        yield SUCCEEDED, [endpoint_id]


def next_due_plan(now: datetime | str) -> Plan[Any]:
    """When the next delivery to post is due after ``now`` (None: none). Pure."""
    rows = yield NEXT_DUE, [now]
    return rows[0]["due"] if rows else None
