"""Leases: a part of the service that must run in exactly one process at a time.

The Telegram poller and the outbox run under a lease when several processes
share PostgreSQL. A lease is a session-level advisory lock held on a
connection of its own: PostgreSQL releases it the moment that connection ends,
so when the holder dies (killed, crashed, its machine gone: the server's TCP
keepalives below notice within about 20 s) a standby, which asks every
``retry_seconds``, takes over within a second or two. The holder checks its
connection every ``check_seconds`` and stops the part as soon as the check
fails, since the lock may then be someone else's.

Why not a Redis key with a TTL: a holder that merely stalls (a long GC pause, a
stopped VM) would lose the key while it still believes it runs, and two
outboxes would send the same reply. The advisory lock stays held as long as the
holder's connection lives, so two holders never overlap while PostgreSQL can
see them; the cost is that a frozen but connected holder is not replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg

from storage import leases
from storage.db import asyncpg_dsn

log = logging.getLogger(__name__)

KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "3",
              "tcp_keepalives_count": "3"}  # fmt: skip


def lock_key(name: str) -> int:
    """A stable 64-bit advisory lock key for the lease ``name``."""
    digest = hashlib.sha256(f"msgcenter lease {name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Lease:
    """Runs ``start``/``stop`` of one part while this process holds the lease ``name``."""

    def __init__(
        self,
        url: str,
        name: str,
        *,
        retry_seconds: float = 1.0,
        check_seconds: float = 1.0,
    ) -> None:
        self.dsn = asyncpg_dsn(url)
        self.name = name
        self.key = lock_key(name)
        self.retry_seconds = retry_seconds
        self.check_seconds = check_seconds
        self.held = False
        self.state = "starting"
        self.acquired = 0  # how often this process took the lease
        self.stopping = False  # the process shuts down: give the lease up for good

    async def run(
        self, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
    ) -> None:
        """Until ``stopping``: wait for the lease, run the part while holding it, stop it when
        lost."""
        while not self.stopping:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(
                    self.dsn,
                    timeout=5,
                    server_settings={
                        **KEEPALIVES, "application_name": f"msgcenter lease {self.name}"
                    },
                )  # fmt: skip
                if await self._wait_for_lock(connection):
                    await self._hold(connection, start, stop)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self.state = f"standby: database unreachable ({type(exc).__name__})"
                log.warning("lease %s: %s", self.name, exc)
                await asyncio.sleep(self.retry_seconds)
            except Exception:
                self.state = "standby: the part failed"
                log.exception("lease %s: the part failed; trying again", self.name)
                await asyncio.sleep(self.retry_seconds)
            finally:
                if connection is not None:
                    with contextlib.suppress(OSError, asyncpg.PostgresError, RuntimeError):
                        connection.terminate()  # ends the session: the lock goes with it

    async def _wait_for_lock(self, connection: asyncpg.Connection) -> bool:
        self.state = "standby"
        while not self.stopping:
            if await leases.try_lock(connection, self.key):
                return True
            await asyncio.sleep(self.retry_seconds)
        return False

    async def _hold(
        self,
        connection: asyncpg.Connection,
        start: Callable[[], Awaitable[None]],
        stop: Callable[[], Awaitable[None]],
    ) -> None:
        self.held = True
        self.acquired += 1
        self.state = "active"
        log.info("lease %s taken: this process runs it", self.name)
        try:
            await start()
            while not self.stopping:
                await asyncio.sleep(self.check_seconds)
                async with asyncio.timeout(self.check_seconds * 2):
                    await leases.alive(connection)
        finally:
            self.held = False
            log.info("lease %s given up: stopping it here", self.name)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(stop())


@asynccontextmanager
async def leased(
    lease: Lease, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
) -> AsyncIterator[Lease]:
    """Run the part under ``lease`` in the background while the block runs."""
    lease.stopping = False
    work = lease.run(start, stop)
    task = asyncio.get_running_loop().create_task(work, name=f"lease-{lease.name}")
    try:
        yield lease
    finally:
        lease.stopping = True  # also ends the loops should a cancellation get lost
        task.cancel()
        await asyncio.wait({task}, timeout=15)
        if not task.done():
            log.warning("lease %s: its task did not stop in time", lease.name)
