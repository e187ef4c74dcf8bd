"""The adapters (``storage.adapters``, ``dashboard_api.adapters``): the installed libraries
have every internal they use, a missing or changed one fails loudly by name, at start-up
too; and what the SQLite adapters do with aiosqlite's thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from aiohttp.http_websocket import WebSocketWriter
from tortoise import Tortoise
from tortoise.backends.asyncpg.client import TransactionWrapper
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.sqlite.client import SqliteClient as TortoiseSqliteClient
from tortoise.backends.sqlite.client import SqliteTransactionWrapper
from tortoise.models import Model

from dashboard_api.adapters import aiohttp as aiohttp_adapter
from storage import sql
from storage.adapters import LibraryMismatch
from storage.adapters import aiosqlite as aiosqlite_adapter
from storage.adapters import tortoise as tortoise_adapter
from storage.adapters.aiosqlite import START_WAIT, in_thread, raw, start_now
from storage.db import Database
from storage.models import User
from tests.conftest import sqlite_url
from tests.support import Api

CHECKS = [tortoise_adapter.check, aiosqlite_adapter.check, aiohttp_adapter.check]


@pytest.mark.parametrize("check", CHECKS)
def test_the_installed_libraries_have_every_internal_the_adapters_use(
    check: Callable[[], None],
) -> None:
    check()


def _without_after_init(cls: type, name: str) -> Callable[..., None]:
    """``cls.__init__`` that leaves out the instance attribute ``name``."""
    init = cls.__init__

    def leaving_out(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        delattr(self, name)

    return leaving_out


def _lacking(monkeypatch: pytest.MonkeyPatch, owner: type, name: str, instance: bool) -> None:
    if instance:
        monkeypatch.setattr(owner, "__init__", _without_after_init(owner, name))
    else:
        monkeypatch.delattr(owner, name)


@pytest.mark.parametrize(
    ("check", "owner", "name", "instance"),
    [
        (aiosqlite_adapter.check, aiosqlite.Connection, "_execute", False),
        (aiosqlite_adapter.check, aiosqlite.Connection, "_conn", False),
        (aiosqlite_adapter.check, aiosqlite.Connection, "_tx", True),
        (tortoise_adapter.check, TortoiseSqliteClient, "_lock", True),
        (tortoise_adapter.check, BaseDBAsyncClient, "_post_connect", False),
        (tortoise_adapter.check, SqliteTransactionWrapper, "_lock", True),
        (tortoise_adapter.check, TransactionWrapper, "_parent", True),
        (tortoise_adapter.check, Model, "_init_from_db", False),
        (aiohttp_adapter.check, WebSocketWriter, "_write_websocket_frame", False),
    ],
)
def test_an_internal_gone_in_an_upgrade_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    check: Callable[[], None],
    owner: type,
    name: str,
    instance: bool,
) -> None:
    _lacking(monkeypatch, owner, name, instance)
    with pytest.raises(LibraryMismatch, match=rf"\.{name} is missing") as failed:
        check()
    assert "checked against" in str(failed.value)


def test_an_internal_of_another_kind_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    init = TortoiseSqliteClient.__init__

    def with_a_thread_lock(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._lock = threading.Lock()

    monkeypatch.setattr(TortoiseSqliteClient, "__init__", with_a_thread_lock)
    with pytest.raises(LibraryMismatch, match=r"SqliteClient\._lock is a lock, not an asyncio"):
        tortoise_adapter.check()


def test_aiohttp_writing_frames_otherwise_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame aiohttp would build or write otherwise than ``text_frame``: the fast write to
    the transport would interleave wrong bytes."""

    def buffered(self: Any, message: bytes, opcode: int, rsv: int) -> None:
        pass  # keeps the frame back (written later)

    monkeypatch.setattr(WebSocketWriter, "_write_websocket_frame", buffered)
    with pytest.raises(LibraryMismatch, match="_write_websocket_frame wrote a 5-byte"):
        aiohttp_adapter.check()


async def test_start_up_stops_at_a_missing_internal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delattr(aiosqlite.Connection, "_execute")
    database = Database(f"sqlite://{tmp_path / 'msgcenter.db'}")
    with pytest.raises(LibraryMismatch, match=r"aiosqlite\.Connection\._execute is missing"):
        await database.open()
    assert not (tmp_path / "msgcenter.db").exists()  # before anything was opened


# What the SQLite adapters do with aiosqlite's thread.


@pytest.fixture
async def db_url(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return await sqlite_url(tmp_path, tmp_path_factory)


def aio() -> aiosqlite.Connection:
    client = Tortoise.get_connection("default")
    assert isinstance(client, tortoise_adapter.SqliteClient)
    return client.aio


def rename(name: str) -> sql.Plan[int]:
    """Renames the demo agent; the thread it ran on."""
    yield 'UPDATE "users" SET "display_name" = ? WHERE "username" = ?', [name, "agent"]
    return threading.get_ident()


async def agent_name() -> str | None:
    return (await User.get(username="agent")).display_name


async def test_a_transaction_runs_its_statements_on_the_loop_thread(admin: Api) -> None:
    async with sql.transaction():
        here = await sql.run(rename("Ann"))
        also_here = await sql.run(rename("Bea"), commit=True)
    assert here == also_here == threading.get_ident()
    assert await agent_name() == "Bea"
    elsewhere = await sql.run(rename("Cid"))  # no transaction: in aiosqlite's thread
    assert elsewhere != threading.get_ident()
    assert await agent_name() == "Cid"


async def test_a_job_handed_over_runs_in_sqlite_thread(admin: Api) -> None:
    connection = aio()
    assert await start_now(connection, threading.get_ident) != threading.get_ident()
    with pytest.raises(sqlite3.OperationalError):
        await start_now(connection, lambda: raw(connection).execute("SELECT nope FROM nowhere"))


async def test_a_busy_sqlite_thread_holds_the_loop_up_for_start_wait_at_most(
    admin: Api,
) -> None:
    connection = aio()
    running, gate = threading.Event(), threading.Event()
    ran: list[str] = []

    def slow() -> None:  # an earlier job, busy until the test lets it finish
        running.set()
        gate.wait(10)
        ran.append("slow")

    def job() -> int:
        ran.append("handed")
        return threading.get_ident()

    busy = asyncio.ensure_future(in_thread(connection, slow))
    assert await asyncio.to_thread(running.wait, 5)
    try:
        began = time.perf_counter()
        handed = start_now(connection, job)
        waited = time.perf_counter() - began
        assert ran == [] and not handed.done()  # it returned while the earlier job still ran
        assert waited < START_WAIT + 1.0, waited  # (generous: catches only a wait far too long)
    finally:
        gate.set()
    assert await handed != threading.get_ident()
    await busy
    assert ran == ["slow", "handed"]  # the handed job ran once the earlier one was over
