"""Security at the edges not covered elsewhere: every kind of bad token on the WebSocket too
(another key, alg none, expired, a deleted or deactivated user), a deactivated user's HTTP
token, and hostile text stored and returned as text. (Bad tokens over HTTP, SQL
metacharacters in search, ../ attachment names and CRLF in mail headers have their tests in
test_api_errors, test_chat_list and test_email.)"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
import pytest

from connectors.base import InboundMessage
from storage.models import Message, User
from tests.support import TEST_SECRET, Api, mute_bot

HOSTILE = [
    "<script>alert('x')</script>",
    '<img src=x onerror="alert(1)">',
    "'; DROP TABLE messages; --",
    "line\r\nBcc: victim@example.org",
    "\u202etxt.exe",  # right-to-left override
    "{{7*7}} ${7*7} %s %n",
]


def _token(**claims: Any) -> str:
    now = int(time.time())
    key = claims.pop("key", TEST_SECRET)
    payload = {"sub": "1", "role": "admin", "ver": 0, "iat": now, "exp": now + 600, **claims}
    return jwt.encode(payload, key, algorithm="HS256")


def _bad_tokens() -> dict[str, str]:
    now = int(time.time())
    return {
        "other-key": _token(key="another-key-" + "y" * 40),
        "alg-none": jwt.encode({"sub": "1", "iat": now, "exp": now + 600}, "", "none"),
        "expired": _token(exp=now - 10, iat=now - 100),
        "unknown-user": _token(sub="999"),
        "old-version": _token(ver=5),
    }


@pytest.mark.parametrize("kind", list(_bad_tokens()))
async def test_the_websocket_refuses_every_kind_of_bad_token(anon: Api, kind: str) -> None:
    token = _bad_tokens()[kind]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await anon.client.ws_connect(f"/ws?token={quote(token)}")
    assert refused.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await anon.client.ws_connect("/ws", protocols=("bearer", token))
    assert refused.value.status == 401


@pytest.mark.parametrize("gone", ["deleted", "deactivated"])
async def test_a_deleted_or_deactivated_users_token_is_refused_everywhere(
    admin: Api, agent: Api, gone: str
) -> None:
    assert (await agent.get("/chats/"))[0] == 200
    if gone == "deleted":
        await User.filter(username="agent").delete()
    else:
        _, me = await agent.get("/auth/me")
        assert (await admin.patch(f"/users/{me['id']}", {"active": False}))[0] == 200
    for method, path in [("GET", "/chats/"), ("GET", "/auth/me"), ("POST", "/chats/1/read")]:
        status, body = await agent.call(method, path)
        assert (status, body["error"]["code"]) == (401, "invalid_token"), path
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await agent.client.ws_connect(f"/ws?token={agent.token}")
    assert refused.value.status == 401


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_text_is_stored_and_returned_verbatim_as_json_text(
    admin: Api, text: str
) -> None:
    core = admin.service.core
    mute_bot(core)  # the text as stored, not the bot's answer to it
    received = await core.inbox.receive(
        InboundMessage(
            channel="WhatsApp", chat_external_id="62811999", message_external_id="wamid.h",
            text=text, customer_name=text, customer_phone="62811999",
        )
    )  # fmt: skip
    assert (await Message.get(id=received.message_id)).text == text
    status, detail = await admin.get(f"/chats/{received.chat_id}")
    assert status == 200
    assert admin.last_headers["Content-Type"].startswith("application/json")
    assert admin.last_headers["X-Content-Type-Options"] == "nosniff"
    assert detail["name"] == text and detail["messages"][-1]["text"] == text
    status, reply = await admin.post(
        "/chats/messages", {"chat_id": received.chat_id, "text": text, "sender": "agent"}
    )
    assert status == 201 and reply["text"] == text.strip()


async def test_search_finds_wildcards_only_where_they_are_written(admin: Api) -> None:
    core = admin.service.core
    mute_bot(core)
    for i, text in enumerate(["100% cotton?", "snake_case name", "plain words"]):
        await core.inbox.receive(
            InboundMessage(
                channel="WhatsApp", chat_external_id=f"6281100{i}", message_external_id=f"w{i}",
                text=text, customer_name=f"Wild {i}", customer_phone=f"6281100{i}",
            )
        )  # fmt: skip
    # Words of the full-text index (docs/api.md, "Searching"): "%" and "_" separate words
    # and are no wildcards; "100" is also a word of the demo's Ahmed Hassan.
    cases = [
        ("100%", ["Ahmed Hassan", "Wild 0"]), ("snake_case", ["Wild 1"]), ("e_c", []),
        ("%", []), ("_", []), ("cotton%", ["Wild 0"]),
    ]  # fmt: skip
    for q, expected in cases:
        status, chats = await admin.get(f"/chats/?q={quote(q)}")
        assert status == 200
        assert sorted(c["name"] for c in chats) == expected, q


async def test_an_agent_cannot_probe_who_is_a_customer_by_creating_chats(
    admin: Api, agent: Api
) -> None:
    """POST /chats/ answered 409 with the existing chat's id: an agent learned that a phone
    number or an address was a customer, and whose. Now an agent gets one answer whether
    or not the customer exists; admins (who see every chat) still get the 409."""
    probes = [
        {"channel": "Email", "customer_email": "maria.lopez@example.org"},  # the bot's chat
        {"channel": "Email", "customer_email": "nobody.yet@example.org"},  # no such customer
        {"channel": "WhatsApp", "customer_phone": "+62 812-3456-7890"},  # the agent's own
        {"channel": "WhatsApp", "customer_phone": "+62 899-0000-1111"},  # no such customer
    ]
    answers = []
    for probe in probes:
        status, body = await agent.post("/chats/", {"customer_name": "Probe", **probe})
        answers.append((status, body))
    assert answers[0][0] == 403 and answers[0][1]["error"]["code"] == "admins_only"
    assert all(answer == answers[0] for answer in answers), answers
    assert "chat_id" not in str(answers[0][1])
    assert not await Message.filter(chat__customer_name="Probe").exists()

    # A chat without a provider address (nothing to collide with) is still theirs to start.
    status, created = await agent.post(
        "/chats/", {"customer_name": "Walk-in", "channel": "Telegram"}
    )
    assert status == 201 and created["assigned_agent_id"] is not None, created

    status, body = await admin.post(
        "/chats/", {"customer_name": "Maria", "channel": "Email",
                    "customer_email": "maria.lopez@example.org"},
    )  # fmt: skip
    assert status == 409 and body["error"]["details"]["chat_id"] >= 1, body
    status, body = await admin.post(
        "/chats/", {"customer_name": "New", "channel": "Email",
                    "customer_email": "nobody.yet@example.org"},
    )  # fmt: skip
    assert status == 201, body
