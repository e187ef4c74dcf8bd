"""Merge suggestions (docs/api.md "Merge, undo and suggestions"): other contacts that share
a phone number or an e-mail address with a contact (``contact_points``), where at least one
side's point is verified. Display names never suggest anything.

Each answer costs a fixed number of queries, whatever the number of points or contacts: the
contact's points, the other live contacts' points with the same (kind, value) (the index on
``contact_points (kind, value)``), their names.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count

from handoff.domain.modes import Actor
from handoff.read.contacts import readable_chats
from storage.models import Chat, Contact, ContactPoint

MAX_SUGGESTIONS = 20  # contacts offered for one contact
MAX_POINTS = 200  # a contact's points looked at (hostile imports cannot make it costly)
MAX_MATCHES = 1000  # other contacts' points read for one answer
MAX_PAIRS = 100  # GET /contacts/suggestions: the longest list
MAX_GROUPS = 500  # (kind, value) shared by several contacts, read for that list
MAX_HOLDERS = 50  # contacts of one (kind, value) paired with each other


def _visible(actor: Actor) -> Q:
    """The points of live contacts ``actor`` may see (a filter on ``contact_points``)."""
    live = Q(contact__merged_into_id=None)
    if actor.is_admin:
        return live
    seen = Subquery(Chat.filter(readable_chats(actor)).values("contact_id"))
    return live & Q(contact_id__in=seen)


def _same_points(keys: set[tuple[str, str]]) -> Q:
    """Points whose (kind, value) is one of ``keys``: one ``IN`` per kind (indexed)."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, value in sorted(keys):
        by_kind[kind].append(value)
    found = Q(id=0)  # matches nothing
    for kind, values in by_kind.items():
        found |= Q(kind=kind, value__in=values)
    return found


async def suggestions(actor: Actor, contact_id: int) -> list[dict[str, Any]]:
    """``[{"id", "name", "shared": [{"kind", "value"}]}]``: the live contacts ``actor`` may
    see that share a number or an address with ``contact_id`` (one side's point verified),
    most shared first, then oldest; at most :data:`MAX_SUGGESTIONS`. Three queries."""
    own = await (
        ContactPoint.filter(contact_id=contact_id)
        .order_by("id")
        .limit(MAX_POINTS)
        .values_list("kind", "value", "verified")
    )
    if not own:
        return []
    verified = {(str(k), str(v)): bool(ok) for k, v, ok in own}
    matches = await (
        ContactPoint.filter(_same_points(set(verified)), _visible(actor))
        .exclude(contact_id=contact_id)
        .order_by("contact_id", "kind", "value")
        .limit(MAX_MATCHES)
        .values_list("contact_id", "kind", "value", "verified")
    )
    shared: dict[int, list[dict[str, str]]] = defaultdict(list)
    for other, kind, value, ok in matches:
        key = (str(kind), str(value))
        if ok or verified.get(key):
            shared[int(other)].append({"kind": key[0], "value": key[1]})
    ranked = sorted(shared, key=lambda other: (-len(shared[other]), other))[:MAX_SUGGESTIONS]
    if not ranked:
        return []
    names = dict(await Contact.filter(id__in=ranked).values_list("id", "name"))
    return [
        {"id": other, "name": names.get(other, ""), "shared": shared[other]} for other in ranked
    ]


async def duplicates(actor: Actor, limit: int = 50) -> list[dict[str, Any]]:
    """Pairs of live contacts that share a number or an address (one side verified), among
    the contacts ``actor`` may see: ``[{"contact": {"id", "name"}, "other": {...},
    "shared": [{"kind", "value"}]}]``, the older contact first, pairs sharing most first,
    at most ``limit`` (<= :data:`MAX_PAIRS`). Three queries."""
    limit = max(1, min(limit, MAX_PAIRS))
    groups = await (
        ContactPoint.filter(_visible(actor))
        .annotate(contacts=Count("contact_id", distinct=True))
        .group_by("kind", "value")
        .filter(contacts__gt=1)
        .order_by("kind", "value")
        .limit(MAX_GROUPS)
        .values_list("kind", "value")
    )
    if not groups:
        return []
    rows = await (
        ContactPoint.filter(_same_points({(str(k), str(v)) for k, v in groups}), _visible(actor))
        .order_by("kind", "value", "contact_id")
        .limit(MAX_MATCHES)
        .values_list("contact_id", "kind", "value", "verified")
    )
    holders: dict[tuple[str, str], list[tuple[int, bool]]] = defaultdict(list)
    for contact, kind, value, ok in rows:
        holders[(str(kind), str(value))].append((int(contact), bool(ok)))
    pairs: dict[tuple[int, int], list[dict[str, str]]] = defaultdict(list)
    for (kind, value), all_held in holders.items():
        held = all_held[:MAX_HOLDERS]
        for i, (a, a_ok) in enumerate(held):
            for b, b_ok in held[i + 1 :]:
                if a != b and (a_ok or b_ok):
                    pairs[(min(a, b), max(a, b))].append({"kind": kind, "value": value})
    ranked = sorted(pairs, key=lambda pair: (-len(pairs[pair]), pair))[:limit]
    if not ranked:
        return []
    ids = {i for pair in ranked for i in pair}
    names = dict(await Contact.filter(id__in=ids).values_list("id", "name"))
    return [
        {
            "contact": {"id": a, "name": names.get(a, "")},
            "other": {"id": b, "name": names.get(b, "")},
            "shared": pairs[(a, b)],
        }
        for a, b in ranked
    ]
