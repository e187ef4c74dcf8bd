"""The contacts API (docs/api.md "Contacts"): who sees which contact, search and attribute
filters, paging, changes and their validation, custom attributes, the history agents read."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from tortoise.log import db_client_logger

from connectors.base import InboundMessage
from dashboard_api.auth import actor_for
from msgcenter import demo
from msgcenter.service import SERVICE, build_app
from storage.blobs import Spool
from storage.models import (
    AuditEntry,
    Chat,
    Contact,
    ContactAttribute,
    ContactPoint,
    Message,
    Sender,
    Status,
    User,
)
from tests.support import Api, ClientFactory, frames_within, make_settings, mute_bot


@pytest.fixture(autouse=True)
def _quiet(admin: Api) -> None:
    mute_bot(admin.service.core)


async def contact_of(api: Api, name: str) -> int:
    chat = await Chat.get(customer_name=name)
    assert chat.contact_id is not None
    return chat.contact_id


async def telegram(api: Api, user: str, name: str, phone: str | None = None) -> int:
    """A Telegram customer's message (with the number they shared); their chat id."""
    received = await api.service.core.inbox.receive(
        InboundMessage(
            channel="Telegram",
            chat_external_id=user,
            message_external_id=f"m{user}",
            text="halo",
            customer_name=name,
            customer_phone=phone,
        )
    )
    assert received.chat_id is not None
    return received.chat_id


async def define(admin: Api, key: str, kind: str, **more: Any) -> None:
    status, body = await admin.post(
        "/contact-attributes", {"key": key, "label": key.title(), "type": kind, **more}
    )
    assert status == 201, body


# -- who sees which contact ------------------------------------------------------------


async def test_admins_list_every_contact_and_agents_those_of_their_chats(
    admin: Api, agent: Api
) -> None:
    status, rows = await admin.get("/contacts")
    assert status == 200
    assert {r["name"] for r in rows} == {"John Doe", "Sarah Williams", "Maria Lopez",
                                         "Ahmed Hassan"}  # fmt: skip
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    john = next(r for r in rows if r["name"] == "John Doe")
    assert john["phones"] == [{"value": "+6281234567890", "verified": True}]
    assert john["identities"] == [{"channel": "WhatsApp", "external_id": "+6281234567890"}]
    assert john["attributes"] == {} and john["first_seen_at"] and john["last_seen_at"]
    assert "conversations" not in john and "suggestions" not in john
    _, theirs = await agent.get("/contacts")
    assert {r["name"] for r in theirs} == {"John Doe", "Ahmed Hassan"}

    sarah = await contact_of(admin, "Sarah Williams")
    status, body = await agent.get(f"/contacts/{sarah}")
    assert (status, body["error"]["code"]) == (404, "contact_not_found")
    assert (await agent.patch(f"/contacts/{sarah}", {"name": "x"}))[0] == 404
    other, _ = await admin.new_user("rina", "rina-pass-123")
    ahmed = await contact_of(admin, "Ahmed Hassan")
    assert (await other.get(f"/contacts/{ahmed}"))[0] == 404
    assert (await other.get("/contacts"))[1] == []
    assert (await admin.get("/contacts/999999"))[0] == 404


async def test_a_queued_chat_shows_its_contact_to_every_agent(admin: Api, agent: Api) -> None:
    sarah = await Chat.get(customer_name="Sarah Williams")
    assert (await admin.post(f"/chats/{sarah.id}/take-over"))[0] == 200
    assert (await admin.post(f"/chats/{sarah.id}/unassign"))[0] == 200
    other, _ = await admin.new_user("rina", "rina-pass-123")
    status, body = await other.get(f"/contacts/{sarah.contact_id}")
    assert status == 200, body
    assert [c["id"] for c in body["conversations"]] == [sarah.id]
    # Seeing is not changing: the queue's contact is changed by whoever takes the chat.
    status, body = await other.patch(f"/contacts/{sarah.contact_id}", {"notes": "x"})
    assert (status, body["error"]["code"]) == (403, "forbidden")


