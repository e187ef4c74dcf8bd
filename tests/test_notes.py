"""Private notes and @mentions: stored, never sent, changing nothing of the chat; a mention
makes a watcher who may read the chat and add notes (not reply) until it closes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import FormData
from tortoise import timezone

from connectors.mock.whatsapp import MockWhatsApp
from handoff.usecases import audit
from storage.models import AuditEntry, Chat, ChatWatcher, Message
from tests.support import Api, ClientFactory, frames_within
from tests.whatsapp_support import eventually, sends_of, start_whatsapp

PASSWORD = "notes-pass-4821"


async def _note(api: Api, chat_id: int, text: str) -> tuple[int, Any]:
    return await api.post("/chats/messages", {"chat_id": chat_id, "text": text, "internal": True})


async def test_a_note_is_stored_apart_and_changes_nothing_of_the_chat(agent: Api) -> None:
    john = (await agent.chat_ids())["John Doe"]
    _, before = await agent.get(f"/chats/{john}")
    status, note = await _note(agent, john, "Customer is a VIP, be gentle")
    assert status == 201, note
    _, me = await agent.get("/auth/me")
    assert (note["internal"], note["sender"], note["status"], note["agent_id"]) == (
        True, "agent", "sent", me["id"],
    )  # fmt: skip
    _, after = await agent.get(f"/chats/{john}")
    for field in ("mode", "unread", "last_message", "assigned_agent_id", "last_message_at"):
        assert after[field] == before[field], field
    assert after["messages"][-1]["id"] == note["id"]
    stored = await Message.get(id=note["id"])
    assert (stored.internal, stored.status) == (True, "sent")
    [entry] = await AuditEntry.filter(chat_id=john, action=audit.NOTE_ADDED)
    assert (entry.actor_id, entry.data["message_id"], entry.data["mentioned"]) == (
        me["id"], note["id"], [],
    )  # fmt: skip


async def test_a_note_needs_the_right_to_act_on_the_chat(admin: Api, agent: Api) -> None:
    ids = await admin.chat_ids()
    sarah, maria = ids["Sarah Williams"], ids["Maria Lopez"]
    assert (await _note(agent, sarah, "not mine"))[0] == 404  # a bot chat, nobody's
    assert (await _note(admin, maria, "a note takes nothing over"))[0] == 201
    _, row = await admin.get(f"/chats/{maria}")
    assert (row["mode"], row["assigned_agent_id"]) == ("bot", None)
    await admin.patch(f"/chats/{sarah}", {"mode": "agent"})  # to the queue: readable
    status, body = await _note(agent, sarah, "claim it first")
    assert (status, body["error"]["code"]) == (404, "claim_first")
    assert (await _note(admin, sarah, "admins note any chat"))[0] == 201
    status, body = await agent.post(
        "/chats/messages", {"chat_id": sarah, "text": "", "internal": True}
    )
    assert status == 422
    assert await Message.filter(chat_id=sarah, sender="agent").count() == 1


async def test_a_note_with_files_is_refused(agent: Api) -> None:
    john = (await agent.chat_ids())["John Doe"]
    form = FormData()
    form.add_field("chat_id", str(john))
    form.add_field("internal", "true")
    form.add_field("text", "see the file")
    form.add_field("file", b"%PDF-1.4 hello", filename="a.pdf", content_type="application/pdf")
    status, body = await agent.call("POST", "/chats/messages", data=form)
    assert (status, body["error"]["code"]) == (422, "note_without_files"), body
    assert await Message.filter(chat_id=john, text="see the file").count() == 0


async def test_mentions_make_watchers_who_read_and_note_but_do_not_reply(
    admin: Api, agent: Api
) -> None:
    john = (await agent.chat_ids())["John Doe"]
    bea, bea_id = await admin.new_user("Bea", PASSWORD, display_name="Bea")
    carl, _ = await admin.new_user("carl", PASSWORD)
    assert (await bea.get(f"/chats/{john}"))[0] == 404
    assert (await _note(bea, john, "let me in"))[0] == 404
    bea_ws, carl_ws = await bea.socket(), await carl.socket()

    text = "@bea can you check? (not bea@example.com, not @nobody, not me @agent)"
    status, note = await _note(agent, john, text)
    assert status == 201, note
    chat = await Chat.get(id=john)
    assert chat.watchers == [bea_id]
    assert [w.user_id for w in await ChatWatcher.filter(chat_id=john)] == [bea_id]

    frames = await frames_within(bea_ws)
    kinds = [frame["type"] for frame in frames]
    assert "message.created" in kinds and "notification.created" in kinds, kinds
    [mention] = [f for f in frames if f["type"] == "notification.created"]
    item = mention["data"]["notification"]
    assert (item["kind"], item["chat_id"], item["message_id"]) == ("mention", john, note["id"])
    assert item["data"]["by"] == "Agent Smith" and "@bea can you check" in item["data"]["text"]
    assert await frames_within(carl_ws) == []  # not mentioned: hears nothing of the chat

    status, detail = await bea.get(f"/chats/{john}")
    assert status == 200 and detail["messages"][-1]["id"] == note["id"]
    [row] = (await bea.get("/chats/"))[1]
    assert (row["id"], row["watchers"]) == (john, [bea_id])
    assert (await bea.get("/chats/?assigned=me"))[1] == []  # watching is not holding
    status, _ = await _note(bea, john, "On it, @Agent")
    assert status == 201
    status, body = await bea.post("/chats/messages", {"chat_id": john, "text": "Hi!"})
    assert (status, body["error"]["code"]) == (404, "notes_only"), body
    for action in ("close", "pause", "unassign"):
        assert (await bea.post(f"/chats/{john}/{action}"))[0] == 404, action
    assert (await bea.post(f"/chats/{john}/read"))[0] == 404
    assert (await carl.get(f"/chats/{john}"))[0] == 404

    status, _ = await agent.post(f"/chats/{john}/close")  # watching ends with the chat
    assert status == 200
    closing = await frames_within(bea_ws)
    assert any(f["type"] == "chat.updated" for f in closing), closing  # told it is gone
    assert (await bea.get(f"/chats/{john}"))[0] == 404
    assert (await bea.get("/chats/"))[1] == []
    assert (await _note(bea, john, "still here?"))[0] == 404
    chat = await Chat.get(id=john)
    assert chat.watchers is None
    assert await ChatWatcher.filter(chat_id=john).count() == 0
    await bea_ws.close()
    await carl_ws.close()


async def test_admins_can_be_mentioned_and_inactive_users_cannot(admin: Api, agent: Api) -> None:
    john = (await agent.chat_ids())["John Doe"]
    _, old_id = await admin.new_user("olga", PASSWORD)
    assert (await admin.patch(f"/users/{old_id}", {"active": False}))[0] == 200
    status, note = await _note(agent, john, "@ADMIN and @olga: thoughts?")
    assert status == 201
    _, me = await admin.get("/auth/me")
    assert (await Chat.get(id=john)).watchers == [me["id"]]
    _, listed = await admin.get("/notifications")
    assert [(n["kind"], n["message_id"]) for n in listed["items"]] == [("mention", note["id"])]


async def test_notes_are_never_sent_even_after_a_restart(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    first = await start_whatsapp(mock, aiohttp_client, db_url, tmp_path)
    chat_id, _ = await first.customer_chat("Hana", "628300001")
    # Outside the 24-hour window: a reply is refused, a note is not (it is never sent).
    await Chat.filter(id=chat_id).update(
        last_customer_message_at=timezone.now() - timedelta(hours=30)
    )
    status, body = await first.admin.post("/chats/messages", {"chat_id": chat_id, "text": "x"})
    assert (status, body["error"]["code"]) == (409, "channel_refused")
    status, note = await _note(first.admin, chat_id, "Internal: refund approved")
    assert status == 201, note
    first.service.core.outbox.wake()
    await first.idle()
    assert await sends_of(mock, "Internal: refund approved") == []
    await first.anon.client.close()

    second = await start_whatsapp(mock, aiohttp_client, db_url, tmp_path)
    second.service.core.outbox.wake()
    await second.idle()
    await Chat.filter(id=chat_id).update(last_customer_message_at=timezone.now())
    reply = await second.reply(chat_id, "Your refund is on its way")  # the outbox runs

    async def delivered() -> bool:
        return await second.has_status(chat_id, reply, "sent", "delivered", "read")

    await eventually(delivered, "the reply after the note")
    assert await sends_of(mock, "Internal: refund approved") == []
    texts = [s["request"].get("text", {}).get("body") for s in mock.sent]
    assert "Internal: refund approved" not in texts
    assert (await Message.get(id=note["id"])).status == "sent"
