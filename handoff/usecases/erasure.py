"""Privacy on request (docs/api.md "Privacy: export and erase"): a contact's data exported as
JSON, and a contact erased with their conversations, messages and files everywhere, leaving
an audit record without personal data.

``erase`` deletes, in one writer operation: the contact and the contacts merged into it
(their identities, points), their chats with the chats' messages, transitions, labels and
watchers, the notifications and logged events (``events``: they carry message text) of
those chats, the audit entries of those chats, the contact events about them, and the
merges involving them (their snapshots hold personal data). Queued replies are messages of
those chats: deleted with them. Then, after the commit, the files those messages named in
the blob store that no other message names (``storage.erasure.referenced``). What is left:
an ``contact_erased`` audit entry with ids and counts only, and the ``chat.removed`` /
``contact.removed`` events (ids only) that tell open dashboards to drop them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from tortoise import timezone
from tortoise.expressions import Q

from handoff.domain import events, webhooks
from handoff.domain import widget as widget_rules
from handoff.domain.errors import Forbidden, NotFound
from handoff.domain.events import Event
from handoff.domain.modes import Actor
from handoff.hooks import Hook
from handoff.infra.locks import CONTACTS, exclusive
from handoff.infra.writer import Unit, Writer
from handoff.read.views import chat_audience
from handoff.usecases import audit
from handoff.usecases.contacts import Contacts, contact_audience
from storage import erasure as erasure_store
from storage.blobs import Blobs, StoreUnavailable, valid
from storage.files import FileStore, legacy_id
from storage.models import (
    AuditEntry,
    Chat,
    ChatLabel,
    ChatTransition,
    ChatWatcher,
    Contact,
    ContactIdentity,
    ContactMerge,
    ContactPoint,
    EventRecord,
    Message,
    Notification,
    WebhookDelivery,
    WidgetVisitor,
)
from storage.models import Channel as ChannelName

log = logging.getLogger(__name__)

MAX_MERGED_DEPTH = 64  # contacts merged into contacts merged into ... looked through
# Logged events with no chat that may name a contact (their data is read to find them).
CONTACT_EVENTS = (events.CONTACT_UPDATED, events.CONTACT_REMOVED)
# What an export shows of a file (not the provider's reference nor the fetcher's bookkeeping).
FILE_FIELDS = ("kind", "filename", "mime_type", "size", "sha256", "status", "error")
CHAT_FIELDS = (
    "id", "channel", "external_id", "customer_name", "customer_phone", "customer_email",
    "customer_address", "customer_username", "subject", "mode", "created_at",
    "last_message_at",
)  # fmt: skip


def _hashes(attachments: Any) -> set[str]:
    if not isinstance(attachments, list):
        return set()
    return {
        item["sha256"]
        for item in attachments
        if isinstance(item, dict) and valid(item.get("sha256"))
    }


_LEGACY = re.compile(r"[0-9a-f]{32}")


def _legacy(attachments: Any) -> set[str]:
    """The old file store's ids an email message's attachments name (``storage.files``):
    ``file``, or a ``ref`` that is the file's old path. Each file was saved for one message."""
    found = set()
    for item in attachments if isinstance(attachments, list) else ():
        if not isinstance(item, dict):
            continue
        file_id = item.get("file") if "file" in item else legacy_id(item.get("ref"))
        if isinstance(file_id, str) and _LEGACY.fullmatch(file_id):
            found.add(file_id)
    return found


def _names(data: Any, ids: set[int]) -> bool:
    """Whether a contact event's data is about one of the contacts ``ids``."""
    if not isinstance(data, dict):
        return False
    contact = data.get("contact")
    named = {data.get("contact_id"), data.get("merged_into_id")}
    if isinstance(contact, dict):
        named.add(contact.get("id"))
    return any(isinstance(i, int) and i in ids for i in named)


