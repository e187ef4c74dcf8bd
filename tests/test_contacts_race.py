"""Contacts under concurrent webhooks on PostgreSQL: one contact per customer, whatever
process stores their first messages, and no contact left without a chat.

An identity is unique and inserted without ``ON CONFLICT`` (``storage.contacts``): of two
writers that both found a customer new, the second one's insert fails once the first
commits; its attempt (the contact and chat it made too) is rolled back with its savepoint,
and the retry (``Inbox._store``) finds the first writer's contact and chat. Customers linked
by a verified number only (WhatsApp and Telegram) share no identity: there the second writer
waits on the number's advisory lock (``storage.contacts.LOCK_POINT``) and then finds it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from tortoise import timezone

from connectors.mock.whatsapp_payloads import customer_payload, encode, sign
from storage import ingest as ingest_store
from storage.db import asyncpg_dsn
from storage.models import Chat, Contact, ContactIdentity
from storage.sql import Plan
from tests.conftest import POSTGRES_URL
from tests.redis_support import REDIS_URL
from tests.support import Api, mute_bot
from tests.test_contacts_ingest import telegram, wa
from tests.test_two_processes import Cluster, Process, cluster, until
from tests.whatsapp_support import APP_SECRET

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason="MSGCENTER_TEST_POSTGRES_URL is not set"),
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
]

__all__ = ["cluster"]  # the fixture, shared with tests/test_two_processes.py

ORPHANS = 'SELECT COUNT(*) FROM "contacts" WHERE "id" NOT IN (SELECT "contact_id" FROM "chats")'


async def run_elsewhere(connection: asyncpg.Connection, plan: Plan[Any]) -> Any:
    """Drive ``plan`` on ``connection``: another process storing a message (the same plan,
    another transaction)."""
    step = next(plan)
    try:
        while True:
            sql, values = step
            rows = await connection.fetch(numbered(sql), *values)
            step = plan.send([dict(row) for row in rows])
    except StopIteration as stop:
        return stop.value


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


@pytest.fixture
async def other(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        yield connection
    finally:
        await connection.close()


async def waiting_on_a_lock(connection: asyncpg.Connection) -> bool:
    waiting = await connection.fetchval(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    return bool(waiting)


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        (wa("o1", bsuid="ID.5"), wa("s1", phone="628555", bsuid="ID.5")),
        (wa("o1", phone="628555", bsuid="ID.5"), wa("s1", bsuid="ID.5")),
        (wa("o1", phone="628555"), wa("s1", phone="628555")),
    ],
    ids=["their-bsuid-our-pair", "their-pair-our-bsuid", "same-number"],
)
async def test_a_lost_race_for_an_identity_rolls_back_its_contact_and_joins_the_winner(
    admin: Api, db_url: str, other: asyncpg.Connection, theirs: Any, ours: Any
) -> None:
    mute_bot(admin.service.core)
    contacts_before = await Contact.all().count()
    transaction = other.transaction()
    await transaction.start()
    at = timezone.now()
    won = await run_elsewhere(
        other, ingest_store.plan([theirs], ["hi"], [None], [True], at, [False])
    )
    assert won[0].created
    # The service stores its message meanwhile: it finds the customer new (the other's rows
    # are not committed), makes a contact and a chat, and waits on the identity's index.
    storing = asyncio.create_task(admin.service.core.inbox.receive(ours))
    watcher = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        await until(lambda: waiting_on_a_lock(watcher), "the service to wait on the identity")
        await transaction.commit()
        received = await asyncio.wait_for(storing, 20)
    finally:
        await watcher.close()
    assert received.chat_id == won[0].chat_id and not received.chat_created
    chat = await Chat.get(id=won[0].chat_id)
    assert chat.unread_count == 2
    assert await Contact.all().count() == contacts_before + 1  # the service's attempt: gone
    assert await other.fetchval(ORPHANS) == 0
    keys = ["628555", "ID.5"]
    assert await Chat.filter(channel="WhatsApp", external_id__in=keys).count() == 1
    held = await ContactIdentity.filter(external_id__in=["+628555", "ID.5"]).values_list(
        "contact_id", "chat_id"
    )
    assert set(held) == {(chat.contact_id, chat.id)}


async def test_a_number_stated_on_two_channels_at_once_makes_one_contact(
    admin: Api, db_url: str, other: asyncpg.Connection
) -> None:
    """No identity is shared here (a WhatsApp number, a Telegram user id), only a verified
    point: the second writer waits on the point's lock and finds the first one's contact."""
    mute_bot(admin.service.core)
    contacts_before = await Contact.all().count()
    transaction = other.transaction()
    await transaction.start()
    theirs = wa("o1", phone="628666")
    won = await run_elsewhere(
        other, ingest_store.plan([theirs], ["hi"], [None], [True], timezone.now(), [False])
    )
    storing = asyncio.create_task(
        admin.service.core.inbox.receive(telegram("t1", "9001", phone="+62 866 6"))
    )
    watcher = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        await until(lambda: waiting_on_a_lock(watcher), "the service to wait on the number")
        await transaction.commit()
        received = await asyncio.wait_for(storing, 20)
    finally:
        await watcher.close()
    assert received.chat_created and received.chat_id != won[0].chat_id
    contact = (await Chat.get(id=won[0].chat_id)).contact_id
    assert (await Chat.get(id=received.chat_id)).contact_id == contact
    assert await Contact.all().count() == contacts_before + 1
    assert await other.fetchval(ORPHANS) == 0


async def post(cluster: Cluster, process: Process, payload: dict[str, Any]) -> None:
    body = encode(payload)
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)}
    async with cluster.http.post(
        f"{process.base}/webhooks/whatsapp", data=body, headers=headers
    ) as response:
        assert response.status == 200, await response.text()


@pytest.mark.skipif(not REDIS_URL, reason="MSGCENTER_TEST_REDIS_URL is not set")
async def test_first_messages_of_the_same_customers_at_both_processes_make_one_contact_each(
    cluster: Cluster,
) -> None:
    """40 new customers write at once, each four first messages split between the two
    processes; half of them as their number and BSUID together and as the BSUID alone (two
    chat keys of one person)."""
    a, b = cluster.processes
    customers = 40
    sends = []
    for k in range(customers):
        phone, bsuid = f"62877{k:05d}", f"ID.{k:05d}"
        name = f"Race {k}"
        for n in range(4):
            process = (a, b)[(n + k) % 2]
            if k % 2 == 0:  # the number alone
                payload = customer_payload(name, "hi", phone=phone, wamid=f"w{k}.{n}")
            elif n % 2 == 0:  # number and BSUID together
                payload = customer_payload(
                    name, "hi", phone=phone, user_id=bsuid, wamid=f"w{k}.{n}"
                )
            else:  # the BSUID alone (the number hidden)
                payload = customer_payload(name, "hi", user_id=bsuid, wamid=f"w{k}.{n}")
            sends.append(post(cluster, process, payload))
    await asyncio.gather(*sends)

    async def one(query: str) -> Any:
        return (await cluster.rows(query))[0][0]

    assert await one("SELECT COUNT(*) FROM messages WHERE sender = 'customer'") == 4 * customers
    assert await one("SELECT COUNT(*) FROM chats") == customers
    assert await one("SELECT COUNT(*) FROM contacts") == customers
    assert await one(ORPHANS) == 0
    assert await one("SELECT COUNT(*) FROM chats WHERE contact_id IS NULL") == 0
    assert await one("SELECT SUM(unread_count) FROM chats") == 4 * customers
    rows = await cluster.rows(
        "SELECT i.external_id, i.contact_id, c.contact_id AS chat_contact "
        "FROM contact_identities i JOIN chats c ON c.id = i.chat_id"
    )
    contact_of = {r["external_id"]: r["contact_id"] for r in rows}
    assert all(r["contact_id"] == r["chat_contact"] for r in rows)
    for k in range(customers):
        keys = [f"+62877{k:05d}"] + ([f"ID.{k:05d}"] if k % 2 else [])
        assert len({contact_of[key] for key in keys}) == 1, k
    assert len(rows) == customers + customers // 2  # each identity once
    lost = await one("SELECT last_value FROM contacts_id_seq") - customers
    print(f"\ncontacts made in attempts rolled back after a lost race: {lost}")
