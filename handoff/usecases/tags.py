"""Labels and priority: the labels admins define, the labels on chats, a chat's priority.

Each change is one writer operation: it loads the chat with the desk's rights
(:meth:`~handoff.usecases.desk.Desk.writable_chat`: admins any chat, agents their own),
changes it, records it (``handoff.usecases.audit``) and pushes ``chat.updated`` with the
chat row. A chat's labels are kept twice, in the same transaction: ``Chat.label_ids``
(shown with the row, no query per row) and the rows of ``chat_labels`` (which the list
filters use). Adding a label a chat has, or setting the priority it has, changes nothing
and answers the row.

The functions below the class work inside an operation of someone else's (the desk's
PATCH, the autopilot carrying out the bot's decision), so a change made together with
others commits or fails with them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery

from handoff.domain import events, labels, modes, priority
from handoff.domain.errors import Conflict, Forbidden, NotFound
from handoff.domain.events import Event
from handoff.domain.modes import Actor
from handoff.infra.writer import Unit, Writer
from handoff.read.views import Presenter, chat_audience, chat_values
from handoff.usecases import audit
from handoff.usecases.staff import Staff
from storage.models import Chat, ChatLabel, Label

if TYPE_CHECKING:
    from handoff.usecases.desk import Desk

log = logging.getLogger(__name__)

LABEL_FIELDS = ("id", "name", "colour", "description")


def label_view(label: Label) -> dict[str, Any]:
    return {
        "id": label.id,
        "name": label.name,
        "colour": label.colour,
        "description": label.description,
    }


class Tags:
    def __init__(self, writer: Writer, desk: Desk, staff: Staff, presenter: Presenter) -> None:
        self.writer = writer
        self.desk = desk
        self.staff = staff
        self.presenter = presenter

    # -- the labels (admins) --------------------------------------------------------------

    async def labels(self) -> list[dict[str, Any]]:
        """Every label, by name (case-insensitive)."""
        rows = await Label.all().values(*LABEL_FIELDS)
        return sorted(rows, key=lambda row: (str(row["name"]).casefold(), row["id"]))

    async def create_label(
        self, actor: Actor, name: str, colour: str | None = None, description: str = ""
    ) -> dict[str, Any]:
        _admin(actor)
        name = labels.check_name(name)
        colour = labels.check_colour(colour) if colour is not None else labels.DEFAULT_COLOUR
        description = labels.check_description(description)

        async def operation(unit: Unit) -> dict[str, Any]:
            await _check_free(name)
            label = await Label.create(name=name, colour=colour, description=description)
            await audit.record(None, actor, audit.LABEL_CREATED, label_id=label.id, label=name)
            unit.after_commit(self.staff.label_names.forget)
            return label_view(label)

        return await self.writer.run(operation)

    async def update_label(
        self, actor: Actor, label_id: int, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Rename, recolour or describe a label (chats show the new name: rows keep ids)."""
        _admin(actor)
        checked: dict[str, Any] = {}
        if changes.get("name") is not None:
            checked["name"] = labels.check_name(changes["name"])
        if changes.get("colour") is not None:
            checked["colour"] = labels.check_colour(changes["colour"])
        if changes.get("description") is not None:
            checked["description"] = labels.check_description(changes["description"])

        async def operation(unit: Unit) -> dict[str, Any]:
            label = await Label.get_or_none(id=label_id)
            if label is None:
                raise NotFound(f"no such label: {label_id}", code="unknown_label")
            if "name" in checked:
                await _check_free(checked["name"], but=label.id)
            before = label_view(label)
            for field, value in checked.items():
                setattr(label, field, value)
            await label.save()
            after = label_view(label)
            changed = {k: [before[k], after[k]] for k in checked if before[k] != after[k]}
            if changed:
                await audit.record(
                    None, actor, audit.LABEL_UPDATED, label_id=label.id, changes=changed
                )
                unit.after_commit(self.staff.label_names.forget)
            return after

        return await self.writer.run(operation)

    async def delete_label(self, actor: Actor, label_id: int) -> list[int]:
        """Delete a label and take it off every chat, in one transaction: each chat's
        ``label_ids`` and ``chat_labels`` rows, a ``label_removed`` audit row and a
        ``chat.updated`` event per chat (its row is shown without a query per chat). The
        ids of the chats it was on."""
        _admin(actor)

        async def operation(unit: Unit) -> list[int]:
            label = await Label.get_or_none(id=label_id)
            if label is None:
                raise NotFound(f"no such label: {label_id}", code="unknown_label")
            on = Subquery(ChatLabel.filter(label_id=label.id).values("chat_id"))
            chats = await Chat.filter(id__in=on).order_by("id")
            await ChatLabel.filter(label_id=label.id).delete()
            for chat in chats:
                chat.label_ids = [i for i in chat.label_ids or () if i != label.id]
                await chat.save(update_fields=["label_ids", "updated_at"])
                await audit.record(
                    chat.id, actor, audit.LABEL_REMOVED, label_id=label.id, label=label.name,
                    deleted=True,
                )  # fmt: skip
                row = await self._row(chat)
                unit.emit(Event(events.CHAT_UPDATED, chat.id, {"chat": row}, chat_audience(chat)))
            await audit.record(
                None, actor, audit.LABEL_DELETED, label_id=label.id, label=label.name,
                chats=len(chats),
            )  # fmt: skip
            await label.delete()
            unit.after_commit(self.staff.label_names.forget)
            return [chat.id for chat in chats]

        return await self.writer.run(operation)

    async def ensure_labels(self, names: Iterable[str]) -> list[str]:
        """The labels named (by the bot's intents) exist: those missing are created with the
        default colour (logged). The names created."""
        wanted = {labels.check_name(name).casefold(): labels.check_name(name) for name in names}
        if not wanted:
            return []

        async def operation(unit: Unit) -> list[str]:
            have = {str(n).casefold() for n in await Label.all().values_list("name", flat=True)}
            missing = [name for key, name in sorted(wanted.items()) if key not in have]
            for name in missing:
                label = await Label.create(name=name, description="")
                await audit.record(
                    None, modes.SYSTEM, audit.LABEL_CREATED, label_id=label.id, label=name
                )
            if missing:
                unit.after_commit(self.staff.label_names.forget)
            return missing

        try:
            created = await self.writer.run(operation)
        except IntegrityError:  # another process made them at the same moment
            return []
        if created:
            log.warning(
                "labels named by [[bot.intents]] did not exist and were created: %s",
                ", ".join(created),
            )
        return created

    # -- a chat's labels and priority -----------------------------------------------------

    async def add_label(self, actor: Actor, chat_id: int, name: str) -> dict[str, Any]:
        """Put the label ``name`` (any case) on the chat; the chat row."""

        async def operation(unit: Unit) -> dict[str, Any]:
            chat = await self.desk.writable_chat(actor, chat_id)
            label = await find_label(name)
            await put_labels(unit, self.staff, self.presenter, chat, [label], actor)
            return await self._row(chat)

        return await self.writer.run(operation)

    async def remove_label(self, actor: Actor, chat_id: int, name: str) -> dict[str, Any]:
        """Take the label ``name`` (any case) off the chat; the chat row."""

        async def operation(unit: Unit) -> dict[str, Any]:
            chat = await self.desk.writable_chat(actor, chat_id)
            label = await find_label(name)
            if label.id in (chat.label_ids or ()):
                chat.label_ids = [i for i in chat.label_ids or () if i != label.id]
                await chat.save(update_fields=["label_ids", "updated_at"])
                await ChatLabel.filter(chat_id=chat.id, label_id=label.id).delete()
                await audit.record(
                    chat.id, actor, audit.LABEL_REMOVED, label_id=label.id, label=label.name
                )
                row = await self._row(chat)
                unit.emit(Event(events.CHAT_UPDATED, chat.id, {"chat": row}, chat_audience(chat)))
                return row
            return await self._row(chat)

        return await self.writer.run(operation)

    async def set_priority(self, actor: Actor, chat_id: int, level: str) -> dict[str, Any]:
        """Set the chat's priority (none, low, medium, high, urgent); the chat row."""
        rank = priority.rank(level)

        async def operation(unit: Unit) -> dict[str, Any]:
            chat = await self.desk.writable_chat(actor, chat_id)
            await put_priority(unit, self.staff, self.presenter, chat, rank, actor)
            return await self._row(chat)

        return await self.writer.run(operation)

    async def _row(self, chat: Chat) -> dict[str, Any]:
        return await self.staff.chat_row(self.presenter, chat_values(chat))