async def test_the_detail_has_identities_attributes_conversations_and_suggestions(
    admin: Api, agent: Api
) -> None:
    john = await contact_of(admin, "John Doe")
    chat = await telegram(admin, "777", "Johnny", phone="+62 812 3456 7890")
    assert (await Chat.get(id=chat)).contact_id == john  # the verified number links them
    status, body = await admin.get(f"/contacts/{john}")
    assert status == 200
    assert {(i["channel"], i["external_id"]) for i in body["identities"]} == {
        ("WhatsApp", "+6281234567890"), ("Telegram", "777"),
    }  # fmt: skip
    assert body["conversations"][0]["id"] == chat  # newest activity first
    assert {c["channel"] for c in body["conversations"]} == {"WhatsApp", "Telegram"}
    assert all(c["contact_id"] == john for c in body["conversations"])
    assert body["suggestions"] == []
    # The same shape other parts read through the use case.
    me = actor_for(await User.get(username="admin"))
    assert await admin.service.core.contacts.detail(me, john) == body


# -- search, filters and pages ------------------------------------------------------------


async def test_search_by_name_number_address_and_identity(admin: Api, agent: Api) -> None:
    async def names(api: Api, query: str) -> set[str]:
        status, rows = await api.get("/contacts", params={"q": query})
        assert status == 200, rows
        return {r["name"] for r in rows}

    assert await names(admin, "lopez") == {"Maria Lopez"}
    assert await names(admin, "+62898") == {"Ahmed Hassan"}
    assert await names(admin, "62812") == {"John Doe"}
    assert await names(admin, "MARIA.LOPEZ@") == {"Maria Lopez"}
    assert await names(admin, "100200") == {"Sarah Williams"}  # the Telegram id
    assert await names(admin, "nobody") == set()
    assert await names(agent, "lopez") == set()  # not theirs


async def test_attribute_filters_validate_by_type_and_combine(admin: Api) -> None:
    await define(admin, "plan", "list", options=["gold", "silver"])
    await define(admin, "vip", "boolean")
    await define(admin, "orders", "number")
    await define(admin, "since", "date")
    john, maria = await contact_of(admin, "John Doe"), await contact_of(admin, "Maria Lopez")
    for contact, values in (
        (john, {"plan": "gold", "vip": True, "orders": 3, "since": "2024-03-01"}),
        (maria, {"plan": "gold", "vip": False, "orders": 3.5}),
    ):
        status, row = await admin.patch(f"/contacts/{contact}", {"attributes": values})
        assert status == 200, row
        assert row["attributes"] == values

    async def ids(query: dict[str, str]) -> list[int]:
        status, rows = await admin.get("/contacts", params=query)
        assert status == 200, rows
        return [r["id"] for r in rows]

    assert set(await ids({"attribute.plan": "gold"})) == {john, maria}
    assert await ids({"attribute.plan": "gold", "attribute.vip": "true"}) == [john]
    assert await ids({"attribute.vip": "false"}) == [maria]
    assert await ids({"attribute.orders": "3"}) == [john]
    assert await ids({"attribute.orders": "3.5"}) == [maria]
    assert await ids({"attribute.since": "2024-03-01"}) == [john]
    assert await ids({"attribute.plan": "silver"}) == []
    for query, code in (
        ({"attribute.nope": "x"}, "unknown_attribute"),
        ({"attribute.plan": "bronze"}, "validation_error"),
        ({"attribute.orders": "many"}, "validation_error"),
        ({"attribute.since": "2024-13-01"}, "validation_error"),
        ({"plan": "gold"}, "validation_error"),
    ):
        status, body = await admin.get("/contacts", params=query)
        assert (status, body["error"]["code"]) == (422, code), query


