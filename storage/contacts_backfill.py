"""Contacts for the chats of a database made before contacts (migration 0010).

Each chat's customer identity (``storage.identities``) becomes a contact; chats whose
identities, phone numbers (E.164) or e-mail addresses (normalized) are equal share one. A
contact takes the id of its oldest chat (offset past any contact there is), its name from
its most recently active chat, its first-seen time from its oldest. Runs inside the
migration's transaction, on SQLite and PostgreSQL, a page of chats at a time for the reads
and a few hundred rows per statement for the writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from storage import identities

PAGE = 5000
ROWS = 300  # rows per INSERT (PostgreSQL takes at most 32767 parameters)


@dataclass(frozen=True, slots=True)
class ChatRow:
    id: int
    channel: str
    external_id: str | None
    name: str
    phone: str | None
    email: str | None
    unverified: bool
    created_at: Any
    activity_at: Any


@dataclass(slots=True)
class Plan:
    """What the backfill writes: contact id -> (name, first seen), identities, points, and
    chat id -> contact id."""

    contacts: dict[int, tuple[str, Any]] = field(default_factory=dict)
    identities: list[tuple[int, str, str, int]] = field(default_factory=list)
    points: list[tuple[int, str, str, bool]] = field(default_factory=list)
    chats: dict[int, int] = field(default_factory=dict)


def keys_of(chat: ChatRow) -> tuple[list[identities.Key], list[tuple[str, str, bool]]]:
    """A chat's identities and its points (kind, value, verified)."""
    ids = identities.identities(chat.channel, chat.external_id) if chat.external_id else []
    points: list[tuple[str, str, bool]] = []
    key = chat.external_id or ""
    provider = chat.channel in (identities.WHATSAPP, identities.TELEGRAM)
    phone = identities.e164(chat.phone, international=provider)
    if phone is None and chat.channel == identities.WHATSAPP and key.isdigit():
        phone = identities.e164(key)
    if phone is not None:
        points.append((identities.PHONE, phone, provider))
    address = identities.email(chat.email)
    if chat.channel == identities.EMAIL and not chat.unverified:
        address = address or identities.email(key)
        if address is not None:
            points.append((identities.MAIL, address, True))
    elif address is not None and not chat.unverified:
        points.append((identities.MAIL, address, False))
    return ids, points


def plan(chats: Iterable[ChatRow], offset: int = 0) -> Plan:
    """Group the chats into contacts (see the module text): a contact's id is ``offset``
    plus its oldest chat's id (``offset``: the largest contact id in use, if any)."""
    rows = sorted(chats, key=lambda chat: chat.id)
    parent = {chat.id: chat.id for chat in rows}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    seen: dict[tuple[str, str, str], int] = {}  # ("i"|"p", a, b) -> a chat holding it
    keys: dict[int, tuple[list[identities.Key], list[tuple[str, str, bool]]]] = {}
    for chat in rows:
        ids, points = keys[chat.id] = keys_of(chat)
        links = [("i", *key) for key in ids]
        links += [("p", kind, value) for kind, value, _ in points]
        for link in links:
            other = seen.setdefault(link, chat.id)
            if other != chat.id:
                a, b = root(other), root(chat.id)
                parent[max(a, b)] = min(a, b)
    out = Plan()
    latest: dict[int, ChatRow] = {}
    for chat in rows:
        contact = offset + root(chat.id)
        out.chats[chat.id] = contact
        best = latest.get(contact)
        if best is None or (chat.activity_at, chat.id) > (best.activity_at, best.id):
            latest[contact] = chat
        if contact not in out.contacts:
            out.contacts[contact] = (chat.name, chat.created_at)
    taken: set[identities.Key] = set()
    points_of: dict[tuple[int, str, str], bool] = {}
    for chat in rows:
        contact = out.chats[chat.id]
        ids, points = keys[chat.id]
        for key in ids:
            if key not in taken:
                taken.add(key)
                out.identities.append((contact, key[0], key[1], chat.id))
        for kind, value, verified in points:
            place = (contact, kind, value)
            points_of[place] = points_of.get(place, False) or verified
    out.points = [(c, k, v, verified) for (c, k, v), verified in points_of.items()]
    for contact, chat in latest.items():
        out.contacts[contact] = (chat.name, out.contacts[contact][1])
    return out


