"""bench/reports.py's builder writes what the service would have written: each fact (docs/api.md,
"Reports") beside the message, transition or survey it counts, with its value; and the
reports, read through ``handoff.read.reports``, count exactly what the builder says it wrote
in the range (the figures of bench/README.md are of data the reports read right)."""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from bench import reports as bench
from handoff.domain.modes import Actor
from handoff.read.names import AgentNames, LabelNames
from handoff.read.reports import ReportQuery, Reports
from storage.db import Database

# Every fact beside what it counts (none of these may find a row).
ORPHANS = {
    "a reply without the person's message at its time": """
        SELECT e.id FROM report_events e WHERE e.name IN ('reply', 'first_response')
        AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = e.chat_id
            AND m.sender = 'agent' AND m.agent_id = e.agent_id AND m.created_at = e.at)""",
    "a first response that is not a reply": """
        SELECT e.id FROM report_events e WHERE e.name = 'first_response' AND NOT EXISTS (
            SELECT 1 FROM report_events r WHERE r.chat_id = e.chat_id AND r.name = 'reply'
            AND r.at = e.at AND r.value = e.value)""",
    "a bot fact without the bot's message": """
        SELECT e.id FROM report_events e WHERE e.name IN ('bot_answer', 'bot_fallback')
        AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = e.chat_id
            AND m.sender = 'bot' AND m.created_at = e.at)""",
    "a handoff, claim, close or reopening without its transition": """
        SELECT e.id FROM report_events e WHERE e.name IN
            ('handed_off', 'assigned', 'resolved', 'reopened')
        AND NOT EXISTS (SELECT 1 FROM chat_transitions t WHERE t.chat_id = e.chat_id
            AND t.created_at = e.at AND t.action = CASE e.name
                WHEN 'handed_off' THEN (CASE WHEN e.detail = 'take_over' THEN 'take_over'
                                        ELSE 'handoff' END)
                WHEN 'assigned' THEN 'claim' WHEN 'resolved' THEN 'close'
                ELSE 'customer_wrote' END)""",
    "a survey without the human resolution it follows": """
        SELECT s.id FROM csat_surveys s WHERE NOT EXISTS (SELECT 1 FROM report_events e
            WHERE e.chat_id = s.chat_id AND e.name = 'resolved' AND e.detail = 'human'
            AND e.at = s.sent_at AND e.agent_id = s.agent_id)""",
    "a survey message that is not the chat's survey": """
        SELECT s.id FROM csat_surveys s WHERE s.message_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM messages m WHERE m.id = s.message_id AND m.chat_id = s.chat_id
            AND m.interactive IS NOT NULL)""",
    "a rating out of 1-5, or before its survey": """
        SELECT s.id FROM csat_surveys s WHERE s.rating IS NOT NULL
            AND (s.rating NOT BETWEEN 1 AND 5 OR s.rated_at < s.sent_at)""",
    "a chat in human hands without its handoff": """
        SELECT c.id FROM chats c WHERE c.handed_off_at IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM report_events e WHERE e.chat_id = c.id AND e.name = 'handed_off'
            AND e.at = c.handed_off_at)""",
    "a closed chat whose last transition is not its close": """
        SELECT c.id FROM chats c WHERE c.mode = 'closed' AND (SELECT t.to_mode
            FROM chat_transitions t WHERE t.chat_id = c.id ORDER BY t.id DESC LIMIT 1)
            <> 'closed'""",
}


async def _rows(url: str, sql: str) -> Sequence[Sequence[Any]]:
    if url.startswith("sqlite://"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            return db.execute(sql).fetchall()
    conn = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


async def test_the_builder_writes_facts_the_reports_count(db_url: str) -> None:
    zone = ZoneInfo(bench.TIMEZONE)
    today = datetime(2026, 12, 7, tzinfo=zone)
    end = today.astimezone(UTC)
    first, last = (today - timedelta(days=30)).date(), (today - timedelta(days=1)).date()
    expected = bench.Expected(datetime(first.year, first.month, first.day, tzinfo=zone), end)
    a = argparse.Namespace(chats=600, messages=6000, days=45, agents=4, seed=5)
    business = bench.schedule()
    if db_url.startswith("sqlite://"):
        built = bench.build_sqlite(Path(db_url.removeprefix("sqlite://")), a, business, expected,
                                   end)  # fmt: skip
    else:
        built = await bench.build_postgres(db_url, a, business, expected, end)
    assert built.counts["chats"] == 600
    # Conversations still open at the end write fewer messages; the next chats write them.
    assert 5800 <= built.counts["messages"] <= 6000
    for problem, sql in ORPHANS.items():
        assert await _rows(db_url, sql) == [], problem
    # A claim's wait and a person's resolution: the seconds since the conversation's handoff.
    handoff: dict[int, datetime] = {}
    checked = 0
    facts = await _rows(
        db_url,
        "SELECT chat_id, name, at, value, detail FROM report_events WHERE name IN "
        "('handed_off', 'assigned', 'resolved') ORDER BY chat_id, at, id",
    )
    for chat, name, at, value, detail in facts:
        when = at if isinstance(at, datetime) else datetime.fromisoformat(at)
        if name == "handed_off":
            handoff[chat] = when
        elif name == "assigned" or detail == "human":
            assert value == pytest.approx((when - handoff[chat]).total_seconds(), abs=0.01)
            checked += 1
    assert checked > 50
    assert expected.counts["opened"] > 100 and expected.counts["reopened"] > 0

    database = Database(db_url)
    await database.open(run_migrations=False)
    try:
        reports = Reports(AgentNames(), LabelNames(), bench.TIMEZONE)
        admin = Actor.person(1, is_admin=True)
        summary = await reports.summary(admin, ReportQuery(first.isoformat(), last.isoformat()))
    finally:
        await database.close()
    assert bench.check_totals(summary, expected) == []
    totals = summary["totals"]
    assert totals["resolved"] > totals["bot_resolved"] > 0
    assert totals["first_response_seconds"]["count"] == expected.counts["first_response"] > 0
    assert totals["queue_seconds"]["count"] == expected.counts["assigned"]
    assert totals["reply_seconds"]["count"] == expected.counts["reply"]
