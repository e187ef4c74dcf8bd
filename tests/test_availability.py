"""Availability: people set themselves online, away or offline; away and offline people get
no chats automatically; the agent-mode chats of someone who goes offline (by choice, or whose
console has been gone past the grace period) return to the queue with a note."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import WSMsgType
from tortoise import timezone

from handoff.core import Core
from handoff.infra.presence_redis import RedisPresence
from handoff.usecases.assignment import room_for_one_more
from handoff.usecases.presence import Presence
from handoff.usecases.roster import Roster
from storage.models import AuditEntry, Chat, Mode, User
from tests.support import Api

PASSWORD = "desk-pass-4821"


async def _person(admin: Api, username: str, **fields: Any) -> tuple[Api, int]:
    status, user = await admin.post(
        "/users", {"username": username, "password": PASSWORD, **fields}
    )
    assert status == 201, user
    return await admin.login(username, PASSWORD), int(user["id"])


def _core(api: Api) -> Core:
    return api.service.core


async def _last_note(admin: Api, chat_id: int) -> dict[str, Any]:
    _, detail = await admin.get(f"/chats/{chat_id}")
    notes = [m for m in detail["messages"] if m.get("note")]
    return dict(notes[-1]["note"])


async def _frames(ws: aiohttp.ClientWebSocketResponse, kind: str) -> list[dict[str, Any]]:
    """The frames of ``kind`` that came until the socket is quiet for a moment."""
    found = []
    while True:
        try:
            message = await ws.receive(timeout=0.5)
        except TimeoutError:
            return found
        assert message.type == WSMsgType.TEXT, message
        frame = json.loads(message.data)
        if frame["type"] == kind:
            found.append(frame)


async def test_away_and_offline_people_get_no_automatic_assignment(admin: Api) -> None:
    core = _core(admin)
    ann, ann_id = await _person(admin, "ann")
    await core.presence.heartbeat(ann_id)  # connected
    ids = await admin.chat_ids()
    sarah = ids["Sarah Williams"]
    status, answer = await ann.call("PUT", "/presence/me", {"status": "away"})
    assert (status, answer["availability"], answer["status"], answer["online"]) == (
        200, "away", "away", True,
    )  # fmt: skip
    assert (await admin.patch(f"/chats/{sarah}", {"mode": "agent"}))[0] == 200  # to the queue
    await core.assigner.drain()
    assert (await Chat.get(id=sarah)).assigned_agent_id is None
    online = await core.presence.online()
    assert not await room_for_one_more(online)  # the autopilot's view agrees
    _, people = await admin.get("/presence")
    assert {p["id"]: p["status"] for p in people["people"]}[ann_id] == "away"

    assert (await ann.call("PUT", "/presence/me", {"status": "offline"}))[1]["status"] == "offline"
    await core.assigner.drain()
    assert (await Chat.get(id=sarah)).assigned_agent_id is None
    assert not await room_for_one_more(online)

    assert (await ann.call("PUT", "/presence/me", {"status": "online"}))[1]["status"] == "online"
    await core.assigner.drain()
    assert (await Chat.get(id=sarah)).assigned_agent_id == ann_id
    agents = {a["id"]: a for a in (await admin.get("/agents"))[1]}
    assert (agents[ann_id]["status"], agents[ann_id]["open_chats"]) == ("online", 1)


async def test_online_by_choice_but_not_connected_is_offline_and_gets_nothing(admin: Api) -> None:
    core = _core(admin)
    _, ann_id = await _person(admin, "ann")
    sarah = (await admin.chat_ids())["Sarah Williams"]
    assert (await admin.patch(f"/chats/{sarah}", {"mode": "agent"}))[0] == 200
    await core.assigner.drain()
    assert (await Chat.get(id=sarah)).assigned_agent_id is None
    agents = {a["id"]: a for a in (await admin.get("/agents"))[1]}
    assert (agents[ann_id]["availability"], agents[ann_id]["status"]) == ("online", "offline")


async def test_bad_availability_is_refused_and_changes_nothing(agent: Api) -> None:
    for body in ({"status": "busy"}, {"status": None}, {}, {"status": "away", "x": 1}):
        status, answer = await agent.call("PUT", "/presence/me", body)
        assert status == 422, answer
    assert (await User.get(username="agent")).availability == "online"
    assert (await Api(agent.client).call("PUT", "/presence/me", {"status": "away"}))[0] == 401


async def test_going_offline_returns_agent_mode_chats_with_a_note_and_keeps_paused_ones(
    admin: Api,
) -> None:
    ann, ann_id = await _person(admin, "ann")
    ids = await admin.chat_ids()
    sarah, maria = ids["Sarah Williams"], ids["Maria Lopez"]
    assert (await admin.post(f"/chats/{sarah}/assign", {"agent_id": ann_id}))[0] == 200
    assert (await admin.post(f"/chats/{maria}/assign", {"agent_id": ann_id}))[0] == 200
    assert (await ann.post(f"/chats/{maria}/pause"))[0] == 200
    watcher = await admin.client.ws_connect(f"/ws?token={admin.token}")
    status, answer = await ann.call("PUT", "/presence/me", {"status": "offline"})
    assert (status, answer["returned"], answer["status"]) == (200, [sarah], "offline")
    chat = await Chat.get(id=sarah)
    assert (chat.mode, chat.assigned_agent_id, chat.queued_at is not None) == (
        Mode.AGENT, None, True,
    )  # fmt: skip
    assert (await Chat.get(id=maria)).assigned_agent_id == ann_id  # paused: still hers
    note = await _last_note(admin, sarah)
    assert note | {"action": "unassign", "by_kind": "system", "from": "ann",
                   "reason": "agent_offline"} == note  # fmt: skip
    frames = await _frames(watcher, "presence.updated")
    await watcher.close()
    pushed = next(f["data"] for f in frames if f["data"]["user_id"] == ann_id)
    assert (pushed["availability"], pushed["status"], pushed["online"]) == (
        "offline", "offline", False,
    )  # fmt: skip
    audit = await AuditEntry.filter(action="availability_changed", actor_id=ann_id).first()
    assert audit is not None and audit.data == {"before": "online", "after": "offline"}


async def test_going_away_keeps_chats_and_the_setting_can_keep_them_on_offline(
    admin: Api,
) -> None:
    ann, ann_id = await _person(admin, "ann")
    sarah = (await admin.chat_ids())["Sarah Williams"]
    assert (await admin.post(f"/chats/{sarah}/assign", {"agent_id": ann_id}))[0] == 200
    assert (await ann.call("PUT", "/presence/me", {"status": "away"}))[1]["returned"] == []
    assert (await Chat.get(id=sarah)).assigned_agent_id == ann_id
    _core(admin).roster.return_chats = False  # handoff.return_chats_when_offline = false
    assert (await ann.call("PUT", "/presence/me", {"status": "offline"}))[1]["returned"] == []
    assert (await Chat.get(id=sarah)).assigned_agent_id == ann_id


async def test_a_lapsed_console_returns_chats_after_the_grace_not_within_it(admin: Api) -> None:
    core = _core(admin)
    roster = core.roster
    _, ann_id = await _person(admin, "ann")
    sarah = (await admin.chat_ids())["Sarah Williams"]
    assert (await admin.post(f"/chats/{sarah}/assign", {"agent_id": ann_id}))[0] == 200
    now = timezone.now()
    roster.started_at = now - timedelta(hours=1)  # the sweeper has run for an hour
    await User.filter(id=ann_id).update(last_seen_at=now - timedelta(minutes=5))
    assert ann_id not in await roster.sweep(now)  # 5 of the 10 minutes
    assert (await Chat.get(id=sarah)).assigned_agent_id == ann_id
    assert (await roster.sweep(now + timedelta(minutes=5, seconds=1)))[ann_id] == [sarah]
    chat = await Chat.get(id=sarah)
    assert (chat.assigned_agent_id, chat.mode) == (None, Mode.AGENT)
    assert (await _last_note(admin, sarah))["reason"] == "agent_offline"


async def test_a_connected_person_keeps_chats_however_old_their_last_seen(admin: Api) -> None:
    core = _core(admin)
    roster = core.roster
    _, ann_id = await _person(admin, "ann")
    sarah = (await admin.chat_ids())["Sarah Williams"]
    assert (await admin.post(f"/chats/{sarah}/assign", {"agent_id": ann_id}))[0] == 200
    now = timezone.now()
    roster.started_at = now - timedelta(hours=2)
    await User.filter(id=ann_id).update(last_seen_at=now - timedelta(hours=1))
    await core.presence.heartbeat(ann_id)  # online (in any process: the shared store says so)
    assert ann_id not in await roster.sweep(now)
    assert (await Chat.get(id=sarah)).assigned_agent_id == ann_id
    seen = (await User.get(id=ann_id)).last_seen_at
    assert seen is not None and seen >= now  # the sweep keeps it fresh


async def test_a_restart_gives_every_console_the_grace_period_to_come_back(admin: Api) -> None:
    """After a restart nobody is connected yet and last_seen_at may be old (the server was
    down): the grace counts from the sweeper's start; who reconnects keeps their chats."""
    core = _core(admin)
    _, ann_id = await _person(admin, "ann")
    _, bob_id = await _person(admin, "bob")
    ids = await admin.chat_ids()
    sarah, maria = ids["Sarah Williams"], ids["Maria Lopez"]
    assert (await admin.post(f"/chats/{sarah}/assign", {"agent_id": ann_id}))[0] == 200
    assert (await admin.post(f"/chats/{maria}/assign", {"agent_id": bob_id}))[0] == 200
    started = timezone.now()
    down = started - timedelta(minutes=30)  # both were last seen before 30 minutes of downtime
    await User.filter().update(last_seen_at=down)  # everyone (the seed's agent holds a chat)
    restarted = Roster(core.writer, core.desk, core.presence, grace_minutes=10,
                       clock=lambda: started)  # fmt: skip
    restarted.start()
    await restarted.stop()
    assert restarted.started_at == started
    assert await restarted.sweep(started + timedelta(minutes=9)) == {}
    await core.presence.heartbeat(ann_id)  # Ann's console reconnects within the grace
    returned = await restarted.sweep(started + timedelta(minutes=10, seconds=1))
    assert (ann_id in returned, returned[bob_id]) == (False, [maria])
    assert (await Chat.get(id=sarah)).assigned_agent_id == ann_id
    # Bob's chat went back to the queue (and automatic assignment may give it to Ann).
    assert (await Chat.get(id=maria)).assigned_agent_id in (None, ann_id)


