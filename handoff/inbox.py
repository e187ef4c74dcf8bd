"""Inbound: store what customers write, exactly once, then react to it.

``Inbox.receive`` runs as one operation of the group-commit writer: it finds
or creates the chat by (channel, external chat id), stores the message unless
the provider already delivered it, bumps the unread count and the chat's last
activity, and reopens a closed chat. The caller (a connector) is answered
after the commit; only then does it acknowledge the provider. Reactions (the
bot, assignment) run after the commit, off the provider's request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise import timezone
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from connectors.base import InboundEdit, InboundMessage
from handoff import events, modes
from handoff.events import Event
from handoff.records import record_transition
from handoff.sanitize import clean, clean_optional, clean_tree
from handoff.staff import Staff
from handoff.unit import Unit, Writer
from handoff.views import Presenter, chat_audience, chat_values, message_values, preview
from storage.models import Channel, Chat, Message, Mode, Sender, Status

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Received:
    """What became of one inbound message."""

    chat_id: int
    message_id: int | None  # None for a duplicate delivery
    duplicate: bool
    chat_created: bool
    mode: Mode
    channel: str
    text: str
    customer_name: str

    @property
    def stored(self) -> bool:
        return not self.duplicate


Reaction = Callable[[Received], Coroutine[Any, Any, None]]


class ChatIds:
    """(channel, external id) -> chat id. Chats are never renumbered, so entries stay true."""

    def __init__(self, size: int = 100_000) -> None:
        self._ids: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._size = size

    def get(self, key: tuple[str, str]) -> int | None:
        chat_id = self._ids.get(key)
        if chat_id is not None:
            self._ids.move_to_end(key)
        return chat_id

    def put(self, key: tuple[str, str], chat_id: int) -> None:
        self._ids[key] = chat_id
        self._ids.move_to_end(key)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)

    def forget(self, key: tuple[str, str]) -> None:
        self._ids.pop(key, None)


class Inbox:
    def __init__(self, writer: Writer, staff: Staff, presenter: Presenter) -> None:
        self.writer = writer
        self.staff = staff
        self.presenter = presenter
        self.chat_ids = ChatIds()
        self.reactions: list[Reaction] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def receive(self, message: InboundMessage) -> Received:
        """Store one message (idempotently); return after the commit that holds it."""
        return (await self.receive_many([message]))[0]

    async def receive_many(self, messages: Sequence[InboundMessage]) -> list[Received]:
        """Store several messages in one commit (a provider's batch), in order."""
        for attempt in range(3):
            try:
                results = await self.writer.run(lambda unit: self._ingest(unit, messages))
                break
            except IntegrityError:
                # Another process created the same chat or message first; the retry finds it.
                if attempt == 2:
                    raise
                for message in messages:
                    self.chat_ids.forget((message.channel, message.chat_external_id))
        for result in results:
            if result.stored:
                self._react(result)
        return results

    async def edit(self, edit: InboundEdit) -> bool:
        """A customer edited a message: update its text (the chat list preview too, if latest)."""

        async def operation(unit: Unit) -> bool:
            chat = await Chat.get_or_none(channel=edit.channel, external_id=edit.chat_external_id)
            if chat is None:
                return False
            message = await Message.get_or_none(
                chat_id=chat.id, external_id=edit.message_external_id, sender=Sender.CUSTOMER
            )
            if message is None or message.text == clean(edit.text):
                return False
            message.text = clean(edit.text)
            await message.save(update_fields=["text", "updated_at"])
            latest = await Message.filter(chat_id=chat.id, internal=False).order_by("-id").first()
            if latest is not None and latest.id == message.id:
                chat.last_message_text = preview(message.text)
                await chat.save(update_fields=["last_message_text", "updated_at"])
            view = self.presenter.message(message_values(message))
            unit.emit(
                Event(events.MESSAGE_UPDATED, chat.id, {"message": view}, chat_audience(chat))
            )
            return True

        return await self.writer.run(operation)

    async def drain(self) -> None:
        """Wait for the reactions started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _react(self, result: Received) -> None:
        for reaction in self.reactions:
            task = asyncio.get_running_loop().create_task(reaction(result))
            self._tasks.add(task)
            task.add_done_callback(self._reaction_done)

    def _reaction_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("reaction to an inbound message failed", exc_info=task.exception())

    async def _ingest(self, unit: Unit, messages: Sequence[InboundMessage]) -> list[Received]:
        results = []
        for message in messages:
            results.append(await self._ingest_one(unit, message))
        return results

    async def _ingest_one(self, unit: Unit, inbound: InboundMessage) -> Received:
        inbound = _cleaned(inbound)
        key = (inbound.channel, inbound.chat_external_id)
        now = timezone.now()
        chat, created = await self._find_or_create_chat(inbound, key, now)
        duplicate = (
            not created
            and await Message.filter(
                chat_id=chat.id, external_id=inbound.message_external_id
            ).exists()
        )
        if duplicate:
            return Received(
                chat.id, None, True, False, chat.mode, inbound.channel, inbound.text,
                chat.customer_name,
            )  # fmt: skip
        if chat.external_id == inbound.chat_external_id:  # not a thread joined by reference
            unit.after_commit(lambda: self.chat_ids.put(key, chat.id))

        message = await Message.create(
            chat_id=chat.id,
            text=inbound.text,
            sender=Sender.CUSTOMER,
            status=Status.SENT,
            external_id=inbound.message_external_id,
            attachments=[attachment.as_dict() for attachment in inbound.attachments],
            reply_to_external_id=inbound.reply_to_external_id,
        )
        previous_mode, previous_agent = chat.mode, chat.assigned_agent_id
        note = None
        if chat.mode == Mode.CLOSED:
            transition = modes.plan(
                mode=chat.mode,
                assignee=chat.assigned_agent_id,
                action=modes.Action.CUSTOMER_WROTE,
                actor=modes.CUSTOMER,
            )
            note = await record_transition(chat, transition, self.staff, now)
        await self._touch_chat(chat, inbound, message, now)
        audience = chat_audience(chat, previous_agent)
        row = await self._row(chat)
        if created:
            unit.emit(Event(events.CHAT_CREATED, chat.id, {"chat": row}, audience))
        if note is not None:
            view = self.presenter.message(message_values(note))
            unit.emit(
                Event(events.MESSAGE_CREATED, chat.id, {"message": view, "chat": row}, audience)
            )
        unit.emit(
            Event(
                events.MESSAGE_CREATED,
                chat.id,
                {"message": self.presenter.message(message_values(message)), "chat": row},
                audience,
            )
        )
        if previous_mode != chat.mode:
            unit.emit(Event(events.CHAT_UPDATED, chat.id, {"chat": row}, audience))
        return Received(
            chat.id, message.id, False, created, chat.mode, inbound.channel, inbound.text,
            chat.customer_name,
        )  # fmt: skip

    async def _find_or_create_chat(
        self, inbound: InboundMessage, key: tuple[str, str], now: object
    ) -> tuple[Chat, bool]:
        chat_id = self.chat_ids.get(key)
        chat = None
        if inbound.thread_refs:
            chat = await self._chat_of_thread(inbound)
        if chat is None and chat_id is not None:
            chat = await Chat.get_or_none(id=chat_id)
        if chat is None:
            chat = await Chat.get_or_none(channel=inbound.channel, external_id=key[1])
        if chat is not None:
            return chat, False
        chat = await Chat.create(
            channel=Channel(inbound.channel),
            external_id=inbound.chat_external_id,
            customer_name=inbound.customer_name or inbound.customer_phone or "Customer",
            customer_phone=inbound.customer_phone,
            customer_email=inbound.customer_email,
            customer_username=inbound.customer_username,
            subject=inbound.subject,
            mode=Mode.BOT,
            activity_at=now,
        )
        return chat, True

    async def _chat_of_thread(self, inbound: InboundMessage) -> Chat | None:
        """The chat of the newest message this one refers to (an email reply), if any."""
        refs = list(inbound.thread_refs[-50:])
        message = (
            await Message.filter(external_id__in=refs, chat__channel=inbound.channel)
            .order_by("-id")
            .first()
        )
        return await Chat.get_or_none(id=message.chat_id) if message is not None else None

    async def _touch_chat(
        self, chat: Chat, inbound: InboundMessage, message: Message, now: object
    ) -> None:
        """Count the message as unread and make it the chat's latest, atomically."""
        changes: dict[str, object] = {
            "last_message_at": message.created_at,
            "last_customer_message_at": message.created_at,
            "last_message_text": preview(inbound.text) or _describe_attachments(inbound),
            "last_message_sender": Sender.CUSTOMER.value,
            "activity_at": message.created_at,
            "online": True,
            "updated_at": now,
        }
        own = chat.external_id == inbound.chat_external_id  # not someone joining by reference
        if own and inbound.customer_name and inbound.customer_name != chat.customer_name:
            changes["customer_name"] = inbound.customer_name
        if (
            own
            and inbound.customer_username
            and inbound.customer_username != chat.customer_username
        ):
            changes["customer_username"] = inbound.customer_username
        await Chat.filter(id=chat.id).update(unread_count=F("unread_count") + 1, **changes)
        for name, value in changes.items():
            setattr(chat, name, value)
        await chat.refresh_from_db(fields=["unread_count"])

    async def _row(self, chat: Chat) -> dict[str, object]:
        agent = chat.assigned_agent_id
        names = await self.staff.names({agent}) if agent is not None else {}
        return self.presenter.chat_row(chat_values(chat), names)


def _cleaned(inbound: InboundMessage) -> InboundMessage:
    """The message with control characters dropped from everything it carries."""
    return dataclasses.replace(
        inbound,
        chat_external_id=clean(inbound.chat_external_id),
        message_external_id=clean(inbound.message_external_id),
        text=clean(inbound.text),
        customer_name=clean(inbound.customer_name),
        customer_phone=clean_optional(inbound.customer_phone),
        customer_email=clean_optional(inbound.customer_email),
        customer_username=clean_optional(inbound.customer_username),
        subject=clean_optional(inbound.subject),
        attachments=tuple(
            dataclasses.replace(a, **clean_tree(dataclasses.asdict(a))) for a in inbound.attachments
        ),
        reply_to_external_id=clean_optional(inbound.reply_to_external_id),
        thread_refs=tuple(clean(ref) for ref in inbound.thread_refs),
    )


def _describe_attachments(inbound: InboundMessage) -> str:
    kinds = ", ".join(attachment.kind for attachment in inbound.attachments)
    return f"[{kinds}]" if kinds else ""
