"""The WebSocket event stream: pushed, filtered per user, resumable, closed when it must be."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import WSMsgType

from connectors.base import Attachment, InboundMessage
from handoff.domain.events import Audience, Event
from handoff.infra.bus import MemoryEventBus
from handoff.infra.eventlog import both
from storage.models import EventRecord, User
from tests.support import TEST_SECRET, Api


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str, within: float = 2.0) -> Any:
    """The next frame of ``kind`` (others are skipped)."""
    deadline = time.monotonic() + within
    while True:
        message = await ws.receive(timeout=max(deadline - time.monotonic(), 0.01))
        assert message.type == WSMsgType.TEXT, message
        frame = json.loads(message.data)
        if frame["type"] == kind:
            return frame


async def _resume(api: Api, after_seq: int) -> tuple[aiohttp.ClientWebSocketResponse, list[Any]]:
    """Reconnect with ``after_seq``: the socket and the frames after its hello. The replay
    follows the hello after reads of the event log, so its first frame is waited for however
    slow the machine is, then the rest (sent in one go) until the socket is quiet."""
    ws = await api.client.ws_connect(f"/ws?token={api.token}&after_seq={after_seq}")
    assert json.loads((await ws.receive(timeout=5)).data)["type"] == "hello"
    first = json.loads((await ws.receive(timeout=5)).data)
    return ws, [first, *await _frames(ws)]


async def _frames(ws: aiohttp.ClientWebSocketResponse, quiet: float = 0.3) -> list[Any]:
    """Every frame until the socket has been quiet for ``quiet`` seconds; a socket that
    closes meanwhile fails the test (its frames would prove nothing)."""
    frames = []
    while True:
        try:
            message = await ws.receive(timeout=quiet)
        except TimeoutError:
            assert not ws.closed
            return frames
        assert message.type == WSMsgType.TEXT, f"the socket closed: {message}"
        frames.append(json.loads(message.data))


async def _until(
    ws: aiohttp.ClientWebSocketResponse, last: Callable[[Any], bool], within: float = 5.0
) -> list[Any]:
    """Every frame up to and including the first for which ``last`` is true (frames come in
    the order of their events, so all those of earlier events are in); fails if that frame
    does not come within ``within`` seconds or the socket closes first."""
    frames = []
    deadline = time.monotonic() + within
    while not frames or not last(frames[-1]):
        message = await ws.receive(timeout=max(deadline - time.monotonic(), 0.01))
        assert message.type == WSMsgType.TEXT, f"the socket closed: {message}"
        frames.append(json.loads(message.data))
    return frames


async def _caught_up(api: Api, ws: aiohttp.ClientWebSocketResponse) -> list[Any]:
    """An admin's frames up to that of the newest event in the log (admins are sent every
    event)."""
    newest = await api.service.core.log.last_seq()
    return await _until(ws, lambda frame: frame["seq"] is not None and frame["seq"] >= newest)


def _customer(text: str, msg_id: str, who: str = "62811") -> InboundMessage:
    return InboundMessage(
        channel="WhatsApp", chat_external_id=who, message_external_id=msg_id, text=text,
        customer_name="Budi", customer_phone=who,
    )  # fmt: skip


async def _connect(api: Api, **params: Any) -> aiohttp.ClientWebSocketResponse:
    query = "&".join(f"{k}={v}" for k, v in {"token": api.token, **params}.items())
    ws = await api.client.ws_connect(f"/ws?{query}")
    await _next(ws, "hello")
    return ws


async def test_a_customer_message_is_pushed_to_the_admin(admin: Api) -> None:
    ws = await _connect(admin)
    received = await admin.service.core.inbox.receive(_customer("Halo", "w1"))
    frame = await _next(ws, "message.created")
    assert frame["chat_id"] == received.chat_id
    assert frame["data"]["message"]["text"] == "Halo"
    assert frame["data"]["chat"]["unread"] == 1  # enough to render without a request
    assert isinstance(frame["seq"], int)
    await ws.close()


async def test_the_token_may_come_as_a_subprotocol(admin: Api) -> None:
    ws = await admin.client.ws_connect("/ws", protocols=("bearer", admin.token or ""))
    assert ws.protocol == "bearer"
    hello = await _next(ws, "hello")
    assert hello["data"]["role"] == "admin"
    await ws.close()


@pytest.mark.parametrize("query", ["", "?token=garbage", "?token=a.b.c", "?after_seq=x&token=ok"])
async def test_bad_tokens_are_refused_before_the_upgrade(anon: Api, query: str) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await anon.client.ws_connect(f"/ws{query}")
    assert refused.value.status == 401


async def test_an_agent_sees_only_their_chats_and_the_queue(admin: Api, agent: Api) -> None:
    ws = await _connect(agent)
    _, chats = await admin.get("/chats/")
    ids = {chat["name"]: chat["id"] for chat in chats}
    inbox = admin.service.core.inbox
    await inbox.receive(_customer("not yours", "w1"))  # a new bot chat
    await admin.post("/chats/messages", {"chat_id": ids["Maria Lopez"], "text": "admin's now"})
    await admin.post(f"/chats/{ids['John Doe']}/read")  # the agent's chat
    await admin.patch(f"/chats/{ids['Sarah Williams']}", {"mode": "agent"})  # to the queue
    # Up to the last change's frame (so every earlier event has had its chance), then any
    # that follow.
    frames = await _until(ws, lambda frame: frame["chat_id"] == ids["Sarah Williams"])
    frames += await _frames(ws)
    chat_ids = {frame["chat_id"] for frame in frames if frame["chat_id"] is not None}
    assert chat_ids == {ids["John Doe"], ids["Sarah Williams"]}
    assert "chat.read" in {f["type"] for f in frames}
    await ws.close()


async def test_transferring_a_chat_away_tells_the_old_agent_then_stops(
    admin: Api, agent: Api
) -> None:
    _, chats = await agent.get("/chats/")
    john = next(c["id"] for c in chats if c["name"] == "John Doe")
    _, me = await admin.get("/auth/me")
    ws = await _connect(agent)
    await admin.post(f"/chats/{john}/assign", {"agent_id": me["id"]})
    update = await _next(ws, "chat.updated")
    assert update["data"]["chat"]["assigned_agent_id"] == me["id"]
    assert (await admin.post("/chats/messages", {"chat_id": john, "text": "mine now"}))[0] == 201
    # A later event the agent is sent (a chat to the queue): what came before it is all in.
    sarah = next(c["id"] for c in (await admin.get("/chats/"))[1] if c["name"] == "Sarah Williams")
    await admin.patch(f"/chats/{sarah}", {"mode": "agent"})
    frames = await _until(ws, lambda frame: frame["chat_id"] == sarah)
    assert [f["chat_id"] for f in frames if f["chat_id"] == john] == []
    await ws.close()


async def test_resume_delivers_exactly_the_missed_events_in_order(admin: Api) -> None:
    ws = await _connect(admin)
    inbox = admin.service.core.inbox
    await inbox.receive(_customer("one", "w1"))
    await admin.service.core.drain()
    seen = await _caught_up(admin, ws)
    assert "one" in [f["data"]["message"]["text"] for f in seen if f["type"] == "message.created"]
    last = seen[-1]["seq"]
    await ws.close()
    for i in range(2, 6):
        await inbox.receive(_customer(f"msg {i}", f"w{i}"))
    await admin.service.core.drain()
    resumed, frames = await _resume(admin, last)
    texts = [
        f["data"]["message"]["text"]
        for f in frames
        if f["type"] == "message.created" and f["data"]["message"]["sender"] == "customer"
    ]
    assert texts == ["msg 2", "msg 3", "msg 4", "msg 5"]
    seqs = [f["seq"] for f in frames]
    assert seqs == list(range(last + 1, last + 1 + len(seqs)))
    await inbox.receive(_customer("live", "w9"))
    assert (await _next(resumed, "message.created"))["data"]["message"]["text"] == "live"
    await resumed.close()


async def test_a_replayed_message_is_rebuilt_from_its_rows_as_they_are_now(admin: Api) -> None:
    """The log keeps a new message's event as a reference; the replay shows the message
    (customer's, bot's, agent's) as it was pushed and its chat's row as it is now."""
    ws = await _connect(admin)
    inbox = admin.service.core.inbox
    last = await admin.service.core.log.last_seq()
    photo = Attachment(kind="image", name="receipt.jpg", mime_type="image/jpeg", ref="f1")
    await inbox.receive(
        InboundMessage(channel="WhatsApp", chat_external_id="62811", message_external_id="w1",
                       text="<b>my receipt</b>", customer_name="Budi", attachments=(photo,))
    )  # fmt: skip
    await admin.service.core.drain()  # the bot answers
    live = [f for f in await _caught_up(admin, ws) if f["type"] == "message.created"]
    chat_id = live[0]["chat_id"]
    status, _ = await admin.post("/chats/messages", {"chat_id": chat_id, "text": "hi Budi"})
    assert status == 201
    live += [f for f in await _caught_up(admin, ws) if f["type"] == "message.created"]
    await ws.close()
    senders = [f["data"]["message"]["sender"] for f in live]
    assert senders == ["customer", "bot", "system", "agent"]  # system: the agent took over
    stored = await EventRecord.get(seq=live[0]["seq"])
    assert stored.data == {"$ref": {"message": live[0]["data"]["message"]["id"]}}

    resumed, frames = await _resume(admin, last)
    await resumed.close()
    replayed = [f for f in frames if f["type"] == "message.created"]
    _, chats = await admin.get("/chats/")
    now = next(chat for chat in chats if chat["id"] == chat_id)
    assert [f["seq"] for f in replayed] == [f["seq"] for f in live]
    for old, new in zip(live, replayed, strict=True):
        assert new["data"]["message"] == old["data"]["message"]
        assert new["data"]["chat"] == now
    assert replayed[0]["data"]["message"]["attachments"][0]["filename"] == "receipt.jpg"
    assert replayed[0]["data"]["message"]["text"] == "<b>my receipt</b>"


async def test_a_replay_shows_a_chat_only_to_who_may_see_it_then_and_now(
    admin: Api, agent: Api
) -> None:
    _, chats = await agent.get("/chats/")
    john = next(c["id"] for c in chats if c["name"] == "John Doe")  # the agent's chat
    last = await admin.service.core.log.last_seq()
    await admin.post("/chats/messages", {"chat_id": john, "text": "while it is yours"})
    resumed, frames = await _resume(agent, last)
    await resumed.close()
    assert [f["data"]["message"]["text"] for f in frames if f["type"] == "message.created"] == [
        "while it is yours"
    ]
    _, me = await admin.get("/auth/me")
    await admin.post(f"/chats/{john}/assign", {"agent_id": me["id"]})  # no longer the agent's
    resumed, frames = await _resume(agent, last)
    await resumed.close()
    # "while it is yours", rebuilt with its chat as it is now, is no longer for them; the
    # note of the transfer (stored whole: meant for them too) is.
    notes = [f["data"]["message"] for f in frames if f["type"] == "message.created"]
    assert [note["sender"] for note in notes] == ["system"]
    moved = [f for f in frames if f["type"] == "chat.updated"]
    assert moved and moved[-1]["data"]["chat"]["assigned_agent_id"] == me["id"]  # told it moved
    resumed, frames = await _resume(admin, last)
    await resumed.close()
    assert "while it is yours" in [
        f["data"]["message"]["text"] for f in frames if f["type"] == "message.created"
    ]


async def test_resume_from_a_forgotten_seq_asks_for_a_resync(admin: Api) -> None:
    inbox = admin.service.core.inbox
    for i in range(3):
        await inbox.receive(_customer(f"m{i}", f"w{i}"))
    await admin.service.core.drain()
    oldest = await EventRecord.all().order_by("seq").first()
    assert oldest is not None
    await EventRecord.filter(seq__lte=oldest.seq + 2).delete()
    ws, frames = await _resume(admin, oldest.seq - 1)
    # (then live events: here the admin, now online, is given the chat the bot handed off)
    assert frames[0]["type"] == "resync"
    await ws.close()


async def test_the_socket_closes_when_its_token_expires(anon: Api) -> None:
    user = await User.get(username="agent")
    now = int(time.time())
    claims = {"sub": str(user.id), "role": "agent", "ver": 0, "iat": now, "exp": now + 1}
    token = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    ws = await anon.client.ws_connect(f"/ws?token={token}")
    closed = await ws.receive(timeout=5)
    while closed.type == WSMsgType.TEXT:
        closed = await ws.receive(timeout=5)
    # The close frame's code: aiohttp's ``close_code`` becomes 1006 when the server drops
    # the connection before the client's answer to its close frame is written.
    assert (closed.type, closed.data) == (WSMsgType.CLOSE, 4001)


async def test_typing_and_presence_are_pushed(admin: Api, agent: Api) -> None:
    ws = await _connect(admin)
    agent_ws = await _connect(agent)
    _, me = await agent.get("/auth/me")
    online = await _next(ws, "presence.updated")
    assert online["data"] == online["data"] | {"user_id": me["id"], "online": True}
    assert me["id"] in (await admin.get("/presence"))[1]["online"]
    _, chats = await agent.get("/chats/")
    assert (await agent.post(f"/chats/{chats[0]['id']}/typing"))[0] == 200
    typing = await _next(ws, "chat.typing")
    assert typing["data"]["user_id"] == me["id"]
    assert typing["seq"] is None  # a passing signal, not part of the resumable log
    await agent_ws.close()
    offline = await _next(ws, "presence.updated")
    assert offline["data"]["online"] is False
    await ws.close()


async def test_shutdown_closes_sockets_with_going_away(admin: Api) -> None:
    ws = await _connect(admin)
    await admin.client.server.close()  # the service stops; the client is still there
    message = await ws.receive(timeout=5)
    assert (message.type, message.data) == (WSMsgType.CLOSE, aiohttp.WSCloseCode.GOING_AWAY)


@pytest.mark.parametrize("compress", [0, 15])
async def test_events_committed_together_arrive_as_separate_frames_in_order(
    admin: Api, compress: int
) -> None:
    """One commit's events go out in one write (or one by one with permessage-deflate):
    each its own frame, whatever its size (frame lengths of 7, 16 and 64 bits)."""
    ws = await admin.client.ws_connect(f"/ws?token={admin.token}", compress=compress)
    assert json.loads((await ws.receive(timeout=5)).data)["type"] == "hello"
    texts = [f"message {i}" for i in range(20)] + ["é" * 200, "ü" * 40_000]
    batch = [_customer(text, f"m{i}", who=f"6281{i % 3}") for i, text in enumerate(texts)]
    await admin.service.core.inbox.receive_many(batch)
    frames = await _caught_up(admin, ws)
    messages = [f["data"]["message"] for f in frames if f["type"] == "message.created"]
    assert [m["text"] for m in messages if m["sender"] == "customer"] == texts
    assert sum(f["type"] == "chat.created" for f in frames) == 3
    seqs = [f["seq"] for f in frames]  # with the bot's answers: every event once, in order
    assert seqs == list(range(seqs[0], seqs[0] + len(frames)))
    await ws.close()


async def test_a_listener_takes_what_is_waiting_up_to_the_end() -> None:
    bus = MemoryEventBus()
    listener = bus.subscribe()
    await bus.publish([Event("message.created", 1, {}, seq=i) for i in range(1, 4)])
    first = await listener.get()
    assert first is not None and first.seq == 1
    assert [e.seq for e in listener.ready()] == [2, 3]
    assert listener.ready() == []
    await bus.publish([Event("message.created", 1, {}, seq=4)])
    listener.close()
    assert [e.seq for e in listener.ready()] == [4]  # stops at the end marker
    assert await asyncio.wait_for(listener.get(), 0.1) is None
    assert listener.ready() == []


async def test_a_listener_that_cannot_keep_up_is_dropped_not_buffered() -> None:
    bus = MemoryEventBus()
    slow = bus.subscribe(max_pending=3)
    await bus.publish([Event("message.created", 1, {}, seq=i) for i in range(1, 10)])
    assert slow.overflowed and slow.closed
    drained = [await slow.get() for _ in range(4)]
    assert drained[-1] is None  # the end marker arrives even though the queue was full
    assert await asyncio.wait_for(slow.get(), 0.1) is None


@pytest.mark.parametrize(
    ("first", "second", "admitted"),
    [
        (Audience(agent_ids=frozenset({1})), Audience(agent_ids=frozenset({1, 2})), {1}),
        (Audience(agent_ids=frozenset({1})), Audience(agent_ids=frozenset({2})), set()),
        (Audience(queue=True), Audience(agent_ids=frozenset({2})), {2}),
        (Audience(agent_ids=frozenset({3})), Audience(queue=True), {3}),
        (Audience(queue=True), Audience(queue=True), {1, 2, 3}),
        (Audience(everyone=True), Audience(agent_ids=frozenset({1})), {1}),
    ],
)
def test_a_replayed_event_admits_only_who_both_audiences_admit(
    first: Audience, second: Audience, admitted: set[int]
) -> None:
    together = both(first, second)
    assert {user for user in (1, 2, 3) if together.admits(user, False)} == admitted
    assert together.admits(99, True)  # admins see everything


async def test_a_system_note_arrives_live_and_replayed_with_its_note(admin: Api) -> None:
    """Issue 15, item 11: the note of a transition is data in events too (live and resumed)."""
    _, chats = await admin.get("/chats/")
    sarah = next(c["id"] for c in chats if c["name"] == "Sarah Williams")
    ws = await admin.client.ws_connect(f"/ws?token={admin.token}")
    hello = json.loads((await ws.receive(timeout=5)).data)
    assert hello["type"] == "hello"
    start = await admin.service.core.log.last_seq()
    assert (await admin.post(f"/chats/{sarah}/pause", {"reason": "holiday"}))[0] == 200
    frame = await _next(ws, "message.created")
    expected = {"action": "pause", "by": "Admin", "by_kind": "admin", "to": None,
                "from": None, "reason": None, "reason_text": "holiday"}  # fmt: skip
    assert frame["data"]["message"]["note"] == expected
    await ws.close()
    ws, frames = await _resume(admin, start)
    replayed = [f for f in frames if f["type"] == "message.created"]
    assert [f["data"]["message"]["note"] for f in replayed] == [expected]
    await ws.close()
