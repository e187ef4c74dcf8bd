"""What people do with chats: scoping, the queue, claims, transfers, capacity, the record."""

from __future__ import annotations

from typing import Any

from storage.models import ChatTransition, Message
from tests.support import Api


async def _new_agent(admin: Api, username: str, **fields: Any) -> Api:
    status, user = await admin.post(
        "/users", {"username": username, "password": "desk-pass-4821", **fields}
    )
    assert status == 201, user
    return await admin.login(username, "desk-pass-4821")


async def test_an_agent_gets_404_for_chats_that_are_not_theirs(admin: Api, agent: Api) -> None:
    ids = await admin.chat_ids()
    for name in ("Sarah Williams", "Maria Lopez"):  # bot chats, nobody's
        chat_id = ids[name]
        assert (await agent.get(f"/chats/{chat_id}"))[0] == 404
        assert (await agent.patch(f"/chats/{chat_id}", {"mode": "agent"}))[0] == 404
        assert (await agent.post("/chats/messages", {"chat_id": chat_id, "text": "hi"}))[0] == 404
        assert (await agent.post(f"/chats/{chat_id}/read"))[0] == 404
        assert (await agent.post(f"/chats/{chat_id}/close"))[0] == 404
        assert (await agent.post(f"/chats/{chat_id}/claim"))[0] == 404
    other = await _new_agent(admin, "other")
    assert (await other.get(f"/chats/{ids['John Doe']}"))[0] == 404
    assert (await other.get("/chats/"))[1] == []


async def test_queue_chats_can_be_read_and_claimed_but_not_written(admin: Api, agent: Api) -> None:
    ids = await admin.chat_ids()
    sarah = ids["Sarah Williams"]
    status, row = await admin.patch(f"/chats/{sarah}", {"mode": "agent"})  # to the queue
    assert (status, row["queued"]) == (200, True)
    status, queue = await agent.get("/chats/queue")
    assert [chat["name"] for chat in queue] == ["Sarah Williams"]
    assert (await agent.get(f"/chats/{sarah}"))[0] == 200
    status, body = await agent.post("/chats/messages", {"chat_id": sarah, "text": "hi"})
    assert (status, body["error"]["code"]) == (404, "claim_first")
    assert (await agent.post(f"/chats/{sarah}/pause"))[0] == 404
    status, row = await agent.post(f"/chats/{sarah}/claim")
    assert status == 200
    assert (row["mode"], row["assigned_agent_name"], row["queued"]) == (
        "agent",
        "Agent Smith",
        False,
    )
    assert (await agent.get("/chats/queue"))[1] == []
    assert (await agent.post("/chats/messages", {"chat_id": sarah, "text": "hi"}))[0] == 201
    status, body = await agent.post(f"/chats/{sarah}/claim")
    assert (status, body["error"]["code"]) == (409, "illegal_transition")


async def test_an_agent_reply_to_a_bot_chat_takes_it_over(admin: Api) -> None:
    maria = (await admin.chat_ids())["Maria Lopez"]
    status, _ = await admin.post("/chats/messages", {"chat_id": maria, "text": "Yes, we do!"})
    assert status == 201
    _, detail = await admin.get(f"/chats/{maria}")
    assert (detail["mode"], detail["assigned_agent_name"]) == ("agent", "Admin")
    notes = [m["text"] for m in detail["messages"] if m["internal"]]
    assert notes == ["Taken over by Admin"]


async def test_transfer_moves_the_chat_and_records_who_did_it(admin: Api, agent: Api) -> None:
    john = (await agent.chat_ids())["John Doe"]
    other = await _new_agent(admin, "ann", display_name="Ann")
    _, ann = await other.get("/auth/me")
    status, row = await agent.post(f"/chats/{john}/transfer", {"agent_id": ann["id"]})
    assert status == 200
    assert row["assigned_agent_name"] == "Ann"
    assert (await agent.get(f"/chats/{john}"))[0] == 404  # no longer the agent's
    status, detail = await other.get(f"/chats/{john}")
    assert status == 200
    assert len([m for m in detail["messages"] if not m["internal"]]) == 6  # history kept
    assert detail["messages"][-1]["text"] == "Transferred from Agent Smith to Ann by Agent Smith"
    record = await ChatTransition.filter(chat_id=john).order_by("-id").first()
    assert record is not None
    _, me = await agent.get("/auth/me")
    assert (record.action, record.actor_id, record.from_agent_id, record.to_agent_id) == (
        "transfer", me["id"], me["id"], ann["id"],
    )  # fmt: skip


