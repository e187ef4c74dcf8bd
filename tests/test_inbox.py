"""Ingest: each customer message stored exactly once, in one commit, counted exactly."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from connectors.base import Attachment, InboundMessage
from handoff.domain import events
from storage.models import Chat, ChatTransition, Message, Mode
from tests.support import Api, mute_bot


@pytest.fixture(autouse=True)
def _ingest_alone(admin: Api) -> None:
    """These tests look at ingest alone. The bot answers in the background (tests/test_bot_*);
    its reply, once the ingest got faster, raced the message counts and previews below."""
    mute_bot(admin.service.core)


def inbound(text: str, msg_id: str, *, who: str = "628111", name: str = "Budi") -> InboundMessage:
    return InboundMessage(
        channel="WhatsApp",
        chat_external_id=who,
        message_external_id=msg_id,
        text=text,
        customer_name=name,
        customer_phone=who,
    )


async def test_a_new_customer_gets_a_chat_in_bot_mode(admin: Api) -> None:
    received = await admin.service.core.inbox.receive(inbound("Halo", "wamid.1"))
    assert received.stored and received.chat_created and received.mode == Mode.BOT
    _, chats = await admin.get("/chats/?channel=WhatsApp&q=Budi")
    assert [(c["name"], c["unread"], c["mode"]) for c in chats] == [("Budi", 1, "bot")]
    assert chats[0]["last_message"]["text"] == "Halo"


async def test_the_same_message_twice_is_stored_once(admin: Api) -> None:
    inbox = admin.service.core.inbox
    first = await inbox.receive(inbound("Halo", "wamid.1"))
    again = await inbox.receive(inbound("Halo", "wamid.1"))
    assert first.stored and again.duplicate and again.chat_id == first.chat_id
    assert await Message.filter(chat_id=first.chat_id).count() == 1
    assert (await Chat.get(id=first.chat_id)).unread_count == 1


async def test_a_batch_is_stored_in_order_with_duplicates_inside_it_once(admin: Api) -> None:
    batch = [
        inbound("one", "w1"),
        inbound("two", "w2"),
        inbound("one", "w1"),
        inbound("x", "w3", who="62999"),
    ]
    results = await admin.service.core.inbox.receive_many(batch)
    assert [r.duplicate for r in results] == [False, False, True, False]
    texts = (
        await Message.filter(chat_id=results[0].chat_id)
        .order_by("id")
        .values_list("text", flat=True)
    )
    assert texts == ["one", "two"]


async def test_a_customer_writing_to_a_closed_chat_reopens_it(admin: Api) -> None:
    inbox = admin.service.core.inbox
    first = await inbox.receive(inbound("Halo", "w1"))
    assert (await admin.post(f"/chats/{first.chat_id}/close"))[0] == 200
    again = await inbox.receive(inbound("Masih ada?", "w2"))
    assert again.chat_id == first.chat_id
    assert again.mode == Mode.BOT
    last = await ChatTransition.filter(chat_id=first.chat_id).order_by("-id").first()
    assert last is not None
    assert (last.action, last.from_mode, last.to_mode, last.actor_kind) == (
        "customer_wrote", "closed", "bot", "customer",
    )  # fmt: skip
    _, detail = await admin.get(f"/chats/{first.chat_id}")
    assert detail["mode"] == "bot"
    assert any(m["internal"] and "customer wrote again" in m["text"] for m in detail["messages"])


async def test_a_batch_through_a_closed_chat_reopens_it_before_going_on(admin: Api) -> None:
    """Messages are stored a run at a time; a run ends at a closed chat, which is reopened
    before the messages after it: each is counted once, the note comes between, and a new
    customer after it still gets their chat.created."""
    inbox = admin.service.core.inbox
    first = await inbox.receive(inbound("Halo", "w1"))
    assert (await admin.post(f"/chats/{first.chat_id}/close"))[0] == 200
    subscription = admin.service.core.bus.subscribe()
    results = await inbox.receive_many(
        [
            inbound("from another", "w9", who="62777", name="Ani"),
            inbound("Masih ada?", "w2"),
            inbound("Masih ada?", "w2"),  # a repeat inside the batch
            inbound("Halo?", "w3"),
            inbound("new here", "w10", who="62888", name="Eko"),
        ]
    )
    assert [r.duplicate for r in results] == [False, False, True, False, False]
    assert [r.chat_created for r in results] == [True, False, False, False, True]
    assert results[1].mode == Mode.BOT and results[3].mode == Mode.BOT
    texts = [
        (m.text, m.internal) for m in await Message.filter(chat_id=first.chat_id).order_by("id")
    ]
    customer = [t for t, internal in texts if not internal]
    assert customer == ["Halo", "Masih ada?", "Halo?"]
    note = next(i for i, (t, internal) in enumerate(texts) if "customer wrote again" in t)
    assert texts.index(("Masih ada?", False)) < note < texts.index(("Halo?", False))
    chat = await Chat.get(id=first.chat_id)
    assert (chat.mode, chat.unread_count, chat.last_message_text) == (Mode.BOT, 3, "Halo?")
    seen = []
    with contextlib.suppress(TimeoutError):  # published before receive_many returned
        while (event := await asyncio.wait_for(subscription.get(), 0.2)) is not None:
            seen.append((event.type, event.chat_id))
    subscription.close()
    assert (events.CHAT_CREATED, results[0].chat_id) in seen
    assert (events.CHAT_CREATED, results[4].chat_id) in seen
    assert (events.CHAT_UPDATED, first.chat_id) in seen  # reopened


async def test_concurrent_arrivals_share_commits_and_count_exactly(admin: Api) -> None:
    """Many messages at once from a few customers: one chat each, every unread counted."""
    core = admin.service.core
    batches_before = core.writer.batches
    messages = [inbound(f"m{i}", f"wamid.{i}", who=f"62800{i % 5}") for i in range(200)]
    results = await asyncio.gather(*(core.inbox.receive(m) for m in messages))
    assert all(r.stored for r in results)
    again = await asyncio.gather(*(core.inbox.receive(m) for m in messages[:50]))
    assert all(r.duplicate for r in again)
    chats = await Chat.filter(external_id__startswith="62800").order_by("external_id")
    assert [c.unread_count for c in chats] == [40] * 5
    stored = Message.filter(chat_id__in=[c.id for c in chats], sender="customer")
    assert await stored.count() == 200
    # Group commit: far fewer transactions than messages.
    assert core.writer.batches - batches_before < 100


async def test_events_follow_the_commit(admin: Api) -> None:
    subscription = admin.service.core.bus.subscribe()
    received = await admin.service.core.inbox.receive(inbound("Halo", "w1"))
    created = await asyncio.wait_for(subscription.get(), 1)
    message = await asyncio.wait_for(subscription.get(), 1)
    subscription.close()
    assert created is not None and message is not None
    assert (created.type, message.type) == (events.CHAT_CREATED, events.MESSAGE_CREATED)
    assert message.data["message"]["text"] == "Halo"
    assert message.data["chat"]["unread"] == 1
    assert message.chat_id == received.chat_id
    assert message.seq > created.seq
    assert not message.audience.admits(user_id=99, is_admin=False)  # a bot chat: admins only


async def test_attachments_are_kept_and_previewed(admin: Api) -> None:
    sha = "ab" * 32
    photo = Attachment(kind="image", mime_type="image/jpeg", size=2048, sha256=sha, status="stored")
    message = InboundMessage(
        channel="Telegram", chat_external_id="42", message_external_id="7", text="",
        customer_name="Sari", attachments=(photo,),
    )  # fmt: skip
    received = await admin.service.core.inbox.receive(message)
    _, detail = await admin.get(f"/chats/{received.chat_id}")
    url = f"/chats/{received.chat_id}/messages/{received.message_id}/attachments/0"
    assert detail["messages"][0]["attachments"] == [
        {"kind": "image", "filename": None, "content_type": "image/jpeg", "size": 2048,
         "status": "stored", "error": None, "url": url, "inline": True}
    ]  # fmt: skip
    stored = await Message.get(id=received.message_id)
    assert stored.attachments == [photo.as_dict()] and not stored.media_pending
    assert detail["last_message"]["text"] == "[image]"


async def test_control_characters_are_dropped_not_refused(admin: Api) -> None:
    """PostgreSQL refuses NUL; a provider must never be refused for it (it would retry)."""
    message = InboundMessage(
        channel="WhatsApp", chat_external_id="62877", message_external_id="w\x001",
        text="ha\x00lo\x07 there\n", customer_name="Nu\x00ll",
        attachments=(Attachment(kind="document", name="a\x00.pdf", meta={"k\x00": "v\x00"}),),
    )  # fmt: skip
    received = await admin.service.core.inbox.receive(message)
    stored = await Message.get(id=received.message_id)
    assert (stored.text, stored.external_id) == ("halo there\n", "w1")
    assert stored.attachments == [{"kind": "document", "name": "a.pdf", "meta": {"k": "v"}}]
    assert (await Chat.get(id=received.chat_id)).customer_name == "Null"
    status, sent = await admin.post(
        "/chats/messages", {"chat_id": received.chat_id, "text": "o\x00k"}
    )
    assert (status, sent["text"]) == (201, "ok")
