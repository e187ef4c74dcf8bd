"""A widget visitor who leaves an email address while nobody is online gets agents' replies
by email too, through the email channel's relay (the mock relay on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.mock.smtp import MockSmtp
from msgcenter.settings import Settings
from storage.models import Channel, Chat, Message
from tests.support import Api, eventually, make_settings
from tests.test_widget import (
    SITE,
    frames_of,
    make_widget,
    ref,
    session,
    until_frame,
    visitor_socket,
)

ADDRESS = "support@support.example.com"


@pytest.fixture
def settings(db_url: str, tmp_path: Path, relay: MockSmtp) -> Settings:
    email = {
        "enabled": True, "port": 0, "hostname": "mx.test", "domains": ["support.example.com"],
        "address": ADDRESS, "display_name": "Acme Support", "relay_host": "127.0.0.1",
        "relay_port": relay.smtp_port, "relay_timeout_seconds": 5,
    }  # fmt: skip
    return make_settings(db_url, tmp_path / "data", channels={"email": email})


async def test_replies_to_a_visitor_who_left_an_email_while_nobody_was_online_are_mailed(
    admin: Api, anon: Api, relay: MockSmtp
) -> None:
    widget = await make_widget(admin)
    _, started = await session(anon, widget["id"])
    assert started["agents_online"] is False
    ws = await visitor_socket(anon, started["token"])
    await ws.send_json({"type": "profile", "email": "not an address"})
    assert (await until_frame(ws, "error"))["code"] == "invalid"
    await ws.send_json({"type": "profile", "email": "Rina@Customer.example"})
    saved = await until_frame(ws, "profile")
    assert saved["email"] == "rina@customer.example"
    await ws.send_json({"type": "message", "ref": ref(), "text": "Is the red one in stock?"})
    await frames_of(ws, "ack")
    chat = await Chat.get(channel=Channel.WIDGET)
    assert chat.customer_email == "rina@customer.example"
    status, reply = await admin.post(
        "/chats/messages", {"chat_id": chat.id, "text": "Yes, size 42 too."}
    )
    assert status == 201, reply
    pushed = await until_frame(ws, "message", lambda f: f["message"]["id"] == reply["id"])
    assert pushed["message"]["text"] == "Yes, size 42 too."

    async def mailed() -> list[object]:
        return [mail for mail in relay.sent if "size 42" in mail.text]

    (mail,) = await eventually(mailed)
    assert mail.rcpt_tos == ("rina@customer.example",)
    assert mail.subject == "Re: Your chat with us"
    assert "Admin" in mail.from_
    # The bot's answers stay in the chat: only people's replies are mailed.
    bot_texts = await Message.filter(chat_id=chat.id, sender="bot").values_list("text", flat=True)
    assert not [m for m in relay.sent for text in bot_texts if text and text[:20] in m.text]
    # An integration's reply goes out, and is shown, under its key's name.
    status, made = await admin.post(
        "/api-keys", {"name": "Order system", "scopes": ["messages:write"]}
    )
    assert status == 201, made
    status, shipped = await Api(admin.client, made["key"]).post(
        "/chats/messages", {"chat_id": chat.id, "text": "Order 77 has shipped."}
    )
    assert status == 201 and shipped["author"] == "Order system", shipped
    pushed = await until_frame(ws, "message", lambda f: f["message"]["id"] == shipped["id"])
    assert pushed["message"]["name"] == "Order system" and pushed["message"]["sender"] == "agent"

    async def mailed_by_key() -> list[object]:
        return [mail for mail in relay.sent if "Order 77" in mail.text]

    (mail,) = await eventually(mailed_by_key)
    assert "Order system" in mail.from_ and mail.rcpt_tos == ("rina@customer.example",)
    await ws.close()


async def test_a_visitor_who_left_no_address_gets_no_mail(
    admin: Api, anon: Api, relay: MockSmtp
) -> None:
    widget = await make_widget(admin)
    _, started = await session(anon, widget["id"], name="Budi")
    ws = await visitor_socket(anon, started["token"], origin=SITE)
    await ws.send_json({"type": "message", "ref": ref(), "text": "halo"})
    await frames_of(ws, "ack")
    chat = await Chat.get(channel=Channel.WIDGET)
    status, reply = await admin.post("/chats/messages", {"chat_id": chat.id, "text": "Halo Budi"})
    assert status == 201
    await until_frame(ws, "message", lambda f: f["message"]["id"] == reply["id"])
    assert relay.sent == []
    await ws.close()
