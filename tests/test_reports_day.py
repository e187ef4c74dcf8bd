"""A day at the desk, built through the real flows on a fake clock, and every metric of the
reports checked against numbers computed by hand here.

Customers write through the WhatsApp mock; people claim, assign, reply and close through the
dashboard API; the shipped FAQ bot answers (behind a test double that takes two seconds of the
fake clock to think). The account's time zone is Asia/Jakarta (UTC+7) and the business hours
(``bot.business_hours``) are 08:00-17:00 on weekdays there. Every time below is Jakarta's, on
Tuesday 2026-12-01.

- A: 07:00 "hi" (the bot: hello_en at 07:00:02), 07:01 "how much is shipping" (shipping_en
  07:01:02); 07:30 an admin closes it: resolved by the bot.
- B: 09:00 "hi" (hello_en 09:00:02), 09:02 "agent" (to the queue at 09:02:02, customer_asked);
  09:05 Ann claims it (178 s in the queue); 09:07 Ann replies (first response 298 s); 09:20 the
  customer writes, 09:22 Ann replies (120 s); 09:30 Ann closes it (1,678 s after the handoff);
  13:00 the customer writes again: reopened for the bot (hello_en 13:00:02).
- C: 16:00 "qwertyuiop" (the bot's fallback, 16:00:02), 16:01 "agent" (queue 16:01:02); 16:50
  an admin assigns it to Bob (2,938 s in the queue); 17:10 Bob replies (4,138 s, 3,538 s of
  them in business hours, which end at 17:00); 17:30 Bob closes it (5,338 s; 3,538 s).
- D: 11:00 "hi" (hello_en 11:00:02); left with the bot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.mock.whatsapp import MockWhatsApp
from storage.models import Chat, ReportEvent
from tests.support import ClientFactory
from tests.test_reports_facts import CLOCKS, THINK, Clock, act, reply, thinking_bot
from tests.test_reports_facts import person as new_person
from tests.whatsapp_support import WhatsApp, running_mock, start_whatsapp

WIB = ZoneInfo("Asia/Jakarta")
DAY = datetime(2026, 12, 1, tzinfo=WIB)  # a Tuesday
HOURS = {day: "08:00-17:00" for day in ("mon", "tue", "wed", "thu", "fri")}
A, B, C, D = "628222000001", "628222000002", "628222000003", "628222000004"


def wib(hh: int, mm: int, ss: int = 0) -> datetime:
    return DAY.replace(hour=hh, minute=mm, second=ss)


@pytest.fixture
async def mock() -> AsyncIterator[MockWhatsApp]:
    async for running in running_mock():
        yield running


@pytest.fixture
async def day(
    mock: MockWhatsApp,
    aiohttp_client: ClientFactory,
    db_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[WhatsApp, dict[str, int]]]:
    """The day above, played; the people's ids by name."""
    clock = Clock(wib(6, 0))
    key = request.node.nodeid
    bot = {**thinking_bot(clock, key), "timezone": "Asia/Jakarta", "business_hours": HOURS}
    wa = await start_whatsapp(
        mock, aiohttp_client, db_url, tmp_path, bot=bot, clock=clock,
        reports={"timezone": "Asia/Jakarta"},
    )  # fmt: skip
    try:
        yield wa, await play(wa, clock)
    finally:
        CLOCKS.pop(key, None)


async def play(wa: WhatsApp, clock: Clock) -> dict[str, int]:
    ann, ann_id = await new_person(wa, "ann")
    bob, bob_id = await new_person(wa, "bob")

    def now(hh: int, mm: int) -> None:
        clock.now = wib(hh, mm)

    now(7, 0)
    await says(wa, A, "hi")
    now(7, 1)
    await says(wa, A, "how much is shipping")
    now(7, 30)
    await act(wa.admin, await chat_id(A), "close")

    now(9, 0)
    await says(wa, B, "hi")
    now(9, 2)
    await says(wa, B, "agent")
    b = await chat_id(B)
    now(9, 5)
    await act(ann, b, "claim")
    now(9, 7)
    await reply(ann, b, "Hello, Ann here")
    now(9, 20)
    await says(wa, B, "one more thing: the colour")
    now(9, 22)
    await reply(ann, b, "Noted, we will swap it")
    now(9, 30)
    await act(ann, b, "close")

    now(11, 0)
    await says(wa, D, "hi")

    now(13, 0)
    await says(wa, B, "hi")

    now(16, 0)
    await says(wa, C, "qwertyuiop")
    now(16, 1)
    await says(wa, C, "agent")
    c = await chat_id(C)
    now(16, 50)
    await act(wa.admin, c, "assign", agent_id=bob_id)
    now(17, 10)
    await reply(bob, c, "Hi, Bob here: what can I do?")
    now(17, 30)
    await act(bob, c, "close")
    return {"ann": ann_id, "bob": bob_id}


