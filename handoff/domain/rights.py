"""Who may see and change which chat. Admins: every chat. Agents: the chats assigned to
them, and the queue (chats in agent mode that nobody holds), which they may read and claim
but not change before they claim it; and the chats where a note mentioned them (they are
its watchers until it closes), which they may read and add notes to, not answer. The bot
and the system act on any chat.

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


def watching(chat: Chat, actor: Actor) -> bool:
    """A note of ``chat`` mentioned ``actor`` and the chat has not closed since."""
    return actor.user_id is not None and actor.user_id in (chat.watchers or ())


def can_read(chat: Chat, actor: Actor) -> bool:
    """Whether a person may see ``chat``: admins all; agents theirs, the queue and the
    chats they watch."""
    return (
        actor.is_admin
        or chat.assigned_agent_id == actor.user_id
        or queued(chat)
        or watching(chat, actor)
    )


def can_note(chat: Chat, actor: Actor) -> bool:
    """Whether a person may add a private note to ``chat``: who may act on it, and its
    watchers."""
    return can_change(chat, actor) or watching(chat, actor)


def can_change(chat: Chat, actor: Actor) -> bool:
    """Whether a person may act on ``chat`` (reply, pause, close...): admins all; agents the
    chats assigned to them."""
    return actor.is_admin or chat.assigned_agent_id == actor.user_id
