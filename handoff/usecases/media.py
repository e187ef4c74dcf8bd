"""Customer files fetched from the providers into the blob store, after the commit.

A WhatsApp or Telegram message with a file is stored (and the provider answered 200) with
the file ``pending``: its ``ref`` is the provider's id and ``Message.media_pending`` is set
(``storage.ingest``). The :class:`MediaFetcher` then, off the provider's request:

1. finds the files to fetch: woken by the inbox when such a message is committed, and on
   its own at start and every ``sweep_seconds`` (``storage.media``: the messages whose
   ``media_pending`` is set), so a fetch interrupted by a restart is picked up again;
2. streams each through the channel's connector (``FetchesMedia.fetch_media``) into a
   :class:`~storage.blobs.Spool` bounded by the channel's ``media_max_bytes``, at most
   ``concurrency`` at once, each within ``fetch_seconds``;
3. looks at the first bytes for the real type (``handoff.domain.media.sniff``; what the
   customer's app declared is believed only where content cannot tell) and keeps the file
   under its sha256 (the same file sent twice is stored once);
4. writes the outcome into the message's attachment: ``stored`` (``sha256``, ``size``,
   ``mime_type``, a file name if it had none), or ``failed`` with the reason. A retryable
   failure (a timeout, a 5xx, a rate limit) is tried again after 2 s, 10 s, 1 min, 5 min,
   30 min, then hourly (``attempts`` and ``next_at`` kept in the attachment, so the
   schedule survives a restart), and given up as ``failed`` with the last reason once the
   message is a day old. ``media_pending`` is cleared with the message's last file.

Each stored or failed file is published as ``message.updated`` (the message's view) to
those who may see the chat. It runs in one process: the one with the ``outbox`` role
(under the outbox's lease with several processes, ``msgcenter.service``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import timezone

from connectors.base import Connector, FetchesMedia, MediaError
from handoff.domain import media
from handoff.hooks import Hook
from handoff.infra.tasks import Background
from handoff.infra.writer import Unit, Writer
from handoff.read.views import Presenter, row_audience
from handoff.usecases.burst import BURST_DEFER, Burst
from handoff.usecases.delivery import updated_event
from handoff.usecases.ingest import Received
from storage import erasure as erasure_store
from storage import media as media_store
from storage import sql
from storage.blobs import Blobs, Spool, StoreUnavailable, TooLarge

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 25 * 1024 * 1024
QUEUE_MAX = 10_000  # due files held between sweeps
# A file's name when the customer's app gave none (a photo, a voice note): by its kind.
_FALLBACK_NAMES = {"image": "photo", "voice": "voice", "audio": "audio", "video": "video",
                   "sticker": "sticker"}  # fmt: skip
# Bookkeeping of a pending file that goes once it is settled.
_BOOKKEEPING = ("attempts", "next_at", "last_error")


@dataclass(frozen=True, slots=True)
class MediaRetry:
    """When a file whose fetch failed (retryably) is tried again, and when no more."""

    delays: tuple[float, ...] = (2.0, 10.0, 60.0, 300.0, 1800.0, 3600.0)
    give_up_after: timedelta = timedelta(hours=24)  # counted from the message's arrival

    def delay(self, attempts: int) -> float:
        """Seconds before try number ``attempts + 1``."""
        return self.delays[min(max(attempts, 1), len(self.delays)) - 1]


@dataclass(frozen=True, slots=True)
class Settled:
    """A file settled for good (``MediaFetcher.settled``): stored, or failed."""

    channel: str
    status: str  # stored | failed


@dataclass(frozen=True, slots=True)
class Job:
    """One file to fetch: attachment ``index`` of message ``message_id``."""

    message_id: int
    chat_id: int
    channel: str
    index: int
    ref: str
    item: dict[str, Any]  # the attachment as stored
    created_at: datetime  # the message's

    @property
    def key(self) -> tuple[int, int]:
        return (self.message_id, self.index)


class MediaFetcher:
    """Fetches the files customers send; see the module docstring."""

    def __init__(
        self,
        writer: Writer,
        presenter: Presenter,
        connectors: Mapping[str, Connector],
        blobs: Blobs,
        *,
        limits: Mapping[str, int] | None = None,
        retry: MediaRetry | None = None,
        concurrency: int = 4,
        fetch_seconds: float = 300.0,
        sweep_seconds: float = 30.0,
        defer: float = BURST_DEFER,
    ) -> None:
        self.writer = writer
        self.presenter = presenter
        self.connectors = connectors
        self.blobs = blobs
        self.limits = dict(limits or {})  # channel -> the largest file kept, in bytes
        self.retry = retry or MediaRetry()
        self.concurrency = concurrency
        self.fetch_seconds = fetch_seconds
        self.sweep_seconds = sweep_seconds
        self.defer = defer  # seconds fetching may wait while a burst of messages is stored
        self.burst = Burst()
        # Files found due by the last sweep that wait for a free fetch (started as fetches
        # end, without reading the messages again); a sweep runs when none is left.
        self._queue: deque[Job] = deque()
        self._queued: set[tuple[int, int]] = set()
        self._wake = asyncio.Event()
        self._task = Background("media")
        self._fetches: dict[tuple[int, int], asyncio.Task[None]] = {}
        # Files whose outcome could not be recorded (the database): loop time to wait for.
        self._resting: dict[tuple[int, int], float] = {}
        # Fetches ended, numbered: a page of a sweep read before a fetch ended is stale for
        # that file (numbers, not times: the loop's clock may not move within a turn).
        self._ends = 0
        self._ended: dict[tuple[int, int], int] = {}  # since the sweep began
        self._sweeping = False
        self._idle = False  # the last sweep found nothing due
        self.stored = 0
        self.failed = 0
        # After the commit that stored a file or gave it up (msgcenter.metrics counts them).
        self.settled: Hook[Settled] = Hook("media.settled")

    def wake(self) -> None:
        self._wake.set()

    def on_arriving(self, _: None) -> None:
        """Listens to ``inbox.arriving``: a burst goes on (fetching waits for its end)."""
        self.burst.started()

    def on_received(self, received: Sequence[Received]) -> None:
        """Listens to ``inbox.received``: a committed message has files to fetch."""
        self.burst.ended()
        if any(item.media_pending for item in received):
            self.wake()

    def start(self) -> None:
        if self._task.start(self._run):
            self.wake()

    async def stop(self) -> None:
        """Stop sweeping and cancel the fetches in progress: their files stay pending and
        are fetched again after the next start."""
        await self._task.stop()
        self._queue.clear()
        self._queued.clear()
        fetches = list(self._fetches.values())
        for fetch in fetches:
            fetch.cancel()
        if fetches:
            await asyncio.gather(*fetches, return_exceptions=True)

    async def quiet(self, within: float = 10.0) -> None:
        """Wait until no fetch runs and none is due now (files waiting for a retry later are
        left waiting): tests."""
        async with asyncio.timeout(within):
            while True:
                if not self._busy():
                    return
                await asyncio.sleep(0.01)

    def _busy(self) -> bool:
        if not self._task.running:
            return False
        busy = self._fetches or self._queue or self._wake.is_set() or self._sweeping
        return bool(busy) or not self._idle

    @property
    def running(self) -> int:
        """Fetches in progress."""
        return len(self._fetches)

    # -- finding what to fetch ----------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            self._sweeping = True  # busy from here: quiet() waits for what follows
            try:
                # While messages arrive, acknowledging them goes first (at most ``defer`` s).
                await self.burst.calm(self.defer)
                wait = self._start_queued() if self._queue else await self._dispatch_due()
            except Exception:
                log.exception("looking for files to fetch failed; trying again later")
                wait = self.sweep_seconds
            finally:
                self._sweeping = False
            # asyncio.timeout, not wait_for (see Outbox._run).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def _dispatch_due(self) -> float:
        """Start fetching the files that are due, up to ``concurrency`` at once; seconds until
        the next one is due (or the next sweep)."""
        now = timezone.now()
        loop = asyncio.get_running_loop()
        next_due = self.sweep_seconds
        found_due = False
        after = 0
        self._ended.clear()  # what ended before now is in the rows read from now on
        while True:
            read_after = self._ends
            page = await sql.run(media_store.waiting_plan(after))
            for waiting in page:
                pending = [
                    (index, item)
                    for index, item in enumerate(waiting.attachments)
                    if item.get("status") == media.PENDING
                ]
                if not pending:  # a flag left set: nothing to fetch
                    await self._clear(waiting.message_id)
                    continue
                if not isinstance(self.connectors.get(waiting.channel), FetchesMedia):
                    continue  # the channel does not run here: the files wait
                for index, item in pending:
                    key = (waiting.message_id, index)
                    if key in self._fetches or key in self._queued:
                        continue  # being fetched, or waiting for a free fetch
                    if self._ended.get(key, 0) > read_after:
                        continue  # ended since the page was read
                    rest = self._resting.get(key, 0.0) - loop.time()
                    due_at = _time(item.get("next_at"))
                    wait = max(rest, (due_at - now).total_seconds() if due_at else 0.0)
                    if wait > 0:
                        next_due = min(next_due, wait)
                        continue
                    found_due = True
                    job = Job(
                        waiting.message_id, waiting.chat_id, waiting.channel, index,
                        str(item.get("ref") or ""), item, waiting.created_at,
                    )  # fmt: skip
                    if len(self._fetches) < self.concurrency:
                        self._begin(job)
                    elif len(self._queue) < QUEUE_MAX:
                        self._queue.append(job)
                        self._queued.add(key)
                    else:  # the queue is full: what is left waits for a later sweep
                        self._idle = False
                        return self.sweep_seconds
            if len(page) < media_store.PAGE:
                break
            after = page[-1].message_id
        self._idle = not found_due
        return max(next_due, 0.01)

    def _start_queued(self) -> float:
        """Start queued fetches while there is room: seconds until the next look (a fetch
        that ends wakes it sooner)."""
        while self._queue and len(self._fetches) < self.concurrency:
            job = self._queue.popleft()
            self._queued.discard(job.key)
            if job.key not in self._fetches:
                self._begin(job)
        return self.sweep_seconds

    def _begin(self, job: Job) -> None:
        task = asyncio.get_running_loop().create_task(self._fetch(job), name="media-fetch")
        self._fetches[job.key] = task

    async def _clear(self, message_id: int) -> None:
        async def operation(unit: Unit) -> None:
            await sql.run(media_store.clear_plan(message_id))

        await self.writer.run(operation)

    # -- fetching one file ----------------------------------------------------------------

    async def _fetch(self, job: Job) -> None:
        try:
            try:
                change = await self._attempt(job)
            except Exception as exc:  # a bug or a library's surprise: counted as retryable
                log.exception("fetching file %d of message %d failed", job.index, job.message_id)
                change = self._failed_attempt(job, f"internal error: {type(exc).__name__}")
            try:
                recorded = await self.writer.run_merged("media.settle", self._settle_merged, change)
                self._resting.pop(job.key, None)
                if not recorded and change.update.get("status") == media.STORED:
                    await self._unnamed(str(change.update["sha256"]))
            except Exception:  # the database: the file stays pending; not again at once
                log.exception("recording file %d of message %d failed", job.index, job.message_id)
                loop = asyncio.get_running_loop()
                self._resting[job.key] = loop.time() + self.retry.delay(1)
        finally:
            self._fetches.pop(job.key, None)
            self._ends += 1
            self._ended[job.key] = self._ends
            self.wake()

    async def _attempt(self, job: Job) -> media_store.Change:
        """Fetch the file into the blob store: what becomes of its attachment."""
        connector = self.connectors.get(job.channel)
        if not isinstance(connector, FetchesMedia):
            return self._failed_attempt(job, f"the {job.channel} channel is not running here")
        if not job.ref:
            return self._failed(job, "the provider gave no id for this file")
        limit = self.limits.get(job.channel, DEFAULT_LIMIT)
        declared = job.item.get("mime_type")
        try:
            async with (
                asyncio.timeout(self.fetch_seconds),
                connector.fetch_media(job.ref, limit) as download,
                Spool(self.blobs.spool_dir, limit) as spool,
            ):
                async for chunk in download.chunks:
                    await spool.write(chunk)
                if spool.size == 0:
                    raise MediaError("the provider sent an empty file", permanent=False)
                mime = media.sniff(spool.head, str(declared or download.mime_type or ""))
                sha256, size = spool.sha256, spool.size
                await self.blobs.keep(spool)
        except TooLarge as exc:
            return self._failed(job, f"larger than the {_megabytes(exc.limit)} MB limit")
        except MediaError as exc:
            if exc.permanent:
                return self._failed(job, exc.reason)
            return self._failed_attempt(job, exc.reason)
        except TimeoutError:
            return self._failed_attempt(job, f"not fetched within {self.fetch_seconds:g} s")
        except StoreUnavailable as exc:  # the bucket: the file is fetched again later
            return self._failed_attempt(job, f"the file store is unavailable: {exc}")
        except OSError as exc:  # the spool's disk (full?): again later
            log.warning("spooling file %d of message %d: %s", job.index, job.message_id, exc)
            return self._failed_attempt(job, f"could not write the file: {exc.strerror or exc}")
        log.info(
            "file %d of message %d stored: %s, %d bytes", job.index, job.message_id, mime, size
        )
        update: dict[str, Any] = {
            "status": media.STORED, "sha256": sha256, "size": size, "mime_type": mime,
        }  # fmt: skip
        if not job.item.get("name"):
            fallback = _FALLBACK_NAMES.get(str(job.item.get("kind")), "file")
            update["name"] = media.safe_filename(None, mime, fallback)
        return media_store.Change(
            job.message_id, job.index, job.ref, update, drop=(*_BOOKKEEPING, "error")
        )

    def _failed(self, job: Job, reason: str) -> media_store.Change:
        """The file will never be fetched: ``failed`` with ``reason``."""
        log.warning("file %d of message %d failed: %s", job.index, job.message_id, reason)
        update = {"status": media.FAILED, "error": reason[:512]}
        return media_store.Change(job.message_id, job.index, job.ref, update, drop=_BOOKKEEPING)

    def _failed_attempt(self, job: Job, reason: str) -> media_store.Change:
        """A retryable failure: tried again later, or given up when the message is too old."""
        attempts = int(job.item.get("attempts") or 0) + 1
        now = timezone.now()
        if now - job.created_at >= self.retry.give_up_after:
            tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
            return self._failed(job, f"gave up after {tries}: {reason}")
        delay = self.retry.delay(attempts)
        log.info(
            "file %d of message %d: %s; attempt %d again in %g s",
            job.index, job.message_id, reason, attempts + 1, delay,
        )  # fmt: skip
        at = (now + timedelta(seconds=delay)).astimezone(UTC).isoformat()
        update = {"attempts": attempts, "next_at": at, "last_error": reason[:512]}
        return media_store.Change(job.message_id, job.index, job.ref, update)

    async def _settle_merged(
        self, units: Sequence[Unit], changes: Sequence[media_store.Change]
    ) -> list[bool]:
        """Several files' outcomes in one savepoint; ``message.updated`` for each settled.
        Whether each was recorded (False: its message is gone, or it was settled before)."""
        updated, chats = await sql.run(media_store.settle_plan(changes))
        audiences = {chat_id: row_audience(chat) for chat_id, chat in chats.items()}
        for unit, change, row in zip(units, changes, updated, strict=True):
            status = change.update.get("status")
            if row is None or status is None:
                continue  # a retry scheduled: nothing anyone sees changed
            unit.emit(updated_event(self.presenter, row, audiences[row["chat_id"]]))
            channel = str(chats[row["chat_id"]]["channel"])
            unit.after_commit(functools.partial(self._settled, Settled(channel, str(status))))
        return [row is not None for row in updated]

    async def _unnamed(self, sha256: str) -> None:
        """A file kept for a message that is gone meanwhile (its contact erased): deleted
        unless another message names it."""
        try:
            if not await erasure_store.referenced([sha256]):
                await self.blobs.delete(sha256)
                log.info("file %s of a message gone meanwhile deleted", sha256)
        except Exception as exc:  # noqa: BLE001 - the file stays; the fetch is done either way
            log.warning("file %s of a message gone meanwhile not deleted: %r", sha256, exc)

    def _settled(self, settled: Settled) -> None:
        if settled.status == media.STORED:
            self.stored += 1
        else:
            self.failed += 1
        self.settled.fire(settled)


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    return f"{value:.1f}".removesuffix(".0") if value >= 0.1 else f"{value:.2g}"
