"""What one SMTP client may hold: connections in all and per address, and for how long.

aiosmtpd takes every connection and keeps an idle one for 300 s: 1,100 idle
connections used up the process's file descriptors, and ``/healthz``, logins
and webhooks failed. :class:`CappedSMTP` answers a connection over either cap
``421`` and closes it before any SMTP is spoken, and closes any connection
after ``session_max`` seconds whatever it is doing (aiosmtpd's own ``timeout``
covers silence between commands and the whole of DATA).

aiosmtpd reads DATA a line at a time on the event loop, and a line already buffered
is returned without a pause: a 10 MB mail of 3-byte lines kept the loop for seconds
(``/healthz`` waited 1.8 s in bench.attack). :class:`FairReader` gives the loop a turn
every :data:`LINES_PER_TURN` lines, so one mail cannot starve the API.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, cast

from aiosmtpd.smtp import SMTP

LINES_PER_TURN = 256  # lines read before the event loop gets a turn (a few hundred µs)


class FairReader(asyncio.StreamReader):
    """A StreamReader whose ``readuntil`` yields to the event loop every
    :data:`LINES_PER_TURN` calls (aiosmtpd reads commands and DATA with it)."""

    _lines = 0

    async def readuntil(self, separator: Any = b"\n") -> bytes:  # as StreamReader takes it
        self._lines += 1
        if self._lines % LINES_PER_TURN == 0:
            await asyncio.sleep(0)
        return await super().readuntil(separator)


class Connections:
    """The open SMTP connections, counted in all and per client address."""

    def __init__(self, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self.by_address: Counter[str] = Counter()
        self.refused = 0

    @property
    def open(self) -> int:
        return self.by_address.total()

    def admit(self, address: str) -> str | None:
        """Count a new connection from ``address``; or say why it may not stay."""
        if self.open >= self.total:
            reason = "too many connections to this server"
        elif self.by_address[address] >= self.per_address:
            reason = "too many connections from your address"
        else:
            self.by_address[address] += 1
            return None
        self.refused += 1
        return reason

    def release(self, address: str) -> None:
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]


class CappedSMTP(SMTP):
    """aiosmtpd's SMTP, under the caps of a shared :class:`Connections`."""

    def __init__(
        self, *args: Any, connections: Connections, session_max: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._connections = connections
        self._session_max = session_max
        self._address: str | None = None  # set while this connection is counted
        self._refused = False
        self._session_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is not None:  # STARTTLS: the same connection, now encrypted
            super().connection_made(transport)
            return
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        refusal = self._connections.admit(address)
        if refusal is not None:
            self._refused = True
            writer = cast(asyncio.WriteTransport, transport)  # uvloop's is no subclass of it
            writer.write(f"421 4.7.0 {refusal}; try again later\r\n".encode())
            writer.close()
            return
        self._address = address
        self._session_timer = self.loop.call_later(self._session_max, transport.close)
        super().connection_made(transport)

    def _cb_client_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """aiosmtpd's hook (checked against aiosmtpd 1.4.6) that hands it the reader it
        reads every line with: made a :class:`FairReader` (same layout, one method more)."""
        if type(reader) is asyncio.StreamReader:
            reader.__class__ = FairReader
        super()._cb_client_connected(reader, writer)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return  # nothing was started for it
        if self._session_timer is not None:
            self._session_timer.cancel()
        if self._address is not None:
            self._connections.release(self._address)
            self._address = None
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        """Close at the client's end of input. aiosmtpd keeps the connection half open and
        cancels its handler, which closes it only once started: a client that connected and
        left at once (a crowd waiting in the listen backlog) held its place until the idle
        timeout."""
        if not self._refused:
            super().eof_received()
        return False  # the transport closes itself
