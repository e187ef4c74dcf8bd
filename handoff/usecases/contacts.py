"""Contacts (``/contacts``, ``/contact-attributes``, docs/api.md "Contacts"): the list and
search, one contact with its identities, attributes and conversations, changes, custom
attribute definitions, CSV export and import, and the history agents see.

Who may see which contact: ``handoff.read.contacts``. Each change is one writer operation
that records itself (``handoff.usecases.audit``, no personal data) and pushes
``contact.updated`` (:meth:`Contacts.updated`) to :func:`contact_audience`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from tortoise import timezone
from tortoise.exceptions import IntegrityError

from handoff.domain import contact_attributes as attrs
from handoff.domain import contact_csv, events
from handoff.domain.contact_attributes import Definition
from handoff.domain.errors import Conflict, Forbidden, Invalid, NotFound
from handoff.domain.events import Audience, Event
from handoff.domain.modes import Actor
from handoff.domain.rights import OPEN_MODES
from handoff.infra.writer import Unit, Writer
from handoff.read import contact_views
from handoff.read.contact_views import ContactFilter, contact_rows, contact_values
from handoff.read.contacts import readable_chats, readable_contact
from handoff.read.names import label_ids
from handoff.read.queries import Page
from handoff.read.suggestions import suggestions
from handoff.read.views import CHAT_FIELDS, NO_NAMES, Presenter
from handoff.usecases import audit
from handoff.usecases.staff import Staff
from storage import contacts_bulk, sql
from storage.identities import e164, email
from storage.models import Chat, Contact, ContactAttribute, ContactPoint, Mode

CONVERSATIONS = 100  # the newest conversations shown in a contact's detail
EXPORT_PAGE = 500  # contacts read at a time by the export
IMPORT_SLICE = 500  # rows of an import written in one go (in the import's one transaction)
MAX_POINTS = contact_csv.MAX_POINTS
MAX_AVATAR_URL = 1024


def definition(row: ContactAttribute) -> Definition:
    return Definition(row.key, row.label, row.type, tuple(row.options or ()))


def attribute_view(item: Definition) -> dict[str, Any]:
    return {
        "key": item.key,
        "label": item.label,
        "type": item.type,
        "options": list(item.options),
    }


async def definitions() -> list[Definition]:
    """Every custom attribute, by key."""
    return [definition(row) for row in await ContactAttribute.all().order_by("key")]


async def contact_audience(contact_id: int) -> Audience:
    """Who hears of a change to a contact: admins, the agents holding an open chat of it,
    and every agent when one of its chats waits in the queue (they may all see it then)."""
    rows = await Chat.filter(contact_id=contact_id, mode__in=OPEN_MODES).values_list(
        "assigned_agent_id", "mode"
    )
    agents = frozenset(int(agent) for agent, _ in rows if agent is not None)
    queued = any(agent is None and mode == Mode.AGENT for agent, mode in rows)
    return Audience(agent_ids=agents, queue=queued)


class Contacts:
    def __init__(
        self, writer: Writer, staff: Staff, presenter: Presenter, *, history_for_agents: bool
    ) -> None:
        self.writer = writer
        self.staff = staff
        self.presenter = presenter
        # An agent working a chat sees the contact's other conversations, read-only.
        self.history_for_agents = history_for_agents

    # -- reading ----------------------------------------------------------------------

    async def page(
        self,
        actor: Actor,
        *,
        q: str | None = None,
        attributes: Sequence[tuple[str, str]] = (),
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """A page of the contacts ``actor`` may see, newest first; ``attributes``: (key,
        value as text) filters, all of which hold."""
        filters: list[tuple[Definition, Any]] = []
        if attributes:
            known = {item.key: item for item in await definitions()}
            for key, text in attributes:
                found = _defined(known, key, "attribute")
                filters.append((found, attrs.parse_text(found, text, f"attribute.{key}")))
        chosen = ContactFilter(q=q or None, attributes=filters, limit=limit, cursor=cursor)
        return await contact_views.list_contacts(actor, self.presenter, chosen)

    async def row(self, contact_id: int) -> dict[str, Any]:
        """The row shape of one contact (without conversations and suggestions)."""
        contact = await Contact.get(id=contact_id)
        return (await contact_rows(self.presenter, [contact_values(contact)]))[0]

    async def detail(self, actor: Actor, contact_id: int) -> dict[str, Any]:
        """The full shape (docs/api.md "Contact shape"): the row, its conversations (the
        chat rows ``actor`` may see, newest activity first) and the merge suggestions."""
        contact = await readable_contact(actor, contact_id)
        view = (await contact_rows(self.presenter, [contact_values(contact)]))[0]
        chats = Chat.filter(contact_id=contact.id)
        if not actor.is_admin and not self.history_for_agents:
            chats = chats.filter(readable_chats(actor))
        rows = await chats.order_by("-activity_at", "-id").limit(CONVERSATIONS).values(*CHAT_FIELDS)
        view["conversations"] = await self._chat_rows(rows)
        view["suggestions"] = await suggestions(actor, contact.id)
        return view

    async def _chat_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        agents = {row["assigned_agent_id"] for row in rows if row["assigned_agent_id"]}
        names = await self.staff.agent_names.names(agents) if agents else {}
        wanted = label_ids(rows)
        labels = await self.staff.label_names.names(wanted) if wanted else NO_NAMES
        return [self.presenter.chat_row(row, names, labels) for row in rows]

    # -- changing a contact -----------------------------------------------------------

    async def update(
        self, actor: Actor, contact_id: int, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Change a contact (admins; agents who may act on one of its chats): ``name``,
        ``notes``, ``avatar_url``, ``attributes`` (null removes one), ``phones`` and
        ``emails`` (replace the unverified ones). Answers the row."""
        checked = _checked_fields(changes)
        phones = _points("phones", changes.get("phones"))
        emails = _points("emails", changes.get("emails"))
        given = dict(changes.get("attributes") or {})

        async def operation(unit: Unit) -> dict[str, Any]:
            contact = await readable_contact(actor, contact_id)
            if (
                not actor.is_admin
                and not await Chat.filter(
                    contact_id=contact.id, assigned_agent_id=actor.user_id
                ).exists()
            ):
                raise Forbidden(
                    "only admins and the agents holding one of its chats change a contact"
                )
            values = dict(contact_views.json_object(contact.attributes))
            if given:
                known = {item.key: item for item in await definitions()}
                for key, value in given.items():
                    found = _defined(known, key, "attributes")
                    if value is None:
                        values.pop(key, None)
                    else:
                        values[key] = attrs.check_value(found, value, f"attributes.{key}")
            fields = dict(checked)
            if given:
                fields["attributes"] = values
            changed = sorted(k for k, v in fields.items() if getattr(contact, k) != v)
            for name, value in fields.items():
                setattr(contact, name, value)
            if changed:
                contact.updated_at = timezone.now()
                await contact.save(update_fields=[*changed, "updated_at"])
            for kind, points in (("phone", phones), ("email", emails)):
                if points is None:
                    continue
                held = await ContactPoint.filter(contact_id=contact.id, kind=kind).values_list(
                    "value", "verified"
                )
                unverified = {str(v) for v, verified in held if not verified}
                verified = {str(v) for v, ok in held if ok}
                wanted = [p for p in points if p not in verified]
                if unverified == set(wanted):
                    continue
                await ContactPoint.filter(contact_id=contact.id, kind=kind, verified=False).delete()
                for value in wanted:
                    await ContactPoint.create(contact_id=contact.id, kind=kind, value=value)
                changed.append(f"{kind}s")
            if changed:
                await audit.record(None, actor, audit.CONTACT_UPDATED, contact_id=contact.id,
                                   fields=changed)  # fmt: skip
                return await self.updated(unit, contact.id)
            return await self.row(contact.id)

        return await self.writer.run(operation)

    async def updated(self, unit: Unit, contact_id: int) -> dict[str, Any]:
        """Inside an operation: push ``contact.updated`` with the contact's row as it is now
        (to :func:`contact_audience`); the row."""
        row = await self.row(contact_id)
        audience = await contact_audience(contact_id)
        unit.emit(Event(events.CONTACT_UPDATED, None, {"contact": row}, audience))
        return row

    # -- custom attributes ------------------------------------------------------------

    async def attributes(self) -> list[dict[str, Any]]:
        return [attribute_view(item) for item in await definitions()]

    async def create_attribute(
        self, actor: Actor, key: str, label: str, kind: str, options: Sequence[str] | None
    ) -> dict[str, Any]:
        _admin(actor)
        item = Definition(
            attrs.check_key(key), attrs.check_label(label), attrs.check_type(kind),
            attrs.check_options(kind, options),
        )  # fmt: skip

        async def operation(unit: Unit) -> dict[str, Any]:
            if await ContactAttribute.filter(key=item.key).exists():
                raise Conflict(f"attribute {item.key!r} exists", code="attribute_exists")
            if await ContactAttribute.all().count() >= attrs.MAX_DEFINITIONS:
                raise Conflict(
                    f"at most {attrs.MAX_DEFINITIONS} attributes", code="attribute_limit"
                )
            await ContactAttribute.create(
                key=item.key, label=item.label, type=item.type, options=list(item.options)
            )
            await audit.record(None, actor, audit.CONTACT_ATTRIBUTE_CREATED, key=item.key,
                               type=item.type)  # fmt: skip
            return attribute_view(item)

        try:
            return await self.writer.run(operation)
        except IntegrityError as exc:  # made at the same moment elsewhere
            raise Conflict(f"attribute {item.key!r} exists", code="attribute_exists") from exc

    async def update_attribute(
        self, actor: Actor, key: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Change a definition's ``label`` or ``options`` (a list attribute's): an option
        that a contact holds cannot be taken away (409 ``option_in_use``); rename values by
        adding the new option, changing the contacts, then removing the old one."""
        _admin(actor)
        label = attrs.check_label(changes["label"]) if changes.get("label") is not None else None

        async def operation(unit: Unit) -> dict[str, Any]:
            row = await _attribute(key)
            item = definition(row)
            if changes.get("options") is not None:
                options = attrs.check_options(item.type, changes["options"])
                for gone in (o for o in item.options if o not in options):
                    holding = contact_views.filtered(
                        Contact.filter(merged_into_id=None), [(item, gone)]
                    )
                    count = await holding.count()
                    if count:
                        raise Conflict(
                            f"{count} contact(s) hold {gone!r}: change them first",
                            code="option_in_use", option=gone, contacts=count,
                        )  # fmt: skip
                row.options = list(options)
            if label is not None:
                row.label = label
            new = definition(row)
            if new != item:
                await row.save()
                await audit.record(None, actor, audit.CONTACT_ATTRIBUTE_UPDATED, key=item.key)
            return attribute_view(new)

        return await self.writer.run(operation)

    async def delete_attribute(self, actor: Actor, key: str) -> int:
        """Delete a definition and its values on every contact, in one operation; how many
        contacts held a value."""
        _admin(actor)

        async def operation(unit: Unit) -> int:
            row = await _attribute(key)
            now = sql.time_param(timezone.now())
            count = await sql.run(contacts_bulk.remove_attribute(row.key, now))
            await row.delete()
            await audit.record(None, actor, audit.CONTACT_ATTRIBUTE_DELETED, key=row.key,
                               contacts=count)  # fmt: skip
            return count

        return await self.writer.run(operation)

    # -- CSV --------------------------------------------------------------------------

    async def export(self, actor: Actor) -> AsyncIterator[str]:
        """The contacts as CSV (admins), a page of :data:`EXPORT_PAGE` at a time, by id."""
        _admin(actor)
        known = await definitions()
        yield contact_csv.line(contact_csv.header(known))
        last = 0
        while True:
            rows = (
                await Contact.filter(merged_into_id=None, id__gt=last)
                .order_by("id")
                .limit(EXPORT_PAGE)
                .values(*contact_views.CONTACT_FIELDS)
            )
            if not rows:
                return
            views = await contact_rows(self.presenter, rows)
            yield "".join(contact_csv.line(contact_csv.export_row(v, known)) for v in views)
            last = int(rows[-1]["id"])

    async def import_csv(
        self, actor: Actor, raw: bytes, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Import a CSV file (admins): every row is checked first; one refused row refuses
        the file (422 ``import_refused``, ``details.rows``) and nothing is written; else one
        operation writes all. ``{"created", "updated", "dry_run"}``."""
        _admin(actor)
        if len(raw) > contact_csv.MAX_BYTES:
            raise Invalid("the file is larger than 5 MB", code="file_too_large")
        known = await definitions()
        report = await asyncio.to_thread(contact_csv.read, raw, known)
        ids = [row.contact_id for row in report.rows if row.contact_id is not None]
        found = await _existing(ids)
        for row in report.rows:
            if row.contact_id is not None and row.contact_id not in found:
                report.refuse(row.line, "id", f"no contact {row.contact_id}")
        if report.problems:
            report.problems.sort(key=lambda p: p["row"])
            raise contact_csv.refused(report.problems)
        new = sum(1 for row in report.rows if row.contact_id is None)
        if dry_run:
            return {"created": new, "updated": len(report.rows) - new, "dry_run": True}

        async def operation(unit: Unit) -> dict[str, Any]:
            current = await _existing(ids)  # as they are now, in this transaction
            missing = [i for i in ids if i not in current]
            if missing:
                raise contact_csv.refused(
                    [{"row": r.line, "field": "id", "message": f"no contact {r.contact_id}"}
                     for r in report.rows if r.contact_id in missing]
                )  # fmt: skip
            writes = [
                _write(row, current[row.contact_id] if row.contact_id is not None else None)
                for row in report.rows
            ]
            now = sql.time_param(timezone.now())
            created = updated = 0
            for start in range(0, len(writes), IMPORT_SLICE):
                made, changed = await sql.run(
                    contacts_bulk.write(writes[start : start + IMPORT_SLICE], now)
                )
                created, updated = created + made, updated + changed
                await asyncio.sleep(0)  # a slice at a time: the event loop serves between
            await audit.record(None, actor, audit.CONTACTS_IMPORTED, created=created,
                               updated=updated)  # fmt: skip
            return {"created": created, "updated": updated, "dry_run": False}

        return await self.writer.run(operation)


