"""``GET /ws``: the live event stream for dashboards, filtered per user, resumable by seq.

The token comes as ``?token=`` or, for browsers, as the subprotocol pair
``Sec-WebSocket-Protocol: bearer, <token>``; a bad one is refused with 401
before the upgrade. Frames are ``{"type", "seq", "chat_id", "data"}``. A client
that reconnects with ``?after_seq=N`` first receives every event after N that
it may see, in order, or a ``resync`` frame when those are no longer kept
(then ``GET /chats/?updated_since=`` brings it up to date). A client that
cannot keep up is disconnected (close code 4008) rather than buffered; the
socket closes (4001) when its token expires, and with GOING_AWAY at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import time
import uuid
import weakref
from collections import OrderedDict
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from dashboard_api.auth import actor_for, user_for_token
from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, Route
from dashboard_api.typedefs import CONTEXT, ApiContext
from handoff.errors import DomainError
from handoff.events import Event, Subscription
from storage.models import Role, User

log = logging.getLogger(__name__)

CLOSE_TOKEN_EXPIRED = 4001
CLOSE_TOO_SLOW = 4008
MAX_PENDING = 1000  # events buffered per socket before it counts as too slow


class Sockets:
    """The open sockets, for closing them at shutdown and counting them."""

    def __init__(self) -> None:
        self.open: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()


SOCKETS = web.AppKey("msgcenter.sockets", Sockets)


def _token(request: web.Request) -> tuple[str, bool]:
    """The token and whether it came as a subprotocol (so we must answer with one)."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if len(offered) >= 2 and offered[0].lower() == "bearer" and offered[1]:
        return offered[1], True
    token = request.query.get("token", "")
    if not token:
        raise ApiError(
            401,
            "unauthorized",
            "pass the token as ?token= or as the subprotocols 'bearer', <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token, False


def _after_seq(request: web.Request) -> int | None:
    raw = request.query.get("after_seq")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(422, "validation_error", "after_seq must be a non-negative integer")
    return int(raw)


async def websocket(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    token, as_protocol = _token(request)
    user, claims = await user_for_token(context.tokens, token)
    after = _after_seq(request)
    socket = web.WebSocketResponse(
        heartbeat=30, protocols=("bearer",) if as_protocol else (), max_msg_size=64 * 1024
    )
    await socket.prepare(request)
    request.app[SOCKETS].open.add(socket)
    core = context.core
    subscription = core.bus.subscribe(MAX_PENDING)  # before the replay: nothing falls between
    session = _Session(context, socket, user, subscription, request.transport)
    connection = uuid.uuid4().hex
    presence = core.presence
    await presence.connected(user.id, connection)
    expiry = asyncio.get_running_loop().call_later(
        max(claims.expires_at - time.time(), 0),
        lambda: asyncio.ensure_future(
            socket.close(code=CLOSE_TOKEN_EXPIRED, message=b"token expired")
        ),
    )
    pump = asyncio.get_running_loop().create_task(session.pump(after))
    try:
        await session.read()
    finally:
        expiry.cancel()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        session.subscription.close()
        await presence.disconnected(user.id, connection)
    return socket


# Recently published events and their frames as JSON text: every socket that gets an event
# sends the same text (50 dashboards used to encode each event 50 times). Keyed by the
# object's id; the entry holds the event, so the id cannot be reused while it is cached.
_ENCODED: OrderedDict[int, tuple[Event, str, bytes]] = OrderedDict()


def _encoded(event: Event) -> tuple[str, bytes]:
    """The event's frame as JSON text, and as a whole WebSocket frame (header and UTF-8)."""
    cached = _ENCODED.get(id(event))
    if cached is not None and cached[0] is event:
        return cached[1], cached[2]
    text = json.dumps(event.frame(), ensure_ascii=False)
    frame = _text_frame(text)
    _ENCODED[id(event)] = (event, text, frame)
    if len(_ENCODED) > 2048:
        _ENCODED.popitem(last=False)
    return text, frame


def _text_frame(text: str) -> bytes:
    """A final, unmasked text frame (RFC 6455 5.2), as a server sends one."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x81, size) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


def _frame(kind: str, seq: int | None, **data: Any) -> dict[str, Any]:
    return {"type": kind, "seq": seq, "chat_id": None, "data": data}


class _Session:
    """One socket: what its user may see, and the last seq it has been brought past."""

    def __init__(
        self,
        context: ApiContext,
        socket: web.WebSocketResponse,
        user: User,
        subscription: Subscription,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.context = context
        self.socket = socket
        self.transport = transport  # the socket's own (uvloop's are not asyncio subclasses)
        self.user = user
        self.actor = actor_for(user)
        self.is_admin = user.role == Role.ADMIN
        self.last_seq = 0
        self.subscription = subscription

    async def send(self, frame: dict[str, Any]) -> None:
        await self.socket.send_str(json.dumps(frame, ensure_ascii=False))

    async def pump(self, after: int | None) -> None:
        log_ = self.context.core.log
        self.last_seq = await log_.last_seq()
        await self.send(_frame("hello", self.last_seq, user_id=self.user.id, role=self.user.role))
        if after is not None and after < self.last_seq:
            missed = await log_.since(after, limit=self.last_seq - after)
            if missed is None:
                reason = "events after that seq are no longer kept"
                await self.send(_frame("resync", self.last_seq, reason=reason))
            else:
                await self._deliver(*missed)
        while True:
            await self._stream()
            if not self.subscription.interrupted:
                break
            # The bus lost events (Redis reconnected): listen again, then read what was missed.
            self.subscription = self.context.core.bus.subscribe(MAX_PENDING)
            await self._catch_up()
        if self.subscription.overflowed:
            await self.socket.close(code=CLOSE_TOO_SLOW, message=b"too slow; resume with after_seq")

    async def _stream(self) -> None:
        while (first := await self.subscription.get()) is not None:
            due: list[Event] = []  # sent together: one write for all of them
            for event in (first, *self.subscription.ready()):
                if event.seq is None:
                    due.append(event)
                elif event.seq > self.last_seq + 1:
                    await self._deliver(*due)
                    due = []
                    await self._fill_gap(event.seq)
                elif event.seq == self.last_seq + 1:
                    self.last_seq = event.seq
                    due.append(event)
            await self._deliver(*due)

    async def _catch_up(self) -> None:
        """Deliver every logged event after ``last_seq`` (a resync frame when some of them
        are no longer kept)."""
        log_ = self.context.core.log
        while True:
            missed = await log_.since(self.last_seq, limit=1000)
            if missed is None:
                last = await log_.last_seq()
                reason = "events after that seq are no longer kept"
                await self.send(_frame("resync", last, reason=reason))
                self.last_seq = last
                return
            await self._deliver_newer(missed)
            if len(missed) < 1000:
                return

    async def _fill_gap(self, seq: int) -> None:
        """Events numbered in another process arrived out of order: read them from the log."""
        missed = await self.context.core.log.since(self.last_seq, limit=seq - self.last_seq)
        await self._deliver_newer(missed or [])

    async def _deliver_newer(self, logged: list[Event]) -> None:
        """Of events read from the log (in seq order), those after ``last_seq``."""
        newer = [e for e in logged if e.seq is not None and e.seq > self.last_seq]
        if newer:
            self.last_seq = max(e.seq for e in newer if e.seq is not None)
            await self._deliver(*newer)

    async def _deliver(self, *events: Event) -> None:
        """Send the events this user may see. While the socket keeps up (nothing waiting in
        its buffer, no compression), their frames go out in one write, already encoded for
        every socket: with 50 dashboards, a frame each per send was a third of the event
        loop's time. Otherwise aiohttp sends them one by one and waits for a slow client."""
        frames = [_encoded(e) for e in events if e.audience.admits(self.user.id, self.is_admin)]
        if not frames:
            return
        transport = self.transport
        if (
            transport is not None
            and not self.socket.compress
            and not self.socket.closed
            and not transport.is_closing()
            and not transport.get_write_buffer_size()
        ):
            transport.write(b"".join(frame for _, frame in frames))
            return
        for text, _ in frames:
            await self.socket.send_str(text)

    async def read(self) -> None:
        """Client frames: ``ping`` and ``typing``; anything else is ignored."""
        async for message in self.socket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(message.data)
            except json.JSONDecodeError:
                continue
            if not isinstance(frame, dict):
                continue
            if frame.get("type") == "ping":
                await self.send(_frame("pong", None))
            elif frame.get("type") == "typing" and isinstance(frame.get("chat_id"), int):
                with contextlib.suppress(DomainError):
                    await self.context.core.typing(self.actor, frame["chat_id"])


async def close_sockets(app: web.Application) -> None:
    """At shutdown: every socket gets GOING_AWAY so clients reconnect elsewhere."""
    for socket in list(app[SOCKETS].open):
        await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def setup_websocket(app: web.Application) -> None:
    app[SOCKETS] = Sockets()
    app.on_shutdown.append(close_sockets)


async def _unused(call: Call) -> web.StreamResponse:  # the route is served by ``websocket``
    raise ApiError(500, "internal_error", "not reachable")


ROUTES = [
    Route(
        "GET", "/ws", _unused,
        "Live events (WebSocket). Token as ?token= or subprotocols ['bearer', token]; "
        "resume with ?after_seq=N. Frames: {type, seq, chat_id, data}.",
        "realtime", raw=websocket, status=101,
        responses={401: "missing, invalid or expired token", 422: "after_seq is not a number"},
    ),
]  # fmt: skip
