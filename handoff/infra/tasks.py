"""The background loop of a service (the outbox, the assigner, the snoozer...): started once,
cancelled and awaited when it stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


class Background:
    """One named task at most; ``start`` is a no-op while it runs."""

    __slots__ = ("_task", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, run: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Run ``run()`` as the task unless one was started; True when it starts now."""
        if self._task is not None:
            return False
        self._task = asyncio.get_running_loop().create_task(run(), name=self.name)
        return True

    async def stop(self) -> None:
        """Cancel the task and wait until it has ended (a later ``start`` starts anew)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