async def says(wa: WhatsApp, phone: str, text: str) -> None:
    status, _ = await wa.mock.customer_says("Customer " + phone[-1], text, phone=phone)
    assert status == 200
    await wa.idle()


async def chat_id(phone: str) -> int:
    return (await Chat.get(external_id=phone)).id


async def test_the_days_facts(day: tuple[WhatsApp, dict[str, int]]) -> None:
    """The rows the reports read, as the day made them."""
    _, people = day
    ann, bob = people["ann"], people["bob"]
    a, b, c, d = [await chat_id(phone) for phone in (A, B, C, D)]
    created = {chat.id: chat.created_at for chat in await Chat.all()}
    assert created == {a: wib(7, 0), b: wib(9, 0), c: wib(16, 0), d: wib(11, 0)}
    rows = [
        (row.name, row.at, row.chat_id, row.agent_id, row.value, row.business_value, row.detail)
        for row in await ReportEvent.all().order_by("id")
    ]
    assert rows == [
        ("bot_answer", wib(7, 0, 2), a, None, THINK, 0.0, "hello_en"),
        ("bot_answer", wib(7, 1, 2), a, None, THINK, 0.0, "shipping_en"),
        ("resolved", wib(7, 30), a, None, None, None, "bot"),
        ("bot_answer", wib(9, 0, 2), b, None, THINK, THINK, "hello_en"),
        ("handed_off", wib(9, 2, 2), b, None, None, None, "customer_asked"),
        ("assigned", wib(9, 5), b, ann, 178.0, 178.0, "claim"),
        ("reply", wib(9, 7), b, ann, 298.0, 298.0, None),
        ("first_response", wib(9, 7), b, ann, 298.0, 298.0, None),
        ("reply", wib(9, 22), b, ann, 120.0, 120.0, None),
        ("resolved", wib(9, 30), b, ann, 1678.0, 1678.0, "human"),
        ("bot_answer", wib(11, 0, 2), d, None, THINK, THINK, "hello_en"),
        ("reopened", wib(13, 0), b, None, None, None, "customer_wrote"),
        ("bot_answer", wib(13, 0, 2), b, None, THINK, THINK, "hello_en"),
        ("bot_fallback", wib(16, 0, 2), c, None, THINK, THINK, "qwertyuiop"),
        ("handed_off", wib(16, 1, 2), c, None, None, None, "customer_asked"),
        ("assigned", wib(16, 50), c, bob, 2938.0, 2938.0, "assign"),
        ("reply", wib(17, 10), c, bob, 4138.0, 3538.0, None),
        ("first_response", wib(17, 10), c, bob, 4138.0, 3538.0, None),
        ("resolved", wib(17, 30), c, bob, 5338.0, 3538.0, "human"),
    ]


def stats(median: float, p90: float, average: float, count: int) -> dict[str, Any]:
    return {"median": median, "p90": p90, "average": average, "count": count}


NONE = {"median": None, "p90": None, "average": None, "count": 0}
ZERO = {"opened": 0, "reopened": 0, "handed_off": 0, "resolved": 0, "bot_resolved": 0}
DURATIONS = ("first_response_seconds", "resolution_seconds", "reply_seconds", "queue_seconds")
QUIET = {**ZERO, **{name: NONE for name in DURATIONS}}

# By hand, from the table in the module's docstring (a percentile interpolates between ranks:
# p90 of [a, b] is a + 0.9 (b - a); of [a, b, c] b + 0.8 (c - b)).
TOTALS = {
    "opened": 5,  # chats A, B, C, D created, and B reopened
    "reopened": 1,
    "handed_off": 2,  # B and C
    "resolved": 3,  # A (the bot), B, C
    "bot_resolved": 1,
    "first_response_seconds": stats(2218.0, 3754.0, 2218.0, 2),  # 298, 4138
    "resolution_seconds": stats(3508.0, 4972.0, 3508.0, 2),  # 1678, 5338 (A's is the bot's)
    "reply_seconds": stats(298.0, 3370.0, 1518.7, 3),  # 120, 298, 4138
    "queue_seconds": stats(1558.0, 2662.0, 1558.0, 2),  # 178, 2938
}
# Within 08:00-17:00: C's reply and resolution count 3,538 s each.
BUSINESS_TOTALS = {
    **TOTALS,
    "first_response_seconds": stats(1918.0, 3214.0, 1918.0, 2),  # 298, 3538
    "resolution_seconds": stats(2608.0, 3352.0, 2608.0, 2),  # 1678, 3538
    "reply_seconds": stats(298.0, 2890.0, 1318.7, 3),  # 120, 298, 3538
}


