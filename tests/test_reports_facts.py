"""The facts the reports count (docs/api.md, "Reports"), written by the real flows.

Customers write through the WhatsApp mock, people act through the dashboard API, the shipped
FAQ bot answers; the service runs on a fake clock (``Core.build(clock=...)``) that the test
moves, and each test reads the ``report_events`` rows and the chat's conversation columns.
The bot is the shipped rules bot behind a test double that "thinks" for a few seconds of the
fake clock, so its answer times are known.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import BotContext, Decision
from bot.hours import Schedule
from bot.rules import RulesBot
from bot.settings import BotSettings
from connectors.mock.whatsapp import MockWhatsApp
from storage.models import Chat, ReportEvent
from tests.support import Api, ClientFactory
from tests.whatsapp_support import WhatsApp, running_mock, start_whatsapp

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_BOT: dict[str, Any] = tomllib.loads((ROOT / "config.toml").read_text())["bot"]
DAY = datetime(2026, 12, 1, tzinfo=UTC)  # a Tuesday
THINK = 2.0  # seconds of the fake clock the bot takes to answer


class Clock:
    """The service's current time, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, hh: int, mm: int, ss: int = 0) -> None:
        self.now = DAY.replace(hour=hh, minute=mm, second=ss)


CLOCKS: dict[str, Clock] = {}


