"""Finding a new chat's contact: by the identities and verified points its customer states
(``storage.identities``), else a new contact; then recording what was new.

:func:`find` and :func:`record` are :data:`storage.sql.Plan` s (pure), run by the ingest plan
(``storage.ingest``) and by the dashboard when it starts a chat (``handoff.usecases.desk``).
Race-safe: an identity is unique, and it is inserted without ``ON CONFLICT``, so two
processes that each find it missing cannot both add it: the second one's batch fails and its
retry finds the first one's contact (no duplicate contact).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage import columns
from storage.identities import Key
from storage.models import Contact, ContactIdentity, ContactPoint
from storage.sql import Plan

# Rank 0: an identity (with the chat it writes into), 1: a verified point.
FIND = (
    'SELECT "contact_id", "chat_id", "channel" AS "a", "external_id" AS "b", 0 AS "rank" '
    'FROM "contact_identities" WHERE ("channel", "external_id") IN ({identities}) '
    'UNION ALL SELECT "contact_id", NULL, "kind", "value", 1 FROM "contact_points" '
    'WHERE "verified" AND ("kind", "value") IN ({points})'
)
_CONTACT_GIVEN = ("name", "first_seen_at", "created_at", "updated_at")
_CONTACT_DEFAULTS = columns.defaults(Contact, _CONTACT_GIVEN)
INSERT_CONTACT = columns.insert(Contact, (*_CONTACT_GIVEN, *_CONTACT_DEFAULTS), 'RETURNING "id"')
INSERT_IDENTITY = columns.insert(
    ContactIdentity, ("contact_id", "channel", "external_id", "chat_id", "created_at")
)
INSERT_POINT = columns.insert(
    ContactPoint,
    ("contact_id", "kind", "value", "verified", "created_at"),
    'ON CONFLICT ("contact_id", "kind", "value") DO NOTHING',
)
# PostgreSQL: a new chat's verified points are locked (transaction advisory locks, one per
# point) before its FIND, so two processes storing the first messages of one number on two
# channels at once make one contact: the second waits for the first's commit, then finds the
# point. (Identities need no lock: they are unique.) SQLite has one writer.
POINT_LOCKS = 0x636F6E  # "con"; the two-key form: apart from handoff.infra.locks' keys
LOCK_POINT = f"SELECT pg_advisory_xact_lock({POINT_LOCKS}, hashtext(?))"
STATEMENTS = (
    FIND.format(identities="(?, ?)", points="(?, ?)"), INSERT_CONTACT, INSERT_IDENTITY,
    INSERT_POINT,
)  # fmt: skip
PG_STATEMENTS = (LOCK_POINT,)
_NOTHING = [("", "")]  # "IN ()" is not SQL; ("", "") matches nothing


@dataclass(frozen=True, slots=True)
class Found:
    contact_id: int
    chat_id: int | None  # the chat one of the identities writes into, if any
    held: frozenset[Key]  # the identities held already


def find(
    ids: Sequence[Key],
    points: Sequence[Key],
    name: str,
    now: datetime | str,
    *,
    lock: bool = False,
) -> Plan[Found]:
    """The contact of a customer who states ``ids`` (identities, the chat's key first) and
    ``points`` (verified): the one holding the first identity found, else the oldest one
    holding a verified point, else a new one named ``name``. ``lock`` (PostgreSQL): the
    points' locks first (:data:`LOCK_POINT`), in one order in every process."""
    if lock:
        for kind, value in sorted(set(points)):
            yield LOCK_POINT, [f"{kind}:{value}"]
    probe_ids, probe_points = list(ids) or _NOTHING, list(points) or _NOTHING
    sql = FIND.format(
        identities=", ".join("(?, ?)" for _ in probe_ids),
        points=", ".join("(?, ?)" for _ in probe_points),
    )
    rows = yield sql, [v for key in (*probe_ids, *probe_points) for v in key]
    held = {(r["a"], r["b"]): r for r in rows if r["rank"] == 0}
    found = [held[key] for key in ids if key in held]
    chat_id = next((int(r["chat_id"]) for r in found if r["chat_id"] is not None), None)
    if found:
        contact_id = int(found[0]["contact_id"])
    elif rows:
        contact_id = min(int(r["contact_id"]) for r in rows)
    else:
        made = yield INSERT_CONTACT, [name, now, now, now, *_CONTACT_DEFAULTS.values()]
        contact_id = int(made[0]["id"])
    return Found(contact_id, chat_id, frozenset(held))


def record(
    found: Found,
    chat_id: int,
    ids: Sequence[Key],
    points: Sequence[Key],
    now: datetime | str,
    *,
    verified: bool = True,
) -> Plan[None]:
    """Add the identities not held yet (writing into ``chat_id``) and the points to the
    contact ``found``."""
    for channel, external_id in ids:
        if (channel, external_id) not in found.held:
            yield INSERT_IDENTITY, [found.contact_id, channel, external_id, chat_id, now]
    for kind, value in points:
        yield INSERT_POINT, [found.contact_id, kind, value, verified, now]