# -- inside an operation ------------------------------------------------------------------


async def find_label(name: str) -> Label:
    """The label named ``name`` (any case); NotFound ``unknown_label`` when there is none."""
    label = await Label.get_or_none(name__iexact=" ".join(name.split()))
    if label is None:
        raise NotFound(f"no such label: {name!r}", code="unknown_label", label=name)
    return label


async def labels_named(names: Sequence[str]) -> list[Label]:
    """The labels of these names that exist (any case), in the order named."""
    if not names:
        return []
    found = {label.name.casefold(): label for label in await Label.all()}
    picked = [found.get(" ".join(name.split()).casefold()) for name in names]
    return [label for label in picked if label is not None]


async def put_labels(
    unit: Unit,
    staff: Staff,
    presenter: Presenter,
    chat: Chat,
    chosen: Sequence[Label],
    actor: Actor,
) -> bool:
    """Add the labels ``chat`` does not have yet (ids and rows, audited, pushed); whether
    anything changed."""
    have = list(chat.label_ids or ())
    new = [label for label in chosen if label.id not in have]
    if not new:
        return False
    chat.label_ids = have + [label.id for label in new]
    await chat.save(update_fields=["label_ids", "updated_at"])
    await ChatLabel.bulk_create([ChatLabel(chat_id=chat.id, label_id=label.id) for label in new])
    for label in new:
        await audit.record(chat.id, actor, audit.LABEL_ADDED, label_id=label.id, label=label.name)
    row = await staff.chat_row(presenter, chat_values(chat))
    unit.emit(Event(events.CHAT_UPDATED, chat.id, {"chat": row}, chat_audience(chat)))
    return True


async def put_priority(
    unit: Unit, staff: Staff, presenter: Presenter, chat: Chat, rank: int, actor: Actor
) -> bool:
    """Set ``chat``'s priority (a stored number, see ``handoff.domain.priority``): audited,
    pushed; whether it changed."""
    before = chat.priority or 0
    if before == rank:
        return False
    chat.priority = rank
    await chat.save(update_fields=["priority", "updated_at"])
    await audit.record(
        chat.id, actor, audit.PRIORITY_CHANGED,
        **{"from": priority.name(before), "to": priority.name(rank)},
    )  # fmt: skip
    row = await staff.chat_row(presenter, chat_values(chat))
    unit.emit(Event(events.CHAT_UPDATED, chat.id, {"chat": row}, chat_audience(chat)))
    return True


def _admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins manage labels")


async def _check_free(name: str, *, but: int | None = None) -> None:
    """Conflict ``label_exists`` when another label has this name, in any case."""
    taken = Label.filter(name__iexact=name)
    if but is not None:
        taken = taken.exclude(id=but)
    existing = await taken.first()
    if existing is not None:
        raise Conflict(
            f"a label named {existing.name!r} exists", code="label_exists", label_id=existing.id
        )
