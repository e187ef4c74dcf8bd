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
from tests.support import Api, ClientFactory
from tests.test_reports_facts import CLOCKS, THINK, Clock, thinking_bot
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
    ann, ann_id = await person(wa, "ann")
    bob, bob_id = await person(wa, "bob")

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


async def person(wa: WhatsApp, username: str) -> tuple[Api, int]:
    status, body = await wa.admin.post(
        "/users", {"username": username, "password": "desk-pass-4821", "capacity": 5}
    )
    assert status == 201, body
    return await wa.anon.login(username, "desk-pass-4821"), int(body["id"])


async def chat_id(phone: str) -> int:
    return (await Chat.get(external_id=phone)).id


async def reply(api: Api, chat: int, text: str) -> None:
    status, body = await api.post("/chats/messages", {"chat_id": chat, "text": text})
    assert status == 201, body


async def act(api: Api, chat: int, action: str, **body: Any) -> None:
    status, answer = await api.post(f"/chats/{chat}/{action}", body or None)
    assert status == 200, answer


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