def distribution(*counts: int) -> list[dict[str, Any]]:
    bounds: list[int | None] = [60, 300, 900, 1800, 3600, 14400, 86400, None]
    return [{"le": le, "count": n} for le, n in zip(bounds, counts, strict=True)]


async def test_the_summary(day: tuple[WhatsApp, dict[str, int]]) -> None:
    wa, people = day
    ann, bob = people["ann"], people["bob"]
    status, report = await wa.admin.get("/reports/summary?from=2026-12-01&to=2026-12-01")
    assert status == 200, report
    assert report["from"] == "2026-12-01T00:00:00+07:00"
    assert report["to"] == "2026-12-02T00:00:00+07:00"
    assert report["timezone"] == "Asia/Jakarta"
    assert report["totals"] == TOTALS
    assert report["distributions"] == {
        "first_response_seconds": distribution(0, 1, 0, 0, 0, 1, 0, 0),  # 298, 4138
        "resolution_seconds": distribution(0, 0, 0, 1, 0, 1, 0, 0),  # 1678, 5338
    }
    [only] = report["groups"]
    assert only == {"key": "2026-12-01", "label": "2026-12-01", **TOTALS}

    status, report = await wa.admin.get(
        "/reports/summary?from=2026-12-01&to=2026-12-01&business_hours=true"
    )
    assert status == 200, report
    assert report["business_hours"] is True
    assert report["totals"] == BUSINESS_TOTALS

    status, report = await wa.admin.get(
        "/reports/summary?from=2026-12-01&to=2026-12-01&group_by=hour"
    )
    assert status == 200, report
    hours = {group["key"]: group for group in report["groups"]}
    assert list(hours) == list(range(24))
    busy = {
        7: {**QUIET, "opened": 1, "resolved": 1, "bot_resolved": 1},  # A
        9: {
            **QUIET, "opened": 1, "handed_off": 1, "resolved": 1,  # B
            "first_response_seconds": stats(298.0, 298.0, 298.0, 1),
            "resolution_seconds": stats(1678.0, 1678.0, 1678.0, 1),
            "reply_seconds": stats(209.0, 280.2, 209.0, 2),  # 120, 298
            "queue_seconds": stats(178.0, 178.0, 178.0, 1),
        },
        11: {**QUIET, "opened": 1},  # D
        13: {**QUIET, "opened": 1, "reopened": 1},  # B again
        16: {  # C, assigned at 16:50
            **QUIET, "opened": 1, "handed_off": 1,
            "queue_seconds": stats(2938.0, 2938.0, 2938.0, 1),
        },
        17: {  # C's reply and close
            **QUIET, "resolved": 1,
            "first_response_seconds": stats(4138.0, 4138.0, 4138.0, 1),
            "resolution_seconds": stats(5338.0, 5338.0, 5338.0, 1),
            "reply_seconds": stats(4138.0, 4138.0, 4138.0, 1),
        },
    }  # fmt: skip
    for hour, group in hours.items():
        assert group == {"key": hour, "label": f"{hour:02d}:00", **busy.get(hour, QUIET)}, hour

    status, report = await wa.admin.get(
        "/reports/summary?from=2026-12-01&to=2026-12-01&group_by=agent"
    )
    assert status == 200, report
    agents = {group["key"]: group for group in report["groups"]}
    assert {key: agents[key]["label"] for key in (ann, bob)} == {ann: "ann", bob: "bob"}
    mine = {  # the facts each person is the agent of
        ann: {
            **QUIET, "resolved": 1,
            "first_response_seconds": stats(298.0, 298.0, 298.0, 1),
            "resolution_seconds": stats(1678.0, 1678.0, 1678.0, 1),
            "reply_seconds": stats(209.0, 280.2, 209.0, 2),
            "queue_seconds": stats(178.0, 178.0, 178.0, 1),
        },
        bob: {
            **QUIET, "resolved": 1,
            "first_response_seconds": stats(4138.0, 4138.0, 4138.0, 1),
            "resolution_seconds": stats(5338.0, 5338.0, 5338.0, 1),
            "reply_seconds": stats(4138.0, 4138.0, 4138.0, 1),
            "queue_seconds": stats(2938.0, 2938.0, 2938.0, 1),
        },
    }  # fmt: skip
    for person, expected in mine.items():
        assert {k: v for k, v in agents[person].items() if k not in ("key", "label")} == expected
    nobody = agents[None]  # the queue's handoffs, the customer's reopening, the bot's close
    assert {k: nobody[k] for k in ZERO} == {
        "opened": 5, "reopened": 1, "handed_off": 2, "resolved": 1, "bot_resolved": 1,
    }  # fmt: skip
    for key, group in agents.items():
        if key not in (ann, bob, None):
            assert {k: v for k, v in group.items() if k not in ("key", "label")} == QUIET

    # Ann sees her own numbers, as an admin sees them with her agent_id.
    status, hers = await (await wa.anon.login("ann", "desk-pass-4821")).get(
        "/reports/summary?from=2026-12-01&to=2026-12-01"
    )
    assert status == 200, hers
    assert hers["totals"] == mine[ann]
    status, asked = await wa.admin.get(
        f"/reports/summary?from=2026-12-01&to=2026-12-01&agent_id={ann}"
    )
    assert status == 200, asked
    assert asked["totals"] == mine[ann]


