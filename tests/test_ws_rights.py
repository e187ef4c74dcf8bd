"""A WebSocket has the rights of its token, no longer: deactivating a user, changing their
role or password closes their sockets at once (4001), and old tokens cannot reconnect.
Client frames are rate-limited; a flood closes the socket (1008)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from connectors.base import InboundMessage
from dashboard_api.ws import SOCKETS
from handoff.usecases.staff import Passwords, Staff
from storage.models import User
from tests.support import Api

PASSWORD = "boss-pass-123"


async def _connect(api: Api) -> aiohttp.ClientWebSocketResponse:
    ws = await api.client.ws_connect(f"/ws?token={api.token}")
    hello = json.loads((await ws.receive(timeout=5)).data)
    assert hello["type"] == "hello"
    return ws


async def _until_closed(
    ws: aiohttp.ClientWebSocketResponse, within: float = 5.0
) -> tuple[int, list[dict[str, Any]]]:
    """The server's close code and the frames received before it (fails if the server does
    not close the socket). The code is the close frame's: aiohttp's ``close_code`` turns
    into 1006 when the server drops the connection before the client's answer to it."""
    frames = []
    async with asyncio.timeout(within):
        while True:
            message = await ws.receive()
            if message.type != WSMsgType.TEXT:
                assert message.type == WSMsgType.CLOSE, message
                return int(message.data), frames
            frames.append(json.loads(message.data))


async def _until(
    ws: aiohttp.ClientWebSocketResponse, chat_id: int, within: float = 5.0
) -> list[dict[str, Any]]:
    """The frames up to the first about ``chat_id`` (those of earlier events come before it);
    fails if the socket closes first or that frame does not come."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while not frames or frames[-1]["chat_id"] != chat_id:
            message = await ws.receive()
            assert message.type == WSMsgType.TEXT, message
            frames.append(json.loads(message.data))
    return frames


async def _send(ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
    """Send, unless the server has closed the socket already."""
    with contextlib.suppress(aiohttp.ClientConnectionResetError):
        await ws.send_str(json.dumps(frame))


def _customer(text: str, msg_id: str, who: str = "62811") -> InboundMessage:
    return InboundMessage(
        channel="WhatsApp", chat_external_id=who, message_external_id=msg_id, text=text,
        customer_name="Budi", customer_phone=who,
    )  # fmt: skip


async def _second_admin(admin: Api) -> tuple[Api, int]:
    body = {"username": "boss", "password": PASSWORD, "role": "admin"}
    status, created = await admin.post("/users", body)
    assert status == 201, created
    return await admin.login("boss", PASSWORD), int(created["id"])


def _no_sweep(api: Api) -> None:
    """Only the bus may close sockets in this test (the sweep would, later)."""
    api.client.app[SOCKETS].sweep_every = 3600


async def test_a_deactivated_admin_socket_closes_and_gets_no_more_messages(admin: Api) -> None:
    _no_sweep(admin)
    boss, boss_id = await _second_admin(admin)
    ws = await _connect(boss)
    assert (await admin.patch(f"/users/{boss_id}", {"active": False}))[0] == 200
    await admin.service.core.inbox.receive(_customer("a new customer's secret", "w1"))
    code, frames = await _until_closed(ws)
    assert code == 4001
    assert not [f for f in frames if f["type"] == "message.created"], frames
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # the old token is dead
        await boss.client.ws_connect(f"/ws?token={boss.token}")
    assert refused.value.status == 401


async def test_a_demoted_admin_must_log_in_again_and_then_sees_only_an_agents_share(
    admin: Api, agent: Api
) -> None:
    _no_sweep(admin)
    boss, boss_id = await _second_admin(admin)
    ws = await _connect(boss)
    assert (await admin.patch(f"/users/{boss_id}", {"role": "agent"}))[0] == 200
    _, chats = await admin.get("/chats/")
    john = next(c["id"] for c in chats if c["name"] == "John Doe")  # the other agent's chat
    sarah = next(c["id"] for c in chats if c["name"] == "Sarah Williams")
    await admin.post("/chats/messages", {"chat_id": john, "text": "not for the demoted"})
    code, frames = await _until_closed(ws)
    assert code == 4001
    assert not [f for f in frames if f["chat_id"] == john], frames
    assert (await boss.get("/chats/"))[0] == 401  # the token claimed the old role
    demoted = await admin.login("boss", PASSWORD)
    ws = await _connect(demoted)
    await admin.post("/chats/messages", {"chat_id": john, "text": "still not for them"})
    await agent.post("/chats/messages", {"chat_id": john, "text": "the agent's own"})
    await agent.post(f"/chats/{john}/read")
    # A later event an agent is sent (a chat to the queue): the ones before it are all in.
    assert (await admin.patch(f"/chats/{sarah}", {"mode": "agent"}))[0] == 200
    seen = [f for f in await _until(ws, sarah) if f["chat_id"] == john]
    assert seen == [], seen
    await ws.close()


async def test_a_password_change_closes_the_users_sockets(admin: Api, agent: Api) -> None:
    _no_sweep(admin)
    _, me = await agent.get("/auth/me")
    first, second = await _connect(agent), await _connect(agent)
    assert (await admin.patch(f"/users/{me['id']}", {"password": "brand-new-1"}))[0] == 200
    for ws in (first, second):
        assert (await _until_closed(ws))[0] == 4001
    fresh = await admin.login("agent", "brand-new-1")
    ws = await _connect(fresh)  # the new token connects
    await ws.close()


async def test_other_changes_leave_the_socket_open(admin: Api, agent: Api) -> None:
    _, me = await agent.get("/auth/me")
    _, chats = await agent.get("/chats/")
    mine = next(c["id"] for c in chats if c["assigned_agent_id"] == me["id"])
    ws = await _connect(agent)
    status, _ = await admin.patch(f"/users/{me['id']}", {"capacity": 9, "display_name": "A."})
    assert status == 200
    # A later event of theirs reaches them: the change has been dealt with, and the socket
    # stayed open.
    assert (await admin.post(f"/chats/{mine}/read"))[0] == 200
    await _until(ws, mine)
    await ws.send_str(json.dumps({"type": "ping"}))
    pong = json.loads((await ws.receive(timeout=5)).data)
    assert pong["type"] == "pong"
    await ws.close()


async def test_a_change_made_without_the_bus_is_found_by_the_sweep(admin: Api) -> None:
    """``msgcenter user deactivate`` runs in a process of its own, with no bus: the same
    ``Staff.update``; the service's sweep finds it in the database."""
    admin.client.app[SOCKETS].sweep_every = 0.1
    boss, _ = await _second_admin(admin)
    ws = await _connect(boss)
    cli_staff = Staff(Passwords(time_cost=1, memory_kib=64))
    user = await User.get(username="boss")
    await cli_staff.update(user.id, {"active": False})
    assert (await _until_closed(ws))[0] == 4001


