"""The visitors' WebSocket (``GET /widget/ws``) and this process's hub of visitor sockets.

The hub listens to the event bus (every process's committed events, with Redis) and pushes
to each visitor socket of a chat what the visitor may see (``handoff.domain.widget.shown``):
their own messages (other tabs), replies once ``sent`` (the outbox's ``message.updated``
from whichever process runs it), an agent typing (``chat.typing``), an agent reading
(``chat.read``). A socket resumes with ``?after=<message id>``: it first gets the messages
after it (and a few before again; the client drops ids it has). When the bus may have lost
events (Redis reconnected, the hub fell behind), every socket reads its chat again.

Server frames: ``hello``, ``history``, ``message``, ``typing``, ``seen``, ``agents``, ``ack``,
``profile``, ``error``, ``pong``. Client frames: ``message``, ``typing``, ``read``,
``profile``, ``ping`` (docs/api.md, "Visitor protocol").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from dashboard_api.errors import ApiError
from handoff.domain import events
from handoff.domain import widget as rules
from handoff.domain.errors import DomainError
from handoff.domain.events import Event
from handoff.infra.bus import Subscription
from handoff.usecases.widget import Visitors
from storage.models import Chat

log = logging.getLogger(__name__)

MAX_PENDING = 10_000  # events the hub may fall behind before it reads its chats again
FRAME_RATE = (10.0, 40.0)  # client frames a second, burst; more close the socket (1008)
TYPING_EVERY = 2.0  # seconds between the visitor's typing events told to agents


class _Bucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class VisitorSocket:
    def __init__(self, socket: web.WebSocketResponse, visitor: rules.Visitor) -> None:
        self.socket = socket
        self.visitor = visitor
        self.chat_id: int | None = None
        self.last_id = 0  # the newest message id sent to it
        self.typing_at = 0.0
        self.frames = _Bucket(*FRAME_RATE)

    async def send(self, frame: dict[str, Any]) -> None:
        if self.socket.closed:
            return
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await self.socket.send_str(json.dumps(frame, ensure_ascii=False))


class VisitorHub:
    """The visitor sockets of this process, by chat; fed by the bus."""

    def __init__(self, visitors: Visitors) -> None:
        self.visitors = visitors
        self.by_chat: dict[int, set[VisitorSocket]] = {}
        self.by_key: dict[str, set[VisitorSocket]] = {}  # every socket, by the chat's key
        self.open: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self._task: asyncio.Task[None] | None = None
        self.agents_online: bool | None = None  # as last told to visitors
        # Chat keys with a socket whose chat did not exist yet (the visitor's first message
        # may be stored by another process: its event names the chat).
        self.unattached: dict[str, int] = {}

    def add(self, member: VisitorSocket) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._listen(), name="widget-hub")
        self.open.add(member.socket)
        self.by_key.setdefault(member.visitor.chat_key, set()).add(member)
        if member.chat_id is not None:
            self.by_chat.setdefault(member.chat_id, set()).add(member)
        else:
            key = member.visitor.chat_key
            self.unattached[key] = self.unattached.get(key, 0) + 1

    def remove(self, member: VisitorSocket) -> None:
        key = member.visitor.chat_key
        if member.chat_id is None:
            self._attached(key)
        mine = self.by_key.get(key)
        if mine is not None:
            mine.discard(member)
            if not mine:
                del self.by_key[key]
        chat = self.by_chat.get(member.chat_id) if member.chat_id is not None else None
        if chat is not None and member.chat_id is not None:
            chat.discard(member)
            if not chat:
                del self.by_chat[member.chat_id]

    def attach(self, chat_key: str, chat_id: int) -> None:
        """The visitor's chat exists now (their first message): its sockets join it."""
        for member in self.by_key.get(chat_key, ()):
            if member.chat_id is None:
                member.chat_id = chat_id
                self.by_chat.setdefault(chat_id, set()).add(member)
                self._attached(chat_key)

    def _attached(self, key: str) -> None:
        left = self.unattached.get(key, 0) - 1
        if left > 0:
            self.unattached[key] = left
        else:
            self.unattached.pop(key, None)

    async def _listen(self) -> None:
        while True:
            subscription: Subscription = self.visitors.bus.subscribe(MAX_PENDING)
            while (event := await subscription.get()) is not None:
                try:
                    await self._event(event)
                except Exception:
                    log.exception("the widget hub could not push %s", event.type)
            if not (subscription.interrupted or subscription.overflowed):
                return  # the bus closed
            for members in list(self.by_chat.values()):  # events may be lost: read again
                for member in list(members):
                    try:
                        await self._catch_up(member)
                    except Exception:  # its next reconnect reads the chat again
                        log.exception("a widget socket could not catch up")
                        await member.socket.close(code=WSCloseCode.TRY_AGAIN_LATER)

    async def _event(self, event: Event) -> None:
        chat_id = event.chat_id
        if event.type == events.PRESENCE_UPDATED and self.by_key:
            await self._agents()
            return
        if chat_id is None:
            return
        members = self.by_chat.get(chat_id)
        if not members and event.type == events.MESSAGE_CREATED and self.unattached:
            chat = event.data.get("chat")
            if isinstance(chat, dict) and chat.get("channel") == "Widget":
                key = await Chat.filter(id=chat_id).values_list("external_id", flat=True)
                if key:
                    self.attach(str(key[0]), chat_id)
                    members = self.by_chat.get(chat_id)
        if not members:
            return
        if event.type in (events.MESSAGE_CREATED, events.MESSAGE_UPDATED):
            message = event.data.get("message")
            if isinstance(message, dict) and rules.shown(message):
                (view,) = await self.visitors.views([message])
                for member in list(members):
                    member.last_id = max(member.last_id, int(view["id"]))
                    await member.send({"type": "message", "message": view})
        elif event.type == events.CHAT_TYPING and event.data.get("user_id") is not None:
            frame = {"type": "typing", "name": event.data.get("name")}
            for member in list(members):
                await member.send(frame)
        elif event.type == events.CHAT_READ:
            for member in list(members):
                await member.send({"type": "seen"})

    async def _agents(self) -> None:
        """Someone came online or went away: tell visitors whether anyone is online now."""
        online = await self.visitors.agents_online()
        if online == self.agents_online:
            return
        self.agents_online = online
        for members in list(self.by_key.values()):
            for member in list(members):
                await member.send({"type": "agents", "online": online})

    async def _catch_up(self, member: VisitorSocket) -> None:
        if member.chat_id is None:
            return
        messages = await self.visitors.history(member.chat_id, member.last_id)
        if messages:
            member.last_id = max(member.last_id, *(int(m["id"]) for m in messages))
            await member.send({"type": "history", "messages": messages})

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for socket in list(self.open):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


