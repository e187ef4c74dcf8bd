"""How chats and messages look to the dashboard: the shapes of the API contract (docs/api.md).

The same dictionaries are returned by the API and carried in events, so a
dashboard renders a pushed change exactly like a fetched one. Functions take
rows as dicts (``QuerySet.values()``) to keep list queries free of model
instantiation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from handoff.domain import media, priority
from handoff.domain.events import Audience
from storage.models import Channel, Chat, Message, Mode

CHAT_FIELDS = (
    "id",
    "channel",
    "external_id",
    "customer_name",
    "contact_id",
    "customer_phone",
    "customer_email",
    "customer_address",
    "customer_username",
    "subject",
    "mode",
    "online",
    "online_set_at",
    "unread_count",
    "assigned_agent_id",
    "queued_at",
    "last_message_at",
    "last_customer_message_at",
    "last_message_text",
    "last_message_sender",
    "activity_at",
    "handoff_reason",
    "handoff_reason_code",
    "sender_unverified",
    "priority",
    "label_ids",
    "snoozed_at",
    "snoozed_until",
    "watchers",
    "created_at",
    "updated_at",
)
MESSAGE_FIELDS = (
    "id",
    "chat_id",
    "text",
    "sender",
    "status",
    "internal",
    "agent_id",
    "attachments",
    "error",
    "created_at",
    "note",
    "sender_auth",
    "template",
    "sources",
    "author",
)
# A Telegram or WhatsApp customer counts as online this long after their last message (or
# after a PATCH said so). Email customers are never online: mail is not a live session.
ONLINE_WINDOW = timedelta(minutes=5)
PREVIEW_LENGTH = 200
TIME_CACHE = 4096  # formatted instants remembered by a Presenter
NO_NAMES: Mapping[int, str] = {}


def preview(text: str) -> str:
    """The start of a message for the chat list."""
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_LENGTH else flat[: PREVIEW_LENGTH - 1] + "…"


def online_until(row: dict[str, Any], now: datetime) -> datetime | None:
    """Until when the customer of chat ``row`` counts as online; None when not online now.

    Computed at read time, no job needed: a Telegram or WhatsApp customer is online for
    :data:`ONLINE_WINDOW` after their last message, an email customer never. An explicit
    ``online`` set through the API (``online_set_at``) stands until the customer writes
    again: false is offline, true is online for the window from when it was set.
    """
    last = row["last_customer_message_at"]
    said_at = row.get("online_set_at")
    if said_at is not None and (last is None or said_at >= last):
        until = said_at + ONLINE_WINDOW if row["online"] else None
    elif last is None or str(row["channel"]) == Channel.EMAIL:
        until = None
    else:
        until = last + ONLINE_WINDOW
    return until if until is not None and until > now else None


def chat_values(chat: Chat) -> dict[str, Any]:
    """A model instance as the dict :meth:`Presenter.chat_row` takes."""
    return {name: getattr(chat, name) for name in CHAT_FIELDS}


def message_values(message: Message) -> dict[str, Any]:
    return {name: getattr(message, name) for name in MESSAGE_FIELDS}


class Presenter:
    """Formats rows for one display time zone (times like "10:27")."""

    def __init__(self, timezone: str = "UTC") -> None:
        self.zone = ZoneInfo(timezone)
        # A row's times are mostly one instant (a message's arrival is its chat's last
        # message, activity and update), so formatted instants are remembered.
        self._iso: dict[datetime, str] = {}
        self._clock: dict[datetime, str] = {}

    def when(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        text = self._iso.get(value)  # equal datetimes are the same instant, whatever their zone
        if text is None:
            if len(self._iso) >= TIME_CACHE:
                self._iso.clear()
            text = self._iso[value] = value.astimezone(self.zone).isoformat()
        return text

    def clock(self, value: datetime) -> str:
        text = self._clock.get(value)
        if text is None:
            if len(self._clock) >= TIME_CACHE:
                self._clock.clear()
            text = self._clock[value] = value.astimezone(self.zone).strftime("%H:%M")
        return text

    def chat_row(
        self,
        row: dict[str, Any],
        agent_names: Mapping[int, str],
        label_names: Mapping[int, str] = NO_NAMES,
    ) -> dict[str, Any]:
        """The list shape: ``{id, name, channel, online, unread, mode, last_message_at, ...}``.
        ``label_names``: label id -> name (``handoff.read.names.LabelNames``)."""
        agent_id = row["assigned_agent_id"]
        last_text = row["last_message_text"]
        until = online_until(row, datetime.now(UTC))
        return {
            "id": row["id"],
            "name": row["customer_name"],
            # The contact the conversation belongs to (docs/api.md, "Contacts").
            "contact_id": row.get("contact_id"),
            "channel": str(row["channel"]),
            "online": until is not None,
            # When "online" ends unless the customer writes again (None: not online).
            "online_until": self.when(until),
            "unread": row["unread_count"],
            "mode": str(row["mode"]),
            "last_message_at": self.when(row["last_message_at"]),
            "last_message": None
            if last_text is None
            else {
                "text": last_text,
                "sender": row["last_message_sender"],
                "time": self.when(row["last_message_at"]),
            },
            "assigned_agent_id": agent_id,
            "assigned_agent_name": agent_names.get(agent_id) if agent_id is not None else None,
            "queued": row["mode"] == Mode.AGENT and agent_id is None,
            "queued_at": self.when(row["queued_at"]) if agent_id is None else None,
            "handoff_reason": row["handoff_reason"],
            # Its code (handoff.domain.modes.REASONS) for dashboards to translate; None: free text.
            "handoff_reason_code": row["handoff_reason_code"],
            # Email whose sender could not be authenticated: a chat of its own
            # (handoff.usecases.ingest).
            "sender_unverified": bool(row.get("sender_unverified")),
            "subject": row["subject"],
            "priority": priority.name(row.get("priority")),
            "labels": [label_names[i] for i in row.get("label_ids") or () if i in label_names],
            # Snoozed: since when and until when (None: until the customer writes).
            "snoozed": row.get("snoozed_at") is not None,
            "snoozed_until": self.when(row.get("snoozed_until")),
            # Users a note mentioned (they may read the chat and add notes until it closes).
            "watchers": list(row.get("watchers") or ()),
            "phone": row["customer_phone"],
            "email": row["customer_email"],
            "activity_at": self.when(row["activity_at"]),
            "created_at": self.when(row["created_at"]),
            "updated_at": self.when(row["updated_at"]),
        }

    def profile(self, row: dict[str, Any]) -> dict[str, Any]:
        """The profile: ``lastActive`` is "Online", or else when the customer last
        wrote (ISO 8601, e.g. "2026-01-01T10:37:28+07:00"; None if they never did)."""
        last_active = self.when(row["last_customer_message_at"])
        online = online_until(row, datetime.now(UTC)) is not None
        return {
            "phone": row["customer_phone"],
            "email": row["customer_email"],
            "address": row["customer_address"],
            "username": row["customer_username"],
            "lastActive": "Online" if online else last_active,
            "last_active_at": last_active,
        }

    def message(self, row: dict[str, Any]) -> dict[str, Any]:
        """``{id, text, sender, status, time}``, plus the full timestamp and more."""
        created: datetime = row["created_at"]
        auth = row.get("sender_auth")
        return {
            "id": row["id"],
            "chat_id": row["chat_id"],
            "text": row["text"],
            "sender": str(row["sender"]),
            "status": str(row["status"]),
            "time": self.clock(created),
            "created_at": self.when(created),
            "internal": bool(row["internal"]),
            "agent_id": row["agent_id"],
            "attachments": [
                attachment(row["chat_id"], row["id"], index, item)
                for index, item in enumerate(row["attachments"] or [])
            ],
            "error": row["error"],
            # A system note about a transition, as data (handoff.domain.modes.note); else None.
            "note": row.get("note"),
            # Email: how the sender was authenticated (connectors.email_auth), None where
            # nothing was checked; sender_unverified when that did not confirm the sender.
            "sender_auth": auth,
            "sender_unverified": auth is not None and auth.get("result") not in ("pass", "off"),
            # A WhatsApp template message's spec (its text is the template rendered).
            "template": row.get("template"),
            # An LLM answer's knowledge-base articles, [{"id", "title"}]; else None.
            "sources": row.get("sources"),
            # An integration's reply: its API key's name (agent_id is null); else None.
            "author": row.get("author"),
        }


# What a file received before msgcenter kept provider files says of itself.
NOT_KEPT = "received before msgcenter kept copies of files; the provider may still have it"


def attachment(chat_id: int, message_id: int, index: int, item: dict[str, Any]) -> dict[str, Any]:
    """An attachment as the API shows it: ``{kind, filename, content_type, size, status,
    error, url, inline}`` (``meta`` for places and contacts). ``status`` is None for what is
    not a file; ``url`` (the download route) is there once the file is stored."""
    status = item.get("status")
    error = item.get("error")
    if status is None and item.get("file"):
        status = media.STORED  # an email attachment of before the blob store
    elif status is None and item.get("ref"):
        status, error = media.FAILED, NOT_KEPT
    content_type = str(item.get("mime_type") or "") or None
    url = None
    if status == media.STORED:
        url = f"/chats/{chat_id}/messages/{message_id}/attachments/{index}"
    view: dict[str, Any] = {
        "kind": item.get("kind"),
        "filename": item.get("name"),
        "content_type": content_type,
        "size": item.get("size"),
        "status": status,
        "error": error,
        "url": url,
        "inline": status == media.STORED and media.inline(content_type or ""),
    }
    if item.get("meta"):
        view["meta"] = item["meta"]
    return view


def chat_audience(chat: Chat, *also: int | None) -> Audience:
    """Who may see an event about ``chat``: its agent and watchers (and ``also``), or all
    agents if queued."""
    return _audience(chat.mode, chat.assigned_agent_id, (*(chat.watchers or ()), *also))


def row_audience(row: dict[str, Any], *also: int | None) -> Audience:
    """:func:`chat_audience` of a chat row (``mode``, ``assigned_agent_id``, ``watchers``)."""
    watchers = row.get("watchers") or ()
    return _audience(row["mode"], row["assigned_agent_id"], (*watchers, *also))


def _audience(mode: str, agent: int | None, also: tuple[int | None, ...]) -> Audience:
    agents = frozenset(a for a in (agent, *also) if a is not None)
    return Audience(agent_ids=agents, queue=mode == Mode.AGENT and agent is None)
