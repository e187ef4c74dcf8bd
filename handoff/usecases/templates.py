"""WhatsApp message templates: synced from the provider, listed for agents, resolved for a
send.

``Templates.sync`` reads the account's whole list from the channel (a
:class:`~connectors.base.ListsTemplates` connector) and stores it in one transaction: each
template upserted by (name, language), those no longer listed removed. A list that could not
be read changes nothing. ``resolve`` turns an agent's request (name, language, parameters)
into the message's spec and its rendered text, or refuses it (``Invalid``: 422).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise import timezone
from tortoise.exceptions import IntegrityError

from connectors.base import Connector, ListsTemplates, MessageTemplate, TemplatesUnavailable
from handoff.domain import templates as rules
from handoff.domain.errors import Conflict, Invalid
from handoff.infra.writer import Unit, Writer
from storage.models import WhatsAppTemplate

log = logging.getLogger(__name__)

CHANNEL = "WhatsApp"
LIST_PATH = "GET /channels/whatsapp/templates"


@dataclass(frozen=True, slots=True)
class SyncResult:
    listed: int  # templates the provider listed
    created: int
    updated: int
    removed: int
    approved: int  # of those listed

    def as_dict(self) -> dict[str, int]:
        return {
            "listed": self.listed,
            "created": self.created,
            "updated": self.updated,
            "removed": self.removed,
            "approved": self.approved,
        }


class Templates:
    def __init__(self, writer: Writer, connectors: Mapping[str, Connector]) -> None:
        self.writer = writer
        self.connectors = connectors

    async def sync(self) -> SyncResult:
        """Store the provider's list as it is now; raises Conflict when there is no channel to
        ask or it could not be read (nothing stored then)."""
        connector = self.connectors.get(CHANNEL)
        if not isinstance(connector, ListsTemplates):
            raise Conflict(
                "the WhatsApp channel is not running here: no templates to sync",
                code="templates_unavailable",
            )
        try:
            listed = await connector.templates()
        except TemplatesUnavailable as exc:
            raise Conflict(
                f"the WhatsApp templates could not be read: {exc}", code="templates_unavailable"
            ) from exc

        async def operation(unit: Unit) -> SyncResult:
            return await _store(listed)

        try:
            result = await self.writer.run(operation)
        except IntegrityError as exc:  # another process stored the same list at that moment
            raise Conflict(
                "another sync of the WhatsApp templates ran at the same time; try again",
                code="templates_busy",
            ) from exc
        log.info("WhatsApp templates synced: %s", result.as_dict())
        return result

    async def sync_quietly(self) -> None:
        """:meth:`sync` at start: a failure is logged, never raised."""
        try:
            await self.sync()
        except Conflict as exc:
            log.warning("WhatsApp templates not synced at start: %s", exc.message)
        except Exception:
            log.exception("WhatsApp templates not synced at start")

    async def approved(self) -> list[dict[str, Any]]:
        """The approved templates, as ``GET /channels/whatsapp/templates`` lists them."""
        rows = await WhatsAppTemplate.filter(status=rules.APPROVED).order_by("name", "language")
        return [view(row) for row in rows]


async def _store(listed: Sequence[MessageTemplate]) -> SyncResult:
    now = timezone.now()
    existing = {(t.name, t.language): t for t in await WhatsAppTemplate.all()}
    created = updated = 0
    seen: set[tuple[str, str]] = set()
    for template in listed:
        key = (template.name, template.language)
        if key in seen:
            continue
        seen.add(key)
        values: dict[str, Any] = {
            "category": template.category,
            "status": template.status,
            "components": template.components,
            "external_id": template.external_id,
            "synced_at": now,
        }
        row = existing.get(key)
        if row is None:
            await WhatsAppTemplate.create(name=template.name, language=template.language, **values)
            created += 1
            continue
        changed = any(
            getattr(row, name) != value for name, value in values.items() if name != "synced_at"
        )
        row.update_from_dict(values)
        await row.save(update_fields=list(values))
        updated += changed
    gone = [row.id for key, row in existing.items() if key not in seen]
    if gone:
        await WhatsAppTemplate.filter(id__in=gone).delete()
    approved = sum(1 for t in listed if t.status == rules.APPROVED)
    return SyncResult(len(seen), created, updated, len(gone), approved)


def view(row: WhatsAppTemplate) -> dict[str, Any]:
    """A template for clients: what it says and how many values each part takes."""
    components = list(row.components or [])
    shape = rules.shape(components)
    return {
        "name": row.name,
        "language": row.language,
        "category": row.category,
        "status": row.status,
        "components": components,
        "parameters": shape.counts(),
        "header_format": shape.header_format,
        "preview": rules.render(components, {}),
        "synced_at": row.synced_at.isoformat() if row.synced_at else None,
    }


async def resolve(
    name: str, language: str, parameters: Mapping[str, Sequence[str]]
) -> tuple[dict[str, Any], str]:
    """The spec to keep and send, and the text the thread shows; Invalid when the template
    is not an approved one of that language or the parameters do not fit it."""
    row = await WhatsAppTemplate.get_or_none(name=name, language=language)
    if row is None:
        languages = sorted(
            await WhatsAppTemplate.filter(name=name, status=rules.APPROVED).values_list(
                "language", flat=True
            )
        )
        if languages:
            raise Invalid(
                f"template {name} has no {language} version; approved languages: "
                f"{', '.join(str(lang) for lang in languages)}",
                code="template_language",
                field="template.language",
                languages=languages,
            )
        raise Invalid(
            f"no template {name} ({language}) is known; {LIST_PATH} lists the approved ones "
            "(an admin syncs them with POST /channels/whatsapp/templates/sync)",
            code="unknown_template",
            field="template.name",
        )
    if row.status != rules.APPROVED:
        raise Invalid(
            f"template {name} ({language}) is {row.status}, not APPROVED: WhatsApp sends only "
            "approved templates",
            code="template_not_approved",
            field="template.name",
            status=row.status,
        )
    components = list(row.components or [])
    shape = rules.shape(components)
    rules.check(name, shape, parameters)
    spec = rules.spec(name, language, shape, parameters)
    return spec, rules.render(components, parameters)
