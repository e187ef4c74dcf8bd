"""Whether customer messages are arriving: work that can wait (the bot's answers, fetching
customers' files) waits while a burst of messages is stored, so acknowledging providers
goes first. Fed by ``Inbox.arriving`` (a batch is being stored) and ``Inbox.received`` (it
was committed)."""

from __future__ import annotations

import asyncio
import contextlib

QUIET = 0.01  # seconds without an arriving message after which a burst is over
BURST_DEFER = 3.0  # seconds work may wait while a burst of messages is stored


class Burst:
    """Whether customer messages are arriving: calm once none has for :data:`QUIET` seconds."""

    def __init__(self) -> None:
        self._arriving = 0  # batches being stored
        self._calm = asyncio.Event()  # set: nothing arrived for QUIET seconds
        self._calm.set()
        self._quiet: asyncio.TimerHandle | None = None

    def started(self) -> None:
        self._arriving += 1
        self._calm.clear()
        if self._quiet is not None:
            self._quiet.cancel()
            self._quiet = None

    def ended(self) -> None:
        self._arriving -= 1
        if not self._arriving:
            # Calm only once nothing more has come for a moment: between two batches of a
            # burst, no message is in flight for a fraction of a millisecond.
            self._quiet = asyncio.get_running_loop().call_later(QUIET, self._calm.set)

    def is_calm(self) -> bool:
        return self._calm.is_set()

    async def calm(self, at_most: float) -> None:
        """Wait until no message has arrived for :data:`QUIET` seconds (at most ``at_most``
        seconds)."""
        if not self._calm.is_set() and at_most > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(at_most):
                    await self._calm.wait()
