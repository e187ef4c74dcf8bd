"""Group commit: every state change runs as an operation inside a shared transaction.

SQLite gives the service one connection behind a lock, so a transaction per
message caps ingest at a few hundred per second. The :class:`Writer` takes the
operations that arrive while a commit is in progress and runs them together in
the next transaction, each inside its own savepoint: a failing operation is
rolled back alone and its caller gets the exception, the others commit. Every
caller is answered only after the commit that holds its work, then the events
the operations emitted are published, in commit order.

Operations of one kind that arrive together can also share a savepoint
(:meth:`Writer.run_merged`): a burst of webhooks becomes one call that stores
all their messages, with far fewer statements than one call each. If that
merged call fails, each of its items is run again alone, in its own savepoint,
so a bad item still fails only its own caller. A batch of merged operations only
(the usual case: webhooks, the bot's answers, delivery results) needs no savepoint
at all: it runs as one transaction, and only if that fails is it run again the
careful way.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tortoise.transactions import in_transaction

from handoff.domain.events import Event
from handoff.infra.bus import EventBus
from handoff.infra.eventlog import EventLog
from storage import sql

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_TRIES = 3
# PostgreSQL: deadlock detected, serialization failure (two processes touched the same rows).
TRANSIENT_STATES = {"40P01", "40001"}


def _transient(exc: BaseException | None) -> bool:
    while exc is not None:
        if getattr(exc, "sqlstate", None) in TRANSIENT_STATES:
            return True
        exc = exc.__cause__
    return False


@dataclass(slots=True)
class Unit:
    """What one operation leaves for after the commit: events and follow-up callbacks."""

    events: list[Event] = field(default_factory=list)
    after: list[Callable[[], None]] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the operation is committed (never if it is rolled back)."""
        self.after.append(callback)


Operation = Callable[[Unit], Awaitable[T]]
# Runs several callers' items together: one Unit per item; one result per item, in order.
MergedOperation = Callable[[Sequence[Unit], Sequence[Any]], Awaitable[Sequence[Any]]]


@dataclass(slots=True)
class _Pending:
    operation: Operation[Any] | None
    future: asyncio.Future[Any]
    unit: Unit = field(default_factory=Unit)
    merged: MergedOperation | None = None
    key: Hashable = None
    item: Any = None


