"""Every inbound message resolves to a contact through its verified identities
(storage.identities): linked on what a provider states, never on a display name."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import InboundMessage
from connectors.whatsapp_webhook import parse_webhook
from storage import identities
from storage.contacts_backfill import ChatRow
from storage.contacts_backfill import plan as backfill_plan
from storage.models import Chat, Contact, ContactIdentity, ContactPoint
from tests.support import Api, mute_bot


@pytest.fixture(autouse=True)
def _quiet(admin: Api) -> None:
    mute_bot(admin.service.core)


def wa(
    msg_id: str, *, phone: str | None = None, bsuid: str | None = None, name: str = "Budi"
) -> InboundMessage:
    """A WhatsApp message as the Cloud API webhook states it (from and/or from_user_id)."""
    raw: dict[str, Any] = {"id": msg_id, "type": "text", "text": {"body": "hi"}}
    contact: dict[str, Any] = {"profile": {"name": name}}
    if phone:
        raw["from"] = contact["wa_id"] = phone
    if bsuid:
        raw["from_user_id"] = contact["user_id"] = bsuid
    body = {"entry": [{"changes": [{"value": {"contacts": [contact], "messages": [raw]}}]}]}
    return parse_webhook(body).messages[0]


def mail(msg_id: str, sender: str, *, verified: bool = True) -> InboundMessage:
    return InboundMessage(
        channel="Email", chat_external_id=sender, message_external_id=msg_id, text="hello",
        customer_name="Sari", customer_email=sender, sender_verified=verified,
    )  # fmt: skip


def telegram(msg_id: str, user: str, phone: str | None = None) -> InboundMessage:
    return InboundMessage(
        channel="Telegram", chat_external_id=user, message_external_id=msg_id, text="halo",
        customer_name="Budi T", customer_phone=phone,
    )  # fmt: skip


async def identities_of(contact_id: int) -> set[tuple[str, str]]:
    rows = await ContactIdentity.filter(contact_id=contact_id).values_list("channel", "external_id")
    return {(str(c), str(e)) for c, e in rows}


async def test_a_new_customer_gets_a_contact_with_their_identity(admin: Api) -> None:
    received = await admin.service.core.inbox.receive(wa("w1", phone="628111"))
    chat = await Chat.get(id=received.chat_id)
    assert chat.contact_id is not None
    contact = await Contact.get(id=chat.contact_id)
    assert contact.name == "Budi" and contact.first_seen_at is not None
    assert await identities_of(contact.id) == {("WhatsApp", "+628111")}
    points = await ContactPoint.filter(contact_id=contact.id).values_list(
        "kind", "value", "verified"
    )
    assert points == [("phone", "+628111", True)]
    _, row = await admin.get(f"/chats/{chat.id}")
    assert row["contact_id"] == contact.id
    _, rows = await admin.get("/chats/")
    assert {r["id"]: r["contact_id"] for r in rows}[chat.id] == contact.id
    assert all(r["contact_id"] for r in rows)  # the demo's chats too


async def test_a_number_and_a_bsuid_stated_together_are_one_contact_and_one_chat(
    admin: Api,
) -> None:
    inbox = admin.service.core.inbox
    first = await inbox.receive(wa("w1", bsuid="ID.1349"))  # the number hidden
    both = await inbox.receive(wa("w2", phone="628111", bsuid="ID.1349"))
    again = await inbox.receive(wa("w3", phone="628111", bsuid="ID.1349"))
    hidden = await inbox.receive(wa("w4", bsuid="ID.1349"))
    assert first.chat_id == both.chat_id == again.chat_id == hidden.chat_id
    chat = await Chat.get(id=first.chat_id)
    assert await Chat.filter(channel="WhatsApp", contact_id=chat.contact_id).count() == 1
    assert chat.unread_count == 4
    assert await identities_of(chat.contact_id or 0) == {
        ("WhatsApp", "ID.1349"),
        ("WhatsApp", "+628111"),
    }


async def test_one_batch_with_a_number_and_its_bsuid_creates_each_chat_once(admin: Api) -> None:
    """A provider's batch holding a customer's number and BSUID as two keys, and a new
    customer after them: on PostgreSQL the second key's message is cut from its wave (one
    chat, two keys), and the new customer's chat is still told as created, once."""
    inbox = admin.service.core.inbox
    got = await inbox.receive_many(
        [
            wa("w1", phone="628111", bsuid="ID.1"),
            wa("w2", bsuid="ID.1"),
            wa("w3", phone="628222"),
            wa("w4", phone="628222"),
        ]
    )
    assert got[0].chat_id == got[1].chat_id != got[2].chat_id == got[3].chat_id
    assert [r.chat_created for r in got] == [True, False, True, False]
    assert await Chat.filter(channel="WhatsApp", external_id__in=["628111", "ID.1"]).count() == 1
    assert (await Chat.get(id=got[0].chat_id)).unread_count == 2