class ThinkingBot:
    """The shipped rules bot (a deployment's bot, loaded by its class name), taking
    ``options["think"]`` seconds of the named fake clock to answer."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.clock = CLOCKS[options["clock"]]
        self.think = float(options["think"])
        self.rules = RulesBot(BotSettings.model_validate(options["rules"]))

    async def respond(self, context: BotContext) -> Decision:
        decision = await self.rules.respond(context)
        self.clock.now += timedelta(seconds=self.think)
        return decision


def thinking_bot(clock: Clock, key: str) -> dict[str, Any]:
    rules = copy.deepcopy(SHIPPED_BOT)
    rules.pop("business_hours", None)
    CLOCKS[key] = clock
    return {
        "engine": f"{__name__}:ThinkingBot",
        "options": {"clock": key, "think": THINK, "rules": rules},
    }


@pytest.fixture
async def mock() -> AsyncIterator[MockWhatsApp]:
    async for running in running_mock():
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock(DAY.replace(hour=8))


@pytest.fixture
async def wa(
    mock: MockWhatsApp,
    aiohttp_client: ClientFactory,
    db_url: str,
    tmp_path: Path,
    clock: Clock,
    request: pytest.FixtureRequest,
) -> AsyncIterator[WhatsApp]:
    key = request.node.nodeid
    bot = thinking_bot(clock, key)
    yield await start_whatsapp(mock, aiohttp_client, db_url, tmp_path, bot=bot, clock=clock)
    CLOCKS.pop(key, None)


async def says(wa: WhatsApp, text: str, phone: str = "628111000001") -> None:
    status, _ = await wa.mock.customer_says("Budi", text, phone=phone)
    assert status == 200
    await wa.idle()


async def person(wa: WhatsApp, username: str) -> tuple[Api, int]:
    return await wa.admin.new_user(username, "desk-pass-4821", capacity=5)


async def reply(api: Api, chat_id: int, text: str) -> None:
    status, body = await api.post("/chats/messages", {"chat_id": chat_id, "text": text})
    assert status == 201, body


async def act(api: Api, chat_id: int, action: str, **body: Any) -> None:
    status, answer = await api.post(f"/chats/{chat_id}/{action}", body or None)
    assert status == 200, answer


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return DAY.replace(hour=hh, minute=mm, second=ss)


async def facts(chat_id: int) -> list[tuple[Any, ...]]:
    """(name, at, agent, value, business value, detail) of the chat's facts, in order; the
    channel checked on the way."""
    rows = await ReportEvent.filter(chat_id=chat_id).order_by("id")
    assert {row.channel for row in rows} <= {"WhatsApp"}
    return [
        (row.name, row.at, row.agent_id, row.value, row.business_value, row.detail) for row in rows
    ]


async def conversation(chat_id: int) -> tuple[datetime | None, ...]:
    chat = await Chat.get(id=chat_id)
    return chat.opened_at, chat.handed_off_at, chat.first_response_at


async def test_the_bot_alone_answers_falls_back_and_resolves(wa: WhatsApp, clock: Clock) -> None:
    clock.at(9, 0)
    await says(wa, "hi")
    chat = await Chat.get(external_id="628111000001")
    assert chat.created_at == at(9, 0)  # conversations opened count chats created
    clock.at(9, 1)
    await says(wa, "wher is my ordr??")
    clock.at(9, 2)
    await says(wa, "qwertyuiop   zzz")
    clock.at(9, 5)
    await act(wa.admin, chat.id, "close")
    assert await facts(chat.id) == [
        ("bot_answer", at(9, 0, 2), None, THINK, THINK, "hello_en"),
        ("bot_answer", at(9, 1, 2), None, THINK, THINK, "tracking_en"),
        ("bot_fallback", at(9, 2, 2), None, THINK, THINK, "qwertyuiop zzz"),
        ("resolved", at(9, 5), None, None, None, "bot"),
    ]
    assert await conversation(chat.id) == (None, None, None)
    # The unmatched question is the customer's words: erasing them erases their facts.
    status, erased = await wa.admin.call("DELETE", f"/contacts/{chat.contact_id}")
    assert status == 200, erased
    assert not await ReportEvent.filter(detail="qwertyuiop zzz").exists()
    assert await ReportEvent.all().count() == 0


async def test_a_handoff_waits_in_the_queue_and_people_reply(wa: WhatsApp, clock: Clock) -> None:
    ann, ann_id = await person(wa, "ann")
    clock.at(10, 0)
    await says(wa, "hi")
    chat_id = (await Chat.get(external_id="628111000001")).id
    clock.at(10, 1)
    await says(wa, "agent")  # the bot hands over after thinking: 10:01:02, to the queue
    assert await conversation(chat_id) == (None, at(10, 1, 2), None)
    clock.at(10, 4)
    await act(ann, chat_id, "claim")  # waited 178 s in the queue
    clock.at(10, 6)
    await reply(ann, chat_id, "Hello, Ann here")  # waiting since the handoff: 298 s
    assert await conversation(chat_id) == (None, at(10, 1, 2), at(10, 6))
    clock.at(10, 7)
    await reply(ann, chat_id, "Let me check your order")  # nobody waits: a follow-up
    clock.at(10, 10)
    await says(wa, "thanks, one more thing")
    clock.at(10, 12)
    await says(wa, "the colour is wrong too")
    clock.at(10, 15)
    await reply(ann, chat_id, "Noted, we will swap it")  # waiting since 10:10: 300 s
    clock.at(10, 20)
    await act(ann, chat_id, "close")  # 1138 s after the handoff
    assert await facts(chat_id) == [
        ("bot_answer", at(10, 0, 2), None, THINK, THINK, "hello_en"),
        ("handed_off", at(10, 1, 2), None, None, None, "customer_asked"),
        ("assigned", at(10, 4), ann_id, 178.0, 178.0, "claim"),
        ("reply", at(10, 6), ann_id, 298.0, 298.0, None),
        ("first_response", at(10, 6), ann_id, 298.0, 298.0, None),
        ("reply", at(10, 15), ann_id, 300.0, 300.0, None),
        ("resolved", at(10, 20), ann_id, 1138.0, 1138.0, "human"),
    ]
    # The close keeps the conversation's handoff; the customer writing again opens another.
    assert await conversation(chat_id) == (None, at(10, 1, 2), at(10, 6))
    clock.at(11, 0)
    await says(wa, "hi")
    assert await conversation(chat_id) == (at(11, 0), None, None)
    assert (await facts(chat_id))[7:] == [
        ("reopened", at(11, 0), None, None, None, "customer_wrote"),
        ("bot_answer", at(11, 0, 2), None, THINK, THINK, "hello_en"),
    ]


async def test_reopening_assigning_and_follow_ups(wa: WhatsApp, clock: Clock) -> None:
    ann, ann_id = await person(wa, "ann")
    clock.at(12, 0)
    await says(wa, "hi")
    chat_id = (await Chat.get(external_id="628111000001")).id
    clock.at(12, 3)
    # The customer's message the bot had reaches human hands with the chat.
    await act(wa.admin, chat_id, "assign", agent_id=ann_id)
    clock.at(12, 5)
    await reply(ann, chat_id, "Hi, Ann here: I saw your order")
    clock.at(12, 6)
    await act(ann, chat_id, "close")
    clock.at(13, 0)
    await act(wa.admin, chat_id, "reopen")  # back to its agent, Ann
    clock.at(13, 2)
    await reply(ann, chat_id, "Following up on your order")  # nobody waits: no reply
    clock.at(13, 30)
    await says(wa, "ok thanks")
    clock.at(13, 31)
    await act(ann, chat_id, "unassign")
    clock.at(13, 40)
    await act(wa.admin, chat_id, "assign", agent_id=ann_id)
    clock.at(13, 45)
    await reply(ann, chat_id, "You're welcome")
    assert await facts(chat_id) == [
        ("bot_answer", at(12, 0, 2), None, THINK, THINK, "hello_en"),
        ("handed_off", at(12, 3), ann_id, None, None, "assign"),
        ("reply", at(12, 5), ann_id, 120.0, 120.0, None),
        ("first_response", at(12, 5), ann_id, 120.0, 120.0, None),
        ("resolved", at(12, 6), ann_id, 180.0, 180.0, "human"),
        ("reopened", at(13, 0), ann_id, None, None, "reopen"),
        ("handed_off", at(13, 0), ann_id, None, None, "reopen"),
        ("assigned", at(13, 40), ann_id, 540.0, 540.0, "assign"),
        ("reply", at(13, 45), ann_id, 900.0, 900.0, None),
        ("first_response", at(13, 45), ann_id, 900.0, 900.0, None),
    ]
    assert await conversation(chat_id) == (at(13, 0), at(13, 0), at(13, 45))


def test_business_seconds_count_open_hours_only_holidays_closed() -> None:
    jakarta = ZoneInfo("Asia/Jakarta")  # UTC+7, no clock changes
    weekday = ((8 * 60, 12 * 60), (13 * 60, 17 * 60))
    week = (weekday,) * 5 + (((9 * 60, 12 * 60),), ())  # Saturday mornings, Sunday closed
    christmas = datetime(2026, 12, 25).date()  # a Friday
    hours = Schedule(jakarta, week, {christmas})

    def wib(day: int, hh: int, mm: int = 0) -> datetime:
        return datetime(2026, 12, day, hh, mm, tzinfo=jakarta)

    assert hours.business_seconds(wib(1, 7), wib(1, 9)) == 3600  # opens at 08:00
    assert hours.business_seconds(wib(1, 11, 30), wib(1, 13, 30)) == 3600  # lunch closed
    assert hours.business_seconds(wib(1, 16), wib(2, 9)) == 2 * 3600  # over the night
    assert hours.business_seconds(wib(1, 9), wib(1, 9)) == 0
    assert hours.business_seconds(wib(2, 9), wib(1, 9)) == 0  # backwards: nothing
    # Thursday 16:00 to Monday 09:00: an hour, Christmas Friday closed, Saturday's three
    # hours, Sunday closed, Monday's first hour.
    assert hours.business_seconds(wib(24, 16), wib(28, 9)) == (1 + 3 + 1) * 3600
    # The same instants in another zone count the same.
    assert hours.business_seconds(wib(1, 7).astimezone(UTC), wib(1, 9).astimezone(UTC)) == 3600
    # A whole week: five days of eight hours and a Saturday morning.
    assert hours.business_seconds(wib(7, 0), wib(14, 0)) == (5 * 8 + 3) * 3600
    always = Schedule(jakarta, None, ())
    assert always.business_seconds(wib(1, 7), wib(3, 7, 30)) == 2 * 86400 + 1800
    # A day up to 24:00 ends at the next midnight.
    late = Schedule(jakarta, (((20 * 60, 24 * 60),),) * 7, ())
    assert late.business_seconds(wib(1, 23), wib(2, 1)) == 3600


def test_business_seconds_follow_a_clock_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # 2026-03-29 02:00 -> 03:00: a 23-hour day
    hours = Schedule(berlin, (((0, 24 * 60),),) * 7, ())
    start = datetime(2026, 3, 29, 0, 0, tzinfo=berlin)
    end = datetime(2026, 3, 30, 0, 0, tzinfo=berlin)
    assert hours.business_seconds(start, end) == 23 * 3600