async def test_capacity_is_enforced_and_freed_by_closing(admin: Api) -> None:
    small = await _new_agent(admin, "small", capacity=1)
    _, me = await small.get("/auth/me")
    ids = await admin.chat_ids()
    status, _ = await admin.post(f"/chats/{ids['Sarah Williams']}/assign", {"agent_id": me["id"]})
    assert status == 200
    status, body = await admin.post(f"/chats/{ids['Maria Lopez']}/assign", {"agent_id": me["id"]})
    assert (status, body["error"]["code"]) == (409, "agent_at_capacity")
    assert (await small.post(f"/chats/{ids['Sarah Williams']}/close"))[0] == 200
    status, _ = await admin.post(f"/chats/{ids['Maria Lopez']}/assign", {"agent_id": me["id"]})
    assert status == 200


async def test_return_to_bot_frees_the_agent(admin: Api, agent: Api) -> None:
    john = (await agent.chat_ids())["John Doe"]
    status, row = await agent.post(f"/chats/{john}/return-to-bot")
    assert (status, row["mode"], row["assigned_agent_id"]) == (200, "bot", None)
    _, me = await agent.get("/auth/me")
    assert me["open_chats"] == 1  # Ahmed Hassan (paused) only


async def test_pause_resume_close_reopen(admin: Api, agent: Api) -> None:
    john = (await agent.chat_ids())["John Doe"]
    for action, mode in [("pause", "paused"), ("take-over", "agent"), ("close", "closed"),
                         ("reopen", "agent")]:  # fmt: skip
        status, row = await agent.post(f"/chats/{john}/{action}")
        assert (status, row["mode"]) == (200, mode), (action, row)
    assert row["assigned_agent_name"] == "Agent Smith"
    status, row = await admin.post(f"/chats/{john}/resume")
    assert status == 409  # resume is for paused chats
    notes = (
        await Message.filter(chat_id=john, internal=True)
        .order_by("id")
        .values_list("text", flat=True)
    )
    assert notes == [
        "Paused by Agent Smith", "Taken over by Agent Smith", "Closed by Agent Smith",
        "Reopened by Agent Smith",
    ]  # fmt: skip


async def test_patch_combines_assignment_and_mode_all_or_nothing(admin: Api, agent: Api) -> None:
    ids = await admin.chat_ids()
    _, me = await agent.get("/auth/me")
    sarah = ids["Sarah Williams"]
    status, detail = await admin.patch(
        f"/chats/{sarah}", {"mode": "paused", "assigned_agent_id": me["id"], "online": True}
    )
    assert status == 200
    assert (detail["mode"], detail["assigned_agent_id"], detail["online"]) == (
        "paused",
        me["id"],
        True,
    )
    before = await Message.filter(chat_id=sarah).count()
    status, _ = await admin.patch(f"/chats/{sarah}", {"mode": "bot", "assigned_agent_id": me["id"]})
    assert status == 422
    status, _ = await admin.patch(f"/chats/{sarah}", {"assigned_agent_id": 999, "online": False})
    assert status == 422
    _, detail = await admin.get(f"/chats/{sarah}")
    assert detail["online"] is True  # nothing of the failed PATCH was written
    assert await Message.filter(chat_id=sarah).count() == before


async def test_agents_may_not_assign_freely_but_may_transfer_their_own(
    admin: Api, agent: Api
) -> None:
    ids = await admin.chat_ids()
    other = await _new_agent(admin, "zed")
    _, zed = await other.get("/auth/me")
    status, detail = await agent.patch(
        f"/chats/{ids['John Doe']}", {"assigned_agent_id": zed["id"]}
    )
    assert status == 200  # a transfer of their own chat
    assert detail["assigned_agent_id"] == zed["id"]
    assert (await agent.patch(f"/chats/{ids['Maria Lopez']}", {"assigned_agent_id": zed["id"]}))[
        0
    ] == 404


async def test_inactive_agents_cannot_be_assigned(admin: Api) -> None:
    gone = await _new_agent(admin, "gone")
    _, user = await gone.get("/auth/me")
    assert (await admin.patch(f"/users/{user['id']}", {"active": False}))[0] == 200
    sarah = (await admin.chat_ids())["Sarah Williams"]
    status, body = await admin.post(f"/chats/{sarah}/assign", {"agent_id": user["id"]})
    assert (status, body["error"]["details"]["field"]) == (422, "assigned_agent_id")
    assert (await gone.get("/auth/me"))[0] == 401  # and their token is dead


