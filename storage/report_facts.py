"""The facts the reports count (``report_events``, docs/api.md "Reports"): written in the
transaction of the change they count (``handoff.usecases.reporting`` decides them), and the
one read a human reply needs, since when its customer waits.

The plans are :data:`storage.sql.Plan` s: pure, they may run in SQLite's thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage import columns
from storage.models import Message, ReportEvent, Sender
from storage.sql import Plan, values

FACT_COLUMNS = (
    "name", "at", "chat_id", "channel", "agent_id", "value", "business_value", "detail",
)  # fmt: skip


def insert_facts(rows: int) -> str:
    """The ``INSERT`` of ``rows`` facts (:data:`FACT_COLUMNS` each)."""
    return columns.insert(ReportEvent, FACT_COLUMNS, rows=rows)


INSERT_FACT = insert_facts(1)
# The time of the customer's first message after the chat's last human reply (its newest
# agent message that is not a private note), from ``since`` on (the conversation's start):
# two walks of the (chat_id, id) index, the inner one backwards to the first agent message.
WAITING_SINCE = (
    'SELECT "created_at" FROM "messages" WHERE "chat_id" = ? AND "sender" = ? '
    'AND "created_at" >= ? AND "id" > COALESCE(('
    'SELECT "a"."id" FROM "messages" AS "a" WHERE "a"."chat_id" = ? AND "a"."sender" = ? '
    'AND "a"."internal" = ? ORDER BY "a"."id" DESC LIMIT 1), 0) ORDER BY "id" LIMIT 1'
)
STATEMENTS = (INSERT_FACT, WAITING_SINCE)


@dataclass(frozen=True, slots=True)
class Fact:
    """One row of ``report_events`` (docs/api.md, "Reports": what each ``name`` means)."""

    name: str
    at: datetime | str  # as a statement parameter (``storage.sql.time_param``)
    chat_id: int
    channel: str
    agent_id: int | None = None
    value: float | None = None
    business_value: float | None = None
    detail: str | None = None

    def params(self) -> tuple[Any, ...]:
        return (
            self.name, self.at, self.chat_id, self.channel, self.agent_id, self.value,
            self.business_value, self.detail,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class BotFact:
    """The fact of a bot's answer, written with it (``storage.bot``): its chat, channel and
    time are the answer's."""

    name: str  # bot_answer or bot_fallback
    value: float | None
    business_value: float | None
    detail: str | None


def insert_plan(facts: Sequence[Fact]) -> Plan[None]:
    """Every fact in one statement. Pure."""
    if not facts:
        return None
    values: list[Any] = []
    for fact in facts:
        values += fact.params()
    yield insert_facts(len(facts)), values
    return None


def waiting_plan(chat_id: int, since: datetime | str) -> Plan[datetime | None]:
    """When the chat's customer began waiting for a human reply: the ``created_at`` of their
    first message after the last human reply and from ``since`` on (None: nobody waits).
    Pure."""
    customer, agent = Sender.CUSTOMER.value, Sender.AGENT.value
    rows = yield WAITING_SINCE, [chat_id, customer, since, chat_id, agent, False]
    if not rows:
        return None
    found: datetime = values(Message, rows[0])["created_at"]
    return found
