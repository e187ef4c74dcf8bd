"""Domain events: what changed, for whom (the buses in ``handoff.infra`` carry them).

Events are created inside a write (see ``handoff.infra.writer``) and published only
after the transaction that made them has committed. Each event says who may
see it, so a transport can filter without touching the database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

CHAT_CREATED = "chat.created"
CHAT_UPDATED = "chat.updated"
CHAT_READ = "chat.read"
CHAT_TYPING = "chat.typing"
MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
PRESENCE_UPDATED = "presence.updated"
HANDOFF = "chat.handoff"
# A contact changed (``handoff.usecases.contacts``): {"contact": <contact row>}.
CONTACT_UPDATED = "contact.updated"
# To one person: something they should know about (``handoff.usecases.notifications``).
NOTIFICATION_CREATED = "notification.created"
# To one person: their notifications were read (in another tab): {"ids": [...]} or {"all": true}.
NOTIFICATIONS_READ = "notifications.read"
# A contact gone from lists, merged into another or erased ({"contact_id", "merged_into_id"}).
CONTACT_REMOVED = "contact.removed"
# A chat erased with its contact ({"chat_id"}): dashboards drop it.
CHAT_REMOVED = "chat.removed"
# A customer rated a conversation (``handoff.usecases.csat``): {"survey": <survey>}, to admins
# and the survey's agent.
CSAT_CREATED = "csat.created"
# Not for dashboards: a user's tokens older than ``data["version"]`` no longer hold (they were
# deactivated, their role or password changed). Carried by the bus to every process, whose
# WebSockets of that user close; never sent to a client, never logged.
SESSIONS_ENDED = "user.sessions_ended"


@dataclass(frozen=True, slots=True)
class Audience:
    """Who may see an event besides admins (who see everything)."""

    agent_ids: frozenset[int] = frozenset()
    queue: bool = False  # the chat waits in the queue: every agent may see it
    everyone: bool = False  # not about one chat (e.g. presence)
    # For ``agent_ids`` alone, admins too: a person's own notifications.
    personal: bool = False

    def admits(self, user_id: int, is_admin: bool) -> bool:
        if self.personal:
            return user_id in self.agent_ids
        return is_admin or self.everyone or self.queue or user_id in self.agent_ids


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    chat_id: int | None
    data: dict[str, Any]
    audience: Audience = field(default_factory=Audience)
    seq: int | None = None  # set by the event log; None for passing signals (typing)

    def frame(self) -> dict[str, Any]:
        """The wire form: ``{"type", "seq", "chat_id", "data"}``."""
        return {"type": self.type, "seq": self.seq, "chat_id": self.chat_id, "data": self.data}