async def test_sockets_opened_while_the_sweep_reads_stay_open(admin: Api) -> None:
    """The sweep judges only the sessions open before its query: a new user's socket that
    opens while it runs is not 'a user the database does not have'."""
    admin.client.app[SOCKETS].sweep_every = 0.0  # one query after another
    people = [(await admin.new_user(f"new{n}", PASSWORD))[0] for n in range(6)]
    sockets = []
    for person in people:
        sockets.append(await _connect(person))
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    assert [ws.closed for ws in sockets] == [False] * len(sockets)
    for ws in sockets:
        await ws.close()


async def test_typing_from_a_deactivated_socket_is_refused(admin: Api, agent: Api) -> None:
    _no_sweep(admin)
    _, me = await agent.get("/auth/me")
    _, chats = await agent.get("/chats/")
    mine = next(c["id"] for c in chats if c["assigned_agent_id"] == me["id"])
    watcher = await _connect(admin)
    ws = await _connect(agent)
    while True:  # the agent is online: seen, so it does not come later
        frame = json.loads((await watcher.receive(timeout=5)).data)
        if frame["type"] == "presence.updated" and frame["data"]["online"]:
            break
    assert (await admin.patch(f"/users/{me['id']}", {"active": False}))[0] == 200
    await _send(ws, {"type": "typing", "chat_id": mine})
    assert (await _until_closed(ws))[0] == 4001
    await admin.post(f"/chats/{mine}/read")  # a later event: typing would come before it
    seen = []
    while not seen or seen[-1]["type"] != "chat.read":
        seen.append(json.loads((await watcher.receive(timeout=5)).data))
    assert "chat.typing" not in [f["type"] for f in seen], seen
    await watcher.close()


async def test_a_typing_flood_is_dropped_then_closed(admin: Api, agent: Api) -> None:
    _, me = await agent.get("/auth/me")
    _, chats = await agent.get("/chats/")
    mine = next(c["id"] for c in chats if c["assigned_agent_id"] == me["id"])
    watcher = await _connect(admin)
    ws = await _connect(agent)
    for _ in range(300):
        await _send(ws, {"type": "typing", "chat_id": mine})
    assert (await _until_closed(ws))[0] == aiohttp.WSCloseCode.POLICY_VIOLATION
    await admin.post(f"/chats/{mine}/read")
    seen = []
    while not seen or seen[-1]["type"] != "chat.read":
        seen.append(json.loads((await watcher.receive(timeout=5)).data))
    typed = sum(f["type"] == "chat.typing" for f in seen)
    assert 1 <= typed <= 20, typed  # a burst of 8, and a few more as time passes
    await watcher.close()


async def test_typing_at_the_consoles_pace_is_all_delivered(admin: Api, agent: Api) -> None:
    _, me = await agent.get("/auth/me")
    _, chats = await agent.get("/chats/")
    mine = next(c["id"] for c in chats if c["assigned_agent_id"] == me["id"])
    watcher = await _connect(admin)
    ws = await _connect(agent)
    for _ in range(3):  # a burst well within the limit
        await ws.send_str(json.dumps({"type": "typing", "chat_id": mine}))
    typed = 0
    while typed < 3:
        frame = json.loads((await watcher.receive(timeout=5)).data)
        typed += frame["type"] == "chat.typing"
    assert not ws.closed
    await ws.close()
    await watcher.close()
