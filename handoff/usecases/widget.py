"""The website widget (docs/api.md, "Website widget"): admins' widgets, and what a visitor
does: start a session (a signed token; a site's signed-in user recognised by their
identity hash), write (through the inbox, as every channel's customers do), read the
conversation, mark replies read, say they are typing, leave their name and email.

Replies reach the visitor through the outbox and ``connectors.widget`` (the message is
``sent``), then the bus: every process's hub of visitor sockets pushes what its visitors
may see (``handoff.domain.widget.shown``).
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import timezone

from connectors.base import Attachment, InboundMessage, StatusUpdate
from handoff.domain import events
from handoff.domain import widget as rules
from handoff.domain.errors import Exhausted, Forbidden, Invalid, NotFound
from handoff.domain.events import Event
from handoff.infra.bus import EventBus
from handoff.infra.writer import Unit
from handoff.read.views import Presenter, chat_audience, chat_values
from handoff.usecases.ingest import Inbox
from handoff.usecases.presence import Presence
from handoff.usecases.receipts import Receipts
from handoff.usecases.staff import Staff
from storage import identities
from storage.models import Availability, Channel, Chat, Message, Sender, Status, User, Widget
from storage.models import WidgetVisitor as VisitorRow

CHANNEL = Channel.WIDGET.value
HISTORY = 100  # messages a new socket gets at most
RESUME_OVERLAP = 20  # messages at or before ``after`` sent again (replies sent late)
MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class WidgetOptions:
    """``secret``: the service's (``auth.jwt_secret``), the keys are derived from it;
    ``public_url``: where msgcenter is reached (the snippet, file links)."""

    secret: str
    public_url: str
    max_message_chars: int = 4000
    messages_per_minute: int = 20
    visitor_token_days: int = 180
    new_visitors_per_minute: int = 10  # tokens one address may get a minute
    max_file_bytes: int = 10 * 1024 * 1024
    file_link_hours: int = 24


class Window:
    """At most ``limit`` events a minute per key, counted in this process."""

    def __init__(self, limit: int, keys: int = 100_000) -> None:
        self.limit = limit
        self.keys = keys
        self._seen: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        times = self._seen.get(key)
        if times is None:
            if len(self._seen) >= self.keys:
                self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - 60}
            times = self._seen[key] = deque()
        while times and times[0] <= now - 60:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True


def snippet(public_url: str, widget_id: int) -> str:
    """The HTML a site pastes: one script tag."""
    base = public_url.rstrip("/")
    return f'<script src="{base}/widget.js" data-widget="{widget_id}" async></script>'


class Widgets:
    """Admins' widgets: made, listed, changed, deleted."""

    def __init__(self, options: WidgetOptions) -> None:
        self.options = options

    def view(self, widget: Widget) -> dict[str, Any]:
        return {
            "id": widget.id,
            "name": widget.name,
            "allowed_origins": list(widget.allowed_origins),
            "color": widget.color,
            "greeting": widget.greeting,
            "position": widget.position,
            "language": widget.language,
            "pre_chat_form": widget.pre_chat_form,
            "active": widget.active,
            "identity_secret": widget.identity_secret,
            "snippet": snippet(self.options.public_url, widget.id),
            "created_at": widget.created_at.isoformat(),
            "updated_at": widget.updated_at.isoformat(),
        }

    async def create(self, fields: dict[str, Any], created_by: int | None) -> dict[str, Any]:
        values = _checked(fields)
        widget = await Widget.create(
            **values, identity_secret=secrets.token_hex(32), created_by_id=created_by
        )
        return self.view(widget)

    async def list(self) -> list[dict[str, Any]]:
        return [self.view(widget) for widget in await Widget.all().order_by("id")]

    async def get(self, widget_id: int) -> dict[str, Any]:
        return self.view(await _widget(widget_id))

    async def update(self, widget_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        widget = await _widget(widget_id)
        values = _checked(fields)
        if values:
            widget.update_from_dict(values)
            await widget.save()
        return self.view(widget)

    async def delete(self, widget_id: int) -> None:
        """The widget goes (its visitors' tokens stop working); its chats stay."""
        deleted = await Widget.filter(id=widget_id).delete()
        if not deleted:
            raise NotFound(f"widget {widget_id} not found")


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    """The given fields, checked and normalised (Invalid, naming the field, otherwise)."""
    values = dict(fields)
    if "allowed_origins" in values:
        origins: list[str] = []
        for raw in values["allowed_origins"]:
            try:
                found = rules.origin(raw)
            except rules.OriginError as exc:
                raise Invalid(str(exc), code="validation_error", field="allowed_origins") from exc
            if found not in origins:
                origins.append(found)
        if not 1 <= len(origins) <= rules.MAX_ORIGINS:
            raise Invalid(f"1 to {rules.MAX_ORIGINS} allowed origins", field="allowed_origins")
        values["allowed_origins"] = origins
    if "color" in values:
        try:
            values["color"] = rules.color(values["color"])
        except ValueError as exc:
            raise Invalid(str(exc), field="color") from exc
    return values


async def _widget(widget_id: int) -> Widget:
    widget = await Widget.get_or_none(id=widget_id)
    if widget is None:
        raise NotFound(f"widget {widget_id} not found")
    return widget


@dataclass(frozen=True, slots=True)
class Session:
    """A visitor's session: its token and what the widget shows."""

    token: str
    visitor: rules.Visitor
    widget: Widget
    name: str
    email: str | None
    agents_online: bool


class Visitors:
    """What visitors do, each call checked against their token and the widget's origins."""

    def __init__(
        self,
        options: WidgetOptions,
        inbox: Inbox,
        receipts: Receipts,
        presence: Presence,
        staff: Staff,
        presenter: Presenter,
        bus: EventBus,
        *,
        clock: Callable[[], datetime] = timezone.now,
    ) -> None:
        self.options = options
        self.inbox = inbox
        self.receipts = receipts
        self.presence = presence
        self.staff = staff
        self.presenter = presenter
        self.bus = bus
        self.clock = clock
        self.key = rules.derive_key(options.secret)
        self.file_key = rules.file_key(options.secret)
        self.messages = Window(options.messages_per_minute)
        self.new_visitors = Window(options.new_visitors_per_minute)

    # -- sessions ---------------------------------------------------------------------------

    async def widget_for(self, widget_id: int, origin: str | None) -> Widget:
        """The active widget, if ``origin`` is one of its allowed origins (Forbidden: not)."""
        widget = await Widget.get_or_none(id=widget_id, active=True)
        if widget is None:
            raise NotFound(f"widget {widget_id} not found")
        if not rules.allowed(origin, list(widget.allowed_origins)):
            raise Forbidden(
                "this site is not an allowed origin of the widget", code="origin_refused"
            )
        return widget

    async def session(
        self,
        widget_id: int,
        origin: str | None,
        address: str,
        *,
        token: str | None = None,
        user_id: str | None = None,
        user_hash: str | None = None,
        name: str | None = None,
        email: str | None = None,
    ) -> Session:
        """Start or renew a visitor's session. A site's signed-in user (``user_id`` with a
        valid ``user_hash``) is ``u:<user id>``; a hash that does not match is Forbidden
        (never recognised). Otherwise a valid token of this widget keeps its visitor, and
        anyone else gets a new one (at most ``new_visitors_per_minute`` from an address)."""
        widget = await self.widget_for(widget_id, origin)
        expires = int(time.time()) + self.options.visitor_token_days * 86400
        if user_id is not None:
            if not rules.USER_ID.fullmatch(user_id):
                raise Invalid("user_id: 1 to 128 of A-Z a-z 0-9 . _ @ + - :", field="user_id")
            if not user_hash or not rules.hash_valid(widget.identity_secret, user_id, user_hash):
                raise Forbidden("user_hash does not match user_id", code="identity_refused")
            visitor = rules.Visitor(widget.id, rules.user_visitor_id(user_id), expires)
        else:
            known = rules.read_visitor(self.key, token or "", time.time())
            if known is not None and known.widget_id == widget.id and not known.identified:
                visitor = rules.Visitor(widget.id, known.visitor_id, expires)
            else:
                if not self.new_visitors.allow(address):
                    raise Exhausted(
                        "too many new visitors from this address; try again in a minute",
                        code="rate_limited",
                    )
                visitor = rules.Visitor(widget.id, rules.new_visitor_id(), expires)
        row = await self._profile(visitor, name, email)
        return Session(
            token=rules.sign_visitor(self.key, visitor),
            visitor=visitor,
            widget=widget,
            name=row.name if row is not None else "",
            email=row.email if row is not None else None,
            agents_online=await self.agents_online(),
        )

    async def visitor_for(self, token: str, origin: str | None) -> tuple[Widget, rules.Visitor]:
        """The widget and visitor of a token, from an allowed origin (Forbidden otherwise)."""
        visitor = rules.read_visitor(self.key, token, time.time())
        if visitor is None:
            raise Forbidden("the visitor token is invalid or expired", code="invalid_token")
        return await self.widget_for(visitor.widget_id, origin), visitor

    async def agents_online(self) -> bool:
        """Whether anyone who takes chats is online now (a console connected, available)."""
        online = await self.presence.online()
        if not online:
            return False
        return await User.filter(
            id__in=list(online), active=True, availability=Availability.ONLINE
        ).exists()

    async def profile(
        self, visitor: rules.Visitor, name: str | None, email: str | None
    ) -> dict[str, Any]:
        """The visitor's name and email (the pre-chat form, or the address they leave when
        nobody is online: agents' replies are then mailed to it too)."""
        row = await self._profile(visitor, name, email)
        return {"name": row.name if row else "", "email": row.email if row else None}

    async def _profile(
        self, visitor: rules.Visitor, name: str | None, email: str | None
    ) -> VisitorRow | None:
        clean_name = " ".join((name or "").split())[:MAX_NAME]
        address = None
        if email:
            address = identities.email(email)
            if address is None:
                raise Invalid("email: not an e-mail address", field="email")
        row = await VisitorRow.get_or_none(
            widget_id=visitor.widget_id, visitor_id=visitor.visitor_id
        )
        if not clean_name and address is None:
            return row
        offline = address is not None and not await self.agents_online()
        if row is None:
            row = await VisitorRow.create(
                widget_id=visitor.widget_id, visitor_id=visitor.visitor_id, name=clean_name,
                email=address, email_replies=offline,
            )  # fmt: skip
        else:
            if clean_name:
                row.name = clean_name
            if address is not None:
                row.email = address
                row.email_replies = row.email_replies or offline
            await row.save()
        await self._restate(visitor, clean_name, address)
        return row

    async def _restate(self, visitor: rules.Visitor, name: str, email: str | None) -> None:
        """Put a name or address given after the chat began on the chat's row, as agents see
        it (``chat.updated``); a message would bring the name only, and not at all if the
        visitor leaves their address and goes."""

        async def operation(unit: Unit) -> None:
            chat = await Chat.get_or_none(channel=Channel.WIDGET, external_id=visitor.chat_key)
            if chat is None:
                return
            changed = []
            if name and chat.customer_name != name:
                chat.customer_name = name
                changed.append("customer_name")
            if email is not None and chat.customer_email != email:
                chat.customer_email = email
                changed.append("customer_email")
            if not changed:
                return
            chat.updated_at = self.clock()
            await chat.save(update_fields=[*changed, "updated_at"])
            row = await self.staff.chat_row(self.presenter, chat_values(chat))
            unit.emit(Event(events.CHAT_UPDATED, chat.id, {"chat": row}, chat_audience(chat)))

        # A read first: most profiles come before the first message (the pre-chat form),
        # with no chat yet, and need no turn of the writer.
        if await Chat.filter(channel=Channel.WIDGET, external_id=visitor.chat_key).exists():
            await self.inbox.writer.run(operation)

    async def email_for_replies(self, chat_key: str) -> str | None:
        """The address agents' replies to this chat are also mailed to, or None."""
        parts = rules.split_key(chat_key)
        if parts is None:
            return None
        row = await VisitorRow.get_or_none(widget_id=parts[0], visitor_id=parts[1])
        return row.email if row is not None and row.email_replies and row.email else None

    # -- messages ---------------------------------------------------------------------------

    async def send(
        self,
        visitor: rules.Visitor,
        ref: str,
        text: str,
        attachments: Sequence[Attachment] = (),
    ) -> tuple[int, int | None]:
        """Store what the visitor wrote, through the inbox (the bot and handoff follow as on
        every channel). ``ref``: the client's id of the message (sent twice, stored once).
        (chat id, message id; None for a repeat)."""
        if not rules.REF.fullmatch(ref):
            raise Invalid("ref: 8 to 64 of A-Z a-z 0-9 _ -", field="ref")
        text = text.strip()
        if len(text) > self.options.max_message_chars:
            raise Invalid(
                f"a message holds at most {self.options.max_message_chars} characters",
                code="message_too_long", field="text",
            )  # fmt: skip
        if not text and not attachments:
            raise Invalid("text or a file is required", field="text")
        if not self.messages.allow(visitor.chat_key):
            raise Exhausted(
                f"at most {self.options.messages_per_minute} messages a minute",
                code="rate_limited",
            )
        row = await VisitorRow.get_or_none(
            widget_id=visitor.widget_id, visitor_id=visitor.visitor_id
        )
        name = row.name if row is not None and row.name else _anonymous(visitor)
        inbound = InboundMessage(
            channel=CHANNEL,
            chat_external_id=visitor.chat_key,
            message_external_id=f"w:{ref}",
            text=text,
            customer_name=name,
            customer_email=row.email if row is not None else None,
            attachments=tuple(attachments),
        )
        (received,) = await self.inbox.receive_many([inbound])
        return received.chat_id, received.message_id

    async def chat_id(self, visitor: rules.Visitor) -> int | None:
        found = await Chat.filter(channel=Channel.WIDGET, external_id=visitor.chat_key).first()
        return found.id if found is not None else None

    async def history(self, chat_id: int, after: int = 0) -> list[dict[str, Any]]:
        """What the visitor sees of their chat: the last :data:`HISTORY` messages after
        ``after``, and the :data:`RESUME_OVERLAP` before it again (a reply sent late may be
        older than the newest message the client has; it drops ids it has)."""
        newer = (
            await Message.filter(chat_id=chat_id, id__gt=after, internal=False)
            .order_by("-id")
            .limit(HISTORY)
            .values()
        )
        older: list[dict[str, Any]] = []
        if after > 0:
            older = (
                await Message.filter(chat_id=chat_id, id__lte=after, internal=False)
                .order_by("-id")
                .limit(RESUME_OVERLAP)
                .values()
            )
        rows = sorted([*newer, *older], key=lambda row: int(row["id"]))
        views = [self.presenter.message(row) for row in rows]
        return await self.views([view for view in views if rules.shown(view)])

    async def views(self, messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Messages (the API's shape) as the visitor sees them."""
        wanted = {int(m["agent_id"]) for m in messages if m.get("agent_id")}
        names = await self.staff.names(wanted) if wanted else {}
        return [self.view(message, names) for message in messages]

    def view(self, message: dict[str, Any], names: dict[int, str]) -> dict[str, Any]:
        expires = int(time.time()) + self.options.file_link_hours * 3600
        base = self.options.public_url.rstrip("/")
        files = []
        for index, item in enumerate(message.get("attachments") or []):
            if item.get("status") != "stored":
                continue
            token = rules.sign_file(
                self.file_key, message["chat_id"], message["id"], index, expires
            )
            files.append(
                {
                    "kind": item.get("kind"),
                    "filename": item.get("filename"),
                    "content_type": item.get("content_type"),
                    "size": item.get("size"),
                    "url": f"{base}/widget/files/{token}",
                }
            )
        agent = message.get("agent_id")
        return {
            "id": message["id"],
            "text": message.get("text") or "",
            "sender": rules.sender(message),
            "name": names.get(int(agent)) if agent else message.get("author"),
            "status": message.get("status"),
            "created_at": message.get("created_at"),
            "attachments": files,
        }

    async def read(self, visitor: rules.Visitor, upto: int) -> int:
        """The visitor saw the replies up to ``upto``: they become ``read`` (the receipts
        path: ``message.updated`` to the dashboards). How many changed."""
        chat_id = await self.chat_id(visitor)
        if chat_id is None:
            return 0
        ids = await Message.filter(
            chat_id=chat_id, id__lte=upto, internal=False,
            status__in=[Status.SENT, Status.DELIVERED], sender__not=Sender.CUSTOMER,
        ).order_by("-id").limit(200).values_list("external_id", flat=True)  # fmt: skip
        updates = [StatusUpdate(CHANNEL, str(ref), "read") for ref in ids if ref]
        await self.receipts.record(updates)
        return len(updates)

    async def typing(self, visitor: rules.Visitor) -> None:
        """The visitor types: ``chat.typing`` to the agents who may see the chat."""
        chat = await Chat.filter(channel=Channel.WIDGET, external_id=visitor.chat_key).first()
        if chat is None:
            return
        data = {"chat_id": chat.id, "user_id": None, "name": chat.customer_name}
        await self.bus.publish([Event(events.CHAT_TYPING, chat.id, data, chat_audience(chat))])

    def file_link(self, token: str) -> tuple[int, int, int]:
        found = rules.read_file(self.file_key, token, time.time())
        if found is None:
            raise NotFound("no such file, or its link expired")
        return found

    def expires_at(self, visitor: rules.Visitor) -> str:
        return (timezone.now() + timedelta(seconds=visitor.expires - time.time())).isoformat()


def _anonymous(visitor: rules.Visitor) -> str:
    if visitor.identified:
        return f"User {visitor.visitor_id[len(rules.USER_PREFIX) :][:40]}"
    return f"Visitor {visitor.visitor_id[1:5]}"
