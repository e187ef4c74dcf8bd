"""The reports API (docs/api.md "Reports") over facts written directly at known times: every
number is checked against values worked out by hand in the comments, on SQLite and PostgreSQL.

The account's time zone is Asia/Jakarta (UTC+7), so a local day starts at 17:00 UTC the day
before: the facts are placed so that grouping by the UTC day would give other numbers.
2026-03-02 is a Monday. The range asked is ``from=2026-03-02&to=2026-03-03`` (two days,
2026-03-01T17:00Z to 2026-03-03T17:00Z).

The chats (local times):
- c1 WhatsApp, created 03-02 09:00, label "billing": handed off 09:05 to the queue
  (customer_asked), assigned to B 09:06 after 60 s, B's first response 09:08 (180 s; also a
  reply of 180 s), B replies 10:00 (30 s), resolved by B 11:05 (7200 s; business 3600).
- c2 Telegram, created 03-03 06:00 (03-02 23:00 UTC: Monday in UTC, Tuesday here): the bot
  answers 06:00:05 (5 s, opening_hours), falls back 06:01 (3 s) and 06:02 (2 s) on the same
  question in other cases and spaces, closes alone 07:00 (bot).
- c3 Email, created 03-01 23:00 (before the range), labels "billing" and "@vip": reopened by
  A's take-over 03-02 08:00 (handed_off take_over, A), A's first response 08:10 (600 s, a
  reply of 600 s), A replies 03-03 20:00 (4000 s; business 0), resolved by A 03-03 21:00
  (46800 s; business 10800).
- c4 WhatsApp, created 03-04 00:30 (after the range), resolved 03-04 01:00: outside. A bot
  answer at 03-01 23:59 (c3) is outside too.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from handoff.domain.modes import Actor
from handoff.read.names import AgentNames, LabelNames
from handoff.read.reports import ReportQuery, Reports
from msgcenter.settings import Settings
from storage.models import Chat, ChatLabel, CsatSurvey, Label, ReportEvent
from storage.reports import LABEL_COLUMNS
from tests.support import Api, make_settings

JAKARTA = timezone(timedelta(hours=7))
RANGE = "from=2026-03-02&to=2026-03-03"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path / "data", reports={"timezone": "Asia/Jakarta"})


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """2026-03-<day> at that Jakarta time, as UTC (what the service stores: SQLite keeps an
    aware time's text as given, and the statements compare UTC text)."""
    return datetime(2026, 3, day, hour, minute, second, tzinfo=JAKARTA).astimezone(UTC)


async def _me(api: Api) -> int:
    return int((await api.get("/auth/me"))[1]["id"])


async def _name(api: Api) -> str:
    return str((await api.get("/auth/me"))[1]["display_name"])


async def _chat(channel: str, created: datetime, labels: list[int] = ()) -> Chat:  # type: ignore[assignment]
    chat = await Chat.create(
        channel=channel, customer_name=f"{channel} customer", activity_at=created
    )
    await Chat.filter(id=chat.id).update(created_at=created)
    for label_id in labels:
        await ChatLabel.create(chat_id=chat.id, label_id=label_id)
    return chat


async def _fact(
    chat: Chat,
    name: str,
    at: datetime,
    agent: int | None = None,
    value: float | None = None,
    business: float | None = None,
    detail: str | None = None,
) -> None:
    await ReportEvent.create(
        name=name, at=at, chat_id=chat.id, channel=str(chat.channel), agent_id=agent,
        value=value, business_value=value if business is None else business, detail=detail,
    )  # fmt: skip


async def _world(admin: Api, agent: Api) -> tuple[int, int, dict[str, int]]:
    """The chats and facts of the module docstring; (A, B, label ids)."""
    a, b = await _me(admin), await _me(agent)
    billing = await Label.create(name="billing")
    vip = await Label.create(name="@vip")
    c1 = await _chat("WhatsApp", local(2, 9), [billing.id])
    await _fact(c1, "handed_off", local(2, 9, 5), detail="customer_asked")
    await _fact(c1, "assigned", local(2, 9, 6), b, 60, detail="assign")
    await _fact(c1, "first_response", local(2, 9, 8), b, 180)
    await _fact(c1, "reply", local(2, 9, 8), b, 180)
    await _fact(c1, "reply", local(2, 10), b, 30)
    await _fact(c1, "resolved", local(2, 11, 5), b, 7200, 3600, detail="human")
    c2 = await _chat("Telegram", local(3, 6))
    await _fact(c2, "bot_answer", local(3, 6, 0, 5), value=5, detail="opening_hours")
    await _fact(c2, "bot_fallback", local(3, 6, 1), value=3, detail="Where is my PARCEL")
    await _fact(c2, "bot_fallback", local(3, 6, 2), value=2, detail="where is my parcel")
    await _fact(c2, "resolved", local(3, 7), detail="bot")
    c3 = await _chat("Email", local(1, 23), [billing.id, vip.id])
    await _fact(c3, "bot_answer", local(1, 23, 59), value=1, detail="opening_hours")
    await _fact(c3, "reopened", local(2, 8), a, detail="take_over")
    await _fact(c3, "handed_off", local(2, 8), a, detail="take_over")
    await _fact(c3, "first_response", local(2, 8, 10), a, 600)
    await _fact(c3, "reply", local(2, 8, 10), a, 600)
    await _fact(c3, "reply", local(3, 20), a, 4000, 0)
    await _fact(c3, "resolved", local(3, 21), a, 46800, 10800, detail="human")
    c4 = await _chat("WhatsApp", local(4, 0, 30))
    await _fact(c4, "resolved", local(4, 1), b, 1800, detail="human")
    # Surveys: s1 c1 (B) sent and rated 4 with a comment on 03-02; s2 c3 (A) sent and rated 2
    # with a comment on 03-03; s3 c2 not sent (WhatsApp window); s4 (B) sent 03-02, rated
    # 5 on 03-04 (outside); s5 (A) sent 03-01 (outside), rated 5 on 03-02 without comment.
    await _survey(c1, b, local(2, 11, 5), 4, local(2, 11, 10), "quick, thanks")
    await _survey(c3, a, local(3, 21), 2, local(3, 21, 30), "=slow")
    await _survey(c2, None, local(3, 7), None, None, None, status="not_sent")
    await _survey(c4, b, local(2, 12), 5, local(4, 9), None)
    await _survey(c3, a, local(1, 10), 5, local(2, 10), None, opened=local(1, 9))
    return a, b, {"billing": billing.id, "@vip": vip.id}


async def _survey(
    chat: Chat,
    agent: int | None,
    sent: datetime,
    rating: int | None,
    rated: datetime | None,
    comment: str | None,
    *,
    status: str | None = None,
    opened: datetime | None = None,
) -> None:
    await CsatSurvey.create(
        chat_id=chat.id, channel=str(chat.channel), agent_id=agent,
        opened_at=opened or sent - timedelta(hours=3), sent_at=sent,
        status=status or ("commented" if comment else "rated" if rating else "sent"),
        rating=rating, rated_at=rated, comment=comment,
        commented_at=rated + timedelta(minutes=1) if comment and rated else None,
    )  # fmt: skip


def _stats(median: float | None, p90: float | None, average: float | None, count: int) -> Any:
    return {"median": median, "p90": p90, "average": average, "count": count}


NOTHING = _stats(None, None, None, 0)


def _counts(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(row[k] for k in ("opened", "reopened", "handed_off", "resolved", "bot_resolved"))


async def test_summary_by_day_every_number(admin: Api, agent: Api) -> None:
    await _world(admin, agent)
    status, report = await admin.get(f"/reports/summary?{RANGE}")
    assert status == 200, report
    assert report["from"] == "2026-03-02T00:00:00+07:00"
    assert report["to"] == "2026-03-04T00:00:00+07:00"
    assert (report["timezone"], report["group_by"], report["business_hours"]) == (
        "Asia/Jakarta", "day", False,
    )  # fmt: skip
    totals = report["totals"]
    # opened: c1 and c2 created in the range, c3 reopened; handed off c1, c3; resolved c1,
    # c2 (the bot's), c3; c4 and the bot answer of 03-01 are outside.
    assert _counts(totals) == (3, 1, 2, 3, 1)
    # First responses 180, 600: median 390, p90 180 + 0.9 * 420 = 558.
    assert totals["first_response_seconds"] == _stats(390.0, 558.0, 390.0, 2)
    # Resolutions (the bot's has none) 7200, 46800: median 27000, p90 7200 + 0.9 * 39600.
    assert totals["resolution_seconds"] == _stats(27000.0, 42840.0, 27000.0, 2)
    # Replies 30, 180, 600, 4000: median 390, p90 at rank 2.7: 600 + 0.7 * 3400 = 2980.
    assert totals["reply_seconds"] == _stats(390.0, 2980.0, 1202.5, 4)
    assert totals["queue_seconds"] == _stats(60.0, 60.0, 60.0, 1)
    # 180 is in (60, 300], 600 in (300, 900]; 7200 in (3600, 14400], 46800 in (14400, 86400].
    assert report["distributions"] == {
        "first_response_seconds": _buckets({300: 1, 900: 1}),
        "resolution_seconds": _buckets({14400: 1, 86400: 1}),
    }
    first, second = report["groups"]
    assert (first["key"], first["label"], second["key"]) == (
        "2026-03-02",
        "2026-03-02",
        "2026-03-03",
    )
    # Monday: c1 created, c3 reopened; both handed off; c1 resolved.
    assert _counts(first) == (2, 1, 2, 1, 0)
    assert first["first_response_seconds"] == totals["first_response_seconds"]
    assert first["resolution_seconds"] == _stats(7200.0, 7200.0, 7200.0, 1)
    # 30, 180, 600: median 180, p90 at rank 1.8: 180 + 0.8 * 420 = 516; average 270.
    assert first["reply_seconds"] == _stats(180.0, 516.0, 270.0, 3)
    assert first["queue_seconds"] == _stats(60.0, 60.0, 60.0, 1)
    # Tuesday: c2 created (Monday in UTC); c2 (bot) and c3 resolved.
    assert _counts(second) == (1, 0, 0, 2, 1)
    assert second["first_response_seconds"] == NOTHING
    assert second["resolution_seconds"] == _stats(46800.0, 46800.0, 46800.0, 1)
    assert second["reply_seconds"] == _stats(4000.0, 4000.0, 4000.0, 1)
    assert second["queue_seconds"] == NOTHING
    assert set(first) == set(totals) | {"key", "label"}


def _buckets(counts: dict[int | None, int]) -> list[dict[str, Any]]:
    bounds = [60, 300, 900, 1800, 3600, 14400, 86400, None]
    return [{"le": le, "count": counts.get(le, 0)} for le in bounds]


async def test_business_hours_count_the_business_seconds(admin: Api, agent: Api) -> None:
    await _world(admin, agent)
    _, report = await admin.get(f"/reports/summary?{RANGE}&business_hours=true")
    totals = report["totals"]
    assert report["business_hours"] is True
    assert _counts(totals) == (3, 1, 2, 3, 1)
    # Resolutions 3600, 10800: median 7200, p90 3600 + 0.9 * 7200 = 10080.
    assert totals["resolution_seconds"] == _stats(7200.0, 10080.0, 7200.0, 2)
    # Replies 0, 30, 180, 600: median 105, p90 180 + 0.7 * 420 = 474, average 202.5.
    assert totals["reply_seconds"] == _stats(105.0, 474.0, 202.5, 4)
    assert report["distributions"]["resolution_seconds"] == _buckets({3600: 1, 14400: 1})


async def test_weeks_hours_and_weekdays_in_the_account_time_zone(admin: Api, agent: Api) -> None:
    await _world(admin, agent)
    _, weeks = await admin.get(f"/reports/summary?{RANGE}&group_by=week")
    [week] = weeks["groups"]  # Monday 2026-03-02 starts the one week
    assert (week["key"], _counts(week)) == ("2026-03-02", (3, 1, 2, 3, 1))
    assert week["reply_seconds"] == weeks["totals"]["reply_seconds"]
    _, two = await admin.get("/reports/summary?from=2026-02-28&to=2026-03-03&group_by=week")
    assert [g["key"] for g in two["groups"]] == ["2026-02-23", "2026-03-02"]
    # c3 was created on Sunday 03-01: the week before's; with it, 4 opened in all.
    assert _counts(two["groups"][0]) == (1, 0, 0, 0, 0)
    assert two["totals"]["opened"] == 4

    _, hours = await admin.get(f"/reports/summary?{RANGE}&group_by=hour")
    assert [g["key"] for g in hours["groups"]] == list(range(24))
    assert hours["groups"][9]["label"] == "09:00"
    by_hour = {g["key"]: _counts(g) for g in hours["groups"] if any(_counts(g))}
    assert by_hour == {
        6: (1, 0, 0, 0, 0),  # c2 created
        7: (0, 0, 0, 1, 1),  # c2 resolved by the bot
        8: (1, 1, 1, 0, 0),  # c3 reopened and handed off
        9: (1, 0, 1, 0, 0),  # c1 created and handed off
        11: (0, 0, 0, 1, 0),  # c1 resolved
        21: (0, 0, 0, 1, 0),  # c3 resolved
    }
    assert hours["groups"][10]["reply_seconds"] == _stats(30.0, 30.0, 30.0, 1)
    assert hours["groups"][8]["first_response_seconds"] == _stats(600.0, 600.0, 600.0, 1)

    _, weekdays = await admin.get(f"/reports/summary?{RANGE}&group_by=weekday")
    assert [(g["key"], g["label"]) for g in weekdays["groups"]][:2] == [
        (1, "Monday"), (2, "Tuesday"),
    ]  # fmt: skip
    assert [_counts(g) for g in weekdays["groups"]] == [
        (2, 1, 2, 1, 0), (1, 0, 0, 2, 1), *[(0, 0, 0, 0, 0)] * 5,
    ]  # fmt: skip


async def test_channels_agents_and_labels(admin: Api, agent: Api) -> None:
    a, b, labels = await _world(admin, agent)
    _, channels = await admin.get(f"/reports/summary?{RANGE}&group_by=channel")
    assert [(g["key"], _counts(g)) for g in channels["groups"]] == [
        ("Telegram", (1, 0, 0, 1, 1)),  # c2
        ("WhatsApp", (1, 0, 1, 1, 0)),  # c1
        ("Email", (1, 1, 1, 1, 0)),  # c3 reopened
        # Every channel has its group, none of these chats on it.
        ("API", (0, 0, 0, 0, 0)),
        ("Widget", (0, 0, 0, 0, 0)),
    ]

    _, agents = await admin.get(f"/reports/summary?{RANGE}&group_by=agent")
    groups = {g["key"]: g for g in agents["groups"]}
    assert agents["groups"][-1]["key"] is None
    # Nobody's: c1 and c2 created, c1 handed off to the queue, c2 resolved by the bot.
    assert _counts(groups[None]) == (2, 0, 1, 1, 1)
    assert _counts(groups[a]) == (1, 1, 1, 1, 0)
    assert _counts(groups[b]) == (0, 0, 0, 1, 0)
    assert (groups[a]["label"], groups[b]["label"]) == (await _name(admin), await _name(agent))
    assert groups[b]["reply_seconds"] == _stats(105.0, 165.0, 105.0, 2)  # 30, 180
    # 600, 4000: median 2300, p90 600 + 0.9 * 3400 = 3660.
    assert groups[a]["reply_seconds"] == _stats(2300.0, 3660.0, 2300.0, 2)
    assert groups[b]["queue_seconds"] == _stats(60.0, 60.0, 60.0, 1)

    _, by_label = await admin.get(f"/reports/summary?{RANGE}&group_by=label")
    rows = {g["key"]: g for g in by_label["groups"]}
    assert [g["label"] for g in by_label["groups"]] == ["@vip", "billing", None]
    # billing: c1 (created) and c3 (reopened); @vip: c3; no label: c2.
    assert _counts(rows[labels["billing"]]) == (2, 1, 2, 2, 0)
    assert _counts(rows[labels["@vip"]]) == (1, 1, 1, 1, 0)
    assert _counts(rows[None]) == (1, 0, 0, 1, 1)
    assert rows[labels["billing"]]["reply_seconds"] == _stats(390.0, 2980.0, 1202.5, 4)
    assert rows[labels["@vip"]]["reply_seconds"] == _stats(2300.0, 3660.0, 2300.0, 2)
    # The totals count c3's facts once, although it has two labels.
    assert _counts(by_label["totals"]) == (3, 1, 2, 3, 1)
    assert by_label["totals"]["reply_seconds"] == _stats(390.0, 2980.0, 1202.5, 4)
    assert by_label["distributions"]["first_response_seconds"] == _buckets({300: 1, 900: 1})
    # With more than LABEL_COLUMNS labels SQLite groups by label through a sort rather than a
    # column of each label: the same answer (labels on no chat are in no group).
    for n in range(LABEL_COLUMNS):
        await Label.create(name=f"unused {n}")
    _, again = await admin.get(f"/reports/summary?{RANGE}&group_by=label")
    assert again == by_label


async def test_an_agent_sees_their_own_numbers(admin: Api, agent: Api) -> None:
    a, b, _ = await _world(admin, agent)
    status, own = await agent.get(f"/reports/summary?{RANGE}")
    assert status == 200
    # B's facts: the assignment (60 s), the first response 180, replies 180 and 30, c1
    # resolved (7200). The chats created are nobody's; c1 was handed off to the queue.
    assert _counts(own["totals"]) == (0, 0, 0, 1, 0)
    assert own["totals"]["first_response_seconds"] == _stats(180.0, 180.0, 180.0, 1)
    assert own["totals"]["reply_seconds"] == _stats(105.0, 165.0, 105.0, 2)
    assert own["totals"]["queue_seconds"] == _stats(60.0, 60.0, 60.0, 1)
    assert own["totals"]["resolution_seconds"] == _stats(7200.0, 7200.0, 7200.0, 1)
    assert (await agent.get(f"/reports/summary?{RANGE}&agent_id={b}"))[1] == own
    assert (await admin.get(f"/reports/summary?{RANGE}&agent_id={b}"))[1] == own
    _, theirs = await admin.get(f"/reports/summary?{RANGE}&agent_id={a}")
    assert _counts(theirs["totals"]) == (1, 1, 1, 1, 0)

    for path in (f"/reports/summary?agent_id={a}", f"/reports/agents?agent_id={a}",
                 f"/reports/csat?agent_id={a}"):  # fmt: skip
        status, body = await agent.get(path)
        assert (status, body["error"]["code"]) == (403, "forbidden"), path
    status, body = await agent.get("/reports/bot")
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await agent.get("/reports/agents?" + RANGE)
    assert [row["agent_id"] for row in body["agents"]] == [b]
    status, body = await agent.get("/reports/csat?" + RANGE)
    assert (body["agent_id"], body["sent"], body["responses"]) == (b, 2, 1)
    for path in ("/reports/summary", "/reports/agents", "/reports/bot", "/reports/csat"):
        status, _ = await _anon(admin, path)
        assert status == 401, path


async def _anon(api: Api, path: str) -> tuple[int, Any]:
    return await Api(api.client).get(path)


async def test_agents_report(admin: Api, agent: Api) -> None:
    a, b, _ = await _world(admin, agent)
    status, report = await admin.get(f"/reports/agents?{RANGE}")
    assert status == 200
    rows = {row["agent_id"]: row for row in report["agents"]}
    assert [row["name"] for row in report["agents"]] == sorted(
        (row["name"] for row in report["agents"]), key=str.casefold
    )
    assert rows[b] == {
        "agent_id": b, "name": await _name(agent), "handled": 1, "replies": 2, "resolved": 1,
        "first_response_seconds": _stats(180.0, 180.0, 180.0, 1),
        "resolution_seconds": _stats(7200.0, 7200.0, 7200.0, 1),
        "reply_seconds": _stats(105.0, 165.0, 105.0, 2),
        "csat": {"responses": 1, "average": 4.0},  # s1; s4 was rated after the range
    }  # fmt: skip
    assert rows[a] == {
        "agent_id": a, "name": await _name(admin), "handled": 1, "replies": 2, "resolved": 1,
        "first_response_seconds": _stats(600.0, 600.0, 600.0, 1),
        "resolution_seconds": _stats(46800.0, 46800.0, 46800.0, 1),
        "reply_seconds": _stats(2300.0, 3660.0, 2300.0, 2),
        "csat": {"responses": 2, "average": 3.5},  # s2 (2) and s5 (5)
    }  # fmt: skip
    _, one = await admin.get(f"/reports/agents?{RANGE}&agent_id={a}")
    assert one["agents"] == [rows[a]]


async def test_bot_report(admin: Api, agent: Api) -> None:
    await _world(admin, agent)
    # A greeting: an answer without intent and without seconds (counted, not timed), in a
    # chat created before the range.
    c5 = await _chat("Telegram", local(1, 12))
    await _fact(c5, "bot_answer", local(2, 12))
    status, report = await admin.get(f"/reports/bot?{RANGE}")
    assert status == 200
    expected = {
        "conversations": 3, "opened": 3, "resolved": 3, "bot_resolved": 1,
        "containment": 0.3333, "handed_off": 2, "handoff_rate": 0.6667,
        "handoff_reasons": [{"reason": "customer_asked", "count": 1},
                            {"reason": "take_over", "count": 1}],
        "answers": 2, "fallbacks": 2, "fallback_rate": 0.5,
        # The fallbacks' questions are no intents; the greeting's is null, ranked last.
        "intents": [{"intent": "opening_hours", "count": 1}, {"intent": None, "count": 1}],
        # One question in two cases: its text as one of them, counted twice.
        "unmatched": [{"text": "where is my parcel", "count": 2,
                       "last_at": "2026-03-03T06:02:00+07:00"}],
        # 2, 3, 5 s: median 3, p90 at rank 1.8: 3 + 0.8 * 2 = 4.6, average 3.3.
        "answer_seconds": _stats(3.0, 4.6, 3.3, 3),
    }  # fmt: skip
    assert {k: report[k] for k in expected} == expected


async def test_csat_report(admin: Api, agent: Api) -> None:
    a, b, _ = await _world(admin, agent)
    status, report = await admin.get(f"/reports/csat?{RANGE}")
    assert status == 200
    # Sent in the range: s1, s2, s4 (s3 was not sent), all three rated: rate 1.0. Rated in
    # the range: s1 (4), s2 (2), s5 (5): 11 / 3 = 3.7.
    assert (report["sent"], report["responses"], report["response_rate"]) == (3, 3, 1.0)
    assert report["average"] == 3.7
    assert report["ratings"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert report["by_day"] == [
        {"date": "2026-03-02", "sent": 2, "responses": 2, "average": 4.5},
        {"date": "2026-03-03", "sent": 1, "responses": 1, "average": 2.0},
    ]
    assert [
        (c["agent_id"], c["rating"], c["comment"], c["rated_at"]) for c in report["comments"]
    ] == [
        (a, 2, "=slow", "2026-03-03T21:30:00+07:00"),
        (b, 4, "quick, thanks", "2026-03-02T11:10:00+07:00"),
    ]
    _, own = await agent.get(f"/reports/csat?{RANGE}")
    assert (own["sent"], own["responses"], own["response_rate"], own["average"]) == (2, 1, 1.0, 4.0)
    assert [c["comment"] for c in own["comments"]] == ["quick, thanks"]


async def _csv(api: Api, path: str) -> tuple[list[str], list[list[str]]]:
    async with api.client.get(path, headers=api.headers()) as response:
        assert response.status == 200
        assert response.content_type == "text/csv"
        assert response.headers["Content-Disposition"].startswith("attachment; filename=")
        rows = list(csv.reader(io.StringIO(await response.text())))
    return rows[0], rows[1:]


async def test_csv(admin: Api, agent: Api) -> None:
    _, b, labels = await _world(admin, agent)
    header, rows = await _csv(admin, f"/reports/summary?{RANGE}&format=csv")
    assert header == [
        "key", "label", "opened", "reopened", "handed_off", "resolved", "bot_resolved",
        *(f"{d}_{p}" for d in ("first_response", "resolution", "reply", "queue")
          for p in ("median", "p90", "average", "count")),
    ]  # fmt: skip
    assert rows == [
        ["2026-03-02", "2026-03-02", "2", "1", "2", "1", "0",
         "390.0", "558.0", "390.0", "2", "7200.0", "7200.0", "7200.0", "1",
         "180.0", "516.0", "270.0", "3", "60.0", "60.0", "60.0", "1"],
        ["2026-03-03", "2026-03-03", "1", "0", "0", "2", "1",
         "", "", "", "0", "46800.0", "46800.0", "46800.0", "1",
         "4000.0", "4000.0", "4000.0", "1", "", "", "", "0"],
    ]  # fmt: skip
    _, rows = await _csv(admin, f"/reports/summary?{RANGE}&format=csv&group_by=label")
    # A label a spreadsheet would run as a formula is quoted.
    assert [r[:3] for r in rows] == [
        [str(labels["@vip"]), "'@vip", "1"], [str(labels["billing"]), "billing", "2"],
        ["", "", "1"],
    ]  # fmt: skip

    header, rows = await _csv(agent, f"/reports/agents?{RANGE}&format=csv")
    assert header[:5] == ["agent_id", "name", "handled", "replies", "resolved"]
    assert header[-2:] == ["csat_responses", "csat_average"]
    assert rows == [[str(b), await _name(agent), "1", "2", "1", "180.0", "180.0", "180.0", "1",
                     "7200.0", "7200.0", "7200.0", "1", "105.0", "165.0", "105.0", "2",
                     "1", "4.0"]]  # fmt: skip

    header, rows = await _csv(admin, f"/reports/bot?{RANGE}&format=csv")
    assert header == ["kind", "key", "value", "last_at"]
    assert ["total", "containment", "0.3333", ""] in rows
    assert ["handoff_reason", "take_over", "1", ""] in rows
    assert ["intent", "opening_hours", "1", ""] in rows
    assert ["unmatched", "where is my parcel", "2", "2026-03-03T06:02:00+07:00"] in rows
    assert ["answer_seconds", "p90", "4.6", ""] in rows

    header, rows = await _csv(admin, f"/reports/csat?{RANGE}&format=csv")
    assert header == ["date", "sent", "responses", "average"]
    assert rows == [["2026-03-02", "2", "2", "4.5"], ["2026-03-03", "1", "1", "2.0"]]


async def test_ranges(admin: Api) -> None:
    status, report = await admin.get(
        "/reports/summary?from=2026-03-02T08:00&to=2026-03-02T10:00:00Z"
    )
    assert status == 200
    assert (report["from"], report["to"]) == (
        "2026-03-02T08:00:00+07:00",
        "2026-03-02T17:00:00+07:00",
    )
    assert [g["key"] for g in report["groups"]] == ["2026-03-02"]
    status, report = await admin.get("/reports/summary")  # the last 30 days up to now
    assert status == 200
    assert report["from"].endswith("T00:00:00+07:00") and len(report["groups"]) == 30
    today = datetime.now(UTC).astimezone(JAKARTA).date().isoformat()
    assert report["groups"][-1]["key"] == today
    _, only_to = await admin.get("/reports/csat?to=2026-03-31")
    assert (only_to["from"], len(only_to["by_day"])) == ("2026-03-02T00:00:00+07:00", 30)

    for query in ("from=2026-03-05&to=2026-03-01", "from=yesterday", "to=2026-02-30",
                  "from=2025-01-01&to=2026-03-01", "from=2026-03-02T10:00&to=2026-03-02T10:00",
                  "from=2026-03-02T10:00%2B99:00"):  # fmt: skip
        for route in ("summary", "agents", "bot", "csat"):
            status, body = await admin.get(f"/reports/{route}?{query}")
            assert (status, body["error"]["code"]) == (422, "invalid"), (route, query, body)
    for query in ("group_by=year", "format=xml", "agent_id=0", "business_hours=maybe", "x=1"):
        status, body = await admin.get(f"/reports/summary?{query}")
        assert (status, body["error"]["code"]) == (422, "validation_error"), query
    status, body = await admin.get("/reports/csat?group_by=day")  # the summary's alone
    assert status == 422


async def test_a_day_across_a_daylight_saving_change(admin: Api) -> None:
    """Berlin moves from +01:00 to +02:00 at 2026-03-29 02:00 local (01:00 UTC): a fact at
    00:30 on the 30th (22:30 UTC on the 29th) is the 30th's, one at 23:30 on the 28th (22:30
    UTC) the 28th's; hours follow the local clock on each side."""
    berlin = Reports(AgentNames(), LabelNames(), "Europe/Berlin")
    chat = await _chat("WhatsApp", datetime(2026, 3, 28, 22, 30, tzinfo=UTC))
    await _chat("WhatsApp", datetime(2026, 3, 29, 22, 30, tzinfo=UTC))
    await _chat("WhatsApp", datetime(2026, 3, 29, 0, 30, tzinfo=UTC))  # 01:30 CET on the 29th
    await _fact(chat, "reply", datetime(2026, 3, 29, 1, 30, tzinfo=UTC), None, 10)  # 03:30 CEST
    actor = Actor.person(1, is_admin=True)
    query = ReportQuery("2026-03-28", "2026-03-30")
    report = await berlin.summary(actor, query)
    assert report["from"] == "2026-03-28T00:00:00+01:00"
    assert report["to"] == "2026-03-31T00:00:00+02:00"
    assert [(g["key"], g["opened"]) for g in report["groups"]] == [
        ("2026-03-28", 1), ("2026-03-29", 1), ("2026-03-30", 1),
    ]  # fmt: skip
    hours = await berlin.summary(actor, ReportQuery("2026-03-28", "2026-03-30", "hour"))
    opened = {g["key"]: g["opened"] for g in hours["groups"] if g["opened"]}
    assert opened == {23: 1, 0: 1, 1: 1}
    assert hours["groups"][3]["reply_seconds"]["count"] == 1