async def backfill(client: BaseDBAsyncClient) -> int:
    """Give every chat without a contact one (see the module text); the contacts made."""
    postgres = client.capabilities.dialect == "postgres"
    chats: list[ChatRow] = []
    last = 0
    while True:
        _, rows = await client.execute_query(
            _sql(
                'SELECT "id", "channel", "external_id", "customer_name", "customer_phone", '
                '"customer_email", "sender_unverified", "created_at", "activity_at" '
                'FROM "chats" WHERE "contact_id" IS NULL AND "id" > ? ORDER BY "id" LIMIT ?',
                postgres,
            ),
            [last, PAGE],
        )
        if not rows:
            break
        for r in rows:
            chats.append(
                ChatRow(
                    int(r["id"]),
                    str(r["channel"]),
                    r["external_id"],
                    r["customer_name"],
                    r["customer_phone"],
                    r["customer_email"],
                    bool(r["sender_unverified"]),
                    r["created_at"],
                    r["activity_at"],
                )
            )
        last = int(rows[-1]["id"])
    if not chats:
        return 0
    _, top = await client.execute_query('SELECT MAX("id") AS "top" FROM "contacts"')
    out = plan(chats, offset=int(top[0]["top"] or 0))
    now = datetime.now().astimezone() if postgres else datetime.now().astimezone().isoformat(" ")
    await _insert(
        client, postgres, "contacts",
        ("id", "name", "first_seen_at", "created_at", "updated_at"),
        [(cid, name, seen, now, now) for cid, (name, seen) in out.contacts.items()],
    )  # fmt: skip
    # A contact made at ingest has no custom attributes: {} (the model's default), not NULL.
    await client.execute_query(
        """UPDATE "contacts" SET "attributes" = '{}' WHERE "attributes" IS NULL"""
    )
    await _insert(
        client, postgres, "contact_identities",
        ("contact_id", "channel", "external_id", "chat_id", "created_at"),
        [(*row, now) for row in out.identities],
    )  # fmt: skip
    await _insert(
        client, postgres, "contact_points",
        ("contact_id", "kind", "value", "verified", "created_at"),
        [(*row, now) for row in out.points],
    )  # fmt: skip
    pairs = sorted(out.chats.items())
    for start in range(0, len(pairs), ROWS):
        chunk = pairs[start : start + ROWS]
        cases = " ".join("WHEN ? THEN CAST(? AS INTEGER)" for _ in chunk)
        marks = ", ".join("?" for _ in chunk)
        await client.execute_query(
            _sql(
                f'UPDATE "chats" SET "contact_id" = CASE "id" {cases} END '  # noqa: S608
                f'WHERE "id" IN ({marks})',
                postgres,
            ),
            [v for pair in chunk for v in pair] + [chat for chat, _ in chunk],
        )
    if postgres:
        await client.execute_query(
            "SELECT setval(pg_get_serial_sequence('contacts', 'id'), "
            '(SELECT MAX("id") FROM "contacts"))'
        )
    return len(out.contacts)


async def _insert(
    client: BaseDBAsyncClient,
    postgres: bool,
    table: str,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    row = "(" + ", ".join("?" for _ in names) + ")"
    columns = ", ".join(f'"{name}"' for name in names)
    for start in range(0, len(rows), ROWS):
        chunk = rows[start : start + ROWS]
        sql = f'INSERT INTO "{table}" ({columns}) VALUES ' + ", ".join(row for _ in chunk)  # noqa: S608
        await client.execute_query(_sql(sql, postgres), [v for r in chunk for v in r])


def _sql(sql: str, postgres: bool) -> str:
    if not postgres:
        return sql
    parts = sql.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]
