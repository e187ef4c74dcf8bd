"""Notifications: what a person should know about, kept and pushed to them alone.

Kinds (``GET /notifications``, docs/api.md): ``mention`` (a note named them), ``assigned``
(a chat was given to them), ``message`` (a customer wrote in their chat), ``queue_waiting``
(admins: a chat has waited in the queue too long), ``snooze_ended`` (their snoozed chat
woke), ``webhook_disabled`` (admins: an outgoing webhook's endpoint failed too long and was
disabled; ``handoff.usecases.webhooks``). :func:`notify` is called inside the operation
that causes the notification, so the notification and its cause commit together; its
``notification.created`` event goes only to the person notified.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import timezone

from handoff.domain import events
from handoff.domain.errors import NotFound
from handoff.domain.events import Audience, Event
from handoff.domain.modes import Actor
from handoff.infra.tasks import Background
from handoff.infra.writer import Unit, Writer
from handoff.read.views import Presenter
from storage import notifications as notification_store
from storage import sql
from storage.models import Chat, Mode, Notification, Role, User
from storage.notifications import Wrote

log = logging.getLogger(__name__)

MENTION = "mention"
ASSIGNED = "assigned"
MESSAGE = "message"
QUEUE_WAITING = "queue_waiting"
SNOOZE_ENDED = "snooze_ended"
WEBHOOK_DISABLED = "webhook_disabled"
KINDS = (MENTION, ASSIGNED, MESSAGE, QUEUE_WAITING, SNOOZE_ENDED, WEBHOOK_DISABLED)


def view(presenter: Presenter, row: dict[str, Any]) -> dict[str, Any]:
    """A notification as the API shows it: ``{id, kind, chat_id, message_id, data, read,
    created_at}``."""
    created: datetime = row["created_at"]
    return {
        "id": row["id"],
        "kind": row["kind"],
        "chat_id": row["chat_id"],
        "message_id": row["message_id"],
        "data": row["data"] or {},
        "read": bool(row["read"]),
        "created_at": presenter.when(created),
    }


FIELDS = ("id", "kind", "chat_id", "message_id", "data", "read", "created_at")


async def notify(
    unit: Unit,
    presenter: Presenter,
    user_ids: Iterable[int],
    kind: str,
    *,
    chat_id: int | None = None,
    message_id: int | None = None,
    **data: Any,
) -> list[dict[str, Any]]:
    """Notify each of ``user_ids`` of ``kind`` (inside a writer operation): the rows are
    written with the change, each pushed to its person after the commit."""
    assert kind in KINDS, kind
    views = []
    for user_id in dict.fromkeys(user_ids):  # once each, in order
        row = await Notification.create(
            user_id=user_id, kind=kind, chat_id=chat_id, message_id=message_id, data=data
        )
        item = view(presenter, {name: getattr(row, name) for name in FIELDS})
        unit.emit(
            Event(
                events.NOTIFICATION_CREATED,
                chat_id,
                {"notification": item},
                Audience(agent_ids=frozenset({user_id}), personal=True),
            )
        )
        views.append(item)
    return views


def _event(item: dict[str, Any], user_id: int) -> Event:
    return Event(
        events.NOTIFICATION_CREATED,
        item["chat_id"],
        {"notification": item},
        Audience(agent_ids=frozenset({user_id}), personal=True),
    )


async def customer_wrote(unit: Unit, presenter: Presenter, wrote: Sequence[Wrote]) -> None:
    """The ``message`` notifications of a batch of stored customer messages (inside the
    ingest operation, after its plan): one plan for the batch, at most one unread per chat
    and person (``storage.notifications``); each pushed to its person."""
    if not wrote:
        return
    rows = await sql.run(notification_store.message_plan(wrote, sql.time_param(timezone.now())))
    for row in rows:
        item = view(presenter, sql.values(Notification, row))
        unit.emit(_event(item, int(row["user_id"])))


@dataclass(frozen=True, slots=True)
class Listed:
    items: list[dict[str, Any]]
    unread: int
    next_before: int | None


class Notifications:
    """A person's notifications: listed newest first, marked read (``GET /notifications``)."""

    def __init__(self, writer: Writer, presenter: Presenter) -> None:
        self.writer = writer
        self.presenter = presenter

    async def listed(
        self, actor: Actor, *, limit: int = 30, before: int | None = None, unread: bool = False
    ) -> Listed:
        """``actor``'s notifications, newest first (``before``: ids below it), with the
        count of unread ones."""
        query = Notification.filter(user_id=actor.user_id)
        if before is not None:
            query = query.filter(id__lt=before)
        if unread:
            query = query.filter(read=False)
        rows = await query.order_by("-id").limit(limit + 1).values(*FIELDS)
        more = len(rows) > limit
        rows = rows[:limit]
        count = await Notification.filter(user_id=actor.user_id, read=False).count()
        items = [view(self.presenter, row) for row in rows]
        return Listed(items, count, rows[-1]["id"] if more and rows else None)

    async def read(self, actor: Actor, notification_id: int) -> dict[str, Any]:
        """Mark one of ``actor``'s notifications read (someone else's: NotFound)."""

        async def operation(unit: Unit) -> dict[str, Any]:
            row = await Notification.get_or_none(id=notification_id, user_id=actor.user_id)
            if row is None:
                raise NotFound(f"notification {notification_id} not found")
            if not row.read:
                row.read = True
                await row.save(update_fields=["read"])
            unread = await Notification.filter(user_id=actor.user_id, read=False).count()
            self._emit_read(unit, actor, [notification_id], unread)
            item = view(self.presenter, {name: getattr(row, name) for name in FIELDS})
            return {"notification": item, "unread": unread}

        return await self.writer.run(operation)

    async def read_all(self, actor: Actor) -> dict[str, Any]:
        """Mark every notification of ``actor`` read."""

        async def operation(unit: Unit) -> dict[str, Any]:
            count = await Notification.filter(user_id=actor.user_id, read=False).update(read=True)
            self._emit_read(unit, actor, None, 0)
            return {"marked": count, "unread": 0}

        return await self.writer.run(operation)

    def _emit_read(self, unit: Unit, actor: Actor, ids: list[int] | None, unread: int) -> None:
        """``notifications.read`` to the same person (their other tabs): ``ids`` None: all."""
        assert actor.user_id is not None
        unit.emit(
            Event(
                events.NOTIFICATIONS_READ,
                None,
                {"ids": ids, "all": ids is None, "unread": unread},
                Audience(agent_ids=frozenset({actor.user_id}), personal=True),
            )
        )


