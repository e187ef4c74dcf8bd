"""Merging two contacts, with a preview first and an undo after (``/contacts/{id}/merge``,
docs/api.md "Merge, undo and suggestions").

``merge(actor, contact_id, other_id)`` merges the other contact INTO ``contact_id`` (the
survivor), in one writer operation:

- the other's identities and chats move to the survivor (``contact_id``);
- its phone numbers and addresses (``contact_points``) move too, deduplicated with the
  survivor's: a (kind, value) both hold stays the survivor's, verified if either was, and
  the other's copy is deleted;
- attributes: the survivor's values win, the other's fill the gaps; notes are joined; the
  name and avatar are the survivor's (an avatar missing there is taken from the other);
  ``first_seen_at`` is the earlier one;
- the other contact is kept, with ``merged_into_id`` set: lists and lookups skip it.

The :class:`~storage.models.ContactMerge` row keeps a snapshot that restores both exactly:
both contacts' rows as they were, the ids of the identities, chats and points that moved,
the points deleted (whole) and the survivor's points made verified. ``undo`` puts it all
back (what the survivor gained since stays with it, except identities written into the
chats that go back) and is refused while a later merge of either contact stands.

Merges and undos of contacts take one lock (:data:`handoff.infra.locks.CONTACTS`) on
PostgreSQL, so two of them never interleave; SQLite has one writer anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise import timezone
from tortoise.expressions import Q

from handoff.domain import events
from handoff.domain.errors import Conflict, Invalid, NotFound
from handoff.domain.events import Event
from handoff.domain.modes import Actor
from handoff.infra.locks import CONTACTS, exclusive
from handoff.infra.writer import Unit, Writer
from handoff.read.contacts import may_see, readable_contact
from handoff.read.views import chat_audience, chat_values
from handoff.usecases import audit
from handoff.usecases.contacts import Contacts, contact_audience
from storage.models import Chat, Contact, ContactIdentity, ContactMerge, ContactPoint

# The contact row fields a snapshot keeps (and an undo writes back).
CONTACT_FIELDS = ("name", "avatar_url", "notes", "attributes", "first_seen_at", "merged_into_id")
POINT_FIELDS = ("id", "kind", "value", "verified", "created_at")
MAX_MERGES_LISTED = 100
NOTES_JOIN = "\n\n"


@dataclass(slots=True)
class _Plan:
    """What merging ``other`` into ``contact`` makes (computed, nothing written)."""

    contact: Contact
    other: Contact
    attributes: dict[str, Any]
    notes: str | None
    avatar_url: str | None
    first_seen_at: datetime | None
    conflicts: list[dict[str, Any]]
    identities: list[ContactIdentity]  # the other's, all of them move
    chats: list[int]  # the other's chats, all of them move
    points: list[ContactPoint]  # the survivor's, as they are
    moved_points: list[ContactPoint] = field(default_factory=list)
    deleted_points: list[ContactPoint] = field(default_factory=list)
    verified_points: list[ContactPoint] = field(default_factory=list)  # survivor's, now verified
    own_identities: list[ContactIdentity] = field(default_factory=list)


def _joined_notes(first: str | None, second: str | None) -> str | None:
    parts = [text for text in (first, second) if text and text.strip()]
    return NOTES_JOIN.join(parts) if parts else first


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return min(a, b)


async def _plan(contact: Contact, other: Contact) -> _Plan:
    points = await ContactPoint.filter(contact_id__in=(contact.id, other.id)).order_by("id")
    identities = await ContactIdentity.filter(contact_id__in=(contact.id, other.id)).order_by("id")
    chats = await Chat.filter(contact_id=other.id).order_by("id").values_list("id")
    mine = {(p.kind, p.value): p for p in points if p.contact_id == contact.id}
    attributes = dict(contact.attributes or {})
    conflicts = []
    for key, value in (other.attributes or {}).items():
        if attributes.get(key) is None:
            attributes[key] = value
        elif value is not None and attributes[key] != value:
            conflicts.append({"attribute": key, "kept": attributes[key], "dropped": value})
    plan = _Plan(
        contact=contact,
        other=other,
        attributes=attributes,
        notes=_joined_notes(contact.notes, other.notes),
        avatar_url=contact.avatar_url or other.avatar_url,
        first_seen_at=_earliest(contact.first_seen_at, other.first_seen_at),
        conflicts=conflicts,
        identities=[i for i in identities if i.contact_id == other.id],
        own_identities=[i for i in identities if i.contact_id == contact.id],
        chats=[int(row[0]) for row in chats],
        points=list(mine.values()),
    )
    for point in points:
        if point.contact_id != other.id:
            continue
        same = mine.get((point.kind, point.value))
        if same is None:
            plan.moved_points.append(point)
            continue
        plan.deleted_points.append(point)
        if point.verified and not same.verified:
            plan.verified_points.append(same)
    return plan


def _result(plan: _Plan) -> dict[str, Any]:
    """The contact the merge would make: name, phones, emails, identities, attributes."""
    verified = {p.id for p in plan.verified_points}
    kept = [(p.kind, p.value, p.verified or p.id in verified) for p in plan.points]
    kept += [(p.kind, p.value, p.verified) for p in plan.moved_points]
    identities = [*plan.own_identities, *plan.identities]
    return {
        "name": plan.contact.name,
        "avatar_url": plan.avatar_url,
        "notes": plan.notes,
        "phones": [{"value": v, "verified": ok} for k, v, ok in kept if k == "phone"],
        "emails": [{"value": v, "verified": ok} for k, v, ok in kept if k == "email"],
        "identities": [{"channel": i.channel, "external_id": i.external_id} for i in identities],
        "attributes": plan.attributes,
    }


def _row(contact: Contact) -> dict[str, Any]:
    """A contact's fields as a snapshot keeps them (JSON)."""
    first = contact.first_seen_at
    return {
        "name": contact.name,
        "avatar_url": contact.avatar_url,
        "notes": contact.notes,
        "attributes": dict(contact.attributes or {}),
        "first_seen_at": first.isoformat() if first is not None else None,
        "merged_into_id": contact.merged_into_id,
    }