HUB = web.AppKey("msgcenter.widget_hub", VisitorHub)
VISITORS = web.AppKey("msgcenter.visitors", Visitors)


def _after(request: web.Request) -> int:
    raw = request.query.get("after", "0")
    if not raw.isdigit() or len(raw) > 12:
        raise ApiError(422, "validation_error", "after must be a message id")
    return int(raw)


async def visitor_socket(request: web.Request) -> web.StreamResponse:
    """``GET /widget/ws?token=&after=``: refused (403, JSON) before the upgrade when the
    token is not valid or the Origin header is not one of the widget's."""
    visitors = request.app[VISITORS]
    hub = request.app[HUB]
    try:
        _widget, visitor = await visitors.visitor_for(
            request.query.get("token", ""), request.headers.get("Origin")
        )
    except DomainError as exc:
        raise ApiError(403, exc.code, exc.message) from exc
    after = _after(request)
    limit = visitors.options.max_message_chars * 4 + 1024
    socket = web.WebSocketResponse(heartbeat=30, max_msg_size=limit)
    await socket.prepare(request)
    member = VisitorSocket(socket, visitor)
    member.chat_id = await visitors.chat_id(visitor)
    member.last_id = after
    hub.add(member)  # before the history is read: nothing falls between
    try:
        await member.send(
            {
                "type": "hello",
                "visitor_id": visitor.visitor_id,
                "chat_id": member.chat_id,
                "agents_online": await visitors.agents_online(),
            }
        )
        if member.chat_id is not None:
            messages = await visitors.history(member.chat_id, after)
            if messages:
                member.last_id = max(after, *(int(m["id"]) for m in messages))
            await member.send({"type": "history", "messages": messages})
        await _read(member, visitors, hub)
    finally:
        hub.remove(member)
    return socket


async def _read(member: VisitorSocket, visitors: Visitors, hub: VisitorHub) -> None:
    async for message in member.socket:
        if message.type != WSMsgType.TEXT:
            continue
        if not member.frames.allow():
            await member.socket.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many")
            return
        try:
            frame = json.loads(message.data)
        except json.JSONDecodeError:
            await member.send(_error("malformed_frame", "a frame is a JSON object"))
            continue
        if not isinstance(frame, dict):
            await member.send(_error("malformed_frame", "a frame is a JSON object"))
            continue
        try:
            await _handle(member, frame, visitors, hub)
        except DomainError as exc:
            await member.send(_error(exc.code, exc.message, frame.get("ref")))
        except Exception:  # the database did not answer, ...: this frame fails, not the socket
            log.exception("a widget visitor's %s frame failed", str(frame.get("type"))[:40])
            said = "something went wrong on our side; try again"
            await member.send(_error("internal_error", said, frame.get("ref")))


def _error(code: str, message: str, ref: Any = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if isinstance(ref, str):
        frame["ref"] = ref[:64]
    return frame


async def _handle(
    member: VisitorSocket, frame: dict[str, Any], visitors: Visitors, hub: VisitorHub
) -> None:
    kind = frame.get("type")
    visitor = member.visitor
    if kind == "ping":
        await member.send({"type": "pong"})
    elif kind == "message":
        ref, text = frame.get("ref"), frame.get("text")
        if not isinstance(ref, str) or not isinstance(text, str):
            await member.send(_error("validation_error", "ref and text are strings", ref))
            return
        chat_id, message_id = await visitors.send(visitor, ref, text)
        hub.attach(visitor.chat_key, chat_id)
        await member.send({"type": "ack", "ref": ref, "id": message_id})
    elif kind == "typing":
        now = time.monotonic()
        if now - member.typing_at >= TYPING_EVERY:
            member.typing_at = now
            await visitors.typing(visitor)
    elif kind == "read":
        upto = frame.get("upto")
        if isinstance(upto, int) and 0 < upto < 2**53:
            await visitors.read(visitor, upto)
    elif kind == "profile":
        name, email = frame.get("name"), frame.get("email")
        if (name is not None and not isinstance(name, str)) or (
            email is not None and not isinstance(email, str)
        ):
            await member.send(_error("validation_error", "name and email are strings"))
            return
        saved = await visitors.profile(visitor, name, email)
        await member.send({"type": "profile", **saved})
    else:
        await member.send(_error("unknown_frame", f"unknown frame type {str(kind)[:40]!r}"))