async def test_pages_follow_the_link_and_refuse_a_foreign_cursor(admin: Api) -> None:
    for i in range(7):
        await telegram(admin, str(9000 + i), f"Pager {i}")
    seen: list[int] = []
    url: str | None = "/contacts?q=pager&limit=3"
    while url:
        status, rows = await admin.get(url)
        assert status == 200
        seen += [r["id"] for r in rows]
        link = admin.last_headers.get("Link")
        url = link[1 : link.index(">")] if link else None
        if link:
            assert admin.last_headers["X-Next-Cursor"] in link and "q=pager" in link
    assert len(seen) == 7 == len(set(seen)) and seen == sorted(seen, reverse=True)
    await admin.get("/chats/?limit=1")
    chat_cursor = admin.last_headers["X-Next-Cursor"]
    for cursor in (chat_cursor, "garbage!", "eyJjb250YWN0IjogLTF9"):
        status, body = await admin.get("/contacts", params={"cursor": cursor})
        assert (status, body["error"]["code"]) == (422, "invalid"), cursor
        assert body["error"]["details"]["field"] == "cursor"


async def test_a_page_of_contacts_costs_the_same_queries_whatever_its_length(
    admin: Api, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(30):
        await telegram(admin, str(8000 + i), f"Many {i}", phone=f"+62811000{i:04d}")
    await define(admin, "vip", "boolean")

    async def count(path: str) -> int:
        caplog.clear()
        status, rows = await admin.get(path)
        assert status == 200 and rows
        return sum(1 for r in caplog.records if r.name == db_client_logger.name)

    await admin.get("/contacts?limit=1")
    caplog.set_level(logging.DEBUG, logger=db_client_logger.name)
    small, large = await count("/contacts?limit=2"), await count("/contacts?limit=200")
    assert 1 <= small == large <= 5  # the token's user, the page, points, identities, seen
    assert await count("/contacts?limit=2&q=many") == await count("/contacts?limit=200&q=many")
    caplog.set_level(logging.WARNING, logger=db_client_logger.name)


# -- changes --------------------------------------------------------------------------------


async def test_a_change_is_saved_audited_and_pushed(admin: Api, agent: Api) -> None:
    john = await contact_of(admin, "John Doe")
    await define(admin, "plan", "list", options=["gold", "silver"])
    other, _ = await admin.new_user("rina", "rina-pass-123")
    admin_ws, agent_ws, other_ws = await admin.socket(), await agent.socket(), await other.socket()
    status, row = await agent.patch(
        f"/contacts/{john}",
        {"name": " John  D. ", "notes": "Prefers WhatsApp", "attributes": {"plan": "gold"},
         "phones": ["+62 811 111 111", "0062 822 2222 22"], "emails": ["John@Example.com"]},
    )  # fmt: skip
    assert status == 200, row
    assert row["name"] == "John D." and row["notes"] == "Prefers WhatsApp"
    assert row["phones"] == [
        {"value": "+6281234567890", "verified": True},  # the verified one stays
        {"value": "+62811111111", "verified": False},
        {"value": "+62822222222", "verified": False},
    ]
    assert row["emails"] == [{"value": "john@example.com", "verified": False}]
    for ws in (admin_ws, agent_ws):
        frames = [f for f in await frames_within(ws) if f["type"] == "contact.updated"]
        assert [f["data"]["contact"] for f in frames] == [row]
    assert not [f for f in await frames_within(other_ws, 0.2) if f["type"] == "contact.updated"]
    # The chat keeps the name its provider gave.
    assert (await Chat.get(contact_id=john, channel="WhatsApp")).customer_name == "John Doe"
    entry = await AuditEntry.get(action="contact_updated")
    assert entry.chat_id is None
    assert entry.data == {"contact_id": john, "fields": ["attributes", "name", "notes",
                                                          "phones", "emails"]}  # fmt: skip
    # Replacing the unverified points; null removes an attribute.
    status, row = await agent.patch(
        f"/contacts/{john}", {"phones": ["+62811111111"], "attributes": {"plan": None}}
    )
    assert [p["value"] for p in row["phones"]] == ["+6281234567890", "+62811111111"]
    assert row["attributes"] == {}


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"attributes": {"nope": 1}}, "unknown_attribute", "attributes.nope"),
        ({"attributes": {"plan": "bronze"}}, "validation_error", "attributes.plan"),
        ({"attributes": {"orders": "3"}}, "validation_error", "attributes.orders"),
        ({"attributes": {"orders": True}}, "validation_error", "attributes.orders"),
        ({"attributes": {"since": "2024-02-30"}}, "validation_error", "attributes.since"),
        ({"attributes": {"vip": "yes"}}, "validation_error", "attributes.vip"),
        ({"attributes": {"bio": "x" * 1001}}, "validation_error", "attributes.bio"),
        ({"phones": ["0812345678"]}, "validation_error", "phones.0"),
        ({"emails": ["not-an-address"]}, "validation_error", "emails.0"),
        ({"avatar_url": "javascript:alert(1)"}, "validation_error", "avatar_url"),
        ({"name": ""}, "validation_error", "name"),
        ({"name": None}, "validation_error", "name"),
        ({"surname": "x"}, "validation_error", "surname"),
    ],
)
async def test_a_refused_change_changes_nothing(
    admin: Api, body: dict[str, Any], code: str, field: str
) -> None:
    await define(admin, "plan", "list", options=["gold"])
    await define(admin, "orders", "number")
    await define(admin, "since", "date")
    await define(admin, "vip", "boolean")
    await define(admin, "bio", "text")
    john = await contact_of(admin, "John Doe")
    before = await admin.get(f"/contacts/{john}")
    points = await ContactPoint.all().count()
    status, answer = await admin.patch(
        f"/contacts/{john}", {"notes": "changed", "attributes": {"plan": "gold"}, **body}
    )
    assert (status, answer["error"]["code"]) == (422, code), answer
    details = answer["error"]["details"]
    fields = {details.get("field")} | {f["field"] for f in details.get("fields", [])}
    assert field in fields
    assert await admin.get(f"/contacts/{john}") == before
    assert await ContactPoint.all().count() == points
    assert not await AuditEntry.filter(action="contact_updated").exists()


