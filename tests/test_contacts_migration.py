"""Migration 0010 on a populated copy: a database made before contacts (migrated up to 0009)
holding 10k chats of every kind gets one contact per customer identity, linked where phone
numbers (E.164) or e-mail addresses (normalized) are equal, and keeps every chat and message.

The expected contacts are computed here from how the customers were made, not by the
backfill's own grouping (``storage.contacts_backfill``)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from connectors.base import InboundMessage
from msgcenter.service import SERVICE, Service, build_app
from storage.db import asyncpg_dsn, migrate, sqlite_path
from storage.models import Chat, Contact, ContactIdentity
from tests.support import ClientFactory, make_settings, mute_bot

pytestmark = pytest.mark.empty_database

BEFORE = "models.0009_agent_day"
CHATS = 10_000
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class ChatSpec:
    channel: str
    external_id: str | None
    name: str
    phone: str | None = None
    email: str | None = None
    unverified: bool = False


@dataclass
class Population:
    chats: list[ChatSpec] = field(default_factory=list)
    customer_of: list[int] = field(default_factory=list)  # chat index -> customer
    customers: int = 0
    identities: set[tuple[str, str]] = field(default_factory=set)  # normalized, expected
    examples: dict[str, int] = field(default_factory=dict)  # kind -> a customer of it

    def customer(self, kind: str, *chats: ChatSpec) -> None:
        self.examples.setdefault(kind, self.customers)
        for chat in chats:
            self.chats.append(chat)
            self.customer_of.append(self.customers)
        self.customers += 1


def population() -> Population:
    """Customers of eight kinds, 12 chats every eight customers, names shared across
    customers (a display name links nothing), then chats without a provider address."""
    out = Population()
    n = 0
    while len(out.chats) + 12 <= CHATS:
        name = f"Budi {n % 50}"  # many customers share a name
        digits = f"62812{n:07d}"
        address = f"sari{n}@example.com"
        # WhatsApp alone.
        out.customer("whatsapp", ChatSpec("WhatsApp", digits, name, phone=f"+{digits}"))
        out.identities.add(("WhatsApp", f"+{digits}"))
        # Telegram without a number.
        out.customer("telegram", ChatSpec("Telegram", f"7{n:08d}", name))
        out.identities.add(("Telegram", f"7{n:08d}"))
        # WhatsApp and Telegram sharing the number (Telegram gives digits alone).
        shared = f"62813{n:07d}"
        out.customer(
            "shared",
            ChatSpec("WhatsApp", shared, name, phone=f"+{shared}"),
            ChatSpec("Telegram", f"8{n:08d}", name, phone=shared),
        )
        out.identities |= {("WhatsApp", f"+{shared}"), ("Telegram", f"8{n:08d}")}
        # Telegram with a number of their own, on no other channel.
        out.customer(
            "telegram_phone", ChatSpec("Telegram", f"9{n:08d}", name, phone=f"62814{n:07d}")
        )
        out.identities.add(("Telegram", f"9{n:08d}"))
        # One address in two cases: one customer, two chats, one identity.
        upper = f"Sari{n}@Example.COM"
        out.customer(
            "email_cases",
            ChatSpec("Email", upper, name, email=upper),
            ChatSpec("Email", address, name, email=address),
        )
        out.identities.add(("Email", address))
        # The same address from an unauthenticated sender: a contact of its own.
        out.customer(
            "unverified",
            ChatSpec("Email", f"unverified:{address}", name, email=address, unverified=True),
        )
        out.identities.add(("Email", f"unverified:{address}"))
        # A plus-tag is another address.
        tagged = f"sari{n}+shop@example.com"
        out.customer("plus_tag", ChatSpec("Email", tagged, name, email=tagged))
        out.identities.add(("Email", tagged))
        # WhatsApp, Telegram and an e-mail chat whose typed number is theirs.
        three = f"62815{n:07d}"
        out.customer(
            "three_channels",
            ChatSpec("WhatsApp", three, name, phone=f"+{three}"),
            ChatSpec("Telegram", f"6{n:08d}", name, phone=f"+{three}"),
            ChatSpec("Email", f"rina{n}@example.com", name, phone=f"+62 815-{n:07d}",
                     email=f"rina{n}@example.com"),
        )  # fmt: skip
        out.identities |= {
            ("WhatsApp", f"+{three}"), ("Telegram", f"6{n:08d}"),
            ("Email", f"rina{n}@example.com"),
        }  # fmt: skip
        n += 1
    while len(out.chats) < CHATS:  # started from the dashboard, no provider address
        out.customer("no_address", ChatSpec("Email", None, f"Walk-in {len(out.chats)}"))
    return out


def chat_rows(pop: Population, postgres: bool) -> list[tuple[Any, ...]]:
    rows = []
    for i, chat in enumerate(pop.chats):
        created = START + timedelta(minutes=i)
        active = created + timedelta(days=1)
        times: list[Any] = [created, active, created]
        if not postgres:
            times = [t.isoformat(" ") for t in times]
        rows.append(
            (
                i + 1, chat.channel, chat.external_id, chat.name, chat.phone, chat.email,
                "bot", False, 0, *times[:2], 0, times[2], chat.unverified,
            )
        )  # fmt: skip
    return rows


CHAT_COLUMNS = (
    "id", "channel", "external_id", "customer_name", "customer_phone", "customer_email", "mode",
    "online", "unread_count", "created_at", "activity_at", "bot_fallbacks", "updated_at",
    "sender_unverified",
)  # fmt: skip
MESSAGE_COLUMNS = (
    "chat_id", "text", "sender", "status", "internal", "external_id", "attachments", "attempts",
    "created_at", "updated_at",
)  # fmt: skip


def message_rows(postgres: bool) -> list[tuple[Any, ...]]:
    """Two messages on every third chat."""
    at: Any = START if postgres else START.isoformat(" ")
    return [
        (chat, f"message {k}", "customer", "sent", False, f"m{chat}.{k}", "[]", 0, at, at)
        for chat in range(1, CHATS + 1, 3)
        for k in range(2)
    ]


async def populate(url: str, pop: Population) -> None:
    path = sqlite_path(url)
    chats = ", ".join(f'"{c}"' for c in CHAT_COLUMNS)
    messages = ", ".join(f'"{c}"' for c in MESSAGE_COLUMNS)
    if path is not None:
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.executemany(
                f'INSERT INTO "chats" ({chats}) VALUES ({", ".join("?" * len(CHAT_COLUMNS))})',  # noqa: S608
                chat_rows(pop, False),
            )
            db.executemany(
                f'INSERT INTO "messages" ({messages}) '  # noqa: S608
                f"VALUES ({', '.join('?' * len(MESSAGE_COLUMNS))})",
                message_rows(False),
            )
        return
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.copy_records_to_table(
            "chats", records=chat_rows(pop, True), columns=CHAT_COLUMNS
        )
        await connection.copy_records_to_table(
            "messages", records=message_rows(True), columns=MESSAGE_COLUMNS
        )
        await connection.execute("SELECT setval(pg_get_serial_sequence('chats', 'id'), $1)", CHATS)
    finally:
        await connection.close()


async def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    path = sqlite_path(url)
    if path is not None:
        with contextlib.closing(sqlite3.connect(path)) as db:
            return list(db.execute(sql).fetchall())
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


async def count(url: str, sql: str) -> int:
    return int((await query(url, sql))[0][0])


def inbound(channel: str, key: str, msg_id: str, **more: Any) -> InboundMessage:
    return InboundMessage(
        channel=channel, chat_external_id=key, message_external_id=msg_id, text="after",
        customer_name="After", **more,
    )  # fmt: skip


async def test_migration_gives_a_populated_database_its_contacts(
    db_url: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    assert await migrate(db_url, target=BEFORE)
    pop = population()
    await populate(db_url, pop)
    chats_before = await count(db_url, 'SELECT COUNT(*) FROM "chats"')
    messages_before = await count(db_url, 'SELECT COUNT(*) FROM "messages"')
    assert (chats_before, messages_before) == (CHATS, 2 * len(range(1, CHATS + 1, 3)))

    started = time.perf_counter()
    applied = await migrate(db_url)  # 0010 and the migrations after it
    took = time.perf_counter() - started
    assert applied[0] == "0010_contacts", applied
    print(
        f"\nmigrations {', '.join(applied)} on {CHATS} chats ({db_url.split(':')[0]}): {took:.2f} s"
    )

    assert await count(db_url, 'SELECT COUNT(*) FROM "chats"') == chats_before
    assert await count(db_url, 'SELECT COUNT(*) FROM "messages"') == messages_before
    assert await count(db_url, 'SELECT COUNT(*) FROM "chats" WHERE "contact_id" IS NULL') == 0
    assert await count(db_url, 'SELECT COUNT(*) FROM "contacts"') == pop.customers
    orphans = 'SELECT COUNT(*) FROM "contacts" WHERE "id" NOT IN (SELECT "contact_id" FROM "chats")'
    assert await count(db_url, orphans) == 0
    # The chats of one customer share a contact; two customers never do.
    owner = dict(await query(db_url, 'SELECT "id", "contact_id" FROM "chats"'))
    contact_of: dict[int, int] = {}
    customer_of: dict[int, int] = {}
    for index, customer in enumerate(pop.customer_of):
        contact = owner[index + 1]
        assert contact_of.setdefault(customer, contact) == contact, pop.chats[index]
        assert customer_of.setdefault(contact, customer) == customer, pop.chats[index]
    identities = await query(db_url, 'SELECT "channel", "external_id" FROM "contact_identities"')
    assert len(identities) == len(set(identities))
    assert set(identities) == pop.identities
    assert await count(db_url, """SELECT COUNT(*) FROM "contacts" WHERE "attributes" = '{}'""") == (
        pop.customers
    )

    # The service on the migrated database: an existing customer's next message joins their
    # contact and chat; a new customer gets a new contact (ids continue past the migrated ones).
    client = await aiohttp_client(build_app(make_settings(db_url, tmp_path / "data")))
    service: Service = client.app[SERVICE]
    mute_bot(service.core)
    inbox = service.core.inbox
    n = 0  # the first customers of each kind
    shared_wa = await inbox.receive(inbound("WhatsApp", f"62813{n:07d}", "a1"))
    shared_tg = await inbox.receive(inbound("Telegram", f"8{n:08d}", "a2"))
    mail = await inbox.receive(
        inbound("Email", f"sari{n}@example.com", "a3@x", customer_email=f"sari{n}@example.com")
    )
    bsuid = await inbox.receive(
        inbound("WhatsApp", f"62812{n:07d}", "a4", customer_phone=f"+62812{n:07d}",
                customer_ids=("ID.77",))
    )  # fmt: skip
    fresh = await inbox.receive(inbound("WhatsApp", "62899000001", "a5"))
    shared = contact_of[pop.examples["shared"]]
    assert not any(r.chat_created for r in (shared_wa, shared_tg, mail, bsuid))
    assert shared_wa.chat_id == pop.chats.index(ChatSpec("WhatsApp", f"62813{n:07d}", "Budi 0",
                                                         phone=f"+62813{n:07d}")) + 1  # fmt: skip
    for received, customer in (
        (shared_wa, shared), (shared_tg, shared),
        (mail, contact_of[pop.examples["email_cases"]]),
        (bsuid, contact_of[pop.examples["whatsapp"]]),
    ):  # fmt: skip
        assert (await Chat.get(id=received.chat_id)).contact_id == customer
    assert ("WhatsApp", "ID.77") in {
        (i.channel, i.external_id)
        for i in await ContactIdentity.filter(contact_id=contact_of[pop.examples["whatsapp"]])
    }
    assert fresh.chat_created
    new_contact = (await Chat.get(id=fresh.chat_id)).contact_id
    assert new_contact is not None and new_contact not in customer_of
    assert await Contact.all().count() == pop.customers + 1
