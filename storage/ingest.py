"""Storing what customers write: the chat found or created, the message inserted once, the
chat's counters and preview brought up to date (``handoff.usecases.ingest`` drives it).

:func:`plan` is a :data:`storage.sql.Plan`: pure, it may run in SQLite's thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from storage import columns, contacts, identities
from storage.models import Chat, Message, Mode, Sender, Status
from storage.sql import Plan, is_postgres


class AttachmentLike(Protocol):
    @property
    def status(self) -> str | None: ...
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
    def customer_ids(self) -> tuple[str, ...]: ...
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
    "chat_id", "text", "sender", "status", "external_id", "attachments", "media_pending",
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
    "customer_username", "subject", "sender_unverified", "contact_id", "activity_at",
    "created_at", "updated_at",
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

# A known chat's message that states more of its customer (a WhatsApp BSUID beside the
# number, a Telegram user's own number): added to the chat's contact unless held already.
ATTACH_IDENTITY = (
    'INSERT INTO "contact_identities" ("contact_id", "channel", "external_id", "chat_id", '
    '"created_at") SELECT "contact_id", ?, ?, "id", ? FROM "chats" WHERE "id" = ? AND '
    '"contact_id" IS NOT NULL ON CONFLICT ("channel", "external_id") DO NOTHING'
)
ATTACH_POINT = (
    'INSERT INTO "contact_points" '  # noqa: S608 - constants only
    '("contact_id", "kind", "value", "verified", "created_at") '
    'SELECT "contact_id", ?, ?, ?, ? FROM "chats" WHERE "id" = ? AND "contact_id" IS NOT NULL '
    f"{contacts.POINT_CONFLICT}"
)
# ... and to the contact holding a stated id when that is another one (a BSUID that wrote
# alone before its number was known made a contact of its own): the two then share a
# verified number, so they are offered for merging.
HOLDER_POINT = (
    'INSERT INTO "contact_points" '  # noqa: S608 - constants only
    '("contact_id", "kind", "value", "verified", "created_at") '
    'SELECT "contact_id", ?, ?, ?, ? FROM "contact_identities" WHERE "channel" = ? AND '
    f'"external_id" = ? {contacts.POINT_CONFLICT}'
)
STATEMENTS = (
    INSERT_MESSAGE, INSERT_CHAT, CHAT_BY_KEY, CHAT_MODE, TOUCH_CHAT, ATTACH_IDENTITY,
    ATTACH_POINT, HOLDER_POINT, *contacts.STATEMENTS,
)  # fmt: skip

_MESSAGE_DEFAULT_VALUES = tuple(_MESSAGE_DEFAULTS.values())
_CHAT_DEFAULT_VALUES = tuple(_CHAT_DEFAULTS.values())
_NO_ATTACHMENTS = columns.db_value(Message, "attachments", [])


def plan(
    messages: Sequence[InboundLike],
    previews: Sequence[str],
    cached: Sequence[int | None],
    own: Sequence[bool],
    now: datetime | str,
    extras: Sequence[bool] | None = None,
) -> Plan[list[Outcome]]:
    """Store each message unless it is a repeat (chat found or created, message inserted,
    counted on the chat, ``previews`` shown in the chat list). Stops after a message to a
    closed chat: it must be reopened first (on PostgreSQL after the wave that holds it, see
    :func:`_waves`: the messages stored are a prefix of ``messages`` either way). ``cached``:
    chat ids known already. A message that joins someone else's chat by reference (``own``
    False) leaves that chat's customer name alone. A new chat gets its contact
    (:func:`_new_chat`); ``extras``: the message states more of its customer than its chat's
    key (:func:`stated`) that the caller has not seen added yet. Pure: runs in SQLite's thread
    (see ``storage.sql``)."""
    more = extras if extras is not None else [False] * len(messages)
    if is_postgres():
        return _waves(messages, previews, cached, own, now, more)
    return _one_by_one(messages, previews, cached, own, now, more)


def stated(inbound: InboundLike) -> bool:
    """Whether ``inbound`` tells of its customer more than its chat's key: ids beside it
    (WhatsApp's BSUID) or a number of their own (Telegram). Added to the chat's contact."""
    return bool(inbound.customer_ids) or (
        inbound.channel == identities.TELEGRAM and inbound.customer_phone is not None
    )


def _one_by_one(
    messages: Sequence[InboundLike],
    previews: Sequence[str],
    cached: Sequence[int | None],
    own: Sequence[bool],
    now: datetime | str,
    extras: Sequence[bool],
) -> Plan[list[Outcome]]:
    """:func:`plan` a statement or two per message: each runs in microseconds on SQLite."""
    outcomes: list[Outcome] = []
    known: dict[tuple[str, str], int] = {}
    items = zip(messages, previews, cached, own, extras, strict=True)
    for inbound, text, chat_id, mine, extra in items:
        key = (inbound.channel, inbound.chat_external_id)
        created = False
        chat_id = chat_id or known.get(key)
        if chat_id is None:
            rows = yield CHAT_BY_KEY, [inbound.channel, key[1]]
            if rows:
                chat_id = int(rows[0]["id"])
            else:
                chat_id, created = yield from _new_chat(inbound, now)
            known[key] = chat_id
        if extra and not created:
            yield from _attach(inbound, chat_id, now)
        inserted = yield INSERT_MESSAGE, _message_values(inbound, chat_id, now)
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


def _new_chat(inbound: InboundLike, now: datetime | str) -> Plan[tuple[int, bool]]:
    """A message whose chat key is new: the chat its customer's identity writes into if
    there is one (a WhatsApp user now known by their other id), else a new chat of the
    contact its identities lead to (``storage.contacts.find``). (chat id, created). On
    PostgreSQL a wave's new keys go together (:func:`_wanted`, ``contacts.find_many``)."""
    ids = identities.identities(inbound.channel, inbound.chat_external_id, inbound.customer_ids)
    points = _points(inbound)
    name = inbound.customer_name or inbound.customer_phone or "Customer"
    found = yield from contacts.find(ids, points, name, now)
    chat_id, created = found.chat_id, found.chat_id is None
    if chat_id is None:
        made = yield INSERT_CHAT, _chat_values(inbound, found.contact_id, now)
        chat_id = int(made[0]["id"])
    yield from contacts.record(found, chat_id, ids, points, now)
    return chat_id, created


def _wanted(inbound: InboundLike, now: datetime | str) -> contacts.Wanted:
    """What ``contacts.find_many`` needs of a message whose chat key is new."""
    return contacts.Wanted(
        (inbound.channel, inbound.chat_external_id),
        identities.identities(inbound.channel, inbound.chat_external_id, inbound.customer_ids),
        _points(inbound),
        inbound.customer_name or inbound.customer_phone or "Customer",
        _chat_values(inbound, 0, now),
        _CHAT_GIVEN.index("contact_id"),
    )


def _insert_chats(rows: int) -> str:
    return columns.insert(
        Chat, (*_CHAT_GIVEN, *_CHAT_DEFAULTS), 'RETURNING "id", "channel", "external_id"', rows=rows
    )


def _points(inbound: InboundLike) -> list[identities.Key]:
    if not inbound.sender_verified:
        return []
    return identities.points(
        inbound.channel, inbound.chat_external_id, inbound.customer_phone, inbound.customer_email
    )


def _attach(inbound: InboundLike, chat_id: int, now: datetime | str) -> Plan[None]:
    """Add what ``inbound`` states of its customer (:func:`stated`) to its chat's contact."""
    ids = identities.identities(inbound.channel, inbound.chat_external_id, inbound.customer_ids)
    for channel, external_id in ids[1:]:
        yield ATTACH_IDENTITY, [channel, external_id, now, chat_id]
    for kind, value in _points(inbound):
        yield ATTACH_POINT, [kind, value, True, now, chat_id]
        for channel, external_id in ids[1:]:
            yield HOLDER_POINT, [kind, value, True, now, channel, external_id]


def _chat_values(inbound: InboundLike, contact_id: int, now: datetime | str) -> list[Any]:
    """The values of :data:`INSERT_CHAT`: a new chat for ``inbound``'s customer."""
    name = inbound.customer_name or inbound.customer_phone or "Customer"
    return [
        inbound.channel, inbound.chat_external_id, name, inbound.customer_phone,
        inbound.customer_email, inbound.customer_username, inbound.subject,
        not inbound.sender_verified, contact_id, now, now, now, *_CHAT_DEFAULT_VALUES,
    ]  # fmt: skip


def _message_values(inbound: InboundLike, chat_id: int, now: datetime | str) -> list[Any]:
    """The values of :data:`INSERT_MESSAGE` (a row of :data:`STORE_WAVE`) for ``inbound``."""
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
    return [
        chat_id, inbound.text, Sender.CUSTOMER.value, Status.SENT.value,
        inbound.message_external_id, attachments,
        any(a.status == "pending" for a in inbound.attachments),  # fetched after the commit
        inbound.reply_to_external_id, auth, now, now,
        *_MESSAGE_DEFAULT_VALUES,
    ]  # fmt: skip


# PostgreSQL runs a plan a statement at a time, each a round trip (see ``storage.sql``), so
# there a run of messages goes in waves: the longest prefix of it whose messages go to
# distinct chats. One statement finds the wave's chats not known yet (a chat is created,
# rarely, one statement each), one stores the wave's messages (``ON CONFLICT DO NOTHING``:
# a repeat is stored once) and counts each stored one on its chat, returning the chat rows.
CHATS_BY_KEYS = (
    'SELECT "id", "channel", "external_id" FROM "chats" '
    'WHERE ("channel", "external_id") IN ({keys})'
)
_TOUCH = ("chat_id", "preview", "name", "username")
_TOUCH_TYPES = ("integer", "text", "text", "text")
_TOUCH_ROW = "(" + ", ".join(f"?::{kind}" for kind in _TOUCH_TYPES) + ")"
_CHAT_ROW = columns.row(Chat, '"c".')
_MESSAGE_ROW = "(" + ", ".join("?" for _ in (*_MESSAGE_GIVEN, *_MESSAGE_DEFAULTS)) + ")"
STORE_WAVE = (  # the columns are the model's, not input
    'WITH "ins" AS ('  # noqa: S608
    f'INSERT INTO "messages" ({columns.quoted((*_MESSAGE_GIVEN, *_MESSAGE_DEFAULTS))}) '
    'VALUES {rows} ON CONFLICT ("chat_id", "external_id") DO NOTHING RETURNING "id", "chat_id"'
    f'), "d" ({columns.quoted(_TOUCH)}) AS (VALUES {{touched}}), "upd" AS ('
    'UPDATE "chats" AS "c" SET "unread_count" = "c"."unread_count" + 1, "last_message_at" = ?, '
    '"last_customer_message_at" = ?, "last_message_text" = "d"."preview", '
    '"last_message_sender" = ?, "activity_at" = ?, "updated_at" = ?, '
    '"customer_name" = COALESCE("d"."name", "c"."customer_name"), '
    '"customer_username" = COALESCE("d"."username", "c"."customer_username") '
    'FROM "d" JOIN "ins" ON "ins"."chat_id" = "d"."chat_id" WHERE "c"."id" = "d"."chat_id" '
    f"RETURNING {_CHAT_ROW}"
    ') SELECT "ins"."id" AS "$message", "upd".* FROM "upd" '
    'JOIN "ins" ON "ins"."chat_id" = "upd"."id"'
)

PG_STATEMENTS = (
    CHATS_BY_KEYS.format(keys="(?, ?), (?, ?)"),
    _insert_chats(2),
    STORE_WAVE.format(
        rows=f"{_MESSAGE_ROW}, {_MESSAGE_ROW}", touched=f"{_TOUCH_ROW}, {_TOUCH_ROW}"
    ),
)


def _waves(
    messages: Sequence[InboundLike],
    previews: Sequence[str],
    cached: Sequence[int | None],
    own: Sequence[bool],
    now: datetime | str,
    extras: Sequence[bool],
) -> Plan[list[Outcome]]:
    """:func:`plan` on PostgreSQL: a few statements per wave of messages (see above)."""
    outcomes: list[Outcome] = []
    known: dict[tuple[str, str], int] = {}
    # Keys whose chat this plan created, until their first outcome says so (a message cut
    # from its wave below is told in a later wave).
    created: set[tuple[str, str]] = set()
    items = list(zip(messages, previews, cached, own, strict=True))
    while len(outcomes) < len(items):
        wave: list[tuple[InboundLike, str, int | None, bool]] = []
        keys: set[tuple[str, str]] = set()
        for item in items[len(outcomes) :]:
            key = (item[0].channel, item[0].chat_external_id)
            if key in keys:
                break
            keys.add(key)
            wave.append(item)
        missing = [m for m, _, c, _ in wave if not (c or (m.channel, m.chat_external_id) in known)]
        if missing:
            rows = yield (
                CHATS_BY_KEYS.format(keys=", ".join("(?, ?)" for _ in missing)),
                [v for m in missing for v in (m.channel, m.chat_external_id)],
            )
            known.update({(r["channel"], r["external_id"]): int(r["id"]) for r in rows})
            new = [_wanted(m, now) for m in missing if (m.channel, m.chat_external_id) not in known]
            if new:  # their contacts and chats in a few statements (contacts.find_many)
                found = yield from contacts.find_many(new, _insert_chats, now)
                for key, (chat_id, made) in found.items():
                    known[key] = chat_id
                    if made:
                        created.add(key)
        ids = [c or known[(m.channel, m.chat_external_id)] for m, _, c, _ in wave]
        if len(set(ids)) < len(ids):  # two keys of one customer's chat (WhatsApp): apart
            cut = next(i for i in range(1, len(ids)) if ids[i] in ids[:i])
            del wave[cut:], ids[cut:]
        start = len(outcomes)
        for offset, (item, chat_id) in enumerate(zip(wave, ids, strict=True)):
            key = (item[0].channel, item[0].chat_external_id)
            if extras[start + offset] and key not in created:
                yield from _attach(item[0], chat_id, now)
        values: list[Any] = []
        touched: list[Any] = []
        for (inbound, text, _, mine), chat_id in zip(wave, ids, strict=True):
            values += _message_values(inbound, chat_id, now)
            touched += [
                chat_id, text, (inbound.customer_name or None) if mine else None,
                (inbound.customer_username or None) if mine else None,
            ]  # fmt: skip
        values += touched
        values += [now, now, Sender.CUSTOMER.value, now, now]
        sql = STORE_WAVE.format(
            rows=", ".join(_MESSAGE_ROW for _ in wave),
            touched=", ".join(_TOUCH_ROW for _ in wave),
        )
        stored = {int(row["id"]): row for row in (yield sql, values)}
        closed = False
        for (inbound, _, _, _), chat_id in zip(wave, ids, strict=True):
            key = (inbound.channel, inbound.chat_external_id)
            row = stored.get(chat_id)
            made = key in created
            created.discard(key)
            if row is None:  # a repeat
                rows = yield CHAT_MODE, [chat_id]
                outcomes.append(Outcome(chat_id, made, None, rows[0]))
                continue
            message_id = int(row.pop("$message"))
            outcomes.append(Outcome(chat_id, made, message_id, row))
            closed = closed or row["mode"] == Mode.CLOSED.value
        if closed:
            break
    return outcomes