class Writer:
    """Runs operations in batched transactions, one batch at a time."""

    def __init__(self, bus: EventBus, log: EventLog, *, max_batch: int = 256) -> None:
        self._bus = bus
        self._log = log
        self._max_batch = max_batch
        self._pending: deque[_Pending] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.operations = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="writer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None:
            return
        task, self._task = self._task, None
        self._wake.set()
        while self._pending:
            await asyncio.sleep(0)
            if task.done():
                break
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            log.debug("writer stopped")

    async def run(self, operation: Operation[T]) -> T:
        """Run ``operation`` in the next batch; return its result after the commit."""
        if self._task is None:
            raise RuntimeError("writer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(operation, future))
        self._wake.set()
        return await future

    async def run_merged(self, key: Hashable, operation: MergedOperation, item: Any) -> Any:
        """Run ``operation`` on ``item`` in the next batch, together with the other items of
        the same ``key`` in that batch (one savepoint); return this item's result."""
        if self._task is None:
            raise RuntimeError("writer is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(None, future, merged=operation, key=key, item=item))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                count = min(len(self._pending), self._max_batch)
                batch = [self._pending.popleft() for _ in range(count)]
                await self._commit(batch)
                # One turn of the loop before the next batch: the callers that commit answered
                # respond now, not after the next batch's statements (which run on this
                # thread, see sql.run), and what arrived meanwhile joins the next batch.
                await asyncio.sleep(0)

    async def _commit(self, batch: list[_Pending]) -> None:
        if len(batch) > 1 and await self._commit_merged(batch):
            return
        results: list[tuple[_Pending, Any, BaseException | None]] = []
        try:
            async with sql.transaction():
                groups: dict[Hashable, list[_Pending]] = {}
                for item in batch:
                    if item.merged is not None:
                        groups.setdefault(item.key, []).append(item)
                for item in batch:
                    if item.merged is None:
                        value, error = await self._run_one(item)
                        results.append((item, value, error))
                    elif item is groups[item.key][0]:
                        results.extend(await self._run_group(groups[item.key]))
                events = [
                    e for item, _, error in results if error is None for e in item.unit.events
                ]
                numbered = await self._log.append(events, commit=True)
        except Exception as exc:
            log.exception("batch of %d operations failed to commit", len(batch))
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        self.batches += 1
        self.operations += len(batch)
        await self._after_commit(results, numbered)

    async def _commit_merged(self, batch: list[_Pending]) -> bool:
        """A batch of merged operations only (a burst of webhooks, the bot's answers, ...)
        runs each kind's items in one call and commits without a savepoint: far fewer round
        trips to the database. If anything fails, the batch is rolled back whole and False
        says: run it the careful way (a savepoint per group, then per item)."""
        if any(item.merged is None for item in batch):
            return False
        groups: dict[Hashable, list[_Pending]] = {}
        for item in batch:
            item.unit = Unit()
            groups.setdefault(item.key, []).append(item)
        results: list[tuple[_Pending, Any, BaseException | None]] = []  # in run order
        try:
            async with sql.transaction():
                for group in groups.values():
                    merged = group[0].merged
                    assert merged is not None
                    got = await merged([i.unit for i in group], [i.item for i in group])
                    results += [(item, value, None) for item, value in zip(group, got, strict=True)]
                events = [e for item, _, _ in results for e in item.unit.events]
                numbered = await self._log.append(events, commit=True)
        except Exception as exc:  # noqa: BLE001 - tried again group by group by the caller
            log.debug("batch of %d merged operations failed (%r); carefully", len(batch), exc)
            return False
        self.batches += 1
        self.operations += len(batch)
        await self._after_commit(results, numbered)
        return True

    async def _run_group(
        self, group: list[_Pending]
    ) -> list[tuple[_Pending, Any, BaseException | None]]:
        """Run merged items together in one savepoint; if that fails, each alone."""
        if len(group) > 1:
            merged = group[0].merged
            assert merged is not None
            for item in group:
                item.unit = Unit()
            try:
                async with in_transaction():
                    values = await merged([i.unit for i in group], [i.item for i in group])
                return [(item, value, None) for item, value in zip(group, values, strict=True)]
            except Exception as exc:  # noqa: BLE001 - each item is tried alone below
                log.debug("merged operation of %d failed (%r); one by one", len(group), exc)
        return [(item, *(await self._run_one(item))) for item in group]

    async def _run_one(self, item: _Pending) -> tuple[Any, BaseException | None]:
        """Run one operation in its own savepoint; a lost lock race is tried again."""
        for attempt in range(1, TRANSIENT_TRIES + 1):
            item.unit = Unit()
            try:
                async with in_transaction():  # a savepoint: this operation alone
                    if item.operation is None:
                        assert item.merged is not None
                        return (await item.merged([item.unit], [item.item]))[0], None
                    return await item.operation(item.unit), None
            except Exception as exc:  # noqa: BLE001 - handed to the operation's caller
                if not (_transient(exc) and attempt < TRANSIENT_TRIES):
                    return None, exc
                log.info("operation hit %s; trying again", type(exc).__name__)
        raise AssertionError("unreachable")

    async def _after_commit(
        self, results: list[tuple[_Pending, Any, BaseException | None]], events: list[Event]
    ) -> None:
        self._log.committed()
        if events:
            try:
                await self._bus.publish(events)
            except Exception:
                log.exception("publishing %d events failed", len(events))
        for item, value, error in results:
            if error is None:
                for callback in item.unit.after:
                    try:
                        callback()
                    except Exception:
                        log.exception("after-commit callback failed")
            if item.future.done():  # the caller went away; its work is committed anyway
                continue
            if error is None:
                item.future.set_result(value)
            else:
                item.future.set_exception(error)