class Erasure:
    def __init__(
        self,
        writer: Writer,
        contacts: Contacts,
        blobs: Blobs | None,
        *,
        legacy_files: FileStore | None = None,
        postgres: bool = False,
    ) -> None:
        self.writer = writer
        self.contacts = contacts
        self.blobs = blobs
        # The old store of email attachments (messages of before the blob store name it).
        self.legacy_files = legacy_files
        self.postgres = postgres
        # After an erasure's commit: the (channel, external id) of the chats erased (the
        # inbox forgets them: a new message from them makes a new contact and chat).
        self.erased: Hook[Sequence[tuple[str, str]]] = Hook("erasure.erased")

    # -- export ----------------------------------------------------------------------------

    async def export(self, actor: Actor, contact_id: int) -> dict[str, Any]:
        """Everything about the contact (and the contacts merged into it): the contact,
        identities, points, attributes, notes, every conversation with every message (text,
        sender, time, files' metadata) and the audit entries of those conversations."""
        _admin(actor)
        contact = await _live(contact_id)
        ids = await _with_merged(contact.id)
        when = self.contacts.presenter.when
        contacts = {c.id: c for c in await Contact.filter(id__in=ids)}
        identities = await ContactIdentity.filter(contact_id__in=ids).order_by("id")
        points = await ContactPoint.filter(contact_id__in=ids).order_by("id")
        chats = await Chat.filter(contact_id__in=ids).order_by("id")
        chat_ids = [c.id for c in chats]
        messages = await Message.filter(chat_id__in=chat_ids).order_by("chat_id", "id")
        entries = await AuditEntry.filter(chat_id__in=chat_ids).order_by("id")

        def row(c: Contact) -> dict[str, Any]:
            return {
                "id": c.id, "name": c.name, "avatar_url": c.avatar_url, "notes": c.notes,
                "attributes": dict(c.attributes or {}), "first_seen_at": when(c.first_seen_at),
                "created_at": when(c.created_at), "updated_at": when(c.updated_at),
            }  # fmt: skip

        by_chat: dict[int, list[dict[str, Any]]] = {i: [] for i in chat_ids}
        for m in messages:
            by_chat[m.chat_id].append(
                {
                    "id": m.id,
                    "text": m.text,
                    "sender": str(m.sender),
                    "internal": m.internal,
                    "status": str(m.status),
                    "agent_id": m.agent_id,
                    "created_at": when(m.created_at),
                    "attachments": [
                        {k: a.get(k) for k in FILE_FIELDS if k in a}
                        for a in m.attachments or ()
                        if isinstance(a, dict)
                    ],
                }
            )
        audit_by_chat: dict[int, list[dict[str, Any]]] = {i: [] for i in chat_ids}
        for e in entries:
            if e.chat_id is not None:
                audit_by_chat[e.chat_id].append(
                    {
                        "action": e.action,
                        "actor_kind": e.actor_kind,
                        "actor_id": e.actor_id,
                        "data": e.data,
                        "created_at": when(e.created_at),
                    }
                )
        conversations = []
        for chat in chats:
            item = {name: getattr(chat, name) for name in CHAT_FIELDS}
            item["channel"], item["mode"] = str(chat.channel), str(chat.mode)
            item["created_at"] = when(chat.created_at)
            item["last_message_at"] = when(chat.last_message_at)
            item["messages"] = by_chat[chat.id]
            item["audit"] = audit_by_chat[chat.id]
            conversations.append(item)
        return {
            "exported_at": when(timezone.now()),
            "contact": row(contact),
            "merged_contacts": [row(contacts[i]) for i in ids if i != contact.id and i in contacts],
            "identities": [
                {
                    "contact_id": i.contact_id,
                    "channel": i.channel,
                    "external_id": i.external_id,
                    "created_at": when(i.created_at),
                }
                for i in identities
            ],
            "points": [
                {
                    "contact_id": p.contact_id,
                    "kind": p.kind,
                    "value": p.value,
                    "verified": p.verified,
                    "created_at": when(p.created_at),
                }
                for p in points
            ],
            "attributes": dict(contact.attributes or {}),
            "notes": contact.notes,
            "conversations": conversations,
        }

    # -- erase -----------------------------------------------------------------------------

    async def erase(self, actor: Actor, contact_id: int) -> dict[str, int]:
        """Erase the contact (see the module text): ``{"contact_id", "chats", "messages",
        "files"}``, what the audit entry records too."""
        _admin(actor)
        doomed: set[str] = set()
        old: set[str] = set()
        keys: list[tuple[str, str]] = []

        async def operation(unit: Unit) -> dict[str, int]:
            await exclusive(CONTACTS, postgres=self.postgres)
            contact = await _live(contact_id)
            ids = await _with_merged(contact.id)
            chats = await Chat.filter(contact_id__in=ids).order_by("id")
            chat_ids = [c.id for c in chats]
            email = {c.id for c in chats if str(c.channel) == ChannelName.EMAIL.value}
            hashes: set[str] = set()
            messages = 0
            for chat_id, attachments in await Message.filter(chat_id__in=chat_ids).values_list(
                "chat_id", "attachments"
            ):
                messages += 1
                hashes |= _hashes(attachments)
                if chat_id in email:
                    old.update(_legacy(attachments))
            audience = await contact_audience(contact.id)
            if chat_ids:
                await Notification.filter(chat_id__in=chat_ids).delete()
                await EventRecord.filter(chat_id__in=chat_ids).delete()
                await WebhookDelivery.filter(chat_id__in=chat_ids).delete()
                await AuditEntry.filter(chat_id__in=chat_ids).delete()
                await ChatTransition.filter(chat_id__in=chat_ids).delete()
                await ChatLabel.filter(chat_id__in=chat_ids).delete()
                await ChatWatcher.filter(chat_id__in=chat_ids).delete()
                await Message.filter(chat_id__in=chat_ids).delete()
                await Chat.filter(id__in=chat_ids).delete()
                await _forget_visitors(chats)
            stale = [
                int(seq)
                for seq, data in await EventRecord.filter(
                    chat_id=None, type__in=CONTACT_EVENTS
                ).values_list("seq", "data")
                if _names(data, set(ids))
            ]
            if stale:
                await EventRecord.filter(seq__in=stale).delete()
            # Outgoing webhooks' deliveries about them, pending or in the log (their bodies).
            about = [
                int(row_id)
                for row_id, body in await WebhookDelivery.filter(
                    chat_id=None, event_type=webhooks.CONTACT_UPDATED
                ).values_list("id", "body")
                if _names(json.loads(body).get("data"), set(ids))
            ]
            if about:
                await WebhookDelivery.filter(id__in=about).delete()
            await ContactMerge.filter(Q(contact_id__in=ids) | Q(other_id__in=ids)).delete()
            await ContactIdentity.filter(contact_id__in=ids).delete()
            await ContactPoint.filter(contact_id__in=ids).delete()
            await Contact.filter(id__in=ids).delete()
            doomed.update(hashes - await erasure_store.referenced(hashes))
            counts: dict[str, int] = {
                "contact_id": contact.id,
                "chats": len(chat_ids),
                "messages": messages,
                "files": len(doomed) + len(old),
            }
            await audit.record(None, actor, audit.CONTACT_ERASED, **counts)
            for chat in chats:
                removed = {"chat_id": chat.id}
                unit.emit(Event(events.CHAT_REMOVED, chat.id, removed, chat_audience(chat)))
            for erased in ids:
                gone: dict[str, Any] = {"contact_id": erased, "merged_into_id": None}
                unit.emit(Event(events.CONTACT_REMOVED, None, gone, audience))
            keys.extend((str(c.channel), c.external_id) for c in chats if c.external_id)
            return counts

        counts = await self.writer.run(operation)
        self.erased.fire(keys)
        await self._delete_files(sorted(doomed), sorted(old))
        return counts

    async def _delete_files(self, hashes: list[str], old: list[str]) -> None:
        if self.legacy_files is not None and old:
            await asyncio.to_thread(self.legacy_files.remove, old)
        if self.blobs is None:
            return
        for sha256 in hashes:
            try:
                await self.blobs.delete(sha256)
            except (OSError, StoreUnavailable) as exc:
                log.error("an erased contact's file %s was not deleted: %s", sha256, exc)


async def _forget_visitors(chats: Sequence[Chat]) -> None:
    """The website widget's visitors of these chats (the name and address they left)."""
    keys = [
        key
        for chat in chats
        if str(chat.channel) == ChannelName.WIDGET.value
        and (key := widget_rules.split_key(chat.external_id or "")) is not None
    ]
    if keys:
        which = Q(
            *(Q(widget_id=widget, visitor_id=visitor) for widget, visitor in keys), join_type="OR"
        )
        await WidgetVisitor.filter(which).delete()


def _admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins export or erase a contact's data")


async def _live(contact_id: int) -> Contact:
    contact = await Contact.get_or_none(id=contact_id, merged_into_id=None)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found", code="contact_not_found")
    return contact


async def _with_merged(contact_id: int) -> list[int]:
    """The contact and every contact merged into it (and into those, ...)."""
    ids = [contact_id]
    frontier = [contact_id]
    for _ in range(MAX_MERGED_DEPTH):
        rows = await Contact.filter(merged_into_id__in=frontier).values_list("id")
        frontier = [int(row[0]) for row in rows if int(row[0]) not in ids]
        if not frontier:
            break
        ids += frontier
    return ids
