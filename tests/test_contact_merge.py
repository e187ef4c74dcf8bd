"""Merging contacts (docs/api.md "Merge, undo and suggestions"): suggestions on shared
verified numbers and addresses, a preview that writes nothing, a merge that moves
identities, conversations and points (the survivor's attributes win), an undo that restores
every row as it was, and who may do which."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from tortoise.log import db_client_logger

from connectors.base import InboundMessage
from handoff.domain.modes import Actor
from handoff.read.suggestions import suggestions
from storage.models import (
    AuditEntry,
    Chat,
    Contact,
    ContactIdentity,
    ContactMerge,
    ContactPoint,
    Mode,
    User,
)
from tests.support import Api, frames_within, mute_bot
from tests.test_contacts_ingest import mail, wa

ADMIN = Actor.person(1, is_admin=True)


@pytest.fixture(autouse=True)
def _quiet(admin: Api) -> None:
    mute_bot(admin.service.core)


async def receive(api: Api, message: InboundMessage) -> Chat:
    received = await api.service.core.inbox.receive(message)
    return await Chat.get(id=received.chat_id)


async def two_contacts(admin: Api) -> tuple[Chat, Chat]:
    """Budi on WhatsApp (contact A) and on e-mail (contact B): they share a number (A's
    verified, B's typed) and an address (B's verified, A's typed); B has a number of its
    own. A: plan gold; B: plan silver, city Bandung."""
    a = await receive(admin, wa("w1", phone="628111", name="Budi"))
    b = await receive(admin, mail("m1@x", "budi@example.com"))
    assert a.contact_id is not None and b.contact_id is not None and a.contact_id != b.contact_id
    await ContactPoint.create(contact_id=a.contact_id, kind="email", value="budi@example.com")
    await ContactPoint.create(contact_id=b.contact_id, kind="phone", value="+628111")
    await ContactPoint.create(contact_id=b.contact_id, kind="phone", value="+628222")
    await Contact.filter(id=a.contact_id).update(attributes={"plan": "gold"}, notes="Prefers WA")
    await Contact.filter(id=b.contact_id).update(
        attributes={"plan": "silver", "city": "Bandung"}, notes="VIP", name="B. Santoso"
    )
    return a, b


async def state() -> dict[str, Any]:
    """Every row of the contact tables and every chat's contact (updated_at aside: the time
    of the last change)."""
    contacts = await Contact.all().order_by("id").values()
    for row in contacts:
        del row["updated_at"]
    return {
        "contacts": contacts,
        "identities": await ContactIdentity.all().order_by("id").values(),
        "points": await ContactPoint.all().order_by("id").values(),
        "chats": await Chat.all().order_by("id").values_list("id", "contact_id"),
    }


async def test_contacts_sharing_a_verified_number_or_address_are_suggested(admin: Api) -> None:
    a, b = await two_contacts(admin)
    a_id, b_id = a.contact_id or 0, b.contact_id or 0
    found = await suggestions(ADMIN, a_id)
    assert found == [
        {
            "id": b_id,
            "name": "B. Santoso",
            "shared": [
                {"kind": "email", "value": "budi@example.com"},
                {"kind": "phone", "value": "+628111"},
            ],
        }
    ]
    assert [s["id"] for s in await suggestions(ADMIN, b_id)] == [a_id]
    assert (await admin.get(f"/contacts/{a_id}"))[1]["suggestions"] == found
    # Two typed (unverified) copies of one number suggest nothing; a name never does.
    c = await receive(admin, wa("w2", phone="628333", name="B. Santoso"))
    d = await receive(admin, wa("w3", phone="628444", name="Other"))
    await ContactPoint.create(contact_id=c.contact_id, kind="phone", value="+629999")
    await ContactPoint.create(contact_id=d.contact_id, kind="phone", value="+629999")
    assert await suggestions(ADMIN, c.contact_id or 0) == []
    status, pairs = await admin.get("/contacts/suggestions")
    assert status == 200, pairs
    assert pairs == [
        {
            "contact": {"id": a_id, "name": "Budi"},
            "other": {"id": b_id, "name": "B. Santoso"},
            "shared": [
                {"kind": "email", "value": "budi@example.com"},
                {"kind": "phone", "value": "+628111"},
            ],
        }
    ]
    assert (await admin.get("/contacts/suggestions?limit=0"))[0] == 422


async def test_suggestions_cost_a_fixed_number_of_queries(
    admin: Api, caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = await two_contacts(admin)
    caplog.set_level(logging.DEBUG, logger=db_client_logger.name)
    counts = []
    for i in range(6):
        other = await receive(admin, mail(f"x{i}@x", f"x{i}@example.com"))
        await ContactPoint.create(contact_id=other.contact_id, kind="phone", value="+628111")
        caplog.clear()
        found = await suggestions(ADMIN, a.contact_id or 0)
        assert len(found) == i + 2
        counts.append(sum(1 for r in caplog.records if r.name == db_client_logger.name))
    assert len(set(counts)) == 1 and counts[0] <= 3, counts


async def test_the_preview_shows_the_merge_and_writes_nothing(admin: Api) -> None:
    a, b = await two_contacts(admin)
    before = await state()
    status, preview = await admin.get(
        f"/contacts/{a.contact_id}/merge-preview?other_id={b.contact_id}"
    )
    assert status == 200, preview
    assert await state() == before
    assert not await ContactMerge.exists()
    assert preview == {
        "contact": {
            "name": "Budi",
            "avatar_url": None,
            "notes": "Prefers WA\n\nVIP",
            "phones": [
                {"value": "+628111", "verified": True},
                {"value": "+628222", "verified": False},
            ],
            "emails": [{"value": "budi@example.com", "verified": True}],
            "identities": [
                {"channel": "WhatsApp", "external_id": "+628111"},
                {"channel": "Email", "external_id": "budi@example.com"},
            ],
            "attributes": {"plan": "gold", "city": "Bandung"},
        },
        "moves": {"identities": 1, "conversations": 1, "points": 1},
        "conflicts": [{"attribute": "plan", "kept": "gold", "dropped": "silver"}],
    }


async def test_a_merge_moves_everything_and_the_undo_restores_every_row(admin: Api) -> None:
    a, b = await two_contacts(admin)
    a_id, b_id = a.contact_id or 0, b.contact_id or 0
    await Contact.filter(id=b_id).update(first_seen_at=a.created_at.replace(year=2020))
    before = await state()
    ws = await admin.socket()
    status, merged = await admin.post(f"/contacts/{a_id}/merge", {"other_id": b_id})
    assert status == 200, merged
    contact = merged["contact"]
    assert (await admin.get(f"/contacts/{a_id}"))[1] == contact  # the contact's detail
    assert contact["id"] == a_id and contact["name"] == "Budi"
    assert {c["id"] for c in contact["conversations"]} == {a.id, b.id}
    assert contact["suggestions"] == []
    assert contact["attributes"] == {"plan": "gold", "city": "Bandung"}
    assert contact["notes"] == "Prefers WA\n\nVIP"
    assert contact["first_seen_at"].startswith("2020-")
    assert contact["emails"] == [{"value": "budi@example.com", "verified": True}]
    assert {p["value"] for p in contact["phones"]} == {"+628111", "+628222"}
    assert len(contact["identities"]) == 2
    assert (await Contact.get(id=b_id)).merged_into_id == a_id
    assert not await ContactIdentity.filter(contact_id=b_id).exists()
    assert not await ContactPoint.filter(contact_id=b_id).exists()
    assert await Chat.filter(contact_id=a_id).count() == 2
    _, chat = await admin.get(f"/chats/{b.id}")
    assert chat["contact_id"] == a_id
    assert (await admin.get(f"/contacts/{b_id}/merges"))[0] == 404  # merged away
    frames = await frames_within(ws)
    moved = [f for f in frames if f["type"] == "chat.updated" and f["chat_id"] == b.id]
    assert moved and moved[0]["data"]["chat"]["contact_id"] == a_id
    updated = [f for f in frames if f["type"] == "contact.updated"]
    assert updated[0]["data"]["contact"]["id"] == a_id
    removed = [f["data"] for f in frames if f["type"] == "contact.removed"]
    assert removed == [{"contact_id": b_id, "merged_into_id": a_id}]
    [entry] = await AuditEntry.filter(action="contact_merged").values("chat_id", "data")
    assert entry == {
        "chat_id": None,
        "data": {"merge_id": merged["merge_id"], "contact_id": a_id, "other_id": b_id},
    }

    status, listed = await admin.get(f"/contacts/{a_id}/merges")
    assert status == 200
    assert [(m["id"], m["other_id"], m["other_name"], m["undone_at"]) for m in listed] == [
        (merged["merge_id"], b_id, "B. Santoso", None)
    ]
    status, undone = await admin.post(f"/contacts/merges/{merged['merge_id']}/undo")
    assert status == 200, undone
    assert undone["undone_at"] is not None
    assert await state() == before
    frames = await frames_within(ws)
    back = [f for f in frames if f["type"] == "chat.updated" and f["chat_id"] == b.id]
    assert back and back[0]["data"]["chat"]["contact_id"] == b_id
    assert {f["data"]["contact"]["id"] for f in frames if f["type"] == "contact.updated"} == {
        a_id,
        b_id,
    }
    assert await AuditEntry.filter(action="contact_merge_undone").count() == 1
    await ws.close()


async def test_new_messages_follow_the_identity_through_merge_and_undo(admin: Api) -> None:
    a, b = await two_contacts(admin)
    a_id, b_id = a.contact_id, b.contact_id
    _, merged = await admin.post(f"/contacts/{a_id}/merge", {"other_id": b_id})
    after = await receive(admin, mail("m2@x", "budi@example.com"))
    assert (after.id, after.contact_id) == (b.id, a_id)
    # An identity written into B's chat while merged (as ingest attaches one) goes back
    # with the chat.
    await ContactIdentity.create(
        contact_id=a_id, channel="Email", external_id="budi.alt@example.com", chat_id=b.id
    )
    await admin.post(f"/contacts/merges/{merged['merge_id']}/undo")
    again = await receive(admin, mail("m3@x", "budi@example.com"))
    assert (again.id, again.contact_id) == (b.id, b_id)
    alt = await ContactIdentity.get(external_id="budi.alt@example.com")
    assert alt.contact_id == b_id
    # A chat started for the survivor while merged stays with it.
    new = await receive(admin, wa("w9", phone="628111", name="Budi"))
    assert new.contact_id == a_id


async def test_merge_errors(admin: Api) -> None:
    a, b = await two_contacts(admin)
    a_id, b_id = a.contact_id, b.contact_id
    status, body = await admin.post(f"/contacts/{a_id}/merge", {"other_id": a_id})
    assert (status, body["error"]["code"]) == (422, "same_contact")
    status, body = await admin.post(f"/contacts/{a_id}/merge", {"other_id": 999999})
    assert (status, body["error"]["code"]) == (404, "contact_not_found")
    status, body = await admin.post(f"/contacts/{a_id}/merge", {"other_id": "2"})
    assert status == 422
    status, merged = await admin.post(f"/contacts/{a_id}/merge", {"other_id": b_id})
    assert status == 200
    status, body = await admin.post(f"/contacts/{a_id}/merge", {"other_id": b_id})
    assert (status, body["error"]["code"]) == (409, "already_merged")
    status, body = await admin.get(f"/contacts/{a_id}/merge-preview?other_id={b_id}")
    assert (status, body["error"]["code"]) == (409, "already_merged")
    status, body = await admin.post(f"/contacts/{b_id}/merge", {"other_id": a_id})
    assert (status, body["error"]["code"]) == (404, "contact_not_found")
    c = await receive(admin, wa("w5", phone="628555", name="Citra"))
    status, body = await admin.post(f"/contacts/{c.contact_id}/merge", {"other_id": b_id})
    assert (status, body["error"]["code"]) == (404, "contact_not_found")  # merged away

    # A later merge of either contact stands: undo that first.
    status, later = await admin.post(f"/contacts/{c.contact_id}/merge", {"other_id": a_id})
    assert status == 200, later
    status, body = await admin.post(f"/contacts/merges/{merged['merge_id']}/undo")
    assert (status, body["error"]["code"]) == (409, "merge_superseded")
    assert body["error"]["details"]["merge_id"] == later["merge_id"]
    assert (await admin.post(f"/contacts/merges/{later['merge_id']}/undo"))[0] == 200
    assert (await admin.post(f"/contacts/merges/{merged['merge_id']}/undo"))[0] == 200
    status, body = await admin.post(f"/contacts/merges/{merged['merge_id']}/undo")
    assert (status, body["error"]["code"]) == (409, "merge_undone")
    status, body = await admin.post("/contacts/merges/999999/undo")
    assert (status, body["error"]["code"]) == (404, "merge_not_found")


async def test_agents_merge_only_contacts_they_see_and_undo_their_own(
    admin: Api, agent: Api
) -> None:
    a, b = await two_contacts(admin)
    a_id, b_id = a.contact_id, b.contact_id
    agent_id = (await User.get(username="agent")).id
    await Chat.filter(id=a.id).update(mode=Mode.AGENT, assigned_agent_id=agent_id)
    # B is not the agent's to see: not suggested to them either.
    status, seen = await agent.get(f"/contacts/{a_id}")
    assert status == 200 and seen["suggestions"] == []
    assert (await agent.get("/contacts/suggestions"))[1] == []
    status, body = await agent.get(f"/contacts/{a_id}/merge-preview?other_id={b_id}")
    assert (status, body["error"]["code"]) == (404, "contact_not_found")
    status, body = await agent.post(f"/contacts/{a_id}/merge", {"other_id": b_id})
    assert (status, body["error"]["code"]) == (404, "contact_not_found")
    status, body = await agent.post(f"/contacts/{b_id}/merge", {"other_id": a_id})
    assert (status, body["error"]["code"]) == (404, "contact_not_found")
    assert not await ContactMerge.exists()

    await Chat.filter(id=b.id).update(mode=Mode.AGENT, assigned_agent_id=None)  # the queue
    assert [s["id"] for s in (await agent.get(f"/contacts/{a_id}"))[1]["suggestions"]] == [b_id]
    assert len((await agent.get("/contacts/suggestions"))[1]) == 1
    status, merged = await agent.post(f"/contacts/{a_id}/merge", {"other_id": b_id})
    assert status == 200, merged
    other, _ = await admin.new_user("siti", "siti-secret-1", role="agent")
    await Chat.filter(id=b.id).update(assigned_agent_id=None)
    status, body = await other.post(f"/contacts/merges/{merged['merge_id']}/undo")
    assert (status, body["error"]["code"]) == (404, "merge_not_found")
    status, undone = await agent.post(f"/contacts/merges/{merged['merge_id']}/undo")
    assert status == 200, undone
    assert (await Contact.get(id=b_id)).merged_into_id is None
