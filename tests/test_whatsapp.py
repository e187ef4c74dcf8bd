"""WhatsApp end to end: the mock Graph API on one socket, msgcenter on another, a real database.

Customers write through the mock's signed webhooks; agents answer over the
dashboard API; what msgcenter sends is read back at the mock in Graph API form.
"""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from tortoise import connections

from connectors.mock.whatsapp import (
    contact,
    customer_payload,
    encode,
    message,
    sign,
    status_payload,
    webhook_body,
)
from connectors.whatsapp import MEDIA_GONE as GONE
from msgcenter.service import build_app
from msgcenter.settings import SettingsError
from storage.models import Chat, Message
from tests.support import make_settings
from tests.whatsapp_support import (
    APP_SECRET,
    VERIFY_TOKEN,
    WhatsApp,
    eventually,
    sends_of,
)

# -- the whole trip -----------------------------------------------------------------------


async def test_customer_message_reply_and_receipts(wa: WhatsApp) -> None:
    wa.mock.auto_statuses = False  # first, receipts by hand: sent, then delivered, then read
    phone, text = "6281111111111", "Halo, pesanan INV-2041 belum sampai 📦"
    status, wamid = await wa.mock.customer_says("José Ñúñez", text, phone=phone)
    assert status == 200

    row = await wa.chat_row("José Ñúñez")
    assert (row["channel"], row["unread"], row["phone"]) == ("WhatsApp", 1, f"+{phone}")
    [inbound] = await wa.messages(row["id"])
    assert (inbound["text"], inbound["sender"]) == (text, "customer")

    answer = "Hi José, let me check that for you."
    reply_id = await wa.reply(row["id"], answer)
    [sent] = await eventually(lambda: sends_of(wa.mock, answer), "the reply at the mock")
    assert sent["request"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": phone,
        "type": "text",
        "text": {"body": answer, "preview_url": False},
        "context": {"message_id": wamid},
    }

    def status_is(expected: str) -> Awaitable[bool]:
        return wa.has_status(row["id"], reply_id, expected)

    await eventually(lambda: status_is("sent"), "status sent")
    assert (await Message.get(id=reply_id)).external_id == sent["id"]
    assert await wa.mock.post_status(sent["id"], "delivered", phone) == 200
    await eventually(lambda: status_is("delivered"), "status delivered")
    assert await wa.mock.post_status(sent["id"], "read", phone) == 200
    await eventually(lambda: status_is("read"), "status read")
    assert await wa.mock.post_status(sent["id"], "delivered", phone) == 200  # late, out of order
    assert await status_is("read")

    wa.mock.auto_statuses = True  # the mock's own receipts take a second reply all the way
    second = await wa.reply(row["id"], "It left our warehouse this morning.")
    await eventually(lambda: wa.has_status(row["id"], second, "read"), "the mock's receipts")


async def test_seed_benchmark_payload_is_accepted(wa: WhatsApp) -> None:
    # Byte for byte what the benchmark's wa_payload.make_payload(0, phone_for(0)) sends.
    body = (
        b'{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":'
        b'{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881",'
        b'"phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Customer 0000"},'
        b'"wa_id":"628120000000"}],"messages":[{"from":"628120000000","id":'
        b'"wamid.HBgN628120000000FQIAEhgU000000000000","timestamp":"1795702979","text":{"body":'
        b'"Halo, ini pesan nomor 0. Apakah produk ini masih tersedia?"},"type":"text"}]},'
        b'"field":"messages"}]}]}'
    )
    status, answer = await wa.post(body, sign(body, APP_SECRET))
    assert (status, answer) == (200, {"messages": 1, "statuses": 0})
    row = await wa.chat_row("Customer 0000")
    assert (row["unread"], row["phone"]) == (1, "+628120000000")


# -- the webhook's gate ---------------------------------------------------------------------


async def test_handshake(wa: WhatsApp) -> None:
    client = wa.anon.client
    good = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "11582",
    }
    async with client.get("/webhooks/whatsapp", params=good) as response:
        assert (response.status, response.content_type) == (200, "text/plain")
        assert await response.text() == "11582"
    for bad in ({**good, "hub.verify_token": "guess"}, {**good, "hub.mode": "unsubscribe"}, {}):
        async with client.get("/webhooks/whatsapp", params=bad) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "forbidden"


