"""Outgoing webhooks' event types, and which durable events they come from (docs/api.md,
"Outgoing webhooks").

A webhook event is made from the events a transaction emits (``handoff.domain.events``), as
they are logged: ``message.created``, ``chat.created``, ``csat.created`` and
``contact.updated`` as they are; a ``chat.updated`` that carries a transition becomes
``chat.mode_changed`` (its mode changed), ``chat.assigned`` (its agent changed) and
``chat.closed`` (it was closed), each with the chat row and the transition.
"""

from __future__ import annotations

from typing import Any

from handoff.domain import events
from handoff.domain.events import Event

MESSAGE_CREATED = "message.created"
CHAT_CREATED = "chat.created"
CHAT_MODE_CHANGED = "chat.mode_changed"
CHAT_ASSIGNED = "chat.assigned"
CHAT_CLOSED = "chat.closed"
CSAT_CREATED = "csat.created"
CONTACT_UPDATED = "contact.updated"
TYPES = (
    MESSAGE_CREATED,
    CHAT_CREATED,
    CHAT_MODE_CHANGED,
    CHAT_ASSIGNED,
    CHAT_CLOSED,
    CSAT_CREATED,
    CONTACT_UPDATED,
)

# The durable events webhook events come from.
SOURCES = frozenset(
    {
        events.MESSAGE_CREATED,
        events.CHAT_CREATED,
        events.CHAT_UPDATED,
        events.CSAT_CREATED,
        events.CONTACT_UPDATED,
    }
)
_SAME = {
    events.MESSAGE_CREATED: MESSAGE_CREATED,
    events.CHAT_CREATED: CHAT_CREATED,
    events.CSAT_CREATED: CSAT_CREATED,
    events.CONTACT_UPDATED: CONTACT_UPDATED,
}


def webhook_events(event: Event) -> list[tuple[str, dict[str, Any]]]:
    """The webhook events ``event`` makes: (type, data), none for most events."""
    same = _SAME.get(event.type)
    if same is not None:
        return [(same, event.data)]
    if event.type != events.CHAT_UPDATED:
        return []
    transition = event.data.get("transition")
    if not isinstance(transition, dict):
        return []
    data = {"chat": event.data.get("chat"), "transition": transition}
    found = []
    if transition.get("from") != transition.get("to"):
        found.append((CHAT_MODE_CHANGED, data))
    if transition.get("from_agent_id") != transition.get("to_agent_id"):
        found.append((CHAT_ASSIGNED, data))
    if transition.get("to") == "closed" and transition.get("from") != "closed":
        found.append((CHAT_CLOSED, data))
    return found