async def test_new_customers_in_one_batch_link_as_they_would_one_by_one(admin: Api) -> None:
    """On PostgreSQL a wave's new chats get their contacts together (contacts.find_many):
    a later message finds what an earlier one of the same batch added."""
    inbox = admin.service.core.inbox
    contacts_before = await Contact.all().count()
    got = await inbox.receive_many(
        [
            wa("w1", phone="628333"),
            telegram("t1", "7001", phone="628333"),  # the same number: the same contact
            mail("m1@x", "Dewi@Example.com"),
            mail("m2@x", "dewi@example.com"),  # the same address: the same chat
            telegram("t2", "7002"),  # nobody's
        ]
    )
    assert [r.chat_created for r in got] == [True, True, True, False, True]
    assert got[2].chat_id == got[3].chat_id
    contact = {r.chat_id: (await Chat.get(id=r.chat_id)).contact_id for r in got}
    assert contact[got[0].chat_id] == contact[got[1].chat_id] and got[0].chat_id != got[1].chat_id
    assert len({contact[got[0].chat_id], contact[got[2].chat_id], contact[got[4].chat_id]}) == 3
    assert await Contact.all().count() == contacts_before + 3
    assert await identities_of(contact[got[0].chat_id] or 0) == {
        ("WhatsApp", "+628333"),
        ("Telegram", "7001"),
    }
    later = await inbox.receive(telegram("t3", "7003", phone="+628333"))  # an existing point
    assert (await Chat.get(id=later.chat_id)).contact_id == contact[got[0].chat_id]


async def test_a_bsuid_after_the_number_stays_in_the_numbers_chat(admin: Api) -> None:
    inbox = admin.service.core.inbox
    first = await inbox.receive(wa("w1", phone="628111", bsuid="ID.1"))
    hidden = await inbox.receive(wa("w2", bsuid="ID.1"))
    assert hidden.chat_id == first.chat_id and not hidden.chat_created
    assert (await Chat.get(id=first.chat_id)).external_id == "628111"


async def test_email_addresses_link_by_case_but_keep_plus_tags_apart(admin: Api) -> None:
    inbox = admin.service.core.inbox
    a = await inbox.receive(mail("m1@x", "Sari@Example.COM"))
    b = await inbox.receive(mail("m2@x", "sari@example.com"))
    c = await inbox.receive(mail("m3@x", "sari+shop@example.com"))
    contact = {r.chat_id: (await Chat.get(id=r.chat_id)).contact_id for r in (a, b, c)}
    assert contact[a.chat_id] == contact[b.chat_id] != contact[c.chat_id]


async def test_an_unverified_sender_gets_a_contact_of_their_own(admin: Api) -> None:
    inbox = admin.service.core.inbox
    real = await inbox.receive(mail("m1@x", "sari@example.com"))
    fake = await inbox.receive(mail("m2@x", "sari@example.com", verified=False))
    real_contact = (await Chat.get(id=real.chat_id)).contact_id
    fake_contact = (await Chat.get(id=fake.chat_id)).contact_id
    assert real_contact != fake_contact
    assert await identities_of(fake_contact or 0) == {("Email", "unverified:sari@example.com")}
    assert not await ContactPoint.filter(contact_id=fake_contact).exists()


async def test_a_verified_number_links_channels_a_display_name_never(admin: Api) -> None:
    inbox = admin.service.core.inbox
    whatsapp = await inbox.receive(wa("w1", phone="628111", name="Budi"))
    same_name = await inbox.receive(telegram("1", "5001"))  # "Budi T", no number
    shared = await inbox.receive(telegram("2", "5002", phone="+62 811-1"))  # their own number
    contact = (await Chat.get(id=whatsapp.chat_id)).contact_id
    assert (await Chat.get(id=same_name.chat_id)).contact_id != contact
    assert (await Chat.get(id=shared.chat_id)).contact_id == contact
    assert shared.chat_id != whatsapp.chat_id  # two conversations of one contact
    assert ("Telegram", "5002") in await identities_of(contact or 0)


async def test_a_number_shared_later_is_a_verified_point_of_the_chats_contact(admin: Api) -> None:
    inbox = admin.service.core.inbox
    first = await inbox.receive(telegram("1", "5001"))
    await inbox.receive(telegram("2", "5001", phone="6281234"))
    contact = (await Chat.get(id=first.chat_id)).contact_id
    points = await ContactPoint.filter(contact_id=contact).values_list("kind", "value", "verified")
    assert points == [("phone", "+6281234", True)]


