"""API keys (docs/api.md, "API keys"): made once, stored hashed, scoped, revocable, their
last use recorded, rate-limited, refused where people only may go."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp
import pytest

from handoff.usecases.api_keys import KeyRate, RateLimited
from msgcenter import demo
from msgcenter.service import SERVICE, Service, build_app
from storage.models import MAX_ID, ApiKey, AuditEntry, Chat, Message, Mode, Sender
from tests.support import Api, ClientFactory, make_settings

ALL = ["chats:read", "messages:write", "contacts:write", "reports:read", "webhooks:write"]


async def make_key(admin: Api, scopes: list[str], name: str = "CRM") -> tuple[Api, dict]:
    status, made = await admin.post("/api-keys", {"name": name, "scopes": scopes})
    assert status == 201, made
    return Api(admin.client, made["key"]), made


async def test_a_key_is_shown_once_and_only_its_sha256_is_kept(admin: Api) -> None:
    _, made = await make_key(admin, ["chats:read"])
    key = made["key"]
    assert key.startswith("mck_") and len(key) == 47
    assert made["prefix"] == key[:12]
    assert made["scopes"] == ["chats:read"] and made["revoked_at"] is None
    row = await ApiKey.get(id=made["id"])
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    stored = await ApiKey.filter(id=made["id"]).values()
    assert not any(key in str(value) for value in stored[0].values())
    status, listed = await admin.get("/api-keys")
    assert status == 200
    (item,) = listed["items"]
    assert "key" not in item and item["prefix"] == key[:12]
    assert item["created_by"]["username"] == "admin"
    entry = await AuditEntry.get(action="api_key_created")
    assert entry.data == {"api_key_id": made["id"], "name": "CRM", "scopes": ["chats:read"]}


async def test_a_key_reads_chats_as_an_admin_sees_them(admin: Api, agent: Api) -> None:
    reader, _ = await make_key(admin, ["chats:read"])
    status, chats = await reader.get("/chats/")
    assert status == 200
    _, seen_by_admin = await admin.get("/chats/")
    assert {chat["id"] for chat in chats} == {chat["id"] for chat in seen_by_admin}
    status, detail = await reader.get(f"/chats/{chats[0]['id']}")
    assert status == 200 and detail["id"] == chats[0]["id"]
    status, _ = await reader.get("/chats/queue")
    assert status == 200
    files = f"/chats/{chats[0]['id']}/messages/{MAX_ID}/attachments/0"
    status, body = await reader.get(files)
    assert (status, body["error"]["code"]) == (404, "not_found")  # let in: no such message
    other, _ = await make_key(admin, ["contacts:write"], name="other")
    status, body = await other.get(files)
    assert (status, body["error"]["code"]) == (403, "insufficient_scope")


async def test_scopes_are_enforced(admin: Api) -> None:
    reader, _ = await make_key(admin, ["chats:read"])
    chat_id = next(iter((await admin.chat_ids()).values()))
    status, body = await reader.post("/chats/messages", {"chat_id": chat_id, "text": "hi"})
    assert status == 403, body
    assert body["error"]["code"] == "insufficient_scope"
    assert body["error"]["details"]["required"] == "messages:write"
    for path in ("/reports/summary", "/contacts"):
        status, body = await reader.get(path)
        assert (status, body["error"]["code"]) == (403, "insufficient_scope"), path
    assert await Message.filter(chat_id=chat_id, text="hi").count() == 0


async def test_keys_cannot_manage_users_keys_or_channels_whatever_their_scopes(
    admin: Api,
) -> None:
    every, made = await make_key(admin, ALL)
    calls = [
        ("GET", "/users", None),
        ("POST", "/users", {"username": "x", "password": "a-long-password-1"}),
        ("GET", "/api-keys", None),
        ("POST", "/api-keys", {"name": "more", "scopes": ALL}),
        ("DELETE", f"/api-keys/{made['id']}", None),
        ("POST", "/channels/api", {"name": "x", "callback_url": "https://example.com/",
                                    "secret": "s" * 20}),
        ("GET", "/channels/api", None),
        ("POST", "/chats/1/close", None),
        ("PATCH", "/chats/1", {"mode": "paused"}),
        ("GET", "/auth/me", None),
    ]  # fmt: skip
    for method, path, body in calls:
        status, answer = await every.call(method, path, body)
        assert (status, answer["error"]["code"]) == (403, "forbidden"), (method, path, answer)
    assert await ApiKey.all().count() == 1
    assert await Chat.filter(mode=Mode.CLOSED).count() == 0


async def test_a_key_does_not_open_the_dashboards_socket(admin: Api) -> None:
    every, _ = await make_key(admin, ALL)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await admin.client.ws_connect(f"/ws?token={every.token}")
    assert refused.value.status == 401


async def test_a_revoked_key_is_refused_at_once(admin: Api) -> None:
    reader, made = await make_key(admin, ["chats:read"])
    assert (await reader.get("/chats/"))[0] == 200
    status, _ = await admin.call("DELETE", f"/api-keys/{made['id']}")
    assert status == 204
    status, body = await reader.get("/chats/")
    assert (status, body["error"]["code"]) == (401, "invalid_token")
    _, listed = await admin.get("/api-keys")
    assert listed["items"][0]["revoked_at"] is not None
    assert await AuditEntry.filter(action="api_key_revoked").count() == 1
    status, body = await Api(admin.client, "mck_" + "x" * 43).get("/chats/")
    assert (status, body["error"]["code"]) == (401, "invalid_token")


async def test_the_last_use_is_recorded(admin: Api) -> None:
    reader, made = await make_key(admin, ["chats:read"])
    assert (await reader.get("/reports/summary"))[0] == 403  # not let through: no use
    await admin.service.core.api_keys.drain()
    assert (await ApiKey.get(id=made["id"])).last_used_at is None
    assert (await reader.get("/chats/"))[0] == 200
    await admin.service.core.api_keys.drain()
    _, listed = await admin.get("/api-keys")
    assert listed["items"][0]["last_used_at"] is not None


async def test_a_reply_by_a_key_is_the_keys_and_changes_no_mode(admin: Api) -> None:
    writer, made = await make_key(admin, ["messages:write"], name="Order system")
    chat = await Chat.filter(mode=Mode.BOT).first()
    assert chat is not None
    status, message = await writer.post(
        "/chats/messages", {"chat_id": chat.id, "text": "Your order has shipped."}
    )
    assert status == 201, message
    row = await Message.get(id=message["id"])
    assert (row.sender, row.agent_id, row.author) == (Sender.AGENT, None, "Order system")
    assert message["author"] == "Order system"  # shown under the key's name
    status, shown = await admin.get(f"/chats/{chat.id}")
    assert [m["author"] for m in shown["messages"] if m["id"] == row.id] == ["Order system"]
    assert (await Chat.get(id=chat.id)).mode == Mode.BOT  # not taken over
    status, audit = await admin.get(f"/chats/{chat.id}/audit")
    assert status == 200
    entry = next(item for item in audit if item["action"] == "api_reply")
    assert entry["by_kind"] == "integration"
    assert entry["data"]["api_key_name"] == "Order system"
    assert entry["data"]["api_key_id"] == made["id"]
    assert entry["data"]["message_ids"] == [row.id]
    status, body = await writer.post(
        "/chats/messages", {"chat_id": chat.id, "text": "psst", "internal": True}
    )
    assert (status, body["error"]["code"]) == (403, "forbidden")  # a note needs a person
    assert await Message.filter(chat_id=chat.id, text="psst").count() == 0
    status, mine = await admin.post("/chats/messages", {"chat_id": chat.id, "text": "And hi"})
    assert status == 201 and mine["author"] is None and mine["agent_id"] is not None


async def test_bad_keys_bodies_change_nothing(admin: Api, agent: Api) -> None:
    for body in ({"name": "", "scopes": ["chats:read"]}, {"name": "x", "scopes": []},
                 {"name": "x", "scopes": ["chats:write"]}, {"name": "x" * 101,
                 "scopes": ["chats:read"]}):  # fmt: skip
        status, answer = await admin.post("/api-keys", body)
        assert status == 422, answer
    status, _ = await agent.post("/api-keys", {"name": "x", "scopes": ["chats:read"]})
    assert status == 403
    assert await ApiKey.all().count() == 0


def test_the_rate_is_a_bucket_of_a_minute() -> None:
    rate = KeyRate(3)
    for _ in range(3):
        rate.take(1, now=100.0)
    with pytest.raises(RateLimited) as limited:
        rate.take(1, now=100.0)
    assert limited.value.retry_after == 20  # one request back every 20 s
    rate.take(2, now=100.0)  # another key counts on its own
    rate.take(1, now=120.0)
    with pytest.raises(RateLimited):
        rate.take(1, now=121.0)


async def test_a_key_past_its_requests_a_minute_gets_429(
    db_url: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    settings = make_settings(db_url, tmp_path / "data", api_keys={"requests_per_minute": 1})
    client = await aiohttp_client(build_app(settings))
    service: Service = client.app[SERVICE]
    await demo.seed_users(service.core.staff)
    admin = await Api(client).login("admin", "admin123")
    reader, _ = await make_key(admin, ["chats:read"])
    assert (await reader.get("/chats/"))[0] == 200
    status, body = await reader.get("/chats/")
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert 1 <= int(reader.last_headers["Retry-After"]) <= 60
    assert (await admin.get("/chats/"))[0] == 200  # people are not counted


async def test_the_openapi_document_names_each_routes_scope(admin: Api) -> None:
    status, document = await admin.get("/openapi.json")
    assert status == 200
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    listing = document["paths"]["/chats/"]["get"]
    assert listing["x-scope"] == "chats:read"
    assert {"apiKey": []} in listing["security"]
    assert "x-scope" not in document["paths"]["/users"]["get"]
    posting = document["paths"]["/channels/api/{channel_id}/messages"]["post"]
    assert (posting["x-scope"], posting["security"]) == ("messages:write", [{"apiKey": []}])


async def test_a_contact_changed_by_a_key_names_the_key_in_the_audit_record(admin: Api) -> None:
    crm, made = await make_key(admin, ["contacts:write"], name="CRM sync")
    status, contacts = await crm.get("/contacts")
    assert status == 200 and contacts, contacts
    contact_id = contacts[0]["id"]
    status, changed = await crm.patch(f"/contacts/{contact_id}", {"notes": "VIP since 2024"})
    assert status == 200, changed
    entry = await AuditEntry.get(action="contact_updated")
    assert entry.actor_kind == "integration" and entry.actor_id is None
    assert (entry.data["api_key_id"], entry.data["api_key_name"]) == (made["id"], "CRM sync")


async def test_a_key_with_webhooks_write_manages_endpoints_and_no_other_key_does(
    admin: Api,
) -> None:
    integrator, _ = await make_key(admin, ["webhooks:write"], name="n8n")
    reader, _ = await make_key(admin, ["chats:read", "reports:read"], name="BI")
    body = {
        "url": "https://8.8.8.8/hooks/msgcenter", "secret": "n8n-secret-0123456789",
        "events": ["chat.closed"],
    }  # fmt: skip
    status, made = await integrator.post("/integrations/webhooks", body)
    assert status == 201, made
    status, listed = await integrator.get("/integrations/webhooks")
    assert status == 200 and [item["id"] for item in listed["items"]] == [made["id"]]
    status, refused = await reader.get("/integrations/webhooks")
    assert (status, refused["error"]["code"]) == (403, "insufficient_scope")
    assert refused["error"]["details"]["required"] == "webhooks:write"
    status, refused = await integrator.get("/chats/")
    assert (status, refused["error"]["code"]) == (403, "insufficient_scope")
