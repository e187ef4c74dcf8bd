"""Notifications: a person's own, newest first with the unread count, marked read (pushed
to their other tabs); produced with their cause: assigned, a customer's message (one unread
per chat), a chat waiting in the queue too long (admins, once per wait)."""

from __future__ import annotations

from datetime import timedelta

from tortoise import timezone

from connectors.base import InboundMessage
from storage.models import Chat, Notification
from tests.support import Api, frames_within

PASSWORD = "notify-pass-4821"


async def _me(api: Api) -> int:
    return int((await api.get("/auth/me"))[1]["id"])


def _inbound(who: str, msg_id: str, text: str) -> InboundMessage:
    return InboundMessage(
        channel="WhatsApp", chat_external_id=who, message_external_id=msg_id, text=text,
        customer_name="Budi", customer_phone=who,
    )  # fmt: skip


async def test_list_read_and_read_all_are_each_persons_own(admin: Api, agent: Api) -> None:
    agent_id = await _me(agent)
    admin_id = await _me(admin)
    for n in range(3):
        await Notification.create(user_id=agent_id, kind="mention", chat_id=1, data={"n": n})
    theirs = await Notification.create(user_id=admin_id, kind="mention", chat_id=1)
    status, listed = await agent.get("/notifications?limit=2")
    assert status == 200
    assert [item["data"]["n"] for item in listed["items"]] == [2, 1]  # newest first
    assert (listed["unread"], listed["next_before"]) == (3, listed["items"][-1]["id"])
    item = listed["items"][0]
    assert set(item) >= {"id", "kind", "chat_id", "read", "created_at"}
    _, older = await agent.get(f"/notifications?before={listed['next_before']}")
    assert [i["data"]["n"] for i in older["items"]] == [0] and older["next_before"] is None

    other_tab = await agent.socket()
    status, body = await agent.post(f"/notifications/{item['id']}/read")
    assert status == 200 and body["unread"] == 2 and body["notification"]["read"] is True
    [frame] = await frames_within(other_tab)
    assert frame["type"] == "notifications.read"
    assert frame["data"] == {"ids": [item["id"]], "all": False, "unread": 2}
    status, body = await agent.post(f"/notifications/{theirs.id}/read")  # not theirs
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert (await Notification.get(id=theirs.id)).read is False
    assert (await agent.post("/notifications/99999/read"))[0] == 404

    status, body = await agent.post("/notifications/read-all")
    assert (status, body) == (200, {"marked": 2, "unread": 0})
    [frame] = await frames_within(other_tab)
    assert (frame["type"], frame["data"]["all"]) == ("notifications.read", True)
    _, listed = await agent.get("/notifications?unread=true")
    assert listed == {"items": [], "unread": 0, "next_before": None}
    assert (await Notification.get(id=theirs.id)).read is False  # the admin's untouched
    await other_tab.close()


async def test_a_chat_given_by_someone_else_notifies_its_new_holder(admin: Api, agent: Api) -> None:
    ids = await admin.chat_ids()
    sarah = ids["Sarah Williams"]
    agent_id = await _me(agent)
    bea, bea_id = await admin.new_user("bea", PASSWORD)
    ws = await agent.socket()
    other_admin = await admin.socket()
    start = await agent.service.core.log.last_seq()
    status, _ = await admin.post(f"/chats/{sarah}/assign", {"agent_id": agent_id})
    assert status == 200
    frames = [f for f in await frames_within(ws) if f["type"] == "notification.created"]
    [frame] = frames
    # A person's notifications are theirs alone: admins, who see every chat event, not them.
    seen = [f["type"] for f in await frames_within(other_admin)]
    assert "chat.updated" in seen and "notification.created" not in seen, seen
    await other_admin.close()
    replayed = await admin.client.ws_connect(f"/ws?token={admin.token}&after_seq={start}")
    seen = [f["type"] for f in await frames_within(replayed)]
    assert "chat.updated" in seen and "notification.created" not in seen, seen  # replay too
    await replayed.close()
    again = await agent.client.ws_connect(f"/ws?token={agent.token}&after_seq={start}")
    assert "notification.created" in [f["type"] for f in await frames_within(again)]
    await again.close()
    item = frame["data"]["notification"]
    assert (item["kind"], item["chat_id"], item["data"]["by"]) == ("assigned", sarah, "Admin")
    assert item["data"]["customer"] == "Sarah Williams"
    # Automatic assignment (the agent is online: their socket) tells them too.
    maria = ids["Maria Lopez"]
    await admin.patch(f"/chats/{maria}", {"mode": "agent"})
    frames = [f for f in await frames_within(ws) if f["type"] == "notification.created"]
    assert (await Chat.get(id=maria)).assigned_agent_id == agent_id
    [item] = [f["data"]["notification"] for f in frames]
    assert (item["chat_id"], item["data"]["by_kind"], item["data"]["reason_code"]) == (
        maria, "system", "automatic",
    )  # fmt: skip
    # Handing a chat on tells the other; taking a chat yourself tells you nothing.
    status, _ = await agent.post(f"/chats/{sarah}/transfer", {"agent_id": bea_id})
    assert status == 200
    budi = await admin.service.core.inbox.receive(_inbound("628999", "x1", "Hi"))
    assert (await admin.post(f"/chats/{budi.chat_id}/take-over"))[0] == 200
    assert await Notification.filter(user_id=await _me(admin)).count() == 0
    kinds = await Notification.filter(user_id=agent_id).values_list("kind", "chat_id")
    assert kinds == [("assigned", sarah), ("assigned", maria)]
    _, listed = await bea.get("/notifications")
    assert [(i["kind"], i["data"]["by"]) for i in listed["items"]] == [("assigned", "Agent Smith")]
    await ws.close()