async def test_refused_webhooks_store_nothing(wa: WhatsApp) -> None:
    good = encode(customer_payload("Mallory", "hi", phone="6280000000001"))
    reserialized = encode(customer_payload("Mallory", "hi", phone="6280000000001")) + b" "
    no_id = webhook_body(
        contacts=[contact("Mallory", "6280000000001")],
        messages=[
            message("text", {"body": "kept?"}, phone="6280000000001"),
            {"from": "6280000000001", "type": "text", "text": {"body": "no id"}},
        ],
    )
    signed = {
        "malformed JSON": (b'{"entry": [', 400, "malformed_json"),
        "not an object": (b"[1, 2]", 400, "invalid_payload"),
        "entry not a list": (b'{"entry": {"id": 1}}', 400, "invalid_payload"),
        "a message without an id": (encode(no_id), 400, "invalid_payload"),
    }
    cases = [
        ("wrong secret", good, sign(good, "not-the-app-secret"), 401, "invalid_signature"),
        ("no signature", good, None, 401, "invalid_signature"),
        ("signature of other bytes", reserialized, sign(good, APP_SECRET), 401,
         "invalid_signature"),
        ("not sha256=", good, sign(good, APP_SECRET)[7:], 401, "invalid_signature"),
        *((name, body, sign(body, APP_SECRET), code, error)
          for name, (body, code, error) in signed.items()),
    ]  # fmt: skip
    for name, body, signature, expected, error in cases:
        status, answer = await wa.post(body, signature)
        assert (status, answer["error"]["code"]) == (expected, error), name
    assert await Chat.filter(channel="WhatsApp").count() == 0
    assert await Message.all().count() == 0


async def test_repeated_delivery_is_stored_once(wa: WhatsApp) -> None:
    payload = customer_payload("Budi", "Halo", phone="6282222222222", wamid="wamid.ONCE")
    payload["entry"].append(payload["entry"][0])  # the same message twice in one batch, too
    for _ in range(3):
        assert (await wa.deliver(payload))[0] == 200
    assert await Message.filter(external_id="wamid.ONCE").count() == 1
    assert (await wa.chat_row("Budi"))["unread"] == 1


async def test_a_batch_from_two_customers_is_one_commit(wa: WhatsApp) -> None:
    ann, bob = "6283333333333", "6284444444444"
    first = webhook_body(
        contacts=[contact("Ann", ann)],
        messages=[message("text", {"body": f"ann {i}"}, phone=ann, wamid=f"wamid.A{i}")
                  for i in range(2)],
    )  # fmt: skip
    second = webhook_body(
        contacts=[contact("Bob", bob), contact("Ann", ann)],
        messages=[
            message("text", {"body": "bob 0"}, phone=bob, wamid="wamid.B0"),
            message("text", {"body": "ann 2"}, phone=ann, wamid="wamid.A2"),
            message("text", {"body": "bob 1"}, phone=bob, wamid="wamid.B1"),
        ],
    )
    payload = {**first, "entry": first["entry"] + second["entry"]}
    writer = wa.service.core.writer
    before = writer.operations
    assert (await wa.deliver(payload))[0] == 200
    assert writer.operations - before == 1  # one sink.receive: one operation, one commit

    chats = {c.external_id: c for c in await Chat.filter(channel="WhatsApp")}
    assert {k: (c.customer_name, c.unread_count) for k, c in chats.items()} == {
        ann: ("Ann", 3),
        bob: ("Bob", 2),
    }
    rows = await Message.filter(chat_id__in=[c.id for c in chats.values()]).order_by("id")
    assert [(m.external_id, m.text, m.chat_id) for m in rows] == [
        ("wamid.A0", "ann 0", chats[ann].id),
        ("wamid.A1", "ann 1", chats[ann].id),
        ("wamid.B0", "bob 0", chats[bob].id),
        ("wamid.A2", "ann 2", chats[ann].id),
        ("wamid.B1", "bob 1", chats[bob].id),
    ]
    if wa.db_url.startswith("postgres"):  # the rows themselves say which transaction wrote them
        ids = ",".join(str(m.id) for m in rows)
        _, found = await connections.get("default").execute_query(
            f"SELECT DISTINCT xmin::text FROM messages WHERE id IN ({ids})"  # noqa: S608
        )
        assert len(found) == 1


