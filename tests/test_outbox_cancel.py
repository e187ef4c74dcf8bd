"""Cancelling a queued reply: POST /chats/{chat_id}/messages/{message_id}/cancel."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from storage.models import Message
from tests.support import Api


async def john(api: Api) -> int:
    """The demo's John Doe: a WhatsApp chat assigned to the demo agent. WhatsApp does not run
    in the test service, so a reply to him stays queued until cancelled."""
    status, rows = await api.get("/chats/?q=John")
    assert status == 200, rows
    return int(rows[0]["id"])


async def queued_reply(api: Api, chat_id: int, text: str) -> int:
    status, body = await api.post(
        "/chats/messages", {"chat_id": chat_id, "text": text, "sender": "agent"}
    )
    assert status == 201 and body["status"] == "queued", body
    return int(body["id"])


async def next_update(ws: aiohttp.ClientWebSocketResponse, message_id: int) -> dict[str, Any]:
    while True:
        frame = json.loads((await ws.receive(timeout=5)).data)
        if frame["type"] == "message.updated" and frame["data"]["message"]["id"] == message_id:
            return dict(frame["data"]["message"])


async def test_an_admin_cancels_a_queued_reply_and_it_is_pushed_live(
    admin: Api, agent: Api
) -> None:
    chat_id = await john(admin)
    message_id = await queued_reply(agent, chat_id, "Sorry, wrong customer")
    ws = await agent.client.ws_connect("/ws", protocols=("bearer", agent.token or ""))
    try:
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "hello"
        status, body = await admin.post(f"/chats/{chat_id}/messages/{message_id}/cancel")
        assert status == 200, body
        assert (body["status"], body["error"]) == ("failed", "cancelled by Admin")
        pushed = await next_update(ws, message_id)  # the chat's agent sees it at once
        assert (pushed["status"], pushed["error"]) == ("failed", "cancelled by Admin")
    finally:
        await ws.close()
    row = await Message.get(id=message_id)
    assert (row.status, row.error) == ("failed", "cancelled by Admin")

    status, body = await admin.post(f"/chats/{chat_id}/messages/{message_id}/cancel")
    assert status == 409 and body["error"]["code"] == "not_queued", body
    assert body["error"]["details"] == {"status": "failed"}


async def test_agents_cancel_only_in_their_own_chats(admin: Api, agent: Api) -> None:
    chat_id = await john(admin)
    own = await queued_reply(agent, chat_id, "Cancel me")
    status, body = await agent.post(f"/chats/{chat_id}/messages/{own}/cancel")
    assert status == 200 and body["error"] == "cancelled by Agent Smith", body

    # A chat that is not theirs: as if it did not exist.
    status, created = await admin.post(
        "/chats/", {"customer_name": "Other", "channel": "WhatsApp", "customer_phone": "62899"}
    )
    assert status == 201, created
    status, _ = await admin.patch(f"/chats/{created['id']}", {"mode": "agent"})
    assert status == 200
    other = await queued_reply(admin, created["id"], "Not yours")
    status, body = await agent.post(f"/chats/{created['id']}/messages/{other}/cancel")
    assert status == 404, body
    assert (await Message.get(id=other)).status == "queued"
    # A message of another chat, a customer's message, an unknown id: 404 too.
    status, _ = await admin.post(f"/chats/{chat_id}/messages/{other}/cancel")
    assert status == 404
    customer = await Message.filter(chat_id=chat_id, sender="customer").first()
    assert customer is not None
    status, _ = await admin.post(f"/chats/{chat_id}/messages/{customer.id}/cancel")
    assert status == 404
    status, _ = await admin.post(f"/chats/{chat_id}/messages/999999/cancel")
    assert status == 404


async def test_a_sent_reply_cannot_be_cancelled(admin: Api) -> None:
    # Recorded as sent (as the outbox records a delivery), then cancelled: too late.
    chat_id = await john(admin)
    message_id = await queued_reply(admin, chat_id, "Already out")
    await Message.filter(id=message_id).update(status="sent", external_id="wamid.sent")
    status, body = await admin.post(f"/chats/{chat_id}/messages/{message_id}/cancel")
    assert status == 409 and body["error"]["details"] == {"status": "sent"}, body
    assert (await Message.get(id=message_id)).status == "sent"
