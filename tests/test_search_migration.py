"""Migrations 0015 and 0017 on a populated copy: the messages stored before them are in the
full-text index afterwards (SQLite: the FTS5 table filled; PostgreSQL: the GIN index built),
on SQLite the chats' names in their trigram index too, and what is written after them is
indexed as it comes."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from storage.db import asyncpg_dsn, migrate, sqlite_path
from storage.search import CHAT_SHIFT, PG_DOCUMENT

pytestmark = pytest.mark.empty_database

BEFORE = "models.0014_kb_search"  # the last migration before 0015_message_search
CHATS = 2_000
PER_CHAT = 5
WORDS = ("paket", "refund", "pesanan", "delivery", "ongkir")
AT = datetime(2026, 1, 1, tzinfo=UTC)


def text_of(chat: int, k: int) -> str:
    return f"{WORDS[(chat + k) % len(WORDS)]} nomor {chat}-{k} Keterlambatan"


async def populate(url: str) -> None:
    chats = [
        (i, "Telegram", str(10_000 + i), f"Customer {i}", "bot", False, 0, AT, AT, 0, AT, False)
        for i in range(1, CHATS + 1)
    ]
    messages = [
        (chat, text_of(chat, k), "customer", "sent", False, f"m{chat}.{k}", "[]", 0, AT, AT)
        for chat in range(1, CHATS + 1)
        for k in range(PER_CHAT)
    ]
    chat_columns = ("id", "channel", "external_id", "customer_name", "mode", "online",
                    "unread_count", "created_at", "activity_at", "bot_fallbacks", "updated_at",
                    "sender_unverified")  # fmt: skip
    message_columns = ("chat_id", "text", "sender", "status", "internal", "external_id",
                       "attachments", "attempts", "created_at", "updated_at")  # fmt: skip
    path = sqlite_path(url)
    if path is not None:
        stamp = AT.isoformat(" ")
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.executemany(
                f"INSERT INTO chats ({', '.join(chat_columns)}) "  # noqa: S608
                f"VALUES ({', '.join('?' * len(chat_columns))})",
                [tuple(stamp if v is AT else v for v in row) for row in chats],
            )
            db.executemany(
                f"INSERT INTO messages ({', '.join(message_columns)}) "  # noqa: S608
                f"VALUES ({', '.join('?' * len(message_columns))})",
                [tuple(stamp if v is AT else v for v in row) for row in messages],
            )
        return
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.copy_records_to_table("chats", records=chats, columns=chat_columns)
        await connection.copy_records_to_table(
            "messages", records=messages, columns=message_columns
        )
    finally:
        await connection.close()


async def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    path = sqlite_path(url)
    if path is not None:
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            return list(db.execute(sql, args).fetchall())
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return [tuple(row) for row in await connection.fetch(sql, *args)]
    finally:
        await connection.close()


async def matches(url: str, word: str) -> set[tuple[int, int]]:
    """(chat, message) of every message the index finds with ``word``."""
    if sqlite_path(url) is not None:
        rows = await query(
            url, "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", f'"{word}"'
        )
        return {(r // CHAT_SHIFT, r % CHAT_SHIFT) for (r,) in rows}
    rows = await query(
        url,
        f"SELECT chat_id, id FROM messages WHERE {PG_DOCUMENT} @@ "  # noqa: S608
        "to_tsquery('simple'::regconfig, $1)",
        word,
    )
    return {(int(c), int(i)) for c, i in rows}


async def test_the_migration_indexes_the_messages_already_stored(db_url: str) -> None:
    assert await migrate(db_url, target=BEFORE)
    await populate(db_url)
    started = time.perf_counter()
    applied = await migrate(db_url)
    took = time.perf_counter() - started
    assert "0015_message_search" in applied, applied
    print(f"\nmigrations {', '.join(applied)} on {CHATS * PER_CHAT} messages: {took:.2f} s")

    stored = await query(db_url, "SELECT chat_id, id, text FROM messages")
    assert len(stored) == CHATS * PER_CHAT
    for word in ("paket", "keterlambatan", "nomor"):
        expected = {(c, i) for c, i, text in stored if word in text.casefold().split()}
        assert expected and await matches(db_url, word) == expected, word
    # Numbers are words too: "nomor 17-3" holds the words 17 and 3.
    seventeen = {(c, i) for c, i, text in stored if "17" in text.split()[2].split("-")}
    assert len(seventeen) == PER_CHAT  # chat 17's (k < 5: no "-17")
    assert await matches(db_url, "17") == seventeen

    # A message written after the migration is indexed (SQLite: the triggers are in place).
    await query(
        db_url,
        "INSERT INTO messages (chat_id, text, sender, status, internal, attachments, attempts, "
        "created_at, updated_at) VALUES (1, 'zanzibar', 'customer', 'sent', "
        "false, '[]', 0, '2026-01-02 00:00:00+00:00', '2026-01-02 00:00:00+00:00')",
    )
    [(new_id,)] = await query(db_url, "SELECT id FROM messages WHERE text = 'zanzibar'")
    assert await matches(db_url, "zanzibar") == {(1, new_id)}
    if sqlite_path(db_url) is not None:  # 0017: every chat's name, by any part of it
        assert "0017_chat_names_search" in applied, applied
        named = await query(db_url, "SELECT rowid FROM chats_fts WHERE chats_fts MATCH ?",
                            '"OMER 17"')  # fmt: skip
        expected = {i for i in range(1, CHATS + 1) if str(i).startswith("17")}
        assert {r for (r,) in named} == expected
        await query(db_url, "UPDATE chats SET customer_name = 'Zanzibar Ltd' WHERE id = 17")
        named = await query(db_url, "SELECT rowid FROM chats_fts WHERE chats_fts MATCH ?",
                            '"OMER 17"')  # fmt: skip
        assert {r for (r,) in named} == expected - {17}
    if sqlite_path(db_url) is None:  # the search's expression is the index's, to the letter
        connection = await asyncpg.connect(asyncpg_dsn(db_url))
        try:
            await connection.execute("SET enable_seqscan = off")
            plan = await connection.fetch(
                f"EXPLAIN SELECT chat_id FROM messages WHERE {PG_DOCUMENT} @@ "  # noqa: S608
                "to_tsquery('simple'::regconfig, 'paket & nomor:*')"
            )
        finally:
            await connection.close()
        assert "messages_search" in " ".join(row[0] for row in plan), plan


async def test_the_way_back_drops_the_index_and_its_vocabulary(db_url: str) -> None:
    assert "0015_message_search" in await migrate(db_url)
    sqlite = sqlite_path(db_url) is not None
    listed = (
        "SELECT name FROM sqlite_master WHERE name LIKE 'messages_fts%'"
        if sqlite
        else "SELECT indexname FROM pg_indexes WHERE indexname = 'messages_search'"
    )
    made = {name for (name,) in await query(db_url, listed)}
    expected = {"messages_fts", "messages_fts_vocab"} if sqlite else {"messages_search"}
    assert expected <= made, made
    if sqlite:  # the vocabulary reads the index: a word and its messages
        rows = await query(db_url, "SELECT count(*) FROM messages_fts_vocab")
        assert rows == [(0,)]
    if sqlite:  # 0017's way back drops the names' index and its triggers
        names = "SELECT name FROM sqlite_master WHERE name LIKE 'chats_fts%'"
        assert len(await query(db_url, names)) >= 4  # the table, its shadows, 3 triggers
        await migrate(db_url, target="models.0016_integrations")
        assert await query(db_url, names) == []
        assert {name for (name,) in await query(db_url, listed)} == made
    await migrate(db_url, target=BEFORE)
    assert await query(db_url, listed) == []
