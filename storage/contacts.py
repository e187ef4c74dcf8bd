"""Finding a new chat's contact: by the identities and verified points its customer states
(``storage.identities``), else a new contact; then recording what was new.

:func:`find` and :func:`record` are :data:`storage.sql.Plan` s (pure), run by the ingest plan
(``storage.ingest``) and by the dashboard when it starts a chat (``handoff.usecases.desk``).
Race-safe: an identity is unique, and it is inserted without ``ON CONFLICT``, so two
processes that each find it missing cannot both add it: the second one's batch fails and its
retry finds the first one's contact (no duplicate contact).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage import columns, locks
from storage.identities import Key
from storage.models import Contact, ContactIdentity, ContactPoint
from storage.sql import Plan

# Rank 0: an identity (with the chat it writes into), 1: a verified point.
FIND = (
    'SELECT "contact_id", "chat_id", "channel" AS "a", "external_id" AS "b", 0 AS "rank" '
    'FROM "contact_identities" WHERE ("channel", "external_id") IN ({identities}) '
    'UNION ALL SELECT "contact_id", NULL, "kind", "value", 1 FROM "contact_points" '
    'WHERE "verified" AND ("kind", "value") IN ({points})'
)
_CONTACT_GIVEN = ("name", "first_seen_at", "created_at", "updated_at")
_CONTACT_DEFAULTS = columns.defaults(Contact, _CONTACT_GIVEN)
INSERT_CONTACT = columns.insert(Contact, (*_CONTACT_GIVEN, *_CONTACT_DEFAULTS), 'RETURNING "id"')
INSERT_IDENTITY = columns.insert(
    ContactIdentity, ("contact_id", "channel", "external_id", "chat_id", "created_at")
)
# A point a provider states becomes verified if it was typed or imported before.
POINT_CONFLICT = (
    'ON CONFLICT ("contact_id", "kind", "value") DO UPDATE SET "verified" = TRUE '
    'WHERE excluded."verified"'
)
INSERT_POINT = columns.insert(
    ContactPoint, ("contact_id", "kind", "value", "verified", "created_at"), POINT_CONFLICT
)
STATEMENTS = (
    FIND.format(identities="(?, ?)", points="(?, ?)"), INSERT_CONTACT, INSERT_IDENTITY,
    INSERT_POINT,
)  # fmt: skip

# PostgreSQL: the new chats of a wave of messages (``storage.ingest._waves``) get their contacts
# in a few statements whatever their number (:func:`find_many`). Their verified points are
# locked first (transaction advisory locks, one per point, sorted: one order in every process),
# so two processes storing the first messages of one number on two channels at once make one
# contact: the second waits for the first's commit, then its FIND finds the point. (Identities
# need no lock: they are unique.) SQLite has one writer.
POINT_LOCKS = 0x636F6E  # "con"; the two-key form: apart from handoff.infra.locks' keys
LOCK_POINTS = (
    f'SELECT pg_advisory_xact_lock({POINT_LOCKS}, hashtext("p")) '  # noqa: S608 - a constant
    'FROM unnest(CAST(? AS text[])) AS "p"'
)
CONTACT_IDS = (
    "SELECT nextval(pg_get_serial_sequence('contacts', 'id')) AS \"id\" "
    "FROM generate_series(1, CAST(? AS integer))"
)
_CONTACT_ROW = ("id", *_CONTACT_GIVEN, *_CONTACT_DEFAULTS)
_IDENTITY_ROW = ("contact_id", "channel", "external_id", "chat_id", "created_at")
_POINT_ROW = ("contact_id", "kind", "value", "verified", "created_at")
PG_STATEMENTS = (
    LOCK_POINTS, CONTACT_IDS, columns.insert(Contact, _CONTACT_ROW, rows=2),
    columns.insert(ContactIdentity, _IDENTITY_ROW, rows=2),
    columns.insert(ContactPoint, _POINT_ROW, POINT_CONFLICT, rows=2),
)  # fmt: skip
_NOTHING = [("", "")]  # "IN ()" is not SQL; ("", "") matches nothing


@dataclass(frozen=True, slots=True)
class Found:
    contact_id: int
    chat_id: int | None  # the chat one of the identities writes into, if any
    held: frozenset[Key]  # the identities held already


def find(ids: Sequence[Key], points: Sequence[Key], name: str, now: datetime | str) -> Plan[Found]:
    """The contact of a customer who states ``ids`` (identities, the chat's key first) and
    ``points`` (verified): the one holding the first identity found, else the oldest one
    holding a verified point, else a new one named ``name``."""
    probe_ids, probe_points = list(ids) or _NOTHING, list(points) or _NOTHING
    sql = FIND.format(
        identities=", ".join("(?, ?)" for _ in probe_ids),
        points=", ".join("(?, ?)" for _ in probe_points),
    )
    rows = yield sql, [v for key in (*probe_ids, *probe_points) for v in key]
    held = {(r["a"], r["b"]): r for r in rows if r["rank"] == 0}
    found = [held[key] for key in ids if key in held]
    chat_id = next((int(r["chat_id"]) for r in found if r["chat_id"] is not None), None)
    if found:
        contact_id = int(found[0]["contact_id"])
    elif rows:
        contact_id = min(int(r["contact_id"]) for r in rows)
    else:
        made = yield INSERT_CONTACT, [name, now, now, now, *_CONTACT_DEFAULTS.values()]
        contact_id = int(made[0]["id"])
    return Found(contact_id, chat_id, frozenset(held))


def record(
    found: Found,
    chat_id: int,
    ids: Sequence[Key],
    points: Sequence[Key],
    now: datetime | str,
    *,
    verified: bool = True,
) -> Plan[None]:
    """Add the identities not held yet (writing into ``chat_id``) and the points to the
    contact ``found``."""
    for channel, external_id in ids:
        if (channel, external_id) not in found.held:
            yield INSERT_IDENTITY, [found.contact_id, channel, external_id, chat_id, now]
    for kind, value in points:
        yield INSERT_POINT, [found.contact_id, kind, value, verified, now]


@dataclass(frozen=True, slots=True)
class Wanted:
    """A new chat key's customer, for :func:`find_many`: what :func:`find` and :func:`record`
    take, and the values of the chat to create if none of ``ids`` writes into one (its
    ``contact_id`` at ``slot``, put there by :func:`find_many`)."""

    key: Key
    ids: Sequence[Key]
    points: Sequence[Key]
    name: str
    chat: Sequence[Any]
    slot: int


_NEW = 1 << 62  # contacts and chats not inserted yet: after every real id, in order


def find_many(
    wanted: Sequence[Wanted], insert_chats: Callable[[int], str], now: datetime | str
) -> Plan[dict[Key, tuple[int, bool]]]:
    """:func:`find` then :func:`record` for each of ``wanted`` in order, as if one after the
    other (a later one finds what an earlier one added), in at most eight statements
    (PostgreSQL): the contacts' shared lock, the points' locks, one FIND, the new contacts'
    ids, then one INSERT each of contacts, chats (``insert_chats(n)``: n rows,
    ``RETURNING "id", "channel", "external_id"``), identities (without ``ON CONFLICT``:
    race-safe as :func:`record`) and points. Each key -> (its chat id, created)."""
    yield locks.SHARE_CONTACTS, []  # no merge or erasure of contacts meanwhile
    points = sorted({p for w in wanted for p in w.points})
    if points:
        yield LOCK_POINTS, [[f"{kind}:{value}" for kind, value in points]]
    probe_ids = [k for w in wanted for k in w.ids] or _NOTHING
    probe_points = points or _NOTHING
    sql = FIND.format(
        identities=", ".join("(?, ?)" for _ in probe_ids),
        points=", ".join("(?, ?)" for _ in probe_points),
    )
    rows = yield sql, [v for key in (*probe_ids, *probe_points) for v in key]
    held: dict[Key, tuple[int, int | None]] = {}
    verified: dict[Key, int] = {}
    for r in rows:
        key, contact = (r["a"], r["b"]), int(r["contact_id"])
        if r["rank"] == 0:
            held[key] = (contact, None if r["chat_id"] is None else int(r["chat_id"]))
        else:
            verified[key] = min(contact, verified.get(key, contact))
    contacts: list[tuple[int, str]] = []  # (placeholder, name) of the new ones
    chats: list[tuple[Wanted, int]] = []  # the new chats (placeholder _NEW + index), contact
    out: dict[Key, tuple[int, bool]] = {}
    identities: list[tuple[int, Key, int]] = []  # (contact, identity, chat)
    point_rows: dict[tuple[int, Key], None] = {}
    for w in wanted:
        found = [held[k] for k in w.ids if k in held]
        chat_id = next((chat for _, chat in found if chat is not None), None)
        if found:
            contact = found[0][0]
        elif any(p in verified for p in w.points):
            contact = min(verified[p] for p in w.points if p in verified)
        else:
            contact = _NEW + len(contacts)
            contacts.append((contact, w.name))
        created = chat_id is None
        if chat_id is None:
            chat_id = _NEW + len(chats)
            chats.append((w, contact))
        out[w.key] = (chat_id, created)
        for k in w.ids:
            if k not in held:
                held[k] = (contact, chat_id)
                identities.append((contact, k, chat_id))
        for p in w.points:
            point_rows[(contact, p)] = None
            verified[p] = min(contact, verified.get(p, contact))
    real: dict[int, int] = {}  # contacts' placeholders -> ids
    if contacts:
        made = yield CONTACT_IDS, [len(contacts)]
        ids = sorted(int(r["id"]) for r in made)
        real = {placeholder: i for (placeholder, _), i in zip(contacts, ids, strict=True)}
        values = [
            v
            for (placeholder, name) in contacts
            for v in (real[placeholder], name, now, now, now, *_CONTACT_DEFAULTS.values())
        ]
        yield columns.insert(Contact, _CONTACT_ROW, rows=len(contacts)), values  # fmt: skip
    chat_ids: dict[int, int] = {}  # chats' placeholders -> ids
    if chats:
        values = []
        for w, contact in chats:
            row = list(w.chat)
            row[w.slot] = real.get(contact, contact)
            values += row
        made = yield insert_chats(len(chats)), values
        by_key = {(r["channel"], r["external_id"]): int(r["id"]) for r in made}
        chat_ids = {_NEW + i: by_key[w.key] for i, (w, _) in enumerate(chats)}
    if identities:
        values = [v for contact, (channel, external_id), chat in identities
                  for v in (real.get(contact, contact), channel, external_id,
                            chat_ids.get(chat, chat), now)]  # fmt: skip
        yield columns.insert(ContactIdentity, _IDENTITY_ROW, rows=len(identities)), values
    if point_rows:
        values = [v for contact, (kind, value) in point_rows
                  for v in (real.get(contact, contact), kind, value, True, now)]  # fmt: skip
        yield (
            columns.insert(ContactPoint, _POINT_ROW, POINT_CONFLICT, rows=len(point_rows)),
            values,
        )
    return {key: (chat_ids.get(chat, chat), created) for key, (chat, created) in out.items()}