# -- what customers send ----------------------------------------------------------------------

# (type, content, extra message fields, stored text, attachment kinds, reply_to)
MESSAGE_TYPES: list[tuple[str, Any, dict[str, Any], str, list[str], str | None]] = [
    ("text", {"body": "Hello"}, {"brand_new_field": {"x": 1}}, "Hello", [], None),
    ("text", {"body": "as I said"}, {"context": {"from": "15550783881", "id": "wamid.EARLIER"}},
     "as I said", [], "wamid.EARLIER"),
    ("image", {"id": "MEDIA1", "mime_type": "image/jpeg", "sha256": "aa", "caption": "receipt"},
     {}, "receipt", ["image"], None),
    ("image", {"id": "MEDIA2", "mime_type": "image/jpeg"}, {}, "[photo]", ["image"], None),
    ("document", {"id": "MEDIA3", "filename": "invoice.pdf", "mime_type": "application/pdf"},
     {}, "[document: invoice.pdf]", ["document"], None),
    ("audio", {"id": "MEDIA4", "mime_type": "audio/ogg; codecs=opus", "voice": True}, {},
     "[voice message]", ["voice"], None),
    ("audio", {"id": "MEDIA5", "mime_type": "audio/mpeg"}, {}, "[audio]", ["audio"], None),
    ("video", {"id": "MEDIA6", "mime_type": "video/mp4", "caption": "unboxing"}, {},
     "unboxing", ["video"], None),
    ("sticker", {"id": "MEDIA7", "mime_type": "image/webp", "animated": False}, {},
     "[sticker]", ["sticker"], None),
    ("location", {"latitude": -6.1754, "longitude": 106.8272, "name": "Monas",
                  "address": "Jakarta Pusat"}, {},
     "[location] Monas, Jakarta Pusat (-6.1754, 106.8272)", ["location"], None),
    ("contacts", [{"name": {"formatted_name": "Ann Lee", "first_name": "Ann"},
                   "phones": [{"phone": "+1 555 0100", "type": "CELL", "wa_id": "15550100"}]}],
     {}, "[contact] Ann Lee +1 555 0100", ["contact"], None),
    ("interactive", {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes, please"}},
     {}, "Yes, please", [], None),
    ("interactive", {"type": "list_reply",
                     "list_reply": {"id": "r2", "title": "Order status", "description": "Where?"}},
     {}, "Order status", [], None),
    ("button", {"payload": "STOP", "text": "Stop promotions"}, {}, "Stop promotions", [], None),
    ("reaction", {"message_id": "wamid.OURS", "emoji": "👍"}, {}, "reacted 👍 to a message", [],
     "wamid.OURS"),
    ("unsupported", {"type": "poll"},
     {"errors": [{"code": 131051, "title": "Message type unknown"}]},
     "[message not supported here yet: Message type unknown]", [], None),
    ("hologram", {"beam": 3}, {}, "[hologram message not supported here yet]", [], None),
]  # fmt: skip


async def test_every_message_type_is_stored_readably(wa: WhatsApp) -> None:
    phone = "6285555555555"
    messages = [
        {**message(kind, content, phone=phone, wamid=f"wamid.T{i}"), **extra}
        for i, (kind, content, extra, *_) in enumerate(MESSAGE_TYPES)
    ]
    payload = webhook_body(contacts=[contact("Types", phone)], messages=messages)
    assert (await wa.deliver(payload))[0] == 200
    for i, (kind, _, _, text, kinds, reply_to) in enumerate(MESSAGE_TYPES):
        row = await Message.get(external_id=f"wamid.T{i}")
        stored = (row.text, [a["kind"] for a in row.attachments], row.reply_to_external_id)
        assert stored == (text, kinds, reply_to), kind
    # The files are fetched after the commit; the mock knows none of these media ids.
    await wa.service.core.media.quiet()  # type: ignore[union-attr]
    image = await Message.get(external_id="wamid.T2")
    assert image.attachments == [
        {"kind": "image", "mime_type": "image/jpeg", "ref": "MEDIA1", "meta": {"sha256": "aa"},
         "status": "failed", "error": GONE + ": HTTP 404"}
    ]  # fmt: skip
    assert (await Message.get(external_id="wamid.T4")).attachments[0]["name"] == "invoice.pdf"
    assert (await wa.chat_row("Types"))["unread"] == len(MESSAGE_TYPES)


async def test_a_customer_known_only_by_user_id(wa: WhatsApp) -> None:
    bsuid = "ID.1248657223441075"
    payload = webhook_body(
        contacts=[{"profile": {"name": "Rina", "username": "rina.shop"}, "user_id": bsuid}],
        messages=[message("text", {"body": "Hai"}, user_id=bsuid, wamid="wamid.BSUID")],
    )
    assert (await wa.deliver(payload))[0] == 200
    chat = await Chat.get(channel="WhatsApp", external_id=bsuid)
    assert (chat.customer_name, chat.customer_phone, chat.customer_username) == (
        "Rina", None, "rina.shop",
    )  # fmt: skip
    # With both ids, the phone number keys the customer (as before user ids existed).
    both = webhook_body(
        contacts=[contact("Sari", "6286666666666", "ID.999")],
        messages=[message("text", {"body": "Halo"}, phone="6286666666666", user_id="ID.999")],
    )
    assert (await wa.deliver(both))[0] == 200
    assert await Chat.exists(channel="WhatsApp", external_id="6286666666666")

    await wa.reply(chat.id, "Hi Rina!")
    [sent] = await eventually(lambda: sends_of(wa.mock, "Hi Rina!"), "the reply at the mock")
    assert sent["request"]["recipient"] == bsuid
    assert "to" not in sent["request"]


def test_enabled_without_secrets_names_what_is_missing(tmp_path: Path) -> None:
    channel = {"enabled": True, "phone_number_id": "106540352242922", "access_token": "t"}
    settings = make_settings(
        f"sqlite://{tmp_path / 'msgcenter.db'}", tmp_path / "data", channels={"whatsapp": channel}
    )
    with pytest.raises(SettingsError) as refused:
        build_app(settings)
    assert str(refused.value) == (
        "channels.whatsapp.app_secret: required when the channel is enabled"
        " (MSGCENTER_CHANNELS__WHATSAPP__APP_SECRET); "
        "channels.whatsapp.verify_token: required when the channel is enabled"
        " (MSGCENTER_CHANNELS__WHATSAPP__VERIFY_TOKEN)"
    )


async def test_lone_surrogates_are_stored_as_replacement_characters(wa: WhatsApp) -> None:
    # Valid JSON ("\ud83d" escapes half an emoji) that no database can store as text.
    payload = customer_payload("Sari \ud83d", "Halo \ud83d!", phone="6285555555555", wamid="w.S")
    body = encode(payload)  # ASCII-escaped, as Meta sends it: the JSON itself is valid
    assert (await wa.post(body, sign(body, APP_SECRET)))[0] == 200
    row = await wa.chat_row("Sari \ufffd")
    assert row["last_message"]["text"] == "Halo \ufffd!"
    assert (await wa.messages(row["id"]))[-1]["text"] == "Halo \ufffd!"


async def test_a_failed_status_with_a_lone_surrogate_in_its_error_is_kept(wa: WhatsApp) -> None:
    error = {"code": 131000, "title": "Something \ud83d went wrong"}
    chat_id, _ = await wa.customer_chat("Rina", "6285555555556")
    message_id = await wa.reply(chat_id, "Halo Rina")
    await wa.idle()
    sent = await Message.get(id=message_id)
    for wamid in (sent.external_id, "wamid.NOT-OURS-YET"):
        body = encode(status_payload(wamid, "failed", "6285555555556", errors=[error]))
        assert (await wa.post(body, sign(body, APP_SECRET)))[0] == 200
    failed = await wa.message(chat_id, message_id)
    assert failed["status"] == "failed"
    assert "Something \ufffd went wrong" in failed["error"]
