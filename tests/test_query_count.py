"""The dashboard's reads cost a fixed number of queries: a bigger page or a longer chat
changes what one query returns, not how many are made (bench/dashboard.py times them)."""

from __future__ import annotations

import logging

import pytest
from tortoise.log import db_client_logger

from connectors.base import InboundMessage
from storage.sql import is_postgres
from tests.support import Api, mute_bot


async def _queries(admin: Api, caplog: pytest.LogCaptureFixture, path: str) -> int:
    caplog.clear()
    status, _ = await admin.get(path)
    assert status == 200
    return sum(1 for r in caplog.records if r.name == db_client_logger.name)


async def test_list_and_detail_queries_do_not_grow_with_the_page(
    admin: Api, caplog: pytest.LogCaptureFixture
) -> None:
    core = admin.service.core
    mute_bot(core)
    await core.inbox.receive_many(
        [
            InboundMessage(channel="Telegram", chat_external_id=str(500 + i % 120),
                           message_external_id=str(i), text=f"message {i}",
                           customer_name=f"Customer {i % 120}")
            for i in range(360)
        ]
    )  # fmt: skip
    _, chats = await admin.get("/chats/?limit=1")
    busy = chats[0]["id"]
    await admin.get("/chats/?limit=200")  # agent names cached, as on a running server
    caplog.set_level(logging.DEBUG, logger=db_client_logger.name)
    small = await _queries(admin, caplog, "/chats/?limit=5")
    large = await _queries(admin, caplog, "/chats/?limit=200")
    assert 1 <= small == large <= 2  # the token's user, the page (counted: not 0 of 0)
    few = await _queries(admin, caplog, f"/chats/{busy}?limit=1")
    many = await _queries(admin, caplog, f"/chats/{busy}?limit=200")
    assert 1 <= few == many <= 3
    # A search: the page, then each chat's newest messages (its match is among them), then,
    # for the chats whose match is not (here: the names matched), the index once more.
    # First, on SQLite, the index is asked how common it is (the last word typed, a prefix:
    # the words it stands for, then their messages counted up to a bound; no word of a
    # message begins with "customer": nothing to count): too rare for a window here, so its
    # chats' ids are listed (the index of the messages and the names' trigrams, one statement)
    # before the page. On PostgreSQL the window's ids (the list's next 4 pages): at limit=5
    # the window holds the page; at limit=200 there are fewer chats than a window, and the
    # whole list is asked; a phrase in one chat leaves the window's page short, and the whole
    # list is asked too.
    postgres = is_postgres()
    listed = 0 if postgres else 1
    searches = (("message", 3 - postgres + listed, 0), ('"message 7"', 2 + listed, 1),
                ("customer", 3 + listed, 0))  # fmt: skip
    for q, more, short in searches:
        small_search = await _queries(admin, caplog, f"/chats/?limit=5&q={q}")
        large_search = await _queries(admin, caplog, f"/chats/?limit=200&q={q}")
        assert small_search == small + more + short * postgres, q
        assert large_search == small + more, q


async def test_replaying_the_event_log_does_not_grow_with_the_page(
    admin: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Messages' events are stored as references and rebuilt on replay: in one go."""
    core = admin.service.core
    mute_bot(core)
    start = await core.log.last_seq()
    await core.inbox.receive_many(
        [
            InboundMessage(channel="Telegram", chat_external_id=str(700 + i % 40),
                           message_external_id=f"r{i}", text=f"message {i}",
                           customer_name=f"Customer {i % 40}")
            for i in range(120)
        ]
    )  # fmt: skip
    await core.staff.names()  # agent names cached, as on a running server

    async def replay(limit: int) -> int:
        caplog.clear()
        events = await core.log.since(start, limit=limit)
        assert events is not None and len(events) == limit
        created = [e for e in events if e.type == "message.created"]
        assert created and all(e.data["message"]["text"].startswith("message") for e in created)
        return sum(1 for r in caplog.records if r.name == db_client_logger.name)

    caplog.set_level(logging.DEBUG, logger=db_client_logger.name)
    assert 1 <= await replay(5) == await replay(120) <= 5  # first kept seq, page, messages, chats