def _restored(row: dict[str, Any]) -> dict[str, Any]:
    """A snapshot's contact fields as values to write back."""
    first = row["first_seen_at"]
    return {
        **{name: row[name] for name in CONTACT_FIELDS},
        "first_seen_at": datetime.fromisoformat(first) if first is not None else None,
    }


def _point(point: ContactPoint) -> dict[str, Any]:
    return {
        "id": point.id,
        "kind": point.kind,
        "value": point.value,
        "verified": point.verified,
        "created_at": point.created_at.isoformat(),
    }


def merge_view(merge: ContactMerge, presenter_when: Any) -> dict[str, Any]:
    other = (merge.snapshot or {}).get("other") or {}
    return {
        "id": merge.id,
        "contact_id": merge.contact_id,
        "other_id": merge.other_id,
        "other_name": other.get("name"),
        "created_at": presenter_when(merge.created_at),
        "undone_at": presenter_when(merge.undone_at),
        "actor_id": merge.actor_id,
    }


class ContactMerges:
    def __init__(self, writer: Writer, contacts: Contacts, *, postgres: bool = False) -> None:
        self.writer = writer
        self.contacts = contacts
        self.postgres = postgres

    # -- reading ---------------------------------------------------------------------------

    async def _pair(self, actor: Actor, contact_id: int, other_id: int) -> tuple[Contact, Contact]:
        """Both contacts, live and visible to ``actor``; the errors of docs/api.md."""
        if contact_id == other_id:
            raise Invalid("a contact cannot be merged into itself", code="same_contact")
        contact = await readable_contact(actor, contact_id)
        other = await Contact.get_or_none(id=other_id)
        if other is not None and other.merged_into_id == contact.id:
            raise Conflict(
                f"contact {other_id} is merged into {contact_id} already", code="already_merged"
            )
        if other is None or other.merged_into_id is not None or not await may_see(actor, other_id):
            raise NotFound(f"contact {other_id} not found", code="contact_not_found")
        return contact, other

    async def preview(self, actor: Actor, contact_id: int, other_id: int) -> dict[str, Any]:
        """What merging ``other_id`` into ``contact_id`` would make, without writing:
        ``{"contact", "moves": {"identities", "conversations", "points"}, "conflicts"}``."""
        contact, other = await self._pair(actor, contact_id, other_id)
        plan = await _plan(contact, other)
        return {
            "contact": _result(plan),
            "moves": {
                "identities": len(plan.identities),
                "conversations": len(plan.chats),
                "points": len(plan.moved_points),
            },
            "conflicts": plan.conflicts,
        }

    async def merges(self, actor: Actor, contact_id: int) -> list[dict[str, Any]]:
        """The merges of a contact (into it, or of it, undone), newest first."""
        await readable_contact(actor, contact_id)
        rows = (
            await ContactMerge.filter(Q(contact_id=contact_id) | Q(other_id=contact_id))
            .order_by("-id")
            .limit(MAX_MERGES_LISTED)
        )
        return [merge_view(row, self.contacts.presenter.when) for row in rows]

    # -- writing ---------------------------------------------------------------------------

    async def merge(self, actor: Actor, contact_id: int, other_id: int) -> int:
        """Merge ``other_id`` into ``contact_id`` (see the module text); the merge's id."""

        async def operation(unit: Unit) -> int:
            await exclusive(CONTACTS, postgres=self.postgres)
            contact, other = await self._pair(actor, contact_id, other_id)
            plan = await _plan(contact, other)
            snapshot = {
                "contact": _row(contact),
                "other": _row(other),
                "identities": [i.id for i in plan.identities],
                "chats": plan.chats,
                "points_moved": [p.id for p in plan.moved_points],
                "points_deleted": [_point(p) for p in plan.deleted_points],
                "points_verified": [p.id for p in plan.verified_points],
            }
            now = timezone.now()
            if plan.deleted_points:
                await ContactPoint.filter(id__in=[p.id for p in plan.deleted_points]).delete()
            if plan.moved_points:
                moved = [p.id for p in plan.moved_points]
                await ContactPoint.filter(id__in=moved).update(contact_id=contact.id)
            if plan.verified_points:
                made = [p.id for p in plan.verified_points]
                await ContactPoint.filter(id__in=made).update(verified=True)
            if plan.identities:
                ids = [i.id for i in plan.identities]
                await ContactIdentity.filter(id__in=ids).update(contact_id=contact.id)
            if plan.chats:
                await Chat.filter(id__in=plan.chats).update(contact_id=contact.id, updated_at=now)
            merged = {
                "attributes": plan.attributes, "notes": plan.notes,
                "avatar_url": plan.avatar_url, "first_seen_at": plan.first_seen_at,
            }  # fmt: skip
            for name, value in merged.items():
                setattr(contact, name, value)
            await contact.save(update_fields=[*CONTACT_FIELDS, "updated_at"])
            other.merged_into_id = contact.id
            await other.save(update_fields=["merged_into_id", "updated_at"])
            merge = await ContactMerge.create(
                contact_id=contact.id, other_id=other.id, snapshot=snapshot, actor_id=actor.user_id
            )
            await audit.record(
                None, actor, audit.CONTACT_MERGED, merge_id=merge.id, contact_id=contact.id,
                other_id=other.id,
            )  # fmt: skip
            await self._chats_moved(unit, plan.chats)
            await self.contacts.updated(unit, contact.id)
            unit.emit(
                Event(
                    events.CONTACT_REMOVED,
                    None,
                    {"contact_id": other.id, "merged_into_id": contact.id},
                    await contact_audience(contact.id),
                )
            )
            return merge.id

        return await self.writer.run(operation)

    async def undo(self, actor: Actor, merge_id: int) -> dict[str, Any]:
        """Undo a merge (see the module text); the merge as :func:`merge_view` shows it."""

        async def operation(unit: Unit) -> dict[str, Any]:
            await exclusive(CONTACTS, postgres=self.postgres)
            merge = await ContactMerge.get_or_none(id=merge_id)
            allowed = merge is not None and (
                actor.is_admin
                or (actor.user_id == merge.actor_id and await may_see(actor, merge.contact_id))
            )
            if merge is None or not allowed:
                raise NotFound(f"merge {merge_id} not found", code="merge_not_found")
            if merge.undone_at is not None:
                raise Conflict(f"merge {merge_id} is undone already", code="merge_undone")
            pair = (merge.contact_id, merge.other_id)
            later = await ContactMerge.filter(
                Q(contact_id__in=pair) | Q(other_id__in=pair), id__gt=merge.id, undone_at=None
            ).first()
            if later is not None:
                raise Conflict(
                    f"merge {later.id} of these contacts came later: undo it first",
                    code="merge_superseded",
                    merge_id=later.id,
                )
            snap = merge.snapshot
            now = timezone.now()
            survivor, other = merge.contact_id, merge.other_id
            chats = [int(i) for i in snap["chats"]]
            # Identities written into the chats going back (added since) go back with them.
            back = Q(id__in=snap["identities"] or [0])
            if chats:
                back |= Q(chat_id__in=chats)
            await ContactIdentity.filter(back, contact_id=survivor).update(contact_id=other)
            if snap["points_moved"]:
                await ContactPoint.filter(id__in=snap["points_moved"], contact_id=survivor).update(
                    contact_id=other
                )
            if snap["points_verified"]:
                await ContactPoint.filter(id__in=snap["points_verified"]).update(verified=False)
            for point in snap["points_deleted"]:
                await ContactPoint.create(
                    id=point["id"], contact_id=other, kind=point["kind"], value=point["value"],
                    verified=point["verified"],
                    created_at=datetime.fromisoformat(point["created_at"]),
                )  # fmt: skip
            if chats:
                await Chat.filter(id__in=chats, contact_id=survivor).update(
                    contact_id=other, updated_at=now
                )
            for row in await Contact.filter(id__in=pair):
                for name, value in _restored(
                    snap["contact" if row.id == survivor else "other"]
                ).items():
                    setattr(row, name, value)
                await row.save(update_fields=[*CONTACT_FIELDS, "updated_at"])
            merge.undone_at = now
            await merge.save(update_fields=["undone_at"])
            await audit.record(
                None, actor, audit.CONTACT_MERGE_UNDONE, merge_id=merge.id,
                contact_id=survivor, other_id=other,
            )  # fmt: skip
            await self._chats_moved(unit, chats)
            await self.contacts.updated(unit, survivor)
            await self.contacts.updated(unit, other)
            return merge_view(merge, self.contacts.presenter.when)

        return await self.writer.run(operation)

    # -- events ----------------------------------------------------------------------------

    async def _chats_moved(self, unit: Unit, chat_ids: list[int]) -> None:
        """``chat.updated`` with the row (its new ``contact_id``) for each chat moved."""
        if not chat_ids:
            return
        staff, presenter = self.contacts.staff, self.contacts.presenter
        for chat in await Chat.filter(id__in=chat_ids).order_by("id"):
            row = await staff.chat_row(presenter, chat_values(chat))
            unit.emit(Event(events.CHAT_UPDATED, chat.id, {"chat": row}, chat_audience(chat)))