async def test_someone_connected_to_another_process_keeps_their_chats(
    admin: Api, redis_url: str, redis_prefix: str
) -> None:
    """Presence is shared in Redis: the sweeping process sees a console open elsewhere."""
    core = _core(admin)
    _, ann_id = await _person(admin, "ann")
    sarah = (await admin.chat_ids())["Sarah Williams"]
    assert (await admin.post(f"/chats/{sarah}/assign", {"agent_id": ann_id}))[0] == 200
    here = RedisPresence(redis_url, prefix=redis_prefix)  # the process that sweeps
    there = RedisPresence(redis_url, prefix=redis_prefix)  # where Ann's console is
    try:
        await there.connect(ann_id, "socket-1")
        roster = Roster(core.writer, core.desk, Presence(here, core.writer), grace_minutes=10)
        now = timezone.now()
        roster.started_at = now - timedelta(hours=1)
        await User.filter(id=ann_id).update(last_seen_at=now - timedelta(hours=1))
        assert ann_id not in await roster.sweep(now)
        assert (await Chat.get(id=sarah)).assigned_agent_id == ann_id
        await there.disconnect(ann_id, "socket-1")  # gone; the sweep just saw her: grace
        assert ann_id not in await roster.sweep(now + timedelta(minutes=9))
        assert (await roster.sweep(now + timedelta(minutes=10)))[ann_id] == [sarah]
    finally:
        await here.close()
        await there.close()


