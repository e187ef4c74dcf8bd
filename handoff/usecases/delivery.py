"""Outbound delivery: queued replies go to their channel, with retries, in order per chat.

A reply is stored ``queued`` by the desk (or the bot) and the outbox is woken
after the commit. The worker sends the oldest queued message of each chat (so
a customer never sees replies out of order), records ``sent`` with the
provider's id, or on a retryable error waits with exponential backoff and
jitter (or the provider's retry-after) and finally records ``failed`` with the
reason. Every change is published as ``message.updated``. On start the worker
picks up whatever is still queued, so a reply survives a crash; a message sent
just before a crash may be sent again (at least once, never lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import timezone

from connectors.base import Attachment, Connector, DeliveryError, OutboundMessage, StatusUpdate
from handoff.domain import events
from handoff.domain.errors import Conflict, NotFound
from handoff.domain.events import Audience, Event
from handoff.domain.modes import Actor
from handoff.domain.rights import can_change
from handoff.domain.sanitize import clean, clean_optional
from handoff.hooks import Hook
from handoff.infra.writer import Unit, Writer
from handoff.read.views import Presenter, chat_audience, message_values, row_audience
from storage import sql as rawsql
from storage.adapters.tortoise import python_reader
from storage.models import Chat, Message, Mode, Sender, Status

log = logging.getLogger(__name__)

# Receipts only move a message forward: a late "delivered" never undoes "read".
RANK = {Status.QUEUED: 0, Status.SENT: 1, Status.DELIVERED: 2, Status.READ: 3, Status.FAILED: 4}


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt's outcome (what ``Outbox.outcome`` carries)."""

    channel: str
    outcome: str  # "sent", "retry", "failed" or "dropped"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 1.0
    max_seconds: float = 300.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (full jitter, capped)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_seconds)
        ceiling: float = min(self.max_seconds, self.base_seconds * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto


class Outbox:
    def __init__(
        self,
        writer: Writer,
        presenter: Presenter,
        connectors: Mapping[str, Connector],
        *,
        retry: RetryPolicy | None = None,
        concurrency: int = 16,
    ) -> None:
        self.writer = writer
        self.presenter = presenter
        self.connectors = connectors
        self.retry = retry or RetryPolicy()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[int] = set()  # chat ids being sent to right now
        self._sends: set[asyncio.Task[None]] = set()
        # chat id -> (failures in a row, loop time before which it is not tried): chats whose
        # delivery failed outside the connector (see _deliver). Kept in memory: rare.
        self._troubles: dict[int, tuple[int, float]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self.sent = 0
        self.failed = 0
        # After each attempt: its channel and "sent", "retry", "failed" or "dropped".
        self.outcome: Hook[Attempt] = Hook("outbox.outcome")

    def wake(self) -> None:
        self._wake.set()

    def on_queued(self, _: None) -> None:
        """Listens to ``Desk.queued`` and ``Autopilot.queued``: a reply waits to be sent."""
        self.wake()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="outbox")
            self.wake()

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                log.debug("outbox stopped")
        if self._sends:
            await asyncio.gather(*list(self._sends), return_exceptions=True)

    async def queue_depth(self) -> int:
        return await Message.filter(status=Status.QUEUED, internal=False).count()

    async def _run(self) -> None:
        while True:
            wait = await self._dispatch_due()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that arrives as the wake-up fires, and stop() then waits forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()

    async def _dispatch_due(self) -> float:
        """Start sending each chat's oldest queued message that is due; seconds to next due."""
        now = timezone.now()
        loop = asyncio.get_running_loop()
        rows = (
            await Message.filter(status=Status.QUEUED, internal=False)
            .exclude(chat_id__in=list(self._in_flight))
            .order_by("id")
            .limit(500)
            .values("id", "chat_id", "next_attempt_at", "chat__channel")
        )
        seen: set[int] = set()
        next_due = 30.0
        for row in rows:
            chat_id = row["chat_id"]
            if chat_id in seen:
                continue
            seen.add(chat_id)
            if str(row["chat__channel"]) not in self.connectors:
                continue  # the channel is not running here: the message waits, it is not lost
            trouble = self._troubles.get(chat_id)
            if trouble is not None and trouble[1] > loop.time():
                next_due = min(next_due, trouble[1] - loop.time())
                continue
            due_at: datetime | None = row["next_attempt_at"]
            if due_at is not None and due_at > now:
                next_due = min(next_due, (due_at - now).total_seconds())
                continue
            self._in_flight.add(chat_id)
            task = loop.create_task(self._deliver(row["id"], chat_id))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        return max(next_due, 0.01)

    async def _deliver(self, message_id: int, chat_id: int) -> None:
        try:
            async with self._slots:
                await self._deliver_one(message_id)
        except Exception:
            # Outside the connector (the database, recording the outcome): the message stays
            # queued, and this chat rests a while here rather than being tried again at once.
            log.exception("delivering message %d failed unexpectedly", message_id)
            failures = self._troubles.get(chat_id, (0, 0.0))[0] + 1
            pause = self.retry.delay(failures)
            self._troubles[chat_id] = (failures, asyncio.get_running_loop().time() + pause)
        else:
            self._troubles.pop(chat_id, None)
        finally:
            self._in_flight.discard(chat_id)
            self.wake()  # the chat's next message, if any

    async def _deliver_one(self, message_id: int) -> None:
        found = await rawsql.run(_delivery_plan(message_id))
        if found is None:
            return
        row, earlier = found
        if row["sender"] == Sender.BOT.value and row["mode"] != Mode.BOT.value:
            # The chat left bot mode after the bot answered: its answer is never sent.
            await self._finish(message_id, Status.FAILED, error="not sent: a human took over")
            self._tell(str(row["channel"]), "dropped")
            return
        connector = self.connectors[str(row["channel"])]
        try:
            external_id = await connector.send(self._outbound(row, earlier))
        except DeliveryError as exc:
            await self._attempt_failed(row, exc)
            return
        except Exception as exc:  # any failure is an attempt, never a spin
            # A bug or an unforeseen error of a library: counted like a retryable error (with
            # backoff, bounded by max_attempts), so a message a connector cannot handle ends
            # failed instead of being tried again at once, forever.
            log.error(
                "message %d: the %s connector raised %s",
                message_id, row["channel"], type(exc).__name__, exc_info=exc,
            )  # fmt: skip
            error = DeliveryError(
                f"internal error: {type(exc).__name__}", retryable=True, code="internal_error"
            )
            await self._attempt_failed(row, error)
            return
        await self._finish(message_id, Status.SENT, external_id=clean(external_id))
        self._tell(str(row["channel"]), "sent")

    async def _attempt_failed(self, row: dict[str, Any], exc: DeliveryError) -> None:
        """One more attempt: retried later with backoff, or failed with its reason."""
        message_id = row["id"]
        reason = clean(exc.reason)  # the provider's words: stored as text, like any input
        attempts = row["attempts"] + 1
        if exc.retryable and attempts < self.retry.max_attempts:
            delay = self.retry.delay(attempts, exc.retry_after)
            log.info("message %d: %s; retry %d in %.1f s", message_id, reason, attempts, delay)
            await self._retry_later(message_id, attempts, delay, reason)
            self._tell(str(row["channel"]), "retry")
        else:
            log.warning("message %d failed after %d attempts: %s", message_id, attempts, reason)
            await self._finish(message_id, Status.FAILED, error=reason, attempts=attempts)
            self._tell(str(row["channel"]), "failed")

    def _tell(self, channel: str, outcome: str) -> None:
        if self.outcome:
            self.outcome.fire(Attempt(channel, outcome))

    def _outbound(self, row: dict[str, Any], earlier: list[dict[str, Any]]) -> OutboundMessage:
        """What the connector needs: the message, its chat's address and the thread so far."""
        customer_ids = [e["external_id"] for e in earlier if e["sender"] == Sender.CUSTOMER.value]
        attachments = _attachments(row["attachments"])
        return OutboundMessage(
            message_id=row["id"],
            chat_id=row["chat_id"],
            channel=str(row["channel"]),
            chat_external_id=row["external_id"] or "",
            text=row["text"],
            customer_name=row["customer_name"],
            customer_email=row["customer_email"],
            subject=row["subject"],
            reply_to_external_id=customer_ids[0] if customer_ids else None,
            thread_external_ids=tuple(reversed([e["external_id"] for e in earlier])),
            attachments=tuple(
                Attachment(**{k: v for k, v in a.items() if k != "kind"}, kind=a["kind"])
                for a in attachments or []
            ),
        )

    async def _retry_later(self, message_id: int, attempts: int, delay: float, error: str) -> None:
        async def operation(unit: Unit) -> None:
            await Message.filter(id=message_id).update(
                attempts=attempts,
                next_attempt_at=timezone.now() + timedelta(seconds=delay),
                error=error[:512],
            )

        await self.writer.run(operation)

    async def _finish(
        self,
        message_id: int,
        status: Status,
        *,
        external_id: str | None = None,
        error: str | None = None,
        attempts: int | None = None,
    ) -> None:
        values = [
            status.value,
            error[:512] if error else None,
            external_id,
            attempts,
            message_id,
        ]
        await self.writer.run_merged("outbox.finish", self._finish_merged, values)
        if status == Status.SENT:
            self.sent += 1
        elif status == Status.FAILED:
            self.failed += 1

    async def _finish_merged(self, units: Sequence[Unit], items: Sequence[list[Any]]) -> list[None]:
        """Record several deliveries in one savepoint: one UPDATE ... RETURNING each, then one
        read of their chats (who may see the ``message.updated`` events)."""
        updated, audiences = await rawsql.run(_finish_plan(items))
        for unit, row in zip(units, updated, strict=True):
            if row is not None:
                self._emit_row(unit, row, audiences[row["chat_id"]])
        return [None for _ in items]

    async def cancel(self, actor: Actor, chat_id: int, message_id: int) -> dict[str, Any]:
        """Stop a queued reply: it becomes ``failed`` with the error "cancelled by <name>"
        and ``message.updated`` tells who may see the chat. Admins cancel in any chat,
        agents in the chats assigned to them (others: NotFound, as if not there). A
        reply no longer queued (sent, failed) is a Conflict. A reply the outbox is
        handing to the provider at this moment may still go out: it then shows ``sent``."""

        async def operation(unit: Unit) -> dict[str, Any]:
            chat = await Chat.get_or_none(id=chat_id)
            if chat is None or not can_change(chat, actor):
                raise NotFound(f"chat {chat_id} not found")
            message = await Message.get_or_none(id=message_id, chat_id=chat_id)
            if message is None or message.internal or message.sender == Sender.CUSTOMER:
                raise NotFound(f"message {message_id} not found in chat {chat_id}")
            error = f"cancelled by {actor.name or 'an admin'}"[:512]
            changed = await Message.filter(id=message_id, status=Status.QUEUED).update(
                status=Status.FAILED, error=error
            )
            await message.refresh_from_db()
            if not changed:
                raise Conflict(
                    f"message {message_id} is {message.status}, no longer queued",
                    code="not_queued",
                    status=str(message.status),
                )
            view = self.presenter.message(message_values(message))
            audience = chat_audience(chat)
            unit.emit(Event(events.MESSAGE_UPDATED, chat.id, {"message": view}, audience))
            return view

        return await self.writer.run(operation)

    async def record_statuses(self, updates: Sequence[StatusUpdate]) -> None:
        """Apply provider receipts (delivered/read/failed) to our outbound messages."""
        known = {status.value for status in Status}
        items = [
            (clean(update.message_external_id), update.status, clean_optional(update.error))
            for update in updates
            if update.status in known
        ]
        if items:
            await self.writer.run_merged("outbox.statuses", self._statuses_merged, items)

    async def _statuses_merged(
        self, units: Sequence[Unit], batches: Sequence[list[tuple[str, str, str | None]]]
    ) -> list[None]:
        """Several webhooks' receipts in one savepoint and one plan (see ``storage.sql``)."""
        flat = [item for batch in batches for item in batch]
        changed, audiences = await rawsql.run(_status_plan(flat))
        index = 0
        for unit, batch in zip(units, batches, strict=True):
            for row in changed[index : index + len(batch)]:
                if row is not None:
                    self._emit_row(unit, row, audiences[row["chat_id"]])
            index += len(batch)
        return [None for _ in batches]

    def _emit_row(self, unit: Unit, row: dict[str, Any], audience: Audience) -> None:
        row = {**row, "attachments": _attachments(row["attachments"]),
               "created_at": _datetime(row["created_at"]), "note": _note(row["note"])}  # fmt: skip
        view = self.presenter.message(row)
        unit.emit(Event(events.MESSAGE_UPDATED, row["chat_id"], {"message": view}, audience))


DELIVERY_ROW = (
    'SELECT m."id", m."chat_id", m."status", m."sender", m."text", m."attempts", '
    'm."attachments", c."mode", c."channel", c."external_id", c."customer_name", '
    'c."customer_email", c."subject" FROM "messages" m JOIN "chats" c ON c."id" = m."chat_id" '
    'WHERE m."id" = ?'
)
EARLIER_IDS = (
    'SELECT "external_id", "sender" FROM "messages" WHERE "chat_id" = ? AND '
    '"external_id" IS NOT NULL AND "id" < ? ORDER BY "id" DESC LIMIT 20'
)
FINISH = (
    'UPDATE "messages" SET "status" = ?, "error" = ?, '
    '"external_id" = COALESCE(?, "external_id"), "attempts" = COALESCE(?, "attempts") '
    'WHERE "id" = ? RETURNING "id", "chat_id", "text", "sender", "status", "internal", '
    '"agent_id", "attachments", "error", "created_at", "note"'
)
STATUS_OF = (
    'SELECT "id", "status" FROM "messages" WHERE "external_id" = ? AND "sender" != ? LIMIT 1'
)
SET_STATUS = (
    'UPDATE "messages" SET "status" = ? WHERE "id" = ? RETURNING "id", "chat_id", "text", '
    '"sender", "status", "internal", "agent_id", "attachments", "error", "created_at", "note"'
)
SET_FAILED = (
    'UPDATE "messages" SET "status" = ?, "error" = ? WHERE "id" = ? RETURNING "id", "chat_id", '
    '"text", "sender", "status", "internal", "agent_id", "attachments", "error", "created_at", '
    '"note"'
)
AUDIENCE = 'SELECT "id", "mode", "assigned_agent_id" FROM "chats" WHERE "id" IN ({marks})'
KEEP_RECEIPT = (
    'INSERT INTO "early_receipts" ("external_id", "status", "error", "created_at") '
    "VALUES (?, ?, ?, ?)"
)
EARLY_RECEIPTS = 'SELECT "status", "error" FROM "early_receipts" WHERE "external_id" = ?'
FORGET_RECEIPTS = 'DELETE FROM "early_receipts" WHERE "external_id" = ?'


def _delivery_plan(
    message_id: int,
) -> rawsql.Plan[tuple[dict[str, Any], list[dict[str, Any]]] | None]:
    """The message with its chat, if still queued, and the provider ids before it. Pure."""
    rows = yield DELIVERY_ROW, [message_id]
    if not rows or rows[0]["status"] != Status.QUEUED.value:
        return None
    earlier = yield EARLIER_IDS, [rows[0]["chat_id"], message_id]
    return rows[0], earlier


def _status_plan(
    updates: Sequence[tuple[str, str, str | None]],
) -> rawsql.Plan[tuple[list[dict[str, Any] | None], dict[int, Audience]]]:
    """Each receipt moves its message forward only (a late 'delivered' never undoes 'read'),
    read back when it did; then who may see those chats. Pure."""
    changed: list[dict[str, Any] | None] = []
    for external_id, status, error in updates:
        found = yield STATUS_OF, [external_id, Sender.CUSTOMER.value]
        if not found:  # early: the send it is about is not recorded yet (see _finish_plan)
            yield KEEP_RECEIPT, [external_id, status, (error or "")[:512] or None, _now()]
            changed.append(None)
            continue
        if RANK[Status(status)] <= RANK[Status(found[0]["status"])]:
            changed.append(None)  # repeated or out of order: nothing to change
            continue
        if status == Status.FAILED.value:
            reason = (error or "the provider reported a failure")[:512]
            rows = yield SET_FAILED, [status, reason, found[0]["id"]]
        else:
            rows = yield SET_STATUS, [status, found[0]["id"]]
        changed.append(rows[0] if rows else None)
    return changed, (yield from _audiences(changed))


def _finish_plan(
    items: Sequence[list[Any]],
) -> rawsql.Plan[tuple[list[dict[str, Any] | None], dict[int, Audience]]]:
    """Each message's new status (read back), then who may see their chats. Pure."""
    updated: list[dict[str, Any] | None] = []
    for values in items:
        rows = yield FINISH, values
        external_id = values[2]
        if rows and external_id is not None:
            early = yield EARLY_RECEIPTS, [external_id]
            if early:
                rows = yield from _apply_early(rows, early)
                yield FORGET_RECEIPTS, [external_id]
        updated.append(rows[0] if rows else None)
    return updated, (yield from _audiences(updated))


def _audiences(rows: Sequence[dict[str, Any] | None]) -> rawsql.Plan[dict[int, Audience]]:
    """Who may see the chats of these message rows (one query for all of them)."""
    chat_ids = sorted({row["chat_id"] for row in rows if row is not None})
    if not chat_ids:
        return {}
    marks = ", ".join("?" for _ in chat_ids)
    chats = yield AUDIENCE.format(marks=marks), chat_ids
    return {c["id"]: row_audience(c) for c in chats}


def _apply_early(
    rows: list[dict[str, Any]], early: list[dict[str, Any]]
) -> rawsql.Plan[list[dict[str, Any]]]:
    """Move a just-recorded send to the furthest status its early receipts report."""
    best = max(early, key=lambda receipt: RANK[Status(receipt["status"])])
    if RANK[Status(best["status"])] <= RANK[Status(rows[0]["status"])]:
        return rows
    if best["status"] == Status.FAILED.value:
        reason = best["error"] or "the provider reported a failure"
        return (yield SET_FAILED, [best["status"], reason, rows[0]["id"]])
    return (yield SET_STATUS, [best["status"], rows[0]["id"]])


def _now() -> datetime:
    return datetime.now(UTC)


_attachments = python_reader(Message, "attachments")
_read_note = python_reader(Message, "note")
_datetime = python_reader(Message, "created_at")


def _note(value: Any) -> Any:
    return None if value is None else _read_note(value)