async def test_an_agent_changes_only_contacts_of_chats_they_hold(admin: Api, agent: Api) -> None:
    other, _ = await admin.new_user("rina", "rina-pass-123")
    john = await contact_of(admin, "John Doe")
    assert (await other.patch(f"/contacts/{john}", {"notes": "x"}))[0] == 404
    assert (await agent.patch(f"/contacts/{john}", {"notes": "x"}))[0] == 200


# -- custom attributes ----------------------------------------------------------------------


async def test_attribute_definitions(admin: Api, agent: Api) -> None:
    await define(admin, "plan", "list", options=["gold", "silver"])
    status, body = await admin.post(
        "/contact-attributes", {"key": "plan", "label": "Again", "type": "text"}
    )
    assert (status, body["error"]["code"]) == (409, "attribute_exists")
    for payload in (
        {"key": "Plan", "label": "x", "type": "text"},
        {"key": "1plan", "label": "x", "type": "text"},
        {"key": "a" * 65, "label": "x", "type": "text"},
        {"key": "colour", "label": "x", "type": "colour"},
        {"key": "tier", "label": "x", "type": "list"},
        {"key": "tier", "label": "x", "type": "list", "options": []},
        {"key": "tier", "label": "x", "type": "list", "options": ["a", "a"]},
        {"key": "tier", "label": "x", "type": "text", "options": ["a"]},
    ):
        status, body = await admin.post("/contact-attributes", payload)
        assert (status, body["error"]["code"]) == (422, "validation_error"), payload
    assert (await agent.post("/contact-attributes", {"key": "x", "label": "x",
                                                      "type": "text"}))[0] == 403  # fmt: skip
    status, rows = await agent.get("/contact-attributes")
    assert rows == [{"key": "plan", "label": "Plan", "type": "list",
                     "options": ["gold", "silver"]}]  # fmt: skip

    john = await contact_of(admin, "John Doe")
    await admin.patch(f"/contacts/{john}", {"attributes": {"plan": "silver"}})
    status, body = await admin.patch("/contact-attributes/plan", {"options": ["gold"]})
    assert (status, body["error"]["code"]) == (409, "option_in_use")
    assert body["error"]["details"] == {"option": "silver", "contacts": 1}
    status, body = await admin.patch(
        "/contact-attributes/plan", {"label": "Tier", "options": ["gold", "silver", "bronze"]}
    )
    assert status == 200 and body["label"] == "Tier"
    assert (await admin.patch("/contact-attributes/nope", {"label": "x"}))[0] == 404

    status, body = await admin.call("DELETE", "/contact-attributes/plan")
    assert (status, body) == (200, {"deleted": True, "key": "plan", "contacts": 1})
    assert (await Contact.get(id=john)).attributes == {}
    assert (await admin.get("/contact-attributes"))[1] == []
    assert (await admin.call("DELETE", "/contact-attributes/plan"))[0] == 404


