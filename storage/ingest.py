"""Storing what customers write: the chat found or created, the message inserted once, the
chat's counters and preview brought up to date (``handoff.usecases.ingest`` drives it).

:func:`plan` is a :data:`storage.sql.Plan`: pure, it may run in SQLite's thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from storage import columns
from storage.models import Chat, Message, Mode, Sender, Status
from storage.sql import Plan


class AttachmentLike(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


class InboundLike(Protocol):
    """What the plan reads of an inbound message (``connectors.base.InboundMessage``)."""

    @property
    def channel(self) -> str: ...
    @property
    def chat_external_id(self) -> str: ...
    @property
    def message_external_id(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def customer_name(self) -> str: ...
    @property
    def customer_phone(self) -> str | None: ...
    @property
    def customer_email(self) -> str | None: ...
    @property
    def customer_username(self) -> str | None: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def attachments(self) -> Sequence[AttachmentLike]: ...
    @property
    def reply_to_external_id(self) -> str | None: ...
    @property
    def sender_verified(self) -> bool: ...
    @property
    def sender_auth(self) -> dict[str, str] | None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    chat_id: int
    created: bool
    message_id: int | None  # None: a repeat, not stored
    row: dict[str, Any]  # the chat after the change (a repeat: its mode and customer name)


_MESSAGE_GIVEN = (
    "chat_id", "text", "sender", "status", "external_id", "attachments",
    "reply_to_external_id", "sender_auth", "created_at", "updated_at",
)  # fmt: skip
_MESSAGE_DEFAULTS = columns.defaults(Message, _MESSAGE_GIVEN)
INSERT_MESSAGE = columns.insert(
    Message,
    (*_MESSAGE_GIVEN, *_MESSAGE_DEFAULTS),
    'ON CONFLICT ("chat_id", "external_id") DO NOTHING RETURNING "id"',
)
_CHAT_GIVEN = (
    "channel", "external_id", "customer_name", "customer_phone", "customer_email",
    "customer_username", "subject", "sender_unverified", "activity_at", "created_at",
    "updated_at",
)  # fmt: skip
_CHAT_DEFAULTS = columns.defaults(Chat, _CHAT_GIVEN)
INSERT_CHAT = columns.insert(Chat, (*_CHAT_GIVEN, *_CHAT_DEFAULTS), 'RETURNING "id"')
CHAT_BY_KEY = 'SELECT "id" FROM "chats" WHERE "channel" = ? AND "external_id" = ?'
CHAT_MODE = 'SELECT "mode", "customer_name" FROM "chats" WHERE "id" = ?'
TOUCH_CHAT = (  # the columns are the model's, not input
    'UPDATE "chats" SET "unread_count" = "unread_count" + 1, "last_message_at" = ?, '  # noqa: S608
    '"last_customer_message_at" = ?, "last_message_text" = ?, "last_message_sender" = ?, '
    '"activity_at" = ?, "updated_at" = ?, '
    '"customer_name" = COALESCE(?, "customer_name"), '
    '"customer_username" = COALESCE(?, "customer_username") '
    f'WHERE "id" = ? RETURNING {columns.row(Chat)}'
)
STATEMENTS = (INSERT_MESSAGE, INSERT_CHAT, CHAT_BY_KEY, CHAT_MODE, TOUCH_CHAT)

_MESSAGE_DEFAULT_VALUES = tuple(_MESSAGE_DEFAULTS.values())
_CHAT_DEFAULT_VALUES = tuple(_CHAT_DEFAULTS.values())
_NO_ATTACHMENTS = columns.db_value(Message, "attachments", [])


def plan(
    messages: Sequence[InboundLike],
    previews: Sequence[str],
    cached: Sequence[int | None],
    own: Sequence[bool],
    now: datetime | str,
) -> Plan[list[Outcome]]:
    """Store each message unless it is a repeat (chat found or created, message inserted,
    counted on the chat, ``previews`` shown in the chat list). Stops after a message to a
    closed chat: it must be reopened first. ``cached``: chat ids known already. A message that
    joins someone else's chat by reference (``own`` False) leaves that chat's customer name
    alone. Pure: runs in SQLite's thread (see ``storage.sql``)."""
    outcomes: list[Outcome] = []
    known: dict[tuple[str, str], int] = {}
    for inbound, text, chat_id, mine in zip(messages, previews, cached, own, strict=True):
        key = (inbound.channel, inbound.chat_external_id)
        created = False
        chat_id = chat_id or known.get(key)
        if chat_id is None:
            rows = yield CHAT_BY_KEY, [inbound.channel, key[1]]
            if rows:
                chat_id = int(rows[0]["id"])
            else:
                name = inbound.customer_name or inbound.customer_phone or "Customer"
                rows = yield INSERT_CHAT, [
                    inbound.channel, inbound.chat_external_id, name, inbound.customer_phone,
                    inbound.customer_email, inbound.customer_username, inbound.subject,
                    not inbound.sender_verified, now, now, now, *_CHAT_DEFAULT_VALUES,
                ]  # fmt: skip
                chat_id, created = int(rows[0]["id"]), True
            known[key] = chat_id
        attachments = (
            columns.db_value(Message, "attachments", [a.as_dict() for a in inbound.attachments])
            if inbound.attachments
            else _NO_ATTACHMENTS
        )
        auth = (
            None
            if inbound.sender_auth is None
            else columns.db_value(Message, "sender_auth", inbound.sender_auth)
        )
        inserted = yield INSERT_MESSAGE, [
            chat_id, inbound.text, Sender.CUSTOMER.value, Status.SENT.value,
            inbound.message_external_id, attachments, inbound.reply_to_external_id, auth, now,
            now, *_MESSAGE_DEFAULT_VALUES,
        ]  # fmt: skip
        if not inserted:
            rows = yield CHAT_MODE, [chat_id]
            outcomes.append(Outcome(chat_id, created, None, rows[0]))
            continue
        new_name = (inbound.customer_name or None) if mine else None
        new_username = (inbound.customer_username or None) if mine else None
        rows = yield TOUCH_CHAT, [
            now, now, text, Sender.CUSTOMER.value, now, now, new_name, new_username, chat_id,
        ]  # fmt: skip
        outcomes.append(Outcome(chat_id, created, int(inserted[0]["id"]), rows[0]))
        if rows[0]["mode"] == Mode.CLOSED.value:
            break
    return outcomes
