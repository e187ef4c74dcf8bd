"""The audit record of changes to chats besides mode and assignee (those are
``chat_transitions``): labels, priority, snooze, notes, bulk actions. Written inside the
operation that makes the change, so the record and the change commit together."""

from __future__ import annotations

from typing import Any

from handoff.domain.modes import Actor, ActorKind
from storage.models import AuditEntry

# Actions recorded (``AuditEntry.action``).
LABEL_ADDED = "label_added"
LABEL_REMOVED = "label_removed"
PRIORITY_CHANGED = "priority_changed"
SNOOZED = "snoozed"
WOKE = "woke"
NOTE_ADDED = "note_added"
# Shared canned responses (no chat: chat_id null; data: canned_id, short_code, fields).
CANNED_CREATED = "canned_shared_created"
CANNED_UPDATED = "canned_shared_updated"
CANNED_DELETED = "canned_shared_deleted"
AVAILABILITY_CHANGED = "availability_changed"  # no chat: a person set online, away, offline


# Contacts (chat_id null; data: ids and counts only, never personal data).
CONTACT_MERGED = "contact_merged"
CONTACT_MERGE_UNDONE = "contact_merge_undone"
CONTACT_ERASED = "contact_erased"

# Labels themselves (chat_id None): created, renamed or recoloured, deleted.
LABEL_CREATED = "label_created"
LABEL_UPDATED = "label_updated"
LABEL_DELETED = "label_deleted"

# Contacts (chat_id null; data: ids and field names, no personal data).
CONTACT_UPDATED = "contact_updated"
CONTACTS_IMPORTED = "contacts_imported"
CONTACT_ATTRIBUTE_CREATED = "contact_attribute_created"
CONTACT_ATTRIBUTE_UPDATED = "contact_attribute_updated"
CONTACT_ATTRIBUTE_DELETED = "contact_attribute_deleted"

# API keys (chat_id null; data: api_key_id, name, scopes) and the replies keys write (on
# the chat; data: message_ids, api_key_id, api_key_name: the message itself has no agent).
API_KEY_CREATED = "api_key_created"
API_KEY_REVOKED = "api_key_revoked"
API_REPLY = "api_reply"
# API channels (chat_id null; data: api_channel_id, name, fields changed; never the secret).
API_CHANNEL_CREATED = "api_channel_created"
API_CHANNEL_UPDATED = "api_channel_updated"
API_CHANNEL_DELETED = "api_channel_deleted"

# Knowledge-base articles (chat_id null; data: article_id, title, source or fields changed).
KB_ARTICLE_CREATED = "kb_article_created"
KB_ARTICLE_UPDATED = "kb_article_updated"
KB_ARTICLE_DELETED = "kb_article_deleted"

# Outgoing webhooks' endpoints (chat_id null; data: endpoint_id, url or the fields changed).
WEBHOOK_CREATED = "webhook_created"
WEBHOOK_UPDATED = "webhook_updated"
WEBHOOK_DELETED = "webhook_deleted"


async def record(chat_id: int | None, actor: Actor, action: str, **data: Any) -> None:
    """One audit row: who (``actor``) did ``action`` to ``chat_id``, with its ``data``
    (ids and values, no customer text). Call inside a writer operation. An integration's
    entry (an API key's) names its key in ``data`` (``api_key_id``, ``api_key_name``): its
    ``actor_id`` is null, as ids there are users'."""
    if actor.kind == ActorKind.INTEGRATION:
        data = {**data, "api_key_id": actor.key_id, "api_key_name": actor.name}
    await AuditEntry.create(
        chat_id=chat_id,
        action=action,
        actor_kind=str(actor.kind),
        actor_id=actor.user_id,
        data=data,
    )