async def test_at_most_100_definitions(admin: Api) -> None:
    await ContactAttribute.bulk_create(
        [ContactAttribute(key=f"k{i}", label="x", type="text", options=[]) for i in range(100)]
    )
    status, body = await admin.post("/contact-attributes", {"key": "more", "label": "x",
                                                            "type": "text"})  # fmt: skip
    assert (status, body["error"]["code"]) == (409, "attribute_limit")


# -- history for agents ----------------------------------------------------------------------


async def _history(admin: Api, agent: Api) -> tuple[int, int]:
    """John's contact gets a Telegram chat (the bot's): (contact, that chat)."""
    john = await contact_of(admin, "John Doe")
    chat = await telegram(admin, "777", "Johnny", phone="+6281234567890")
    return john, chat


async def test_with_history_an_agent_reads_the_contacts_other_conversations(
    admin: Api, agent: Api
) -> None:
    john, chat = await _history(admin, agent)
    status, body = await agent.get(f"/contacts/{john}")
    assert chat in [c["id"] for c in body["conversations"]]
    status, detail = await agent.get(f"/chats/{chat}")
    assert status == 200 and detail["messages"][-1]["text"] == "halo"
    # Its files too.
    blobs = admin.service.api.blobs
    assert blobs is not None
    async with Spool(blobs.spool_dir, 10**6) as spool:
        await spool.write(b"%PDF-1.4\n" + b"x" * 100)
        await blobs.keep(spool)
    record = {"kind": "document", "mime_type": "application/pdf", "size": 109,
              "sha256": spool.sha256, "status": "stored", "name": "invoice.pdf"}  # fmt: skip
    message = await Message.create(
        chat_id=chat, text="", sender=Sender.CUSTOMER, status=Status.SENT, attachments=[record]
    )
    url = f"/chats/{chat}/messages/{message.id}/attachments/0"
    async with agent.client.get(url, headers=agent.headers()) as response:
        assert response.status == 200 and (await response.read()).startswith(b"%PDF")
    # Read only: no reply, no action, no note, not in their list.
    assert (await agent.post("/chats/messages", {"chat_id": chat, "text": "hi"}))[0] == 404
    assert (await agent.post(f"/chats/{chat}/take-over"))[0] == 404
    assert (await agent.post(f"/chats/{chat}/read"))[0] == 404
    assert chat not in (await agent.chat_ids()).values()
    # Someone who may not see the contact reads none of it.
    other, _ = await admin.new_user("rina", "rina-pass-123")
    assert (await other.get(f"/chats/{chat}"))[0] == 404
    assert (await other.get(url))[0] == 404


async def test_without_history_an_agent_reads_only_their_chats(
    db_url: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    settings = make_settings(db_url, tmp_path / "data", contacts={"history_for_agents": False})
    client = await aiohttp_client(build_app(settings))
    users = await demo.seed_users(client.app[SERVICE].core.staff)
    await demo.seed_chats(users[1], settings.bot)
    admin = await Api(client).login("admin", "admin123")
    agent = await Api(client).login("agent", "agent123")
    mute_bot(admin.service.core)
    john, chat = await _history(admin, agent)
    status, body = await agent.get(f"/contacts/{john}")
    assert status == 200
    assert chat not in [c["id"] for c in body["conversations"]]
    assert [c["name"] for c in body["conversations"]] == ["John Doe"]
    assert (await agent.get(f"/chats/{chat}"))[0] == 404
    assert (await admin.get(f"/chats/{chat}"))[0] == 200
