"""Conversations through the WhatsApp mock: the bot answers, hands over, and humans pick up.

Each test reads as the scenario it checks: what the customer writes, what comes back
out of the (mock) provider, and who ends up with the chat.
"""

from __future__ import annotations

import asyncio
import copy
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from connectors.mock.whatsapp import MockWhatsApp
from handoff.usecases.autopilot import ANSWERING
from storage.models import Chat, ChatTransition, Message
from tests.support import Api, ClientFactory
from tests.whatsapp_support import WhatsApp, eventually, start_whatsapp

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_BOT: dict[str, Any] = tomllib.loads((ROOT / "config.toml").read_text())["bot"]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def shipped_bot(**overrides: Any) -> dict[str, Any]:
    """The shipped [bot] section (the shop's FAQ), open around the clock unless overridden."""
    section = copy.deepcopy(SHIPPED_BOT)
    section.pop("business_hours", None)
    section.update(overrides)
    return section


async def world(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path,
    bot: dict[str, Any],
) -> WhatsApp:  # fmt: skip
    return await start_whatsapp(mock, aiohttp_client, db_url, tmp_path, bot=bot)


async def says(wa: WhatsApp, name: str, text: str, phone: str) -> list[str]:
    """The customer writes; returns what msgcenter sent back to them for it."""
    before = len(wa.mock.sent)
    status, _ = await wa.mock.customer_says(name, text, phone=phone)
    assert status == 200
    await wa.idle()
    return [
        s["request"]["text"]["body"] for s in wa.mock.sent[before:] if s["request"]["to"] == phone
    ]


async def agent(wa: WhatsApp, username: str, *, capacity: int = 5, online: bool = True) -> Api:
    status, body = await wa.admin.post(
        "/users", {"username": username, "password": "desk-pass-4821", "capacity": capacity}
    )
    assert status == 201, body
    person = await wa.anon.login(username, "desk-pass-4821")
    if online:
        assert (await person.post("/presence"))[0] == 200
    return person


async def chat_of(wa: WhatsApp, phone: str) -> Chat:
    return await Chat.get(external_id=phone)


