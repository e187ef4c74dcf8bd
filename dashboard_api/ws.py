"""``GET /ws``: the live event stream for dashboards, filtered per user, resumable by seq.

The token comes as ``?token=`` or, for browsers, as the subprotocol pair
``Sec-WebSocket-Protocol: bearer, <token>``; a bad one is refused with 401
before the upgrade. Frames are ``{"type", "seq", "chat_id", "data"}``. A client
that reconnects with ``?after_seq=N`` first receives every event after N that
it may see, in order, or a ``resync`` frame when those are no longer kept
(then ``GET /chats/?updated_since=`` brings it up to date). A client that
cannot keep up is disconnected (close code 4008) rather than buffered; the
socket closes (4001) when its token expires, and with GOING_AWAY at shutdown.

A socket's rights are those of its token: when its user is deactivated, changes role or
password (``Staff.update`` increments the user's ``token_version`` and the change is
published on the bus, so every process hears it), the user's sockets stop at once and
close with 4001 "session ended": the console logs in again. A sweep every second
catches changes made without the bus (the CLI, SQL). Replays are paged, bounded in length
(a longer gap gets ``resync``) and in how many run at once, per user and in all. Client
frames are rate-limited: the excess is dropped, a flood closes the socket (1008).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from dashboard_api.adapters.aiohttp import text_frame, write_now
from dashboard_api.auth import actor_for, user_for_token
from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, Route
from dashboard_api.typedefs import CONTEXT, ApiContext
from handoff.domain.errors import DomainError
from handoff.domain.events import SESSIONS_ENDED, Event
from handoff.infra.bus import EventBus, Subscription
from handoff.infra.eventlog import EventLog
from storage.models import Role, User

log = logging.getLogger(__name__)

CLOSE_TOKEN_EXPIRED = 4001
CLOSE_SESSION_ENDED = 4001  # the same for the console: log in again
CLOSE_TOO_SLOW = 4008
CLOSE_FLOOD = WSCloseCode.POLICY_VIOLATION  # 1008: far more client frames than allowed
MAX_PENDING = 1000  # events buffered per socket before it counts as too slow
NOT_KEPT = "events after that seq are no longer kept"


class RateLimit:
    """A token bucket: ``rate`` a second on average, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class Sockets:
    """The open sockets of this process: closed at shutdown, counted, and ended when their
    user's rights change; and the limits of replays and client frames."""

    def __init__(self) -> None:
        self.open: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self.sessions: dict[int, set[_Session]] = {}  # user id -> their sessions here
        self.versions: dict[int, int] = {}  # user id -> newest token version announced
        self.replays: dict[int, int] = {}  # user id -> replays running now
        # Limits (attributes, so a test or a deployment may set them).
        self.max_replay = 10_000  # events a replay goes back at most (else: resync)
        self.replay_page = 200  # events read, rebuilt and sent at a time
        self.max_replays_per_user = 2  # more at once: resync
        self.max_replays = 4  # in all: more wait their turn
        self.frame_rate = (4.0, 8.0)  # client frames a second, burst: more are dropped
        self.flood_rate = (1.0, 20.0)  # dropped frames a second, burst: more close (1008)
        self.sweep_every = 1.0  # seconds between checks of the users in the database (one query)
        self._replay_slots: asyncio.Semaphore | None = None
        self._watching: EventBus | None = None
        self._sweeping: asyncio.Task[None] | None = None

    # -- rights ---------------------------------------------------------------------------

    def add(self, session: _Session, bus: EventBus) -> None:
        """Track ``session``; it ends at once if its token is already older than announced."""
        if self._watching is not bus:
            bus.watch(self.observe)
            self._watching = bus
        if self._sweeping is None or self._sweeping.done():
            # Created from a request's task: it sees the database like the request does.
            self._sweeping = asyncio.get_running_loop().create_task(
                self._sweep(), name="ws-rights-sweep"
            )
        self.sessions.setdefault(session.user.id, set()).add(session)
        if self.versions.get(session.user.id, session.version) > session.version:
            self.end(session)

    def discard(self, session: _Session) -> None:
        mine = self.sessions.get(session.user.id)
        if mine is not None:
            mine.discard(session)
            if not mine:
                del self.sessions[session.user.id]

    def observe(self, events: Sequence[Event]) -> None:
        """The bus's watcher (runs as events are published, before any socket sees them):
        a user's sessions ended end their sockets here, before the next event is sent."""
        for event in events:
            if event.type != SESSIONS_ENDED:
                continue
            user_id, version = int(event.data["user_id"]), int(event.data["version"])
            self.versions[user_id] = max(self.versions.get(user_id, version), version)
            for session in list(self.sessions.get(user_id, ())):
                if session.version < version:
                    self.end(session)

    def end(self, session: _Session) -> None:
        """Stop sending to ``session`` now; its socket closes with 4001 "session ended"."""
        if session.ended:
            return
        session.ended = True
        session.subscription.close()  # its pump stops, then closes the socket

    async def _sweep(self) -> None:
        """Every second, one query: end the sessions whose user is gone, inactive, or
        has another role or token version than the session began with (changes made
        where the bus does not reach, e.g. ``msgcenter user deactivate``)."""
        while True:
            await asyncio.sleep(self.sweep_every)
            if not self.sessions:
                continue
            # Only the sessions open before the query are judged by it: one that opens while
            # it runs (its user just created, or just logged in with a new password) would
            # be compared with rows read without it, or from before its change.
            checked = {user_id: list(mine) for user_id, mine in self.sessions.items()}
            try:
                rows = await User.filter(id__in=list(checked)).values_list(
                    "id", "active", "token_version", "role"
                )
            except Exception:
                log.exception("checking the users of open sockets failed; trying again later")
                continue
            now = {
                int(uid): (bool(active), int(version), str(role))
                for uid, active, version, role in rows
            }
            for user_id, sessions in checked.items():
                state = now.get(user_id)
                for session in sessions:
                    if state != (True, session.version, str(session.user.role)):
                        self.end(session)

    async def stop(self) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeping
            self._sweeping = None

    # -- replays --------------------------------------------------------------------------

    def replay_slots(self) -> asyncio.Semaphore:
        if self._replay_slots is None:
            self._replay_slots = asyncio.Semaphore(self.max_replays)
        return self._replay_slots

    def replay_begins(self, user_id: int) -> bool:
        """Count a replay of ``user_id``; False (nothing counted) when they have enough."""
        running = self.replays.get(user_id, 0)
        if running >= self.max_replays_per_user:
            return False
        self.replays[user_id] = running + 1
        return True

    def replay_ends(self, user_id: int) -> None:
        running = self.replays.get(user_id, 0) - 1
        if running > 0:
            self.replays[user_id] = running
        else:
            self.replays.pop(user_id, None)


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
    sockets = request.app[SOCKETS]
    token, as_protocol = _token(request)
    user, claims = await user_for_token(context.tokens, token)
    after = _after_seq(request)
    socket = web.WebSocketResponse(
        heartbeat=30, protocols=("bearer",) if as_protocol else (), max_msg_size=64 * 1024
    )
    await socket.prepare(request)
    sockets.open.add(socket)
    core = context.core
    subscription = core.bus.subscribe(MAX_PENDING)  # before the replay: nothing falls between
    session = _Session(context, socket, user, subscription, request.transport, sockets)
    session.version = claims.version
    # After the user was read: a change announced since then ends the session here.
    sockets.add(session, core.bus)
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
        if not session.closing:
            pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        session.subscription.close()
        sockets.discard(session)
        await presence.disconnected(user.id, connection)
    return socket


