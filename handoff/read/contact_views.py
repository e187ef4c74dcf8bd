"""How contacts look to the dashboard (docs/api.md "Contact shape") and the contact list.

A page of contacts costs a fixed number of queries whatever its length: the contacts, then
their points, their identities and their chats' latest customer message, each one query
for the whole page (no query per row).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Q, RawSQL, Subquery
from tortoise.functions import Max
from tortoise.queryset import QuerySet

from handoff.domain.contact_attributes import Definition
from handoff.domain.errors import Invalid
from handoff.domain.modes import Actor
from handoff.read.contacts import readable_chats
from handoff.read.queries import Page
from handoff.read.views import Presenter
from storage.contacts_bulk import attribute_expression
from storage.identities import e164
from storage.models import MAX_ID, Chat, Contact, ContactIdentity, ContactPoint

CONTACT_FIELDS = (
    "id",
    "name",
    "avatar_url",
    "notes",
    "attributes",
    "first_seen_at",
    "created_at",
    "updated_at",
)
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class ContactFilter:
    q: str | None = None
    # (definition, value as stored): the contact's value of that attribute equals it.
    attributes: Sequence[tuple[Definition, Any]] = field(default_factory=tuple)
    limit: int = 50
    cursor: str | None = None


def encode_cursor(contact_id: int) -> str:
    raw = json.dumps({"contact": contact_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        last_id = data["contact"] if isinstance(data, dict) else None
    except (binascii.Error, ValueError, TypeError) as exc:
        raise Invalid("cursor is not one this server gave out", field="cursor") from exc
    if not isinstance(last_id, int) or isinstance(last_id, bool) or not 0 < last_id <= MAX_ID:
        raise Invalid("cursor is not one this server gave out", field="cursor")
    return last_id


def visible(actor: Actor) -> QuerySet[Contact]:
    """The contacts ``actor`` may see (not merged away): admins all; agents those with a chat
    they may read (``handoff.read.contacts``)."""
    query = Contact.filter(merged_into_id=None)
    if not actor.is_admin:
        theirs = Subquery(Chat.filter(readable_chats(actor)).values("contact_id"))
        query = query.filter(id__in=theirs)
    return query


def search(text: str) -> Q:
    """The name contains ``text`` (any case), or a phone number, an e-mail address or an
    identity's external id starts with it (a number also as E.164: "0062..." or "62...")."""
    text = text.strip()
    prefixes = {text.lower()}
    digits = text.replace(" ", "").replace("-", "")
    number = e164(digits) or (e164("+" + digits) if digits.isdigit() else None)
    if number is not None:
        prefixes.add(number)
    by_point = Q(*(Q(value__startswith=p) for p in prefixes), join_type="OR")
    by_identity = Q(*(Q(external_id__istartswith=p) for p in prefixes), join_type="OR")
    points = Subquery(ContactPoint.filter(by_point).values("contact_id"))
    identities = Subquery(ContactIdentity.filter(by_identity).values("contact_id"))
    return Q(name__icontains=text) | Q(id__in=points) | Q(id__in=identities)


def filtered(query: QuerySet[Contact], attributes: Sequence[tuple[Definition, Any]]) -> Any:
    """``query`` with each attribute filter (AND)."""
    for index, (definition, value) in enumerate(attributes):
        name = f"attribute_{index}"
        expression = RawSQL(attribute_expression(definition.key, definition.type))
        query = query.annotate(**{name: expression}).filter(**{name: value})
    return query


async def list_contacts(actor: Actor, presenter: Presenter, contact_filter: ContactFilter) -> Page:
    """A page of the contacts ``actor`` may see, newest first (by id), with the filters."""
    query = visible(actor)
    if contact_filter.q:
        query = query.filter(search(contact_filter.q))
    query = filtered(query, contact_filter.attributes)
    if contact_filter.cursor:
        query = query.filter(id__lt=decode_cursor(contact_filter.cursor))
    limit = min(contact_filter.limit, MAX_LIMIT)
    rows = await query.order_by("-id").limit(limit + 1).values(*CONTACT_FIELDS)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["id"]) if more else None
    return Page(await contact_rows(presenter, rows), next_cursor)


async def contact_rows(presenter: Presenter, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The row shape of each contact (``CONTACT_FIELDS`` values), in order: three queries for
    all of them."""
    ids = [int(row["id"]) for row in rows]
    if not ids:
        return []
    points = (
        await ContactPoint.filter(contact_id__in=ids)
        .order_by("id")
        .values("contact_id", "kind", "value", "verified")
    )
    identities = (
        await ContactIdentity.filter(contact_id__in=ids)
        .order_by("id")
        .values("contact_id", "channel", "external_id")
    )
    seen = (
        await Chat.filter(contact_id__in=ids)
        .annotate(seen=Max("last_customer_message_at"))
        .group_by("contact_id")
        .values("contact_id", "seen")
    )
    last_seen = {int(row["contact_id"]): _time(row["seen"]) for row in seen}
    by_contact: dict[int, dict[str, list[dict[str, Any]]]] = {
        i: {"phone": [], "email": [], "identity": []} for i in ids
    }
    for point in points:
        kind = "phone" if point["kind"] == "phone" else "email"
        by_contact[int(point["contact_id"])][kind].append(
            {"value": point["value"], "verified": bool(point["verified"])}
        )
    for identity in identities:
        by_contact[int(identity["contact_id"])]["identity"].append(
            {"channel": str(identity["channel"]), "external_id": identity["external_id"]}
        )
    return [
        contact_row(presenter, row, by_contact[int(row["id"])], last_seen.get(int(row["id"])))
        for row in rows
    ]


def contact_row(
    presenter: Presenter,
    row: dict[str, Any],
    parts: dict[str, list[dict[str, Any]]],
    last_seen: datetime | None,
) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "avatar_url": row["avatar_url"],
        "notes": row["notes"],
        "phones": parts["phone"],
        "emails": parts["email"],
        "identities": parts["identity"],
        "attributes": json_object(row["attributes"]),
        "first_seen_at": presenter.when(_time(row["first_seen_at"])),
        "last_seen_at": presenter.when(last_seen),
        "created_at": presenter.when(_time(row["created_at"])),
        "updated_at": presenter.when(_time(row["updated_at"])),
    }


def contact_values(contact: Contact) -> dict[str, Any]:
    """A model instance as the dict :func:`contact_rows` takes."""
    return {name: getattr(contact, name) for name in CONTACT_FIELDS}


def _time(value: Any) -> datetime | None:
    """A time as a query gives it (an aggregate on SQLite gives text)."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def json_object(data: Any) -> dict[str, Any]:
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError:
            return {}
    return dict(data) if isinstance(data, dict) else {}