async def test_deactivating_returns_open_chats_and_ends_sessions(admin: Api) -> None:
    ann, ann_id = await _person(admin, "ann")
    ids = await admin.chat_ids()
    sarah, maria = ids["Sarah Williams"], ids["Maria Lopez"]
    assert (await admin.post(f"/chats/{sarah}/assign", {"agent_id": ann_id}))[0] == 200
    assert (await admin.post(f"/chats/{maria}/assign", {"agent_id": ann_id}))[0] == 200
    assert (await ann.post(f"/chats/{maria}/pause"))[0] == 200
    status, user = await admin.patch(f"/users/{ann_id}", {"active": False})
    assert (status, user["active"], user["open_chats"]) == (200, False, 0)
    for chat_id in (sarah, maria):
        chat = await Chat.get(id=chat_id)
        assert (chat.mode, chat.assigned_agent_id) == (Mode.AGENT, None)
        assert (await _last_note(admin, chat_id))["reason"] == "agent_deactivated"
    assert (await ann.get("/auth/me"))[0] == 401
    status, user = await admin.patch(f"/users/{ann_id}", {"active": True})
    assert (status, user["active"]) == (200, True)
    assert (await admin.login("ann", PASSWORD)).token


async def test_user_views_carry_availability_status_language_and_preferences(
    admin: Api, agent: Api
) -> None:
    await agent.call("PUT", "/presence/me", {"status": "away"})
    _, users = await admin.get("/users")
    smith = next(u for u in users if u["username"] == "agent")
    assert {k: smith[k] for k in ("availability", "status", "language", "preferences")} == {
        "availability": "away", "status": "offline", "language": "en",
        "preferences": {"sound": True, "browser": True},
    }  # fmt: skip
    _, one = await admin.get(f"/users/{smith['id']}")
    assert one["availability"] == "away"
    status, login = await admin.post("/auth/login", {"identifier": "agent", "password": "agent123"})
    assert (status, login["user"]["availability"]) == (200, "away")


async def test_admins_edit_a_user_and_reset_a_password(admin: Api) -> None:
    ann, ann_id = await _person(admin, "ann")
    changes = {"display_name": "Ann Lee", "email": "ann@example.com", "capacity": 7}
    status, user = await admin.patch(f"/users/{ann_id}", changes)
    assert (status, {k: user[k] for k in changes}) == (200, changes)
    status, user = await admin.patch(f"/users/{ann_id}", {"role": "admin"})
    assert (status, user["role"]) == (200, "admin")
    assert (await ann.get("/auth/me"))[0] == 401  # a new role: new rights, a new login
    ann = await admin.login("ann", PASSWORD)
    assert (await admin.patch(f"/users/{ann_id}", {"password": "fresh-pass-9931"}))[0] == 200
    assert (await ann.get("/auth/me"))[0] == 401
    assert (await admin.login("ann", "fresh-pass-9931")).token
    status, body = await admin.patch(f"/users/{ann_id}", {"password": "short"})
    assert status == 422, body
