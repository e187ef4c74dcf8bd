"""aiosqlite's internals, used here only: checked against aiosqlite 0.22.1.

An ``aiosqlite.Connection`` runs every call in a thread of its own, fed by a queue of
``(future, function)`` pairs (``_tx``) that its ``_execute`` fills; ``_conn`` is the sqlite3
connection underneath. msgcenter uses the sqlite3 connection directly on the event loop's
thread (``storage.adapters.tortoise``), runs a whole plan in the thread in one hand-off
(:func:`in_thread`), and starts COMMIT in the thread at once (:func:`start_now`).
:func:`check` says whether the installed aiosqlite still has all of this.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiosqlite

from storage.adapters import (
    is_coroutine_function,
    is_property,
    problem,
    require,
)

CHECKED = "aiosqlite 0.22.1"

T = TypeVar("T")

# Longest the event loop waits for aiosqlite's thread to start a job (measured under load:
# 0.11 ms median, 0.34 ms p90, 0.55 ms p99, the thread being scheduled on a busy core);
# past it, the job starts whenever the thread gets to it (it is busy with an earlier one).
START_WAIT = 0.001


def raw(connection: aiosqlite.Connection) -> sqlite3.Connection:
    """The sqlite3 connection under ``connection`` (ValueError when it is closed)."""
    return connection._conn


def in_thread(
    connection: aiosqlite.Connection, function: Callable[..., T], *args: Any
) -> Awaitable[T]:
    """``function(*args)`` run in ``connection``'s thread, after the jobs queued before it."""
    return connection._execute(function, *args)  # type: ignore[no-untyped-call]


def start_now(connection: aiosqlite.Connection, job: Callable[[], T]) -> asyncio.Future[T]:
    """Run ``job`` in ``connection``'s thread, started before this returns; its future.

    ``in_thread`` only queues the job: the thread wakes up, then waits for the GIL until the
    event loop next lets go of it, after whatever Python is ready to run (measured: 0.7 ms
    before a COMMIT started, longer than its fsync). Here the loop waits for the job to start
    (at most :data:`START_WAIT`) with the GIL released, so the thread takes it at once; the
    job (COMMIT) then waits on the disk without the GIL while the loop goes on. The job goes
    into aiosqlite's queue of (future, function) as its own ``_execute`` puts it there.
    """
    started = threading.Lock()
    started.acquire()

    def run() -> T:
        started.release()
        return job()

    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    connection._tx.put_nowait((future, run))
    started.acquire(timeout=START_WAIT)
    return future


def check() -> None:
    """Raise ``LibraryMismatch`` naming each internal used here that aiosqlite lacks."""
    connection = aiosqlite.Connection(lambda: sqlite3.connect(":memory:"), iter_chunk_size=64)
    label = "aiosqlite.Connection"
    require(
        "aiosqlite",
        CHECKED,
        [
            problem(aiosqlite.Connection, label, "_conn", "a property", is_property),
            problem(
                aiosqlite.Connection,
                label,
                "_execute",
                "a coroutine function",
                is_coroutine_function,
            ),
            problem(
                connection,
                label,
                "_tx",
                "a queue with put_nowait",
                lambda tx: callable(getattr(tx, "put_nowait", None)),
            ),
        ],
    )
