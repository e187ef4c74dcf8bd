"""Contacts in bulk: a custom attribute's value as an SQL expression (the list's filters) and
the CSV import written as one plan (docs/api.md "CSV export and import").

The import is a :data:`storage.sql.Plan`: every row of a file is a few short statements in
the writer's one transaction (a new contact and its points, or an existing one's columns and
its unverified points replaced), so 10 000 rows do not cost 10 000 ORM round trips.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage import columns
from storage.contacts import INSERT_POINT
from storage.models import Contact, ContactPoint
from storage.sql import Plan, is_postgres

_GIVEN = ("name", "notes", "attributes", "created_at", "updated_at")
_DEFAULTS = columns.defaults(Contact, _GIVEN)
INSERT = columns.insert(Contact, (*_GIVEN, *_DEFAULTS), 'RETURNING "id"')
UPDATE = (
    f'UPDATE "{columns.table(Contact)}" SET "name" = ?, "notes" = ?, "attributes" = ?, '  # noqa: S608
    '"updated_at" = ? WHERE "id" = ?'
)
DROP_UNVERIFIED = (
    f'DELETE FROM "{columns.table(ContactPoint)}" '  # noqa: S608
    'WHERE "contact_id" = ? AND "kind" = ? AND NOT "verified"'
)
STATEMENTS = (INSERT, UPDATE, DROP_UNVERIFIED)


def _checked(key: str) -> str:
    if not key.replace("_", "").isalnum() or not key.isascii():
        raise ValueError(f"not an attribute key: {key!r}")
    return key


def attribute_expression(key: str, kind: str) -> str:
    """The SQL value of the custom attribute ``key`` of type ``kind`` in a contacts row, to
    compare with a parameter: SQLite's ``json_extract`` gives text, numbers, and 1/0 for
    booleans; PostgreSQL's ``->>`` gives text, cast for numbers and booleans. ``key`` must be
    a checked key (``handoff.domain.contact_attributes.KEY``: letters, digits, ``_``)."""
    _checked(key)
    if not is_postgres():
        return f"json_extract(\"attributes\", '$.{key}')"
    text = f"(\"attributes\"->>'{key}')"
    if kind == "number":
        return f"{text}::float8"
    if kind == "boolean":
        return f"{text}::boolean"
    return text


def remove_attribute(key: str, now: datetime | str) -> Plan[int]:
    """Take the attribute ``key`` out of every contact holding it; how many they were."""
    rows = yield _remove_attribute(key), [now]
    return len(rows)


def _remove_attribute(key: str) -> str:
    _checked(key)
    table = columns.table(Contact)
    if is_postgres():
        return (
            f'UPDATE "{table}" SET "attributes" = "attributes" - \'{key}\', "updated_at" = ? '  # noqa: S608
            f'WHERE "attributes" -> \'{key}\' IS NOT NULL RETURNING "id"'
        )
    return (
        f'UPDATE "{table}" SET "attributes" = json_remove("attributes", \'$.{key}\'), '  # noqa: S608
        f'"updated_at" = ? WHERE json_type("attributes", \'$.{key}\') IS NOT NULL '
        'RETURNING "id"'
    )


@dataclass(frozen=True, slots=True)
class Row:
    """A contact to write: ``contact_id`` None is a new one. ``phones``/``emails`` None leave
    the points of that kind as they are; a list replaces the unverified ones."""

    contact_id: int | None
    name: str
    notes: str | None
    attributes: dict[str, Any]
    phones: tuple[str, ...] | None
    emails: tuple[str, ...] | None


def write(rows: Sequence[Row], now: datetime | str) -> Plan[tuple[int, int]]:
    """Write ``rows`` (new contacts and changes); (created, updated)."""
    created = updated = 0
    for row in rows:
        attributes = json.dumps(row.attributes, separators=(",", ":"))
        if row.contact_id is None:
            made = yield INSERT, [row.name, row.notes, attributes, now, now, *_DEFAULTS.values()]
            contact_id = int(made[0]["id"])
            created += 1
        else:
            contact_id = row.contact_id
            yield UPDATE, [row.name, row.notes, attributes, now, contact_id]
            updated += 1
        for kind, values in (("phone", row.phones), ("email", row.emails)):
            if values is None:
                continue
            if row.contact_id is not None:
                yield DROP_UNVERIFIED, [contact_id, kind]
            for value in values:
                yield INSERT_POINT, [contact_id, kind, value, False, now]
    return created, updated
