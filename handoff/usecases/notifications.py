"""Notifications: what a person should know about, kept and pushed to them alone.

Kinds (``GET /notifications``, docs/api.md): ``mention`` (a note named them), ``assigned``
(a chat was given to them), ``message`` (a customer wrote in their chat), ``queue_waiting``
(admins: a chat has waited in the queue too long), ``snooze_ended`` (their snoozed chat
woke). :func:`notify` is called inside the operation that causes the notification, so the
notification and its cause commit together; its ``notification.created`` event goes only
to the person notified.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from handoff.domain import events
from handoff.domain.events import Audience, Event
from handoff.infra.writer import Unit
from handoff.read.views import Presenter
from storage.models import Notification

MENTION = "mention"
ASSIGNED = "assigned"
MESSAGE = "message"
QUEUE_WAITING = "queue_waiting"
SNOOZE_ENDED = "snooze_ended"
KINDS = (MENTION, ASSIGNED, MESSAGE, QUEUE_WAITING, SNOOZE_ENDED)


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
                Audience(agent_ids=frozenset({user_id})),
            )
        )
        views.append(item)
    return views
