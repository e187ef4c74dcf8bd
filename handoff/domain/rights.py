"""Who may see and change which chat. Admins: every chat. Agents: the chats assigned to
them, and the queue (chats in agent mode that nobody holds), which they may read and claim
but not change before they claim it. The bot and the system act on any chat.

The event audiences (``handoff.domain.events``) carry the same rule to live updates; the
chat lists (``handoff.read.queries``) list an agent's own chats, and the queue apart.
"""

from __future__ import annotations

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
