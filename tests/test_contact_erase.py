"""Privacy on request (docs/api.md "Privacy: export and erase"): a contact's data exported
as a JSON download, and a contact erased everywhere: every row of their conversations in
every table, the files only they sent, with an audit record that names no one."""

from __future__ import annotations

import hashlib
import json

from tortoise import timezone
from tortoise.models import Model

from storage import erasure as erasure_store
from storage import models
from storage.blobs import DiskBlobs
from storage.files import FileStore
from storage.models import (
    AuditEntry,
    Chat,
    ChatLabel,
    ChatTransition,
    ChatWatcher,
    Contact,
    ContactIdentity,
    ContactMerge,
    ContactPoint,
    EventRecord,
    Message,
    Notification,
    Sender,
    Status,
    User,
)
from tests.support import Api, frames_within, mute_bot
from tests.test_contacts_ingest import mail
from tests.test_media_inbound import PDF, PNG, settled
from tests.whatsapp_support import WhatsApp, eventually

PHONE = "6287770001"
NAME = "Zubaedah Quarrel"
SECRETS = (NAME, PHONE, "zubaedah@example.com", "broken lid", "order 4417")


async def everything() -> str:
    """Every row of every table, as text."""
    rows = []
    for model in vars(models).values():
        if isinstance(model, type) and issubclass(model, Model) and model is not Model:
            rows += await model.all().values()
    return json.dumps(rows, default=str, ensure_ascii=False)


async def customer_with_history(wa: WhatsApp) -> tuple[int, list[int]]:
    """Zubaedah: a WhatsApp chat with a photo, a PDF and a text, an e-mail chat merged in,
    a label, a transition, a watcher and a notification. (contact id, chat ids)."""
    admin, mock = wa.admin, wa.mock
    photo = mock.add_media(PNG, "image/png")
    _, first = await mock.customer_sends(NAME, "image", photo, caption="broken lid", phone=PHONE)
    await settled(admin, first)
    pdf = mock.add_media(PDF, "application/pdf")
    _, second = await mock.customer_sends(NAME, "document", pdf, phone=PHONE)
    await settled(admin, second)
    status, _ = await mock.customer_says(NAME, "where is order 4417?", phone=PHONE)
    assert status == 200
    chat = await Chat.get(external_id=PHONE)
    contact_id = chat.contact_id
    assert contact_id is not None
    received = await wa.service.core.inbox.receive(mail("e1@x", "zubaedah@example.com"))
    email_chat = await Chat.get(id=received.chat_id)
    status, merged = await admin.post(
        f"/contacts/{contact_id}/merge", {"other_id": email_chat.contact_id}
    )
    assert status == 200, merged
    assert (await admin.post("/labels", {"name": "refund"}))[0] == 201
    assert (await admin.post(f"/chats/{chat.id}/labels", {"label": "refund"}))[0] == 200
    agent = await User.get(username="agent")
    await ChatTransition.create(
        chat_id=chat.id, action="assign", from_mode="bot", to_mode="agent",
        to_agent_id=agent.id, actor_kind="person", actor_id=agent.id,
    )  # fmt: skip
    await ChatWatcher.create(chat_id=chat.id, user_id=agent.id)
    await Notification.create(
        user_id=agent.id, kind="message", chat_id=chat.id, data={"text": "order 4417"}
    )
    return contact_id, [chat.id, email_chat.id]


