"""Outgoing webhooks (docs/api.md, "Outgoing webhooks"; docs/architecture.md, "Outgoing
webhooks"): endpoints registered by admins, deliveries queued with the change they report,
posted signed by the dispatcher, in order per chat, retried, then failed.

**Queued.** The event log's ``also`` hook (``handoff.infra.eventlog``) is :meth:`Webhooks._queue`
while at least one active endpoint exists: from a transaction's events it makes the webhook
events the endpoints want (``handoff.domain.webhooks``) and returns the plan that queues them
(``storage.webhooks.queue_plan``), run right after the events are stored, in the same
transaction. The plan reads the active endpoints and their types in that transaction (the
database decides, not this process's memory); the memory only says whether anything is
wanted at all, and which types to build bodies for. It is set at once in the process that
changes an endpoint and re-read every ``REFRESH_SECONDS`` elsewhere.

**Posted.** The dispatcher (:meth:`Webhooks.start_dispatcher`) runs where the outbox runs:
woken after a commit that queued deliveries (here: ``EventLog.on_queued``; in other
processes: their events on the bus, ``msgcenter.service``), it posts the oldest pending
delivery of each (endpoint, chat) that is due, at most ``CONCURRENCY`` at once, and records
the outcome: delivered, or pending again after ``backoff(attempts)`` seconds, or failed once
it was queued ``retry_hours`` ago. An endpoint whose deliveries failed for
``disable_after_hours`` with none succeeding is disabled and the admins are notified.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import timezone

from connectors.callbacks import CallbackPoster, DestinationRefused, PostResult
from handoff.domain.errors import Conflict, Invalid, NotFound
from handoff.domain.events import Event
from handoff.domain.modes import Actor
from handoff.domain.webhooks import SOURCES, webhook_events
from handoff.infra.eventlog import EventLog
from handoff.infra.locks import EVENT_LOG, exclusive
from handoff.infra.tasks import Background
from handoff.infra.writer import Unit, Writer
from handoff.read.views import Presenter
from handoff.usecases import audit
from handoff.usecases.notifications import WEBHOOK_DISABLED, notify
from storage import sql
from storage import webhooks as webhook_store
from storage.models import Role, User, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

MAX_ENDPOINTS = 50
REFRESH_SECONDS = 2.0  # another process's change of endpoints is seen within this
POLL_SECONDS = 10.0  # the dispatcher looks at least this often, woken or not
CONCURRENCY = 8  # posts at once
MAX_BACKOFF_SECONDS = 3600.0
KEEP = timedelta(days=7)  # delivered and failed deliveries stay in the log this long
PRUNE_EVERY = 3600.0  # seconds between prunes of the log
DELIVERY_STATUSES = ("pending", "delivered", "failed")

_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 1, 2, 4, ... an hour."""
    return float(min(2.0 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """The ``[integrations]`` settings of outgoing webhooks."""

    allow_private: bool = False
    timeout_seconds: float = 10.0
    retry_hours: float = 24.0
    disable_after_hours: float = 24.0


ENDPOINT_FIELDS = (
    "id", "url", "events", "description", "active", "disabled_at", "disabled_reason",
    "created_at", "updated_at",
)  # fmt: skip
DELIVERY_FIELDS = (
    "id", "delivery_id", "event_type", "chat_id", "status", "attempts", "response_status",
    "error", "duration_ms", "created_at", "last_attempt_at", "next_attempt_at", "delivered_at",
)  # fmt: skip
_TIMES = ("created_at", "updated_at", "disabled_at", "last_attempt_at", "next_attempt_at",
          "delivered_at")  # fmt: skip


class Webhooks:
    """Endpoints, their deliveries and the dispatcher (see the module's docstring)."""

    def __init__(
        self,
        writer: Writer,
        log: EventLog,
        presenter: Presenter,
        options: WebhookOptions | None = None,
    ) -> None:
        self.writer = writer
        self.log = log
        self.presenter = presenter
        self.options = options or WebhookOptions()
        self.poster = CallbackPoster(
            allow_private=self.options.allow_private, timeout_seconds=self.options.timeout_seconds
        )
        # The current time of the dispatcher's decisions (due, retry, expiry; tests fake it).
        self.clock: Callable[[], datetime] = timezone.now
        self.types: frozenset[str] = frozenset()  # what the active endpoints want, together
        log.on_queued = self.wake
        self._refresher = Background("webhooks-refresh")
        self._dispatcher = Background("webhooks")
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()  # delivery row ids being posted
        # Posted and recorded since the current pass began reading: a read that began before
        # a record committed may still show its row pending.
        self._finished: set[int] = set()
        self._busy: set[tuple[int, int]] = set()  # (endpoint, chat) being posted to
        self._posts: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._pruned = 0.0
        self.delivered = 0
        self.failed_attempts = 0

    # -- what is wanted, in memory -------------------------------------------------------

    def _wanted(self, endpoints: Sequence[dict[str, Any]]) -> None:
        """Remember what the active ``endpoints`` want; hook into the event log iff any."""
        types: set[str] = set()
        for row in endpoints:
            types.update(row["events"] or ())
        self.types = frozenset(types)
        self.log.also = self._queue if types else None

    async def refresh(self) -> None:
        """Read what the active endpoints want (at start, then every REFRESH_SECONDS)."""
        self._wanted(await WebhookEndpoint.filter(active=True).values("events"))

    def start(self) -> None:
        """Keep the endpoints' wants fresh (every process; the dispatcher is apart)."""
        self._refresher.start(self._refreshing)

    async def _refreshing(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # a database that does not answer: the next round tries again
                log.exception("reading the webhook endpoints failed")
            await asyncio.sleep(REFRESH_SECONDS)

    async def stop(self) -> None:
        await self._refresher.stop()
        await self.stop_dispatcher()
        await self.poster.close()

    # -- queued with the change ----------------------------------------------------------

    def _queue(self, events: Sequence[Event], at: datetime | str) -> sql.Plan[int] | None:
        """The plan queuing the deliveries ``events`` make (the event log's ``also``)."""
        types = self.types
        items: list[tuple[str, int | None, str]] = []
        created = None
        for event in events:
            if event.type not in SOURCES:
                continue
            for kind, data in webhook_events(event):
                if kind in types:
                    created = created or self.presenter.when(timezone.now())
                    body: dict[str, Any] = {
                        "type": kind,
                        "created_at": created,
                        "chat_id": event.chat_id,
                        "data": data,
                    }
                    items.append((kind, event.chat_id, _encode(body)))
        return webhook_store.queue_plan(items, at) if items else None

    # -- endpoints -----------------------------------------------------------------------

    def endpoint_view(self, row: WebhookEndpoint) -> dict[str, Any]:
        found = {name: getattr(row, name) for name in ENDPOINT_FIELDS}
        return self._times(found)

    def delivery_view(self, row: dict[str, Any]) -> dict[str, Any]:
        return self._times({name: row[name] for name in DELIVERY_FIELDS})

    def _times(self, found: dict[str, Any]) -> dict[str, Any]:
        for name in _TIMES:
            if name in found:
                found[name] = self.presenter.when(found[name])
        return found

    async def _check(self, url: str) -> None:
        try:
            await self.poster.check(url)
        except DestinationRefused as exc:
            raise Invalid(str(exc), code="destination_refused", field="url") from exc

    async def _after(self, unit: Unit) -> None:
        """After an endpoint's change commits: this process knows at once."""
        active = await WebhookEndpoint.filter(active=True).values("events")
        unit.after_commit(lambda: self._wanted(active))

    async def listed(self) -> list[dict[str, Any]]:
        rows = await WebhookEndpoint.all().order_by("id")
        return [self.endpoint_view(row) for row in rows]

    async def get(self, endpoint_id: int) -> dict[str, Any]:
        return self.endpoint_view(await self._endpoint(endpoint_id))

    @staticmethod
    async def _endpoint(endpoint_id: int) -> WebhookEndpoint:
        row = await WebhookEndpoint.get_or_none(id=endpoint_id)
        if row is None:
            raise NotFound(f"webhook endpoint {endpoint_id} not found")
        return row

    async def create(
        self, actor: Actor, url: str, secret: str, events: list[str], description: str = ""
    ) -> dict[str, Any]:
        """Register an endpoint (the URL checked: a public destination unless allowed)."""
        await self._check(url)

        async def operation(unit: Unit) -> dict[str, Any]:
            if await WebhookEndpoint.all().count() >= MAX_ENDPOINTS:
                raise Conflict(
                    f"{MAX_ENDPOINTS} webhook endpoints exist; delete one first",
                    code="endpoint_limit",
                )
            row = await WebhookEndpoint.create(
                url=url,
                secret=secret,
                events=events,
                description=description,
                created_by_id=actor.user_id,
            )
            await audit.record(None, actor, audit.WEBHOOK_CREATED, endpoint_id=row.id, url=url)
            await self._after(unit)
            return self.endpoint_view(row)

        return await self.writer.run(operation)

    async def update(
        self, actor: Actor, endpoint_id: int, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Change an endpoint: ``url``, ``secret``, ``events``, ``description``, ``active``.
        Enabled again, it starts afresh: what is pending is due now."""
        if "url" in changes:
            await self._check(changes["url"])

        async def operation(unit: Unit) -> dict[str, Any]:
            row = await self._endpoint(endpoint_id)
            now = self.clock()
            for name in ("url", "secret", "events", "description"):
                if name in changes:
                    setattr(row, name, changes[name])
            if changes.get("active") is True and not row.active:
                row.active, row.disabled_at, row.disabled_reason = True, None, None
                row.failing_since, row.failures_in_row = None, 0
                await WebhookDelivery.filter(endpoint_id=row.id, status="pending").update(
                    next_attempt_at=now
                )
            elif changes.get("active") is False and row.active:
                row.active, row.disabled_at = False, now
                row.disabled_reason = "disabled by an admin"
            await row.save()
            await audit.record(
                None, actor, audit.WEBHOOK_UPDATED, endpoint_id=row.id,
                fields=sorted(name for name in changes if name != "secret")
                + (["secret"] if "secret" in changes else []),
            )  # fmt: skip
            await self._after(unit)
            if row.active:
                unit.after_commit(self.wake)
            return self.endpoint_view(row)

        return await self.writer.run(operation)

    async def delete(self, actor: Actor, endpoint_id: int) -> None:
        """Delete an endpoint and every delivery of it, pending ones included."""

        async def operation(unit: Unit) -> None:
            # The event log's lock first, as every commit takes it before it reads the
            # endpoints (PostgreSQL: FOR KEY SHARE): the same order, so no deadlock.
            await exclusive(EVENT_LOG, postgres=self.log.postgres)
            row = await self._endpoint(endpoint_id)
            await WebhookDelivery.filter(endpoint_id=row.id).delete()
            await row.delete()
            await audit.record(None, actor, audit.WEBHOOK_DELETED, endpoint_id=endpoint_id)
            await self._after(unit)

        await self.writer.run(operation)

    async def deliveries(
        self,
        endpoint_id: int,
        *,
        status: str | None = None,
        limit: int = 50,
        cursor: int | None = None,
    ) -> dict[str, Any]:
        """A page of the endpoint's deliveries, newest first (``cursor``: ids below it)."""
        await self._endpoint(endpoint_id)
        query = WebhookDelivery.filter(endpoint_id=endpoint_id)
        if status is not None:
            query = query.filter(status=status)
        if cursor is not None:
            query = query.filter(id__lt=cursor)
        rows = await query.order_by("-id").limit(limit + 1).values(*DELIVERY_FIELDS)
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "items": [self.delivery_view(row) for row in rows],
            "next_cursor": str(rows[-1]["id"]) if more and rows else None,
        }

    async def redeliver(self, actor: Actor, endpoint_id: int, row_id: int) -> dict[str, Any]:
        """Queue a delivery again: the same ``delivery_id`` and body, due now, retried
        ``retry_hours`` from now."""

        async def operation(unit: Unit) -> dict[str, Any]:
            row = await WebhookDelivery.get_or_none(id=row_id, endpoint_id=endpoint_id)
            if row is None:
                raise NotFound(f"delivery {row_id} of webhook endpoint {endpoint_id} not found")
            now = self.clock()
            row.status, row.attempts, row.next_attempt_at, row.queued_at = "pending", 0, now, now
            await row.save(update_fields=["status", "attempts", "next_attempt_at", "queued_at"])
            unit.after_commit(self.wake)
            return self.delivery_view({name: getattr(row, name) for name in DELIVERY_FIELDS})

        return await self.writer.run(operation)

    # -- the dispatcher ------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def start_dispatcher(self) -> None:
        """Post what is queued (where the outbox runs); it sweeps at once."""
        if self._dispatcher.start(self._run):
            self.wake()

    async def stop_dispatcher(self) -> None:
        await self._dispatcher.stop()
        if self._posts:
            await asyncio.gather(*list(self._posts), return_exceptions=True)

    @property
    def dispatching(self) -> bool:
        return self._dispatcher.running

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                wait = await self._dispatch_due()
                if loop.time() - self._pruned > PRUNE_EVERY:
                    self._pruned = loop.time()
                    await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database that does not answer: the next round tries again
                log.exception("dispatching webhook deliveries failed")
                wait = POLL_SECONDS
            # asyncio.timeout, not wait_for (see handoff.usecases.delivery).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()

    async def _dispatch_due(self) -> float:
        """Start posting what is due; seconds until the next is due (at most POLL_SECONDS)."""
        now = self.clock()
        self._finished.clear()
        rows = await sql.run(webhook_store.due_plan(sql.time_param(now)))
        for row in rows:
            key = (int(row["endpoint_id"]), int(row["chat_id"])) if row["chat_id"] else None
            if row["id"] in self._in_flight or row["id"] in self._finished:
                continue
            if key is not None and key in self._busy:
                continue
            await self._slots.acquire()
            self._in_flight.add(row["id"])
            if key is not None:
                self._busy.add(key)
            task = asyncio.get_running_loop().create_task(self._post(row, key))
            self._posts.add(task)
            task.add_done_callback(self._posts.discard)
        if len(rows) >= webhook_store.DUE_LIMIT:
            return 0.0
        due = await sql.run(webhook_store.next_due_plan(sql.time_param(self.clock())))
        if due is None:
            return POLL_SECONDS
        if isinstance(due, str):
            due = sql.values(WebhookDelivery, {"next_attempt_at": due})["next_attempt_at"]
        seconds: float = (due - self.clock()).total_seconds()
        return max(0.0, min(POLL_SECONDS, seconds))

    async def _post(self, row: dict[str, Any], key: tuple[int, int] | None) -> None:
        try:
            result = await self.poster.post(
                row["url"],
                row["body"].encode(),
                secret=row["secret"],
                delivery_id=row["delivery_id"],
            )
            await self._record(row, result)
        except Exception:  # recorded by nobody: the row stays pending and is tried again
            log.exception("recording webhook delivery %s failed", row["id"])
        finally:
            self._in_flight.discard(row["id"])
            self._finished.add(row["id"])
            if key is not None:
                self._busy.discard(key)
            self._slots.release()
            self.wake()

    async def _record(self, row: dict[str, Any], result: PostResult) -> None:
        now = self.clock()
        attempts = int(row["attempts"]) + 1
        if result.ok:
            self.delivered += 1
            posted = (int(row["id"]), int(row["endpoint_id"]), attempts, int(result.status or 0),
                      result.duration_ms, sql.time_param(now))  # fmt: skip
            await self.writer.run_merged("webhooks.delivered", self._delivered, posted)
            return
        self.failed_attempts += 1
        outcome = {
            "attempts": attempts,
            "last_attempt_at": now,
            "response_status": result.status,
            "error": result.error[:512] if result.error else None,
            "duration_ms": result.duration_ms,
        }

        async def operation(unit: Unit) -> None:
            found = WebhookDelivery.filter(id=row["id"], status="pending")
            queued = sql.values(WebhookDelivery, {"queued_at": row["queued_at"]})["queued_at"]
            if now - queued >= timedelta(hours=self.options.retry_hours):
                await found.update(status="failed", next_attempt_at=None, **outcome)
            else:
                due = now + timedelta(seconds=backoff(attempts))
                await found.update(next_attempt_at=due, **outcome)
            await self._failed(unit, int(row["endpoint_id"]), now)

        await self.writer.run(operation)

    @staticmethod
    async def _delivered(
        units: Sequence[Unit], posted: Sequence[webhook_store.Posted]
    ) -> list[None]:
        """Record posts that succeeded, together (one writer call for those that arrive at
        once; ``storage.webhooks.delivered_plan``)."""
        await sql.run(webhook_store.delivered_plan(posted))
        return [None] * len(posted)

    async def _failed(self, unit: Unit, endpoint_id: int, now: datetime) -> None:
        """An attempt to the endpoint failed: disable it once it has failed long enough."""
        endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id)
        if endpoint is None or not endpoint.active:
            return
        endpoint.failing_since = endpoint.failing_since or now
        endpoint.failures_in_row += 1
        hours = self.options.disable_after_hours
        if now - endpoint.failing_since >= timedelta(hours=hours):
            endpoint.active, endpoint.disabled_at = False, now
            endpoint.disabled_reason = f"its deliveries failed for {hours:g} hours"
            admins = await User.filter(role=Role.ADMIN, active=True).order_by("id").values("id")
            await notify(
                unit, self.presenter, [int(a["id"]) for a in admins], WEBHOOK_DISABLED,
                endpoint_id=endpoint.id, url=endpoint.url, reason=endpoint.disabled_reason,
            )  # fmt: skip
            log.warning("webhook endpoint %d disabled: %s", endpoint.id, endpoint.disabled_reason)
            await endpoint.save()
            await self._after(unit)
            return
        await endpoint.save(update_fields=["failing_since", "failures_in_row", "updated_at"])

    async def prune(self) -> int:
        """Forget delivered and failed deliveries older than KEEP."""
        cutoff = self.clock() - KEEP

        async def operation(unit: Unit) -> int:
            return await WebhookDelivery.filter(
                status__in=("delivered", "failed"), created_at__lt=cutoff
            ).delete()

        return await self.writer.run(operation)