class QueueWatch:
    """Admins hear of a chat waiting in the queue longer than ``minutes``: each admin once
    per wait (the notification keeps the wait's ``queued_at``; a chat that leaves the queue
    and comes back waits anew). Runs where the outbox runs (one process), every ``every``
    seconds."""

    def __init__(
        self, writer: Writer, presenter: Presenter, minutes: int, *, every: float = 30.0
    ) -> None:
        self.writer = writer
        self.presenter = presenter
        self.minutes = minutes
        self.every = every
        self._task = Background("queue-watch")

    @property
    def running(self) -> bool:
        return self._task.running

    def start(self) -> None:
        if self.minutes > 0:
            self._task.start(self._run)

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database that does not answer: the next round tries again
                log.exception("checking the queue's waiting chats failed")
            await asyncio.sleep(self.every)

    async def check(self) -> int:
        """Notify the admins of each chat waiting too long they were not told of for this
        wait; how many notifications were written."""
        if self.minutes <= 0:
            return 0
        since = timezone.now() - timedelta(minutes=self.minutes)

        async def operation(unit: Unit) -> int:
            waiting = (
                await Chat.filter(mode=Mode.AGENT, assigned_agent_id=None, queued_at__lte=since)
                .order_by("queued_at")
                .limit(100)
                .values("id", "customer_name", "queued_at")
            )
            if not waiting:
                return 0
            admins = [
                int(row["id"])
                for row in await User.filter(role=Role.ADMIN, active=True).values("id")
            ]
            told = await Notification.filter(
                kind=QUEUE_WAITING, chat_id__in=[row["id"] for row in waiting]
            ).values("user_id", "chat_id", "data")
            done = {(r["user_id"], r["chat_id"], (r["data"] or {}).get("queued_at")) for r in told}
            written = 0
            for row in waiting:
                stamp = self.presenter.when(row["queued_at"])
                for admin in admins:
                    if (admin, row["id"], stamp) in done:
                        continue
                    await notify(
                        unit, self.presenter, [admin], QUEUE_WAITING, chat_id=row["id"],
                        customer=row["customer_name"], queued_at=stamp, minutes=self.minutes,
                    )  # fmt: skip
                    written += 1
            return written

        return await self.writer.run(operation)