async def test_an_export_is_a_download_of_everything_about_the_contact(wa: WhatsApp) -> None:
    contact_id, chats = await customer_with_history(wa)
    status, data = await wa.admin.get(f"/contacts/{contact_id}/export")
    assert status == 200, data
    disposition = wa.admin.last_headers["Content-Disposition"]
    assert disposition == f'attachment; filename="contact-{contact_id}.json"'
    assert data["contact"]["id"] == contact_id and data["contact"]["name"] == NAME
    assert len(data["merged_contacts"]) == 1
    assert {(i["channel"], i["external_id"]) for i in data["identities"]} == {
        ("WhatsApp", f"+{PHONE}"),
        ("Email", "zubaedah@example.com"),
    }
    assert {p["value"] for p in data["points"]} == {f"+{PHONE}", "zubaedah@example.com"}
    assert [c["id"] for c in data["conversations"]] == chats
    messages = data["conversations"][0]["messages"]
    assert [m["text"] for m in messages] == ["broken lid", "[document]", "where is order 4417?"]
    assert messages[0]["sender"] == "customer" and messages[0]["created_at"]
    photo = messages[0]["attachments"][0]
    assert photo["sha256"] == hashlib.sha256(PNG).hexdigest() and photo["mime_type"] == "image/png"
    assert "ref" not in photo
    audit = data["conversations"][0]["audit"]
    assert [e["action"] for e in audit] == ["label_added"]

    agent = await wa.anon.login("agent", "agent123")
    status, body = await agent.get(f"/contacts/{contact_id}/export")
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await wa.admin.get("/contacts/999999/export")
    assert (status, body["error"]["code"]) == (404, "contact_not_found")


async def test_erasing_a_contact_leaves_nothing_of_them(wa: WhatsApp) -> None:
    admin, mock = wa.admin, wa.mock
    contact_id, chats = await customer_with_history(wa)
    # Someone else sent the same photo: that file stays.
    same = mock.add_media(PNG, "image/png")
    _, theirs = await mock.customer_sends("Eko", "image", same, phone="6288880002")
    await settled(admin, theirs)
    blobs = wa.service.core.blobs
    assert isinstance(blobs, DiskBlobs)
    photo, pdf = (blobs.path(hashlib.sha256(data).hexdigest()) for data in (PNG, PDF))
    assert photo.exists() and pdf.exists()
    text = await everything()
    assert all(secret in text for secret in SECRETS)

    agent = await wa.anon.login("agent", "agent123")
    status, body = await agent.call("DELETE", f"/contacts/{contact_id}")
    assert (status, body["error"]["code"]) == (403, "forbidden")
    ws = await admin.socket()
    status, erased = await admin.call("DELETE", f"/contacts/{contact_id}")
    assert status == 200, erased
    assert erased == {"contact_id": contact_id, "chats": 2, "messages": 4, "files": 1}

    text = await everything()
    for secret in SECRETS:
        assert secret not in text, secret
    assert not await Chat.filter(id__in=chats).exists()
    assert not await Contact.filter(merged_into_id=contact_id).exists()
    assert not await Contact.filter(id=contact_id).exists()
    for model in (Message, ChatTransition, ChatLabel, ChatWatcher, Notification):
        assert not await model.filter(chat_id__in=chats).exists(), model
    # Of the logged events of those chats only the removals are left (ids only).
    left = await EventRecord.filter(chat_id__in=chats).values_list("type", "data")
    assert sorted(left, key=str) == [("chat.removed", {"chat_id": i}) for i in chats]
    assert not await AuditEntry.filter(chat_id__in=chats).exists()
    assert not await ContactIdentity.filter(contact_id=contact_id).exists()
    assert not await ContactPoint.filter(contact_id=contact_id).exists()
    assert not await ContactMerge.exists()
    assert not pdf.exists()
    assert photo.exists()  # Eko's message names it
    status, still = await admin.get(f"/chats/{(await Chat.get(external_id='6288880002')).id}")
    assert status == 200 and still["messages"][0]["attachments"][0]["status"] == "stored"

    [entry] = await AuditEntry.filter(action="contact_erased").values()
    assert entry["chat_id"] is None and entry["actor_id"] is not None
    assert entry["data"] == {"contact_id": contact_id, "chats": 2, "messages": 4, "files": 1}

    frames = await frames_within(ws)
    removed = {f["chat_id"] for f in frames if f["type"] == "chat.removed"}
    assert removed == set(chats)
    assert all(
        f["data"] == {"chat_id": f["chat_id"]} for f in frames if f["type"] == "chat.removed"
    )
    await ws.close()

    status, body = await admin.call("DELETE", f"/contacts/{contact_id}")
    assert (status, body["error"]["code"]) == (404, "contact_not_found")

    # The same customer writing again is a stranger: a new contact, a new chat.
    status, _ = await mock.customer_says(NAME, "hello again", phone=PHONE)
    assert status == 200
    fresh = await Chat.get(external_id=PHONE)
    assert fresh.id not in chats and fresh.contact_id not in (None, contact_id)
    assert await Message.filter(chat_id=fresh.id).count() == 1