async def test_greeting_then_faq_answers_in_english_with_typos(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    wa = await world(mock, aiohttp_client, db_url, tmp_path, shipped_bot())
    first = await says(wa, "Budi", "hi", "628100001")
    assert len(first) == 1 and first[0].startswith("Hi Budi, welcome to Toko Senja!")
    answer = await says(wa, "Budi", "wher is my ordr??", "628100001")
    assert len(answer) == 1 and "track" in answer[0].lower()
    messages = await Message.filter(chat__external_id="628100001").order_by("id")
    assert [m.sender for m in messages] == ["customer", "bot", "customer", "bot"]
    assert {m.status for m in messages if m.sender == "bot"} <= {"sent", "delivered", "read"}


async def test_faq_answers_in_indonesian_with_typos(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    wa = await world(mock, aiohttp_client, db_url, tmp_path, shipped_bot())
    await says(wa, "Sari", "halo", "628100002")
    answer = await says(wa, "Sari", "berapa ongkir ke surabya", "628100002")
    assert len(answer) == 1 and "Ongkir" in answer[0]
    answer = await says(wa, "Sari", "METODE PEMBAYARAN??", "628100002")
    assert len(answer) == 1 and "transfer" in answer[0].lower()


async def test_two_fallbacks_in_a_row_hand_the_chat_to_the_queue(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    wa = await world(mock, aiohttp_client, db_url, tmp_path, shipped_bot())
    await says(wa, "Rina", "hello", "628100003")
    first = await says(wa, "Rina", "qwzx blorp", "628100003")
    assert first and first[0].startswith("Sorry, I didn't get that")
    second = await says(wa, "Rina", "flibber jabber", "628100003")
    assert second == ["Connecting you to an agent... / Menghubungkan Kakak dengan tim kami..."]
    chat = await chat_of(wa, "628100003")
    assert (chat.mode, chat.assigned_agent_id) == ("agent", None)  # nobody online: queued
    assert "not understood" in (chat.handoff_reason or "")
    _, queue = await wa.admin.get("/chats/queue")
    assert [row["name"] for row in queue] == ["Rina"]


async def test_asking_for_a_human_goes_to_the_least_loaded_online_agent(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    wa = await world(mock, aiohttp_client, db_url, tmp_path, shipped_bot())
    busy = await agent(wa, "busy")
    free = await agent(wa, "free")
    await agent(wa, "away", online=False)
    _, busy_me = await busy.get("/auth/me")
    # "busy" already holds a chat
    await says(wa, "Old", "I want to talk to a human", "628100009")
    held = await chat_of(wa, "628100009")
    if held.assigned_agent_id != busy_me["id"]:
        await wa.admin.post(f"/chats/{held.id}/assign", {"agent_id": busy_me["id"]})
    sent = await says(wa, "Dewi", "I want to talk to a human", "628100004")
    assert sent == ["Connecting you to an agent... / Menghubungkan Kakak dengan tim kami..."]
    chat = await chat_of(wa, "628100004")
    _, free_me = await free.get("/auth/me")
    assert (chat.mode, chat.assigned_agent_id) == ("agent", free_me["id"])
    notes = await Message.filter(chat_id=chat.id, internal=True).order_by("id")
    assert [n.text for n in notes][-1] == "Assigned to free by system (automatic)"
    _, mine = await free.get("/chats/")
    assert [row["name"] for row in mine] == ["Dewi"]
    # the bot is silent from now on
    assert await says(wa, "Dewi", "halo?", "628100004") == []


async def test_a_full_team_queues_the_chat_until_someone_frees_a_place(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    wa = await world(mock, aiohttp_client, db_url, tmp_path, shipped_bot())
    solo = await agent(wa, "solo", capacity=1)
    await says(wa, "First", "agent please", "628100005")
    first = await chat_of(wa, "628100005")
    _, me = await solo.get("/auth/me")
    assert first.assigned_agent_id == me["id"]
    await says(wa, "Second", "human please", "628100006")
    second = await chat_of(wa, "628100006")
    assert (second.mode, second.assigned_agent_id) == ("agent", None)  # queued: solo is full
    assert (await solo.post(f"/chats/{first.id}/close"))[0] == 200

    async def assigned() -> bool:
        await second.refresh_from_db()
        return second.assigned_agent_id == me["id"]

    await eventually(assigned, "the queued chat assigned to the freed agent", within=1.0)


async def test_out_of_hours_the_customer_hears_when_humans_are_back_and_keeps_a_place(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    today = datetime.now(ZoneInfo("Asia/Jakarta")).weekday()
    hours = {day: "08:00-20:00" for day in DAYS}
    hours[DAYS[today]] = hours[DAYS[(today + 1) % 7]] = "closed"  # closed today and tomorrow
    wa = await world(mock, aiohttp_client, db_url, tmp_path, shipped_bot(business_hours=hours))
    await says(wa, "Yanti", "halo", "628100007")
    sent = await says(wa, "Yanti", "bisa bicara dengan admin?", "628100007")
    assert len(sent) == 1
    assert "offline" in sent[0] and "08:00 WIB" in sent[0]
    assert "Connecting you" not in sent[0]  # one message, not two that contradict
    chat = await chat_of(wa, "628100007")
    assert (chat.mode, chat.assigned_agent_id) == ("agent", None)


def closed_today_and_tomorrow() -> dict[str, str]:
    today = datetime.now(ZoneInfo("Asia/Jakarta")).weekday()
    hours = {day: "08:00-20:00" for day in DAYS}
    hours[DAYS[today]] = hours[DAYS[(today + 1) % 7]] = "closed"
    return hours


async def test_out_of_hours_an_online_agent_with_room_takes_the_chat_without_an_offline_note(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    """Issue 15, item 9: nobody is told "our team is offline" by a chat an agent takes now."""
    bot = shipped_bot(business_hours=closed_today_and_tomorrow())
    wa = await world(mock, aiohttp_client, db_url, tmp_path, bot)
    late = await agent(wa, "late")
    _, me = await late.get("/auth/me")
    await says(wa, "Yanti", "halo", "628100012")
    sent = await says(wa, "Yanti", "bisa bicara dengan admin?", "628100012")
    assert sent == ["Connecting you to an agent... / Menghubungkan Kakak dengan tim kami..."]
    chat = await chat_of(wa, "628100012")

    async def assigned() -> bool:
        await chat.refresh_from_db()
        return chat.assigned_agent_id == me["id"]

    await eventually(assigned, "the chat assigned to the online agent", within=1.0)
    texts = await Message.filter(chat_id=chat.id).values_list("text", flat=True)
    assert not [text for text in texts if "offline" in str(text)]
    # still recorded as having come outside business hours
    assert (chat.handoff_reason or "").endswith("; outside business hours")


async def test_out_of_hours_a_full_agent_online_still_means_the_offline_note(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    bot = shipped_bot(business_hours=closed_today_and_tomorrow())
    wa = await world(mock, aiohttp_client, db_url, tmp_path, bot)
    await agent(wa, "full", capacity=1)
    await says(wa, "First", "agent please", "628100013")  # takes full's only place
    sent = await says(wa, "Second", "agent please", "628100014")
    assert len(sent) == 1 and "offline" in sent[0] and "Connecting you" not in sent[0]
    second = await chat_of(wa, "628100014")
    assert (second.mode, second.assigned_agent_id) == ("agent", None)


async def test_system_notes_carry_their_meaning_as_data(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    """Issue 15, item 11: a note's action, actors and reason code, for any language."""
    wa = await world(mock, aiohttp_client, db_url, tmp_path, shipped_bot())
    free = await agent(wa, "free")
    await says(wa, "Dewi", "I want to talk to a human", "628100015")
    chat = await chat_of(wa, "628100015")
    _, detail = await free.get(f"/chats/{chat.id}")
    notes = [m["note"] for m in detail["messages"] if m["sender"] == "system" and m["internal"]]
    assert notes == [
        {"action": "handoff", "by": None, "by_kind": "bot", "to": None, "from": None,
         "reason": "customer_asked", "reason_text": "customer asked for a human ('human')"},
        {"action": "assign", "by": None, "by_kind": "system", "to": "free", "from": None,
         "reason": "automatic", "reason_text": "automatic"},
    ]  # fmt: skip
    assert all(m["note"] is None for m in detail["messages"] if not m["internal"])
    assert (detail["handoff_reason"], detail["handoff_reason_code"]) == (
        "customer asked for a human ('human')", "customer_asked",
    )  # fmt: skip
    status, _ = await free.post(f"/chats/{chat.id}/pause", {"reason": "waiting for a photo"})
    assert status == 200
    _, detail = await free.get(f"/chats/{chat.id}")
    assert detail["messages"][-1]["note"] == {
        "action": "pause", "by": "free", "by_kind": "agent", "to": "free", "from": "free",
        "reason": None, "reason_text": "waiting for a photo",
    }  # fmt: skip
    assert detail["messages"][-1]["text"] == "Paused by free"


async def _external_bot(aiohttp_server: Any, behaviour: str) -> str:
    async def rest_webhook(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if behaviour == "slow":
            await asyncio.sleep(2)
        if behaviour == "broken":
            return web.Response(status=500, text="boom")
        if body["message"].lower().startswith("human"):
            return web.json_response(
                [{"recipient_id": body["sender"], "custom": {"handoff": True}}]
            )
        return web.json_response(
            [{"recipient_id": body["sender"], "text": f"Rasa says: {body['message']}"}]
        )

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", rest_webhook)
    server = await aiohttp_server(app)
    return str(server.make_url("/webhooks/rest/webhook"))


@pytest.mark.parametrize("behaviour", ["answers", "slow", "broken"])
async def test_an_external_bot_answers_or_the_chat_goes_to_a_human(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, aiohttp_server: Any, db_url: str,
    tmp_path: Path, behaviour: str,
) -> None:  # fmt: skip
    url = await _external_bot(aiohttp_server, behaviour)
    bot = {"engine": "webhook", "webhook": {"url": url, "timeout_s": 0.5}}
    wa = await world(mock, aiohttp_client, db_url, tmp_path, bot)
    sent = await says(wa, "Eka", "where is my order", "628100008")
    chat = await chat_of(wa, "628100008")
    if behaviour == "answers":
        assert sent == ["Rasa says: where is my order"]
        assert chat.mode == "bot"
        await says(wa, "Eka", "human please", "628100008")
        await chat.refresh_from_db()
        assert chat.mode == "agent"
    else:
        assert chat.mode == "agent"  # never silent: a human gets it
        assert (chat.handoff_reason or "").startswith("bot unavailable")
        assert len(sent) == 1 and sent[0].startswith("Connecting you to an agent")


async def test_a_bot_that_raises_hands_over_too(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    wa = await world(mock, aiohttp_client, db_url, tmp_path, {"engine": "tests.fakes:BrokenBot"})
    await says(wa, "Fajar", "hello", "628100010")
    chat = await chat_of(wa, "628100010")
    assert (chat.mode, chat.handoff_reason) == ("agent", "bot unavailable: RuntimeError")


async def test_a_handoff_while_the_bot_is_thinking_sends_no_bot_answer(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    bot = {"engine": "tests.fakes:SlowBot", "options": {"delay": 0.5}}
    wa = await world(mock, aiohttp_client, db_url, tmp_path, bot)
    status, _ = await wa.mock.customer_says("Gita", "hello?", phone="628100011")
    assert status == 200
    autopilot = wa.service.core.autopilot
    assert autopilot is not None
    await eventually(lambda: _started(autopilot.bot), "the bot to start thinking")
    chat = await chat_of(wa, "628100011")
    status, _ = await wa.admin.patch(f"/chats/{chat.id}", {"mode": "agent"})  # a human takes it
    assert status == 200
    await wa.idle()
    assert not [s for s in wa.mock.sent if s["request"]["text"]["body"].startswith("(slow")]
    assert not await Message.filter(chat_id=chat.id, sender="bot").exists()
    transitions = await ChatTransition.filter(chat_id=chat.id).values_list("action", flat=True)
    assert transitions == ["handoff"]


async def test_a_burst_is_answered_a_bounded_number_at_a_time(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    """A burst's answers are released together once it is stored; they run ANSWERING at a
    time (unbounded, their queries queued ahead of the next webhooks' COMMIT)."""
    wa = await world(mock, aiohttp_client, db_url, tmp_path, {"engine": "tests.fakes:PeakBot"})
    count = ANSWERING * 3
    phones = [f"6281200{i:03d}" for i in range(count)]
    said = await asyncio.gather(*(wa.mock.customer_says("Ika", "halo", phone=p) for p in phones))
    assert [status for status, _ in said] == [200] * count
    await wa.idle()
    autopilot = wa.service.core.autopilot
    assert autopilot is not None
    assert 1 < autopilot.bot.peak <= ANSWERING  # type: ignore[attr-defined]
    answered = {s["request"]["to"] for s in wa.mock.sent}
    assert answered == set(phones)


async def _started(bot: Any) -> bool:
    return bool(bot.started.is_set())
