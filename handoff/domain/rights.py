"""Who may see and change which chat. Admins: every chat. Agents: the chats assigned to
them, and the queue (chats in agent mode that nobody holds), which they may read and claim
but not change before they claim it. The bot and the system act on any chat.

:func:`visible_to` is the same rule as :func:`can_read`, as a query filter: lists and
counts use it, single chats the function. The event audiences (``handoff.domain.events``)
carry the rule to live updates.
"""

from __future__ import annotations

from tortoise.expressions import Q

from handoff.domain.modes import Actor
from storage.models import Chat, Mode

# A chat in these modes counts against its agent's capacity (and is theirs to answer).
OPEN_MODES = (Mode.AGENT, Mode.PAUSED)


def queued(chat: Chat) -> bool:
    """The chat waits in the queue: in agent mode, held by nobody."""
    return chat.mode == Mode.AGENT and chat.assigned_agent_id is None


def can_read(chat: Chat, actor: Actor) -> bool:
    """Whether a person may see ``chat``: admins all; agents theirs and the queue."""
    return actor.is_admin or chat.assigned_agent_id == actor.user_id or queued(chat)


def can_change(chat: Chat, actor: Actor) -> bool:
    """Whether a person may act on ``chat`` (reply, pause, close...): admins all; agents the
    chats assigned to them."""
    return actor.is_admin or chat.assigned_agent_id == actor.user_id


def visible_to(actor: Actor) -> Q:
    """:func:`can_read` as a filter on chats."""
    if actor.is_admin:
        return Q()
    return Q(assigned_agent_id=actor.user_id) | Q(mode=Mode.AGENT, assigned_agent_id=None)