async def test_an_old_email_attachment_is_erased_too(admin: Api) -> None:
    """A file of the old store (email attachments of before the blob store) goes as well."""
    mute_bot(admin.service.core)  # no answer of the bot's among the messages counted
    old = FileStore(admin.service.settings.storage.data_dir / "attachments")
    file_id = old.save("passport.pdf", PDF)
    received = await admin.service.core.inbox.receive(mail("e1@x", "zubaedah@example.com"))
    chat = await Chat.get(id=received.chat_id)
    await Message.create(
        chat_id=chat.id, text="my passport", sender=Sender.CUSTOMER, status=Status.SENT,
        attachments=[{"kind": "document", "mime_type": "application/pdf", "file": file_id}],
    )  # fmt: skip
    assert old.path(file_id) is not None
    status, erased = await admin.call("DELETE", f"/contacts/{chat.contact_id}")
    assert status == 200, erased
    assert erased["files"] == 1 and erased["messages"] == 2
    assert old.path(file_id) is None
    assert not (old.root / file_id).exists()


async def test_a_file_is_kept_while_any_message_names_it(admin: Api) -> None:
    """storage.erasure.referenced reads the messages in few scans, however popular a file."""
    popular, second, gone = (hashlib.sha256(bytes([i])).hexdigest() for i in range(3))
    chat = await Chat.create(channel="Telegram", external_id="x1", customer_name="X",
                             activity_at=timezone.now())  # fmt: skip
    sticker = [{"kind": "sticker", "sha256": popular, "status": "stored"}]
    await Message.bulk_create(
        [Message(chat_id=chat.id, text="", sender=Sender.CUSTOMER, status=Status.SENT,
                 attachments=sticker) for _ in range(erasure_store.ROWS + 20)]
    )  # fmt: skip
    await Message.create(
        chat_id=chat.id, text="", sender=Sender.CUSTOMER, status=Status.SENT,
        attachments=[{"kind": "image", "sha256": second, "status": "stored"}],
    )  # fmt: skip
    found = await erasure_store.referenced([popular, second, gone, "not a hash"])
    assert found == {popular, second}
    assert await erasure_store.referenced([gone]) == set()
    assert await erasure_store.referenced([]) == set()


async def test_a_file_fetched_while_its_contact_is_erased_is_not_kept(wa: WhatsApp) -> None:
    """The fetch of a customer's file ends after the erase: the file is dropped, not kept
    for a message that no longer exists."""
    data = PNG + b"erased while fetched"
    wa.mock.hold_media()
    photo = wa.mock.add_media(data, "image/png")
    status, wamid = await wa.mock.customer_sends(NAME, "image", photo, phone=PHONE)
    assert status == 200
    message = await Message.get(external_id=wamid)
    chat = await Chat.get(id=message.chat_id)

    async def asked() -> bool:
        return wa.mock.media_busy == 1

    await eventually(asked, "the fetch of the file under way")
    status, erased = await wa.admin.call("DELETE", f"/contacts/{chat.contact_id}")
    assert status == 200, erased
    assert erased["files"] == 0  # not kept yet
    media = wa.service.core.media
    assert media is not None and media.running == 1
    wa.mock.release_media()
    await media.quiet()
    blobs = wa.service.core.blobs
    assert isinstance(blobs, DiskBlobs)
    assert not blobs.path(hashlib.sha256(data).hexdigest()).exists()
    assert wa.mock.media_lookups == 1  # it was fetched, and then dropped
