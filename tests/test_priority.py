"""Priority: set with PATCH by whoever may act on the chat, audited and pushed; the queue
and automatic assignment serve the highest priority first, then the longest waiting."""

from __future__ import annotations

from storage.models import AuditEntry, Chat, User
from tests.support import Api


async def test_priority_is_set_with_patch_audited_and_pushed(admin: Api, agent: Api) -> None:
    john = (await agent.chat_ids())["John Doe"]
    subscription = admin.service.core.bus.subscribe()
    status, detail = await agent.patch(f"/chats/{john}", {"priority": "urgent"})
    assert (status, detail["priority"]) == (200, "urgent")
    assert (await Chat.get(id=john)).priority == 4
    pushed = [e.data["chat"] for e in subscription.ready() if e.type == "chat.updated"]
    assert [row["priority"] for row in pushed] == ["urgent"]
    _, rows = await agent.get("/chats/")
    assert {r["name"]: r["priority"] for r in rows}["John Doe"] == "urgent"
    status, detail = await agent.patch(f"/chats/{john}", {"priority": "urgent"})  # the same
    assert status == 200 and subscription.ready() == []
    for bad in ("critical", "URGENT", ""):
        status, body = await agent.patch(f"/chats/{john}", {"priority": bad})
        assert status == 422, body
    assert (await admin.patch(f"/chats/{john}", {"priority": 3}))[0] == 422  # strict: a name
    assert (await Chat.get(id=john)).priority == 4  # bad input changes nothing
    entries = await AuditEntry.filter(chat_id=john, action="priority_changed")
    assert [(e.actor_id is not None, e.data) for e in entries] == [
        (True, {"from": "none", "to": "urgent"})
    ]


async def test_priority_goes_with_other_patch_fields_all_or_nothing(admin: Api) -> None:
    sarah = (await admin.chat_ids())["Sarah Williams"]
    status, detail = await admin.patch(f"/chats/{sarah}", {"mode": "agent", "priority": "high"})
    assert (status, detail["mode"], detail["priority"], detail["queued"]) == (
        200, "agent", "high", True,
    )  # fmt: skip
    status, _ = await admin.patch(f"/chats/{sarah}", {"mode": "bot", "priority": "nope"})
    assert status == 422
    chat = await Chat.get(id=sarah)
    assert (chat.mode, chat.priority) == ("agent", 3)  # neither changed
    status, body = await admin.patch(
        f"/chats/{sarah}", {"assigned_agent_id": 9999, "priority": "low"}
    )  # nobody: the assignment fails, and the priority with it
    assert status == 422, body
    chat = await Chat.get(id=sarah)
    assert (chat.assigned_agent_id, chat.priority) == (None, 3)
    entries = await AuditEntry.filter(chat_id=sarah).values_list("data", flat=True)
    assert entries == [{"from": "none", "to": "high"}]


async def test_an_agent_cannot_set_the_priority_of_someone_elses_chat(
    admin: Api, agent: Api
) -> None:
    ids = await admin.chat_ids()
    maria = ids["Maria Lopez"]
    status, body = await agent.patch(f"/chats/{maria}", {"priority": "urgent"})
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert (await Chat.get(id=maria)).priority == 0


async def test_the_queue_and_automatic_assignment_serve_the_highest_priority_first(
    admin: Api,
) -> None:
    ids = await admin.chat_ids()
    order = ["Sarah Williams", "Maria Lopez", "John Doe", "Ahmed Hassan"]
    for name in order:  # queued in this order: Sarah waits longest
        status, _ = await admin.patch(f"/chats/{ids[name]}", {"assigned_agent_id": None})
        assert status == 200, name
    _, queue = await admin.get("/chats/queue")
    assert [r["name"] for r in queue] == order  # all of priority none: longest waiting first
    await admin.patch(f"/chats/{ids['John Doe']}", {"priority": "high"})
    await admin.patch(f"/chats/{ids['Ahmed Hassan']}", {"priority": "urgent"})
    await admin.patch(f"/chats/{ids['Maria Lopez']}", {"priority": "high"})
    _, queue = await admin.get("/chats/queue")
    assert [(r["name"], r["priority"]) for r in queue] == [
        ("Ahmed Hassan", "urgent"), ("Maria Lopez", "high"), ("John Doe", "high"),
        ("Sarah Williams", "none"),
    ]  # fmt: skip
    _, page = await admin.get("/chats/queue?limit=2")
    cursor = admin.last_headers["X-Next-Cursor"]
    _, rest = await admin.get(f"/chats/queue?limit=2&cursor={cursor}")
    assert [r["name"] for r in page + rest] == [r["name"] for r in queue]

    status, _ = await admin.post(
        "/users", {"username": "nina", "password": "desk-pass-4821", "capacity": 2}
    )
    assert status == 201
    nina = await User.get(username="nina")
    core = admin.service.core
    await core.presence.heartbeat(nina.id)
    await core.assigner.drain()
    mine = await Chat.filter(assigned_agent_id=nina.id).values_list("customer_name", flat=True)
    assert sorted(mine) == ["Ahmed Hassan", "Maria Lopez"]  # urgent, then the older high
    _, queue = await admin.get("/chats/queue")
    assert [r["name"] for r in queue] == ["John Doe", "Sarah Williams"]
