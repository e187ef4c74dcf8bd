"""Replays after ``?after_seq=`` are bounded: filtered by who may see them before anything is
rebuilt, read a page at a time, no longer than a set maximum (else ``resync``), and only a
few at once, per user and in all."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import WSMsgType

from connectors.base import InboundMessage
from dashboard_api.ws import SOCKETS, Sockets
from tests.support import Api, mute_bot


def _customer(text: str, msg_id: str, who: str) -> InboundMessage:
    return InboundMessage(
        channel="Telegram", chat_external_id=who, message_external_id=msg_id, text=text,
        customer_name=f"Customer {who}",
    )  # fmt: skip


async def _many_messages(api: Api, count: int) -> None:
    """``count`` customer messages in new chats of the bot (no agent sees them)."""
    core = api.service.core
    mute_bot(core)  # no bot answers: only the customers' messages
    await core.inbox.receive_many(
        [_customer(f"message {i}", f"r{i}", str(900 + i % 10)) for i in range(count)]
    )


async def _open(api: Api, after_seq: int) -> tuple[aiohttp.ClientWebSocketResponse, int]:
    """A socket resuming after ``after_seq``, and the seq its replay goes up to (the hello's:
    the user's going online may be logged after ``after_seq`` too)."""
    ws = await api.client.ws_connect(f"/ws?token={api.token}&after_seq={after_seq}")
    hello = json.loads((await ws.receive(timeout=5)).data)
    assert hello["type"] == "hello"
    return ws, int(hello["seq"])


async def _replayed(ws: aiohttp.ClientWebSocketResponse, upto: int) -> list[dict[str, Any]]:
    """The frames up to the one with seq ``upto``, or up to a resync frame."""
    frames: list[dict[str, Any]] = []
    while not frames or (frames[-1]["type"] != "resync" and frames[-1]["seq"] != upto):
        message = await ws.receive(timeout=10)
        assert message.type == WSMsgType.TEXT, message
        frames.append(json.loads(message.data))
    return frames


def _sockets(api: Api) -> Sockets:
    return api.client.app[SOCKETS]


async def test_an_agents_replay_rebuilds_only_the_agents_messages(admin: Api, agent: Api) -> None:
    core = admin.service.core
    start = await core.log.last_seq()
    await _many_messages(admin, 150)  # not the agent's
    _, chats = await agent.get("/chats/")
    john = next(c["id"] for c in chats if c["name"] == "John Doe")
    status, _ = await agent.post("/chats/messages", {"chat_id": john, "text": "mine"})
    assert status == 201
    rebuilt, read = core.log.rebuilt, core.log.rows_read
    ws, upto = await _open(agent, start)
    frames = await _replayed(ws, upto)
    await ws.close()
    texts = [f["data"]["message"]["text"] for f in frames if f["type"] == "message.created"]
    assert texts == ["mine"]
    assert core.log.rows_read - read == upto - start  # every row looked at once
    assert core.log.rebuilt - rebuilt == 1  # only the agent's message was rebuilt

    rebuilt = core.log.rebuilt
    ws, upto = await _open(admin, start)  # an admin sees them all
    frames = await _replayed(ws, upto)
    await ws.close()
    assert sum(f["type"] == "message.created" for f in frames) == 151
    assert core.log.rebuilt - rebuilt == 151


async def test_a_replay_is_read_in_bounded_pages_and_arrives_whole_and_in_order(
    admin: Api,
) -> None:
    core = admin.service.core
    start = await core.log.last_seq()
    await _many_messages(admin, 45)
    last = await core.log.last_seq()
    page = await core.log.page(start, last, size=10)
    assert page is not None
    events, scanned = page
    assert [e.seq for e in events] == list(range(start + 1, start + 11)) and scanned == start + 10
    _sockets(admin).replay_page = 10
    read = core.log.rows_read
    ws, upto = await _open(admin, start)
    frames = await _replayed(ws, upto)
    await ws.close()
    assert [f["seq"] for f in frames] == list(range(start + 1, upto + 1))
    assert core.log.rows_read - read == upto - start


async def test_a_replay_longer_than_the_maximum_asks_for_a_resync(admin: Api) -> None:
    core = admin.service.core
    start = await core.log.last_seq()
    await _many_messages(admin, 30)
    _sockets(admin).max_replay = 20
    read = core.log.rows_read
    ws, upto = await _open(admin, start)
    frames = await _replayed(ws, upto)
    assert [f["type"] for f in frames] == ["resync"]
    assert frames[0]["seq"] == upto and "reload" in frames[0]["data"]["reason"]
    assert core.log.rows_read == read  # nothing was read for it
    await core.inbox.receive(_customer("after the resync", "live1", "999"))
    message = json.loads((await ws.receive(timeout=5)).data)  # then live events
    assert message["seq"] == upto + 1
    await ws.close()
    recent = await core.log.last_seq() - 15
    ws, upto = await _open(admin, recent)  # within the maximum: replayed
    frames = await _replayed(ws, upto)
    assert [f["seq"] for f in frames] == list(range(recent + 1, upto + 1))
    await ws.close()


async def test_replays_at_once_are_bounded_per_user_and_in_all(admin: Api) -> None:
    core = admin.service.core
    start = await core.log.last_seq()
    await _many_messages(admin, 5)
    user_id = (await admin.get("/auth/me"))[1]["id"]
    sockets = _sockets(admin)
    sockets.max_replays, sockets.max_replays_per_user = 1, 1
    slots = sockets.replay_slots()
    await slots.acquire()  # every replay slot is taken (as by another user's replay)
    try:
        waiting, upto = await _open(admin, start)
        # That replay waits for a slot, and counts as this user's one replay: the next
        # socket of the user is told to reload instead of queueing another.
        deadline = asyncio.get_running_loop().time() + 5
        while sockets.replays.get(user_id) != 1:
            assert asyncio.get_running_loop().time() < deadline, sockets.replays
            await asyncio.sleep(0.01)
        second, _ = await _open(admin, start)
        frames = await _replayed(second, upto)
        assert [f["type"] for f in frames] == ["resync"]
        assert "too many replays" in frames[0]["data"]["reason"]
        await second.close()
        try:
            message = await waiting.receive(timeout=0.3)
        except TimeoutError:
            message = None
        assert message is None, message  # nothing replayed while no slot is free
    finally:
        slots.release()
    frames = await _replayed(waiting, upto)  # its turn
    assert [f["seq"] for f in frames] == list(range(start + 1, upto + 1))
    assert sockets.replays.get(user_id) is None
    await waiting.close()
