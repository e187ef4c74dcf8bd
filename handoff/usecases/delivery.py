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
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from tortoise import timezone

from connectors.base import Attachment, Connector, DeliveryError, OutboundFile, OutboundMessage
from handoff.domain import events, media
from handoff.domain.errors import Conflict, NotFound
from handoff.domain.events import Audience, Event
from handoff.domain.modes import Actor
from handoff.domain.rights import can_change
from handoff.domain.sanitize import clean
from handoff.hooks import Hook
from handoff.infra.tasks import Background
from handoff.infra.writer import Unit, Writer
from handoff.read.views import Presenter, chat_audience, row_audience
from storage import delivery as delivery_store
from storage import sql
from storage.blobs import Blobs
from storage.models import Chat, Mode, Sender, Status

log = logging.getLogger(__name__)


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
        blobs: Blobs | None = None,
        interactive: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        """``blobs``: where the files agents send are kept (``OutboundMessage.files``);
        ``interactive``: (channel, a message's choices) -> what the channel is sent of them
        (a survey's email links: ``Surveys.outbound``)."""
        self.writer = writer
        self.interactive = interactive
        self.blobs = blobs
        self.presenter = presenter
        self.connectors = connectors
        self.retry = retry or RetryPolicy()
        self._wake = asyncio.Event()
        self._task = Background("outbox")
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
        if self._task.start(self._run):
            self.wake()

    async def stop(self) -> None:
        await self._task.stop()
        if self._sends:
            await asyncio.gather(*list(self._sends), return_exceptions=True)

    async def queue_depth(self) -> int:
        return await sql.run(delivery_store.queue_depth_plan())

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
        rows = await sql.run(delivery_store.due_plan(self._in_flight))
        seen: set[int] = set()
        next_due = 30.0
        for row in rows:
            chat_id = row["chat_id"]
            if chat_id in seen:
                continue
            seen.add(chat_id)
            if str(row["channel"]) not in self.connectors:
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
        found = await sql.run(delivery_store.delivery_plan(message_id))
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
            async with self._with_files(self._outbound(row, earlier)) as outbound:
                external_id = await connector.send(outbound)
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
        attachments = delivery_store.read_attachments(row["attachments"])
        template = row.get("template")
        choices = row.get("interactive")
        interactive = delivery_store.read_interactive(choices) if choices is not None else None
        if interactive is not None and self.interactive is not None:
            interactive = self.interactive(str(row["channel"]), interactive)
        by_agent = row["sender"] == Sender.AGENT.value and row["agent_username"] is not None
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
            template=delivery_store.read_template(template) if template is not None else None,
            agent_name=(
                (row["agent_display_name"] or row["agent_username"]) if by_agent else row["author"]
            ),
            signature=(row["agent_signature"] or None) if by_agent else None,
            interactive=interactive,
        )

    @contextlib.asynccontextmanager
    async def _with_files(self, message: OutboundMessage) -> AsyncIterator[OutboundMessage]:
        """The message with its stored files readable at local paths while it is sent (a
        file gone from the blob store fails the message: it will not come back)."""
        stored = [a for a in message.attachments if a.sha256 and a.status == media.STORED]
        if not stored:
            yield message
            return
        if self.blobs is None:
            raise DeliveryError("files are not kept here (no blob store)", retryable=False)
        async with contextlib.AsyncExitStack() as stack:
            files = []
            for attachment in stored:
                assert attachment.sha256 is not None
                name = attachment.name or "file"
                try:
                    path = await stack.enter_async_context(self.blobs.local(attachment.sha256))
                except (FileNotFoundError, ValueError) as exc:
                    raise DeliveryError(
                        f"the file {name!r} is gone from the file store", retryable=False,
                        code="file_gone",
                    ) from exc  # fmt: skip
                except Exception as exc:  # a bucket that does not answer: try again later
                    reason = f"the file store is unavailable ({type(exc).__name__}: {exc})"
                    raise DeliveryError(reason, retryable=True, code="files_unavailable") from exc
                mime = attachment.mime_type or media.OCTET
                size = attachment.size or 0
                files.append(OutboundFile(str(path), name, mime, size, attachment.kind))
            yield replace(message, files=tuple(files))

    async def _retry_later(self, message_id: int, attempts: int, delay: float, error: str) -> None:
        async def operation(unit: Unit) -> None:
            at = sql.time_param(timezone.now() + timedelta(seconds=delay))
            await sql.run(delivery_store.retry_plan(message_id, attempts, at, error))

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
        updated, chats = await sql.run(delivery_store.finish_plan(items))
        audiences = {chat_id: row_audience(chat) for chat_id, chat in chats.items()}
        for unit, row in zip(units, updated, strict=True):
            if row is not None:
                unit.emit(updated_event(self.presenter, row, audiences[row["chat_id"]]))
        return [None for _ in items]

    async def cancel(self, actor: Actor, chat_id: int, message_id: int) -> dict[str, Any]:
        """Stop a queued reply: it becomes ``failed`` with the error "cancelled by <name>"
        and ``message.updated`` tells who may see the chat. Admins cancel in any chat,
        agents in the chats assigned to them (others: NotFound, as if not there). A
        reply no longer queued (sent, failed) is a Conflict. A reply the outbox is
        handing to the provider at this moment may still go out: it then shows ``sent``."""

        async def operation(unit: Unit) -> dict[str, Any]:
            chat_row, message = await sql.run(
                delivery_store.cancel_target_plan(chat_id, message_id)
            )
            chat = None if chat_row is None else sql.instance(Chat, chat_row)
            if chat is None or not can_change(chat, actor):
                raise NotFound(f"chat {chat_id} not found")
            if message is None or message["internal"] or message["sender"] == Sender.CUSTOMER:
                raise NotFound(f"message {message_id} not found in chat {chat_id}")
            error = f"cancelled by {actor.name or 'an admin'}"
            row, changed = await sql.run(delivery_store.cancel_plan(chat_id, message_id, error))
            if not changed:
                raise Conflict(
                    f"message {message_id} is {row['status']}, no longer queued",
                    code="not_queued",
                    status=str(row["status"]),
                )
            event = updated_event(self.presenter, row, chat_audience(chat))
            unit.emit(event)
            view: dict[str, Any] = event.data["message"]
            return view

        return await self.writer.run(operation)


def updated_event(presenter: Presenter, row: dict[str, Any], audience: Audience) -> Event:
    """``message.updated`` for a message row read back by ``storage.delivery``."""
    view = presenter.message(delivery_store.message_row(row))
    return Event(events.MESSAGE_UPDATED, row["chat_id"], {"message": view}, audience)
