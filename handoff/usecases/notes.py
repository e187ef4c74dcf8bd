"""Private notes: what staff write in a chat for each other, never sent to the customer.

A note is a message with ``internal`` true, its sender the agent who wrote it, status
``sent`` from the start: the outbox only ever picks messages that are queued and not
internal, so no provider sees it, before or after a restart. It changes nothing of the chat
(mode, assignee, unread count, the list's last message) and needs no open channel window.
A ``@username`` of an active user (not the author) makes that user a watcher of the chat
(``ChatWatcher`` row and ``Chat.watchers``): they may read it and add notes until it closes
(``handoff.domain.rights``), and get a ``mention`` notification.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import reduce
from operator import or_
from typing import Any

from tortoise import timezone
from tortoise.expressions import Q

from handoff.domain import events
from handoff.domain.errors import NotFound
from handoff.domain.events import Audience, Event
from handoff.domain.mentions import mentioned
from handoff.domain.modes import Actor, ActorKind
from handoff.domain.rights import can_note, can_read
from handoff.domain.sanitize import clean
from handoff.infra.locks import ASSIGNMENT, exclusive
from handoff.infra.writer import Unit, Writer
from handoff.read.views import Presenter, chat_audience, chat_values, message_values, preview
from handoff.usecases import audit
from handoff.usecases.notifications import MENTION, notify
from handoff.usecases.staff import Staff
from storage.models import Chat, ChatWatcher, Message, Sender, Status, User

MENTION_PREVIEW = 140  # characters of the note in a mention notification


class Notes:
    def __init__(
        self, writer: Writer, staff: Staff, presenter: Presenter, *, postgres: bool = False
    ) -> None:
        self.writer = writer
        self.staff = staff
        self.presenter = presenter
        self.postgres = postgres

    async def add(
        self,
        actor: Actor,
        chat_id: int,
        text: str,
        *,
        mentions: bool = True,
        also: Callable[[], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        """Store ``actor``'s note in ``chat_id`` (who may act on the chat, or a watcher);
        mentioned users become watchers and are notified. The message's view.

        A note of the system (a copilot's summary at handoff: ``actor`` not a person) needs
        no rights and has no author (``agent_id`` None). ``mentions=False``: ``@names`` in
        the text are words (a text a model wrote from what customers said mentions nobody).
        ``also``: more work in the same operation (the copilot records its model call).
        """
        text = clean(text)

        async def operation(unit: Unit) -> dict[str, Any]:
            # As the desk's changes do: a close in another process cannot clear the watchers
            # between this read of the chat and the write of its new ones.
            await exclusive(ASSIGNMENT, postgres=self.postgres)
            chat = await Chat.get_or_none(id=chat_id)
            person = actor.kind == ActorKind.PERSON
            if chat is None or (person and not can_read(chat, actor)):
                raise NotFound(f"chat {chat_id} not found")
            if person and not can_note(chat, actor):
                raise NotFound(
                    f"chat {chat_id} waits in the queue: claim it first", code="claim_first"
                )
            message = await Message.create(
                chat_id=chat.id,
                text=text,
                sender=Sender.AGENT,
                status=Status.SENT,
                internal=True,
                agent_id=actor.user_id,
            )
            added = await self._watchers(chat, actor, text, message.id) if mentions else []
            if also is not None:
                await also()
            await audit.record(
                chat.id, actor, audit.NOTE_ADDED, message_id=message.id, mentioned=added
            )
            view = self.presenter.message(message_values(message))
            row = await self.staff.chat_row(self.presenter, chat_values(chat))
            audience = chat_audience(chat)
            unit.emit(
                Event(events.MESSAGE_CREATED, chat.id, {"message": view, "chat": row}, audience)
            )
            if added:  # the chat appears in the new watchers' lists
                unit.emit(
                    Event(
                        events.CHAT_UPDATED,
                        chat.id,
                        {"chat": row},
                        Audience(agent_ids=frozenset(added)),
                    )
                )
                by = actor.name or await self._name(actor)
                await notify(
                    unit, self.presenter, added, MENTION, chat_id=chat.id,
                    message_id=message.id, by=by, customer=chat.customer_name,
                    text=preview(text)[:MENTION_PREVIEW],
                )  # fmt: skip
            return view

        return await self.writer.run(operation)

    async def _watchers(self, chat: Chat, actor: Actor, text: str, message_id: int) -> list[int]:
        """Make the users ``text`` mentions watchers of ``chat`` (both the rows and
        ``Chat.watchers``); the ids newly mentioned (not the author; already watching or
        holding the chat counts as mentioned again: notified, no second row)."""
        names = mentioned(text)
        if not names:
            return []
        wanted = reduce(or_, (Q(username__iexact=name) for name in names))
        users = await User.filter(wanted, active=True).order_by("id").values("id")
        ids = [int(row["id"]) for row in users if row["id"] != actor.user_id]
        if not ids:
            return []
        watchers = list(chat.watchers or [])
        new = [i for i in ids if i not in watchers and i != chat.assigned_agent_id]
        if new:
            await ChatWatcher.bulk_create(
                [ChatWatcher(chat_id=chat.id, user_id=i, message_id=message_id) for i in new],
                ignore_conflicts=True,
            )
            chat.watchers = watchers + new
            chat.updated_at = timezone.now()
            await chat.save(update_fields=["watchers", "updated_at"])
        return ids

    async def _name(self, actor: Actor) -> str:
        if actor.user_id is None:
            return str(actor.kind)
        names = await self.staff.names({actor.user_id})
        return names.get(actor.user_id, "")