async def test_the_agents(day: tuple[WhatsApp, dict[str, int]]) -> None:
    wa, people = day
    ann, bob = people["ann"], people["bob"]
    status, report = await wa.admin.get("/reports/agents?from=2026-12-01&to=2026-12-01")
    assert status == 200, report
    rows = {row["agent_id"]: row for row in report["agents"]}
    no_csat = {"responses": 0, "average": None}
    assert rows[ann] == {
        "agent_id": ann, "name": "ann", "handled": 1, "replies": 2, "resolved": 1,
        "first_response_seconds": stats(298.0, 298.0, 298.0, 1),
        "resolution_seconds": stats(1678.0, 1678.0, 1678.0, 1),
        "reply_seconds": stats(209.0, 280.2, 209.0, 2),
        "csat": no_csat,
    }  # fmt: skip
    assert rows[bob] == {
        "agent_id": bob, "name": "bob", "handled": 1, "replies": 1, "resolved": 1,
        "first_response_seconds": stats(4138.0, 4138.0, 4138.0, 1),
        "resolution_seconds": stats(5338.0, 5338.0, 5338.0, 1),
        "reply_seconds": stats(4138.0, 4138.0, 4138.0, 1),
        "csat": no_csat,
    }  # fmt: skip
    for person, row in rows.items():  # everyone else active: the seed's people, no facts
        if person not in (ann, bob):
            assert (row["handled"], row["replies"], row["resolved"]) == (0, 0, 0)
            assert row["first_response_seconds"] == row["reply_seconds"] == NONE

    status, report = await wa.admin.get(
        "/reports/agents?from=2026-12-01&to=2026-12-01&business_hours=true"
    )
    assert status == 200, report
    rows = {row["agent_id"]: row for row in report["agents"]}
    assert rows[bob]["first_response_seconds"] == stats(3538.0, 3538.0, 3538.0, 1)
    assert rows[bob]["resolution_seconds"] == stats(3538.0, 3538.0, 3538.0, 1)
    assert rows[ann]["reply_seconds"] == stats(209.0, 280.2, 209.0, 2)


async def test_the_bot(day: tuple[WhatsApp, dict[str, int]]) -> None:
    wa, _ = day
    status, report = await wa.admin.get("/reports/bot?from=2026-12-01&to=2026-12-01")
    assert status == 200, report
    assert {k: v for k, v in report.items() if k not in ("from", "to", "timezone")} == {
        "business_hours": False,
        "conversations": 3,  # closed today: A, B, C
        "opened": 5,
        "resolved": 3,
        "bot_resolved": 1,  # A
        "containment": 0.3333,  # 1 of 3
        "handed_off": 2,
        "handoff_rate": 0.4,  # 2 of 5 opened
        "handoff_reasons": [{"reason": "customer_asked", "count": 2}],
        "answers": 5,  # A twice, B twice (before and after it reopened), D
        "fallbacks": 1,  # C
        "fallback_rate": 0.1667,  # 1 of 6
        "intents": [{"intent": "hello_en", "count": 4}, {"intent": "shipping_en", "count": 1}],
        "unmatched": [{"text": "qwertyuiop", "count": 1, "last_at": "2026-12-01T16:00:02+07:00"}],
        "answer_seconds": stats(THINK, THINK, THINK, 6),
        "llm": {  # the rules bot asks no language model
            **dict.fromkeys(("answers", "handoffs", "failures", "no_match", "budget"), 0),
            **dict.fromkeys(("prompt_tokens", "completion_tokens"), 0),
            "seconds": NONE,
        },
    }
    status, report = await wa.admin.get(
        "/reports/bot?from=2026-12-01&to=2026-12-01&business_hours=true"
    )
    assert status == 200, report
    # A's two answers came before 08:00: none of their seconds are business seconds.
    assert report["answer_seconds"] == stats(2.0, 2.0, 1.3, 6)
    ann = await wa.anon.login("ann", "desk-pass-4821")
    status, _ = await ann.get("/reports/bot?from=2026-12-01&to=2026-12-01")
    assert status == 403