# -- helpers ------------------------------------------------------------------------------


def _defined(known: Mapping[str, Definition], key: str, where: str) -> Definition:
    """The definition of attribute ``key``; 422 ``unknown_attribute`` naming ``where.key``."""
    found = known.get(key)
    if found is None:
        raise Invalid(
            f"no such attribute: {key[:64]!r}", code="unknown_attribute",
            field=f"{where}.{key[:64]}",
        )  # fmt: skip
    return found


def _admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins may do this")


async def _attribute(key: str) -> ContactAttribute:
    row = await ContactAttribute.get_or_none(key=key) if attrs.KEY.fullmatch(key) else None
    if row is None:
        raise NotFound(f"no such attribute: {key[:64]!r}", code="unknown_attribute")
    return row


async def _existing(ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The contacts (not merged away) of these ids: id -> name, notes, attributes."""
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        rows = await Contact.filter(id__in=ids[start : start + 500], merged_into_id=None).values(
            "id", "name", "notes", "attributes"
        )
        found.update({int(row["id"]): row for row in rows})
    return found


def _write(row: contact_csv.ImportRow, current: dict[str, Any] | None) -> contacts_bulk.Row:
    """An import row as what to write: given columns replace, others stay."""
    values = dict(contact_views.json_object(current["attributes"])) if current else {}
    for key, value in row.attributes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    notes = row.notes if row.notes_given or current is None else current["notes"]
    return contacts_bulk.Row(
        contact_id=row.contact_id, name=row.name, notes=notes, attributes=values,
        phones=row.phones, emails=row.emails,
    )  # fmt: skip


def _checked_fields(changes: Mapping[str, Any]) -> dict[str, Any]:
    """``name``, ``notes`` and ``avatar_url`` given, checked (the rest: the caller)."""
    checked: dict[str, Any] = {}
    if changes.get("name") is not None:
        name = " ".join(str(changes["name"]).split())
        if not 1 <= len(name) <= contact_csv.MAX_NAME:
            raise Invalid(
                f"a name has 1 to {contact_csv.MAX_NAME} characters", code="validation_error",
                field="name",
            )  # fmt: skip
        checked["name"] = name
    if "notes" in changes:
        notes = changes["notes"]
        if notes is not None and len(notes) > contact_csv.MAX_NOTES:
            raise Invalid(
                f"notes have at most {contact_csv.MAX_NOTES} characters",
                code="validation_error", field="notes",
            )  # fmt: skip
        checked["notes"] = notes or None
    if "avatar_url" in changes:
        url = changes["avatar_url"]
        if url is not None and (
            len(url) > MAX_AVATAR_URL or not url.startswith(("https://", "http://"))
        ):
            raise Invalid(
                "avatar_url is an http(s) URL of at most 1024 characters",
                code="validation_error", field="avatar_url",
            )  # fmt: skip
        checked["avatar_url"] = url or None
    return checked


def _points(field: str, given: Sequence[str] | None) -> list[str] | None:
    """Phone numbers (E.164, "+" or "00" first) or e-mail addresses, normalized."""
    if given is None:
        return None
    if len(given) > MAX_POINTS:
        raise Invalid(f"at most {MAX_POINTS} {field}", code="validation_error", field=field)
    found: list[str] = []
    for index, raw in enumerate(given):
        value = e164(raw, international=False) if field == "phones" else email(raw)
        if value is None:
            what = "a phone number with its country code" if field == "phones" else "an address"
            raise Invalid(
                f"{field}[{index}]: {str(raw)[:64]!r} is not {what}", code="validation_error",
                field=f"{field}.{index}",
            )  # fmt: skip
        if value not in found:
            found.append(value)
    return found
