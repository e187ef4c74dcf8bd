"""Who may see which contact (docs/api.md, "Contacts"): admins every contact; agents a
contact one of whose chats they may read (``handoff.domain.rights.can_read``: theirs, the
queue, the chats they watch). A contact merged into another is found as the one it was
merged into by no one: it is gone until the merge is undone.
"""

from __future__ import annotations

from tortoise.expressions import Q, Subquery

from handoff.domain.errors import NotFound
from handoff.domain.modes import Actor
from storage.models import Chat, ChatWatcher, Contact, Mode


def readable_chats(actor: Actor) -> Q:
    """The chats an agent may read, as a filter (admins: every chat)."""
    if actor.is_admin:
        return Q()
    watched = Subquery(ChatWatcher.filter(user_id=actor.user_id).values("chat_id"))
    return (
        Q(assigned_agent_id=actor.user_id)
        | Q(mode=Mode.AGENT, assigned_agent_id=None)
        | Q(id__in=watched)
    )


async def may_see(actor: Actor, contact_id: int) -> bool:
    """Whether ``actor`` may see the contact (see the module text); it need not exist."""
    if actor.is_admin:
        return True
    return await Chat.filter(readable_chats(actor), contact_id=contact_id).exists()


async def readable_contact(actor: Actor, contact_id: int) -> Contact:
    """The contact, if it exists (not merged away) and ``actor`` may see it; else NotFound
    (404 ``contact_not_found``, the same answer either way)."""
    contact = await Contact.get_or_none(id=contact_id, merged_into_id=None)
    if contact is None or not await may_see(actor, contact_id):
        raise NotFound(f"contact {contact_id} not found", code="contact_not_found")
    return contact