# Recently published events and their frames as JSON text: every socket that gets an event
# sends the same text, encoded once. Keyed by the
# object's id; the entry holds the event, so the id cannot be reused while it is cached.
_ENCODED: OrderedDict[int, tuple[Event, str, bytes]] = OrderedDict()


def _encoded(event: Event, *, cache: bool = True) -> tuple[str, bytes]:
    """The event's frame as JSON text, and as a whole WebSocket frame (header and UTF-8).
    Without ``cache`` (a replay's events, rebuilt for one socket) nothing is kept."""
    cached = _ENCODED.get(id(event))
    if cached is not None and cached[0] is event:
        return cached[1], cached[2]
    text = json.dumps(event.frame(), ensure_ascii=False)
    frame = text_frame(text)
    if not cache:
        return text, frame
    _ENCODED[id(event)] = (event, text, frame)
    if len(_ENCODED) > 2048:
        _ENCODED.popitem(last=False)
    return text, frame


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
        sockets: Sockets | None = None,
    ) -> None:
        self.context = context
        self.socket = socket
        self.transport = transport  # the socket's own (uvloop's are not asyncio subclasses)
        self.user = user
        self.actor = actor_for(user)
        self.is_admin = user.role == Role.ADMIN
        self.version = user.token_version  # of the token: rights end when the user's moves on
        self.ended = False  # the rights ended: nothing more is sent or accepted
        self.closing = False  # the pump closes the socket
        self.last_seq = 0
        self.subscription = subscription
        self.sockets = sockets or Sockets()
        self.frames = RateLimit(*self.sockets.frame_rate)
        self.flood = RateLimit(*self.sockets.flood_rate)

    async def send(self, frame: dict[str, Any]) -> None:
        if not self.ended:
            await self.socket.send_str(json.dumps(frame, ensure_ascii=False))

    async def pump(self, after: int | None) -> None:
        log_ = self.context.core.log
        self.last_seq = await log_.last_seq()
        await self.send(_frame("hello", self.last_seq, user_id=self.user.id, role=self.user.role))
        if after is not None and after < self.last_seq:
            await self._replay(after, self.last_seq, asked=True)
        while not self.ended:
            await self._stream()
            if not self.subscription.interrupted or self.ended:
                break
            # The bus lost events (Redis reconnected): listen again, then read what was missed.
            # (A change of this user's rights it lost is the sweep's to find.)
            self.subscription = self.context.core.bus.subscribe(MAX_PENDING)
            await self._catch_up()
        if self.ended:
            await self._close(CLOSE_SESSION_ENDED, b"session ended")
        elif self.subscription.overflowed:
            await self._close(CLOSE_TOO_SLOW, b"too slow; resume with after_seq")

    async def _close(self, code: int, message: bytes) -> None:
        """Close from the pump: the handler then waits for it rather than cancelling it
        (a close cancelled half-way drops the connection: the client sees 1006)."""
        self.closing = True
        await self.socket.close(code=code, message=message)

    async def _resync(self, seq: int, reason: str) -> None:
        await self.send(_frame("resync", seq, reason=reason))

    async def _replay(self, after: int, upto: int, *, asked: bool = False) -> None:
        """Deliver the logged events in ``(after, upto]`` this user may see, a page at a
        time, yielding to the loop between pages; then ``last_seq`` is ``upto``.

        A ``resync`` frame instead (the client reloads: ``GET /chats/?updated_since=``)
        when some of them are no longer kept, when the gap is longer than a replay goes
        (``max_replay``), or, for a replay the client ``asked`` for, when this user already
        replays on ``max_replays_per_user`` sockets. At most ``max_replays`` run at once."""
        sockets = self.sockets
        self.last_seq = max(self.last_seq, upto)
        if upto - after > sockets.max_replay:
            await self._resync(upto, f"more than {sockets.max_replay} events missed; reload")
            return
        user_id = self.user.id
        if asked and not sockets.replay_begins(user_id):
            await self._resync(upto, "too many replays at once for this user; reload")
            return
        try:
            async with sockets.replay_slots():
                await self._pages(after, upto)
        finally:
            if asked:
                sockets.replay_ends(user_id)

    async def _pages(self, after: int, upto: int) -> None:
        log_: EventLog = self.context.core.log
        viewer = (self.user.id, self.is_admin)
        cursor = after
        while cursor < upto and not self.ended:
            page = await log_.page(cursor, upto, size=self.sockets.replay_page, viewer=viewer)
            if page is None:
                await self._resync(upto, NOT_KEPT)
                return
            events, cursor = page
            await self._deliver(*events, cache=False)
            await asyncio.sleep(0)  # let the others (sockets, requests) have the loop

    async def _stream(self) -> None:
        while (first := await self.subscription.get()) is not None:
            due: list[Event] = []  # sent together: one write for all of them
            for event in (first, *self.subscription.ready()):
                if event.seq is None:
                    if event.type != SESSIONS_ENDED:  # (handled by Sockets.observe)
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
        are no longer kept, or too many)."""
        await self._replay(self.last_seq, await self.context.core.log.last_seq())

    async def _fill_gap(self, seq: int) -> None:
        """Events numbered in another process arrived out of order: read them from the log
        (those up to ``seq``, which is among them)."""
        start, self.last_seq = self.last_seq, seq
        if seq - start > self.sockets.max_replay:
            await self._resync(seq, f"more than {self.sockets.max_replay} events missed; reload")
        else:
            await self._pages(start, seq)

    async def _deliver(self, *events: Event, cache: bool = True) -> None:
        """Send the events this user may see. While the socket keeps up (nothing waiting in
        its buffer, no compression), their frames go out in one write, already encoded for
        every socket: with 50 dashboards, a frame each per send was a third of the event
        loop's time. Otherwise aiohttp sends them one by one and waits for a slow client."""
        if self.ended:
            return
        user_id, is_admin = self.user.id, self.is_admin
        frames = [_encoded(e, cache=cache) for e in events if e.audience.admits(user_id, is_admin)]
        if not frames:
            return
        if write_now(self.socket, self.transport, frames):
            return
        for text, _ in frames:
            if self.ended:
                return
            await self.socket.send_str(text)

    async def read(self) -> None:
        """Client frames: ``ping`` and ``typing``; anything else is ignored. At most
        ``frame_rate`` of them count (the rest are dropped); a socket that keeps sending
        far more (``flood_rate`` of drops) is closed with 1008. A session whose rights
        ended accepts nothing."""
        async for message in self.socket:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY) or self.ended:
                continue
            if not self.frames.allow():
                if not self.flood.allow():
                    await self.socket.close(code=CLOSE_FLOOD, message=b"too many frames")
                    return
                continue
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
    await app[SOCKETS].stop()
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