async def test_customer_messages_notify_the_holder_once_until_read(admin: Api, agent: Api) -> None:
    core = admin.service.core
    agent_id = await _me(agent)
    first = await core.inbox.receive(_inbound("628111", "m1", "Hello?"))
    assert await Notification.filter(kind="message").count() == 0  # a bot chat: nobody's
    await admin.post(f"/chats/{first.chat_id}/assign", {"agent_id": agent_id})
    ws = await agent.socket()
    await core.inbox.receive(_inbound("628111", "m2", "Anyone there?"))
    [frame] = [f for f in await frames_within(ws) if f["type"] == "notification.created"]
    item = frame["data"]["notification"]
    assert (item["kind"], item["chat_id"]) == ("message", first.chat_id)
    assert item["data"] == {"customer": "Budi", "text": "Anyone there?", "count": 1}

    # A batch of two, and a repeat: still one unread notification, its data the newest.
    await core.inbox.receive_many(
        [_inbound("628111", "m3", "Hello??"), _inbound("628111", "m4", "Please!")]
    )
    await core.inbox.receive(_inbound("628111", "m4", "Please!"))  # delivered again
    rows = await Notification.filter(user_id=agent_id, kind="message")
    assert len(rows) == 1
    assert rows[0].data == {"customer": "Budi", "text": "Please!", "count": 3}
    pushed = [f for f in await frames_within(ws) if f["type"] == "notification.created"]
    assert [f["data"]["notification"]["id"] for f in pushed] == [rows[0].id]

    assert (await agent.post(f"/notifications/{rows[0].id}/read"))[0] == 200
    await core.inbox.receive(_inbound("628111", "m5", "Hello again"))
    rows = await Notification.filter(user_id=agent_id, kind="message").order_by("id")
    assert [(r.read, r.data["count"]) for r in rows] == [(True, 3), (False, 1)]
    await ws.close()


async def test_admins_hear_of_a_chat_waiting_too_long_once_per_wait(admin: Api, agent: Api) -> None:
    core = admin.service.core
    sarah = (await admin.chat_ids())["Sarah Williams"]
    boss, boss_id = await admin.new_user("boss", PASSWORD, role="admin")
    admin_id = await _me(admin)
    watch = core.queue_watch
    assert watch.running  # started with the outbox (this process has the outbox role)
    await watch.stop()  # the rounds below are the test's own
    watch.minutes = 10
    await admin.patch(f"/chats/{sarah}", {"mode": "agent"})  # waits in the queue
    assert await watch.check() == 0  # not long enough yet
    long_ago = timezone.now() - timedelta(minutes=11)
    await Chat.filter(id=sarah).update(queued_at=long_ago)
    assert await watch.check() == 2
    assert await watch.check() == 0  # once per wait
    rows = await Notification.filter(kind="queue_waiting").order_by("user_id")
    assert [(r.user_id, r.chat_id) for r in rows] == [(admin_id, sarah), (boss_id, sarah)]
    assert await Notification.filter(user_id=await _me(agent)).count() == 0  # admins only
    _, listed = await boss.get("/notifications")
    assert listed["items"][0]["data"]["customer"] == "Sarah Williams"

    # Claimed, back in the queue, waiting long again: a new wait, told again.
    assert (await agent.post(f"/chats/{sarah}/claim"))[0] == 200
    assert (await agent.post(f"/chats/{sarah}/unassign"))[0] == 200
    await Chat.filter(id=sarah).update(queued_at=timezone.now() - timedelta(minutes=12))
    assert await watch.check() == 2
    watch.minutes = 0
    assert await watch.check() == 0  # off