async def test_reopening_a_closed_chat_respects_its_agents_capacity(admin: Api) -> None:
    small = await _new_agent(admin, "tiny", capacity=1)
    _, me = await small.get("/auth/me")
    ids = await admin.chat_ids()
    sarah, maria = ids["Sarah Williams"], ids["Maria Lopez"]
    assert (await admin.post(f"/chats/{sarah}/assign", {"agent_id": me["id"]}))[0] == 200
    assert (await small.post(f"/chats/{sarah}/close"))[0] == 200
    assert (await admin.post(f"/chats/{maria}/assign", {"agent_id": me["id"]}))[0] == 200
    status, body = await small.post(f"/chats/{sarah}/reopen")  # would be a second open chat
    assert (status, body["error"]["code"]) == (409, "agent_at_capacity")


async def test_a_full_agent_is_409_with_what_the_console_needs_to_ask(
    admin: Api, agent: Api
) -> None:
    """Issue 15, item 12: "Ann has 1 of 1 chats. Assign anyway?" needs the figures."""
    ann = await _new_agent(admin, "ann", display_name="Ann", capacity=1)
    _, me = await ann.get("/auth/me")
    ids = await admin.chat_ids()
    assert (await admin.post(f"/chats/{ids['Sarah Williams']}/assign", {"agent_id": me["id"]}))[
        0
    ] == 200
    status, body = await admin.post(f"/chats/{ids['Maria Lopez']}/assign", {"agent_id": me["id"]})
    assert status == 409
    assert body["error"]["code"] == "agent_at_capacity"
    assert body["error"]["details"] == {
        "agent_id": me["id"], "agent_name": "Ann", "capacity": 1, "open": 1, "can_force": True,
    }  # fmt: skip


async def test_an_admin_may_assign_past_capacity_on_purpose_and_the_note_says_so(
    admin: Api,
) -> None:
    ann = await _new_agent(admin, "ann", display_name="Ann", capacity=1)
    _, me = await ann.get("/auth/me")
    ids = await admin.chat_ids()
    sarah, maria = ids["Sarah Williams"], ids["Maria Lopez"]
    assert (await admin.post(f"/chats/{sarah}/assign", {"agent_id": me["id"]}))[0] == 200
    status, row = await admin.post(f"/chats/{maria}/assign", {"agent_id": me["id"], "force": True})
    assert (status, row["assigned_agent_name"]) == (200, "Ann")
    _, detail = await admin.get(f"/chats/{maria}")
    last = [m for m in detail["messages"] if m["internal"]][-1]
    assert last["note"] == {
        "action": "assign", "by": "Admin", "by_kind": "admin", "to": "Ann", "from": None,
        "reason": "over_capacity", "reason_text": "over capacity: 2 open chats, capacity 1",
    }  # fmt: skip
    assert last["text"] == "Assigned to Ann by Admin (over capacity: 2 open chats, capacity 1)"
    record = await ChatTransition.filter(chat_id=maria).order_by("-id").first()
    assert record is not None and record.reason == "over capacity: 2 open chats, capacity 1"
    # The seed's PATCH can force too; without force it is refused.
    john = ids["John Doe"]
    status, body = await admin.patch(f"/chats/{john}", {"assigned_agent_id": me["id"]})
    assert (status, body["error"]["code"]) == (409, "agent_at_capacity")
    status, detail = await admin.patch(
        f"/chats/{john}", {"assigned_agent_id": me["id"], "force": True}
    )
    assert (status, detail["assigned_agent_name"]) == (200, "Ann")
    assert [m for m in detail["messages"] if m["internal"]][-1]["note"]["reason"] == (
        "over_capacity"
    )


async def test_agents_may_not_force(admin: Api, agent: Api) -> None:
    ann = await _new_agent(admin, "ann", display_name="Ann", capacity=0)
    _, me = await ann.get("/auth/me")
    john = (await agent.chat_ids())["John Doe"]
    status, body = await agent.post(
        f"/chats/{john}/transfer", {"agent_id": me["id"], "force": True}
    )
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await agent.patch(
        f"/chats/{john}", {"assigned_agent_id": me["id"], "force": True}
    )
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await agent.post(f"/chats/{john}/transfer", {"agent_id": me["id"]})
    assert (status, body["error"]["code"]) == (409, "agent_at_capacity")
    assert body["error"]["details"]["can_force"] is False
    _, detail = await agent.get(f"/chats/{john}")
    assert detail["assigned_agent_name"] == "Agent Smith"  # nothing changed