async def test_a_chat_started_from_the_dashboard_has_a_contact(admin: Api) -> None:
    status, chat = await admin.post(
        "/chats/",
        {"channel": "Email", "customer_name": "Rina", "customer_email": "Rina@Example.com",
         "customer_phone": "+62 812 000"},
    )  # fmt: skip
    assert status == 201, chat
    row = await Chat.get(id=chat["id"])
    assert row.contact_id is not None
    assert await identities_of(row.contact_id) == {("Email", "rina@example.com")}
    points = await ContactPoint.filter(contact_id=row.contact_id).values_list(
        "kind", "value", "verified"
    )
    assert sorted(points) == [("email", "rina@example.com", False), ("phone", "+62812000", False)]
    mail_in = await admin.service.core.inbox.receive(mail("m1@x", "rina@example.com"))
    assert (await Chat.get(id=mail_in.chat_id)).contact_id == row.contact_id


def test_phone_numbers_and_addresses_in_their_stored_forms() -> None:
    assert identities.e164("+62 (812) 345-678") == "+62812345678"
    assert identities.e164("0062812345678") == "+62812345678"
    assert identities.e164("62812345678") == "+62812345678"
    assert identities.e164("0812345678", international=False) is None
    assert identities.e164("62812345678", international=False) is None
    assert identities.e164("+1234") is None and identities.e164("call me") is None
    assert identities.email(" Sari+Shop@Example.COM ") == "sari+shop@example.com"
    assert identities.email("not an address") is None
    assert identities.identities("WhatsApp", "628111", ("ID.9",)) == [
        ("WhatsApp", "+628111"),
        ("WhatsApp", "ID.9"),
    ]


def test_the_backfill_groups_chats_by_identity_phone_and_email() -> None:
    def chat(i: int, channel: str, key: str, phone: str | None = None, email: str | None = None,
             unverified: bool = False) -> ChatRow:  # fmt: skip
        return ChatRow(i, channel, key, f"name {i}", phone, email, unverified, i, i)

    out = backfill_plan(
        [
            chat(1, "WhatsApp", "628111", phone="+628111"),
            chat(2, "Telegram", "77", phone="628111"),  # the same number: one contact
            chat(3, "Email", "a@x.io", email="a@x.io"),
            chat(4, "Email", "A@X.io", email="A@X.io"),  # the same address
            chat(5, "Email", "unverified:a@x.io", email="a@x.io", unverified=True),
            chat(6, "Telegram", "78"),
        ]
    )
    assert out.chats == {1: 1, 2: 1, 3: 3, 4: 3, 5: 5, 6: 6}
    assert out.contacts[1] == ("name 2", 1)  # the name of the latest active chat
    assert sorted(out.identities) == [
        (1, "Telegram", "77", 2), (1, "WhatsApp", "+628111", 1),
        (3, "Email", "a@x.io", 3), (5, "Email", "unverified:a@x.io", 5),
        (6, "Telegram", "78", 6),
    ]  # fmt: skip
    assert (5, "email", "a@x.io", True) not in out.points


async def test_a_number_typed_before_becomes_verified_when_the_customer_shares_it(
    admin: Api,
) -> None:
    inbox = admin.service.core.inbox
    first = await inbox.receive(telegram("1", "5001"))
    contact = (await Chat.get(id=first.chat_id)).contact_id
    status, _ = await admin.patch(f"/contacts/{contact}", {"phones": ["+62 81234 567"]})
    assert status == 200
    await inbox.receive(telegram("2", "5001", phone="6281234567"))
    points = await ContactPoint.filter(contact_id=contact).values_list("kind", "value", "verified")
    assert points == [("phone", "+6281234567", True)]


async def test_a_bsuid_with_a_contact_of_its_own_is_offered_for_merging_with_its_number(
    admin: Api,
) -> None:
    inbox = admin.service.core.inbox
    number = await inbox.receive(wa("w1", phone="628111"))  # before BSUIDs
    alone = await inbox.receive(wa("w2", bsuid="ID.7"))  # the number hidden: no link yet
    both = await inbox.receive(wa("w3", phone="628111", bsuid="ID.7"))
    assert both.chat_id == number.chat_id != alone.chat_id
    x = (await Chat.get(id=number.chat_id)).contact_id
    y = (await Chat.get(id=alone.chat_id)).contact_id
    assert x != y
    status, contact = await admin.get(f"/contacts/{x}")
    assert status == 200
    assert [s["id"] for s in contact["suggestions"]] == [y]
    assert contact["suggestions"][0]["shared"] == [{"kind": "phone", "value": "+628111"}]


async def test_starting_a_conversation_with_a_number_finds_its_users_bsuid_chat(
    admin: Api,
) -> None:
    inbox = admin.service.core.inbox
    alone = await inbox.receive(wa("w1", bsuid="ID.8"))
    await inbox.receive(wa("w2", phone="628999000", bsuid="ID.8"))  # writes into the BSUID chat
    status, chat = await admin.post("/chats/", {"channel": "WhatsApp", "phone": "+628999000"})
    assert status == 200, chat
    assert chat["id"] == alone.chat_id
