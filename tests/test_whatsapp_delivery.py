"""WhatsApp replies when the Graph API misbehaves, and the 24-hour customer-service window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tortoise import timezone

from connectors.whatsapp import WINDOW_PASSED, WINDOW_RULE
from handoff.usecases.delivery import RetryPolicy
from storage.models import Chat, Message
from tests.whatsapp_support import (
    FAST,
    WhatsApp,
    attempts_of,
    eventually,
    sends_of,
)

# (failure the mock is told, final status, send requests it sees, text in the message's error)
FAILURES: dict[str, tuple[dict[str, Any], tuple[str, ...], int, str | None]] = {
    "429 then sent": (
        {"status": 429, "code": 130429, "retry_after": 1}, ("delivered", "read"), 2, None
    ),
    "pair rate limit then sent": ({"status": 400, "code": 131056}, ("delivered", "read"), 2, None),
    "500 twice then sent": ({"status": 500, "count": 2}, ("delivered", "read"), 3, None),
    "500 until we give up": (
        {"status": 500, "count": 99}, ("failed",), FAST.max_attempts, "WhatsApp API error 131000"
    ),
    "24 hours passed (131047)": ({"status": 400, "code": 131047}, ("failed",), 1, WINDOW_PASSED),
    "token rejected (401)": (
        {"status": 401}, ("failed",), 1, "WhatsApp API error 190: (#190) Invalid OAuth"
    ),
    "bad request (400)": ({"status": 400, "code": 100}, ("failed",), 1, "WhatsApp API error 100"),
    "accepted, then a failed status": (
        {"status": 200, "code": 131047}, ("failed",), 1, WINDOW_PASSED
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", FAILURES.values(), ids=FAILURES.keys())
async def test_provider_failures(
    wa: WhatsApp, case: tuple[dict[str, Any], tuple[str, ...], int, str | None]
) -> None:
    failure, final, requests, error = case
    chat_id, _ = await wa.customer_chat("Dewi", "6287777777777")
    wa.mock.fail(**failure)
    reply = await wa.reply(chat_id, "Your order ships tomorrow.")
    await eventually(lambda: wa.has_status(chat_id, reply, *final), f"status {final}")
    view = await wa.message(chat_id, reply)
    assert attempts_of(wa.mock, "Your order ships tomorrow.") == requests
    if error is None:
        assert view["error"] is None
        [sent] = await sends_of(wa.mock, "Your order ships tomorrow.")
        assert (await Message.get(id=reply)).external_id == sent["id"]
    else:
        assert error in view["error"]


async def test_provider_unreachable_then_back(wa: WhatsApp) -> None:
    wa.service.core.outbox.retry = RetryPolicy(
        max_attempts=1000, base_seconds=0.01, max_seconds=0.02
    )
    chat_id, _ = await wa.customer_chat("Eko", "6288888888888")
    port = wa.mock.port
    await wa.mock.stop()
    reply = await wa.reply(chat_id, "Sorry for the wait!")

    async def retried() -> Message | None:
        row = await Message.get(id=reply)
        return row if row.attempts >= 2 else None

    row = await eventually(retried, "a few refused attempts")
    assert row is not None
    assert row.status == "queued"
    assert "WhatsApp API unreachable" in (row.error or "")
    await wa.mock.start("127.0.0.1", port)
    await eventually(lambda: wa.has_status(chat_id, reply, "read"), "delivery once it is back")
    assert len(await sends_of(wa.mock, "Sorry for the wait!")) == 1


async def test_long_reply_is_split_at_the_text_limit(wa: WhatsApp) -> None:
    chat_id, wamid = await wa.customer_chat("Fitri", "6289999999999")
    text = " ".join(["word"] * 2000)  # 9999 characters: three parts
    reply = await wa.reply(chat_id, text)
    await eventually(lambda: wa.has_status(chat_id, reply, "read"), "the last part read")
    sent = [s for s in wa.mock.sent if s["request"]["text"]["body"].startswith("word")]
    parts = [s["request"] for s in sent]
    assert len(parts) == 3
    assert all(len(p["text"]["body"]) <= 4096 for p in parts)
    assert all(p["text"]["body"].endswith("word ") for p in parts[:-1])  # cut between words
    assert "".join(p["text"]["body"] for p in parts) == text
    assert [p.get("context") for p in parts] == [{"message_id": wamid}, None, None]
    assert (await Message.get(id=reply)).external_id == sent[-1]["id"]


async def test_reply_after_24_hours_is_refused(wa: WhatsApp) -> None:
    chat_id, _ = await wa.customer_chat("Gita", "6281212121212")
    day_ago = timezone.now() - timedelta(hours=24, minutes=1)
    await Chat.filter(id=chat_id).update(last_customer_message_at=day_ago)  # she wrote yesterday
    before = await Message.filter(chat_id=chat_id).count()

    status, body = await wa.admin.post(
        "/chats/messages", {"chat_id": chat_id, "text": "Still there?", "sender": "agent"}
    )
    assert status == 409
    assert body["error"]["code"] == "channel_refused"
    assert body["error"]["message"].startswith(WINDOW_RULE)
    assert f"last wrote at {day_ago:%Y-%m-%d %H:%M} UTC" in body["error"]["message"]
    assert await Message.filter(chat_id=chat_id).count() == before
    assert attempts_of(wa.mock, "Still there?") == 0


async def test_reply_to_a_customer_who_never_wrote_is_refused(wa: WhatsApp) -> None:
    status, chat = await wa.admin.post(
        "/chats/",
        {"customer_name": "Hadi", "channel": "WhatsApp", "customer_phone": "+62 813 0000 0000"},
    )
    assert status == 201, chat
    status, body = await wa.admin.post(
        "/chats/messages", {"chat_id": chat["id"], "text": "Hello Hadi", "sender": "agent"}
    )
    assert (status, body["error"]["code"]) == (409, "channel_refused")
    assert "has not written yet" in body["error"]["message"]
    assert await Message.filter(chat_id=chat["id"]).count() == 0


async def test_control_api(wa: WhatsApp) -> None:
    """What ``msgcenter simulate`` and the demo use: the mock's HTTP control API."""
    mock = wa.mock.url
    async with wa.http.post(
        f"{mock}/_mock/customer", json={"name": "Intan", "text": "Ada promo?"}
    ) as response:
        answer = await response.json()
    assert (answer["status"], answer["wamid"][:6]) == (200, "wamid.")
    row = await wa.chat_row("Intan")
    assert (row["unread"], row["phone"]) == (1, f"+{answer['phone']}")
    await wa.idle()
    async with wa.http.post(f"{mock}/_mock/reset") as response:
        assert response.status == 200

    async with wa.http.post(f"{mock}/_mock/fail", json={"status": 400, "code": 131047}) as response:
        assert response.status == 200
    reply = await wa.reply(row["id"], "Yes: 10% off this week.")
    await eventually(lambda: wa.has_status(row["id"], reply, "failed"), "the injected failure")
    second = await wa.reply(row["id"], "And free shipping.")
    await eventually(lambda: wa.has_status(row["id"], second, "read"), "the next reply read")
    async with wa.http.get(f"{mock}/_mock/sent") as response:
        sent = await response.json()
    assert [s["request"]["text"]["body"] for s in sent] == ["And free shipping."]
    async with wa.http.post(f"{mock}/_mock/reset") as response:
        assert response.status == 200
    assert wa.mock.sent == []
