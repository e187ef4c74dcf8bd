"""Inbound: store what customers write, exactly once.

``Inbox.receive`` runs as one operation of the group-commit writer: it finds
or creates the chat by (channel, external chat id), stores the message unless
the provider already delivered it, bumps the unread count and the chat's last
activity, and reopens a closed chat. The caller (a connector) is answered
after the commit; only then does it acknowledge the provider. What follows (the
bot's answer: ``handoff.usecases.autopilot``) listens to the ``arriving`` and
``received`` hooks and runs off the provider's request.

A message whose sender the channel could not confirm (``sender_verified`` False: email
without an aligned DKIM or SPF pass, ``connectors.email_auth``) never joins an existing
chat: it goes to a chat of its own keyed ``unverified:<address>`` (created marked
``sender_unverified``), and its thread references are not followed. So a stranger writing
with a customer's address neither lands in that customer's chat nor sees its answers.

A message that answers a satisfaction survey (a ``csat:`` payload, or a comment after a
rating: ``handoff.usecases.csat``, asked only for a payload or a closed chat) is stored
like any other but leaves the chat as it is (a closed chat is not reopened) and is marked
``Received.survey``: the bot does not answer it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import timezone
from tortoise.exceptions import IntegrityError

from connectors.base import InboundEdit, InboundMessage, unverified_chat_id
from handoff.domain import csat, events, media, modes
from handoff.domain.events import Event
from handoff.domain.rights import OPEN_MODES
from handoff.domain.sanitize import clean, clean_tree
from handoff.hooks import Hook
from handoff.infra.writer import Unit, Writer
from handoff.read.views import (
    Presenter,
    chat_audience,
    chat_values,
    message_values,
    preview,
    row_audience,
)
from handoff.usecases import notifications, snooze
from handoff.usecases.csat import Surveys
from handoff.usecases.reporting import Reporting
from handoff.usecases.staff import Staff
from handoff.usecases.transitions import record_transition, transition_view
from storage import ingest as ingest_store
from storage import sql
from storage.models import Chat, Message, Mode, Sender, Status
from storage.notifications import Wrote

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
    media_pending: bool = False  # stored with files to fetch (handoff.usecases.media)
    received_at: datetime | None = None  # when it was stored (the bot's answer time counts from it)
    # It answered a satisfaction survey (a rating or a comment): the chat stayed as it was
    # and the bot does not answer it. ``answer``: what the customer is told at once (the
    # thanks a Telegram connector shows in place of the survey's buttons).
    survey: bool = False
    answer: str | None = None

    @property
    def stored(self) -> bool:
        return not self.duplicate


class ChatIds:
    """(channel, external id) -> chat id. Chats are never renumbered, so entries stay true
    until a chat is erased (``Inbox.forget_chats``; another process's stale entry fails the
    insert, and the retry of :meth:`Inbox._store` forgets it)."""

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
    def __init__(
        self,
        writer: Writer,
        staff: Staff,
        presenter: Presenter,
        *,
        surveys: Surveys | None = None,
        clock: Callable[[], datetime] = timezone.now,
        reporting: Reporting | None = None,
    ) -> None:
        """``surveys``: takes the answers to satisfaction surveys (None: none are taken);
        ``clock``: the time messages are stored at (tests move it); ``reporting``: the
        facts a reopening records (docs/api.md, "Reports")."""
        self.writer = writer
        self.surveys = surveys
        self.staff = staff
        self.presenter = presenter
        self.clock = clock
        self.reporting = reporting or Reporting()
        self.chat_ids = ChatIds()
        # Messages that stated more of their customer (storage.ingest.stated), by what they
        # stated, once added to the contact: a customer's every message adds it once.
        self.stated = ChatIds(10_000)
        # A provider's batch starts being stored.
        self.arriving: Hook[None] = Hook("inbox.arriving")
        # After every ``arriving``: what became of the batch once committed (empty when
        # storing it failed). Listeners start their work in the background.
        self.received: Hook[Sequence[Received]] = Hook("inbox.received")

    def forget_chats(self, keys: Sequence[tuple[str, str]]) -> None:
        """Chats erased (``handoff.usecases.erasure``): their next message makes new ones."""
        for key in keys:
            self.chat_ids.forget(key)

    async def receive(self, message: InboundMessage) -> Received:
        """Store one message (idempotently); return after the commit that holds it."""
        return (await self.receive_many([message]))[0]

    async def receive_many(self, messages: Sequence[InboundMessage]) -> list[Received]:
        """Store several messages in one commit (a provider's batch), in order."""
        messages = [_kept_apart(_cleaned(message)) for message in messages]
        self.arriving.fire(None)
        results: list[Received] = []
        try:
            results = await self._store(messages)
        finally:
            self.received.fire(results)
        return results

    async def _store(self, messages: Sequence[InboundMessage]) -> list[Received]:
        for attempt in range(3):
            try:
                results: list[Received] = await self.writer.run_merged(
                    "inbox", self._ingest_merged, messages
                )
                break
            except IntegrityError:
                # Another process created the same chat or message first; the retry finds it.
                if attempt == 2:
                    raise
                for message in messages:
                    self.chat_ids.forget((message.channel, message.chat_external_id))
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

    async def _ingest_merged(
        self, units: Sequence[Unit], batches: Sequence[Sequence[InboundMessage]]
    ) -> list[list[Received]]:
        """Several callers' messages in one savepoint (see ``Writer.run_merged``), in order.

        Runs of messages go to the database as one plan (one hand-off to SQLite's thread); a
        message that names the thread it answers (email) is looked up on its own first, and a
        plan stops after a closed chat so that the chat is reopened before the next message.
        """
        flat = [(unit, message) for unit, messages in zip(units, batches, strict=True)
                for message in messages]  # fmt: skip
        done: list[Received] = []
        wrote: dict[tuple[int, int], Wrote] = {}  # (holder, chat): their "message" notification
        while len(done) < len(flat):
            unit, message = flat[len(done)]
            if message.thread_refs:
                done.append(await self._ingest_one(unit, message, wrote))
                continue
            run = []
            for item in flat[len(done) :]:
                if item[1].thread_refs:
                    break
                run.append(item)
            now = self.clock()
            cached = [self.chat_ids.get((m.channel, m.chat_external_id)) for _, m in run]
            at = sql.time_param(now)
            inbound = [m for _, m in run]
            previews = [_preview(m) for m in inbound]
            extras = [self._states_more(u, m) for u, m in run]
            plan = ingest_store.plan(inbound, previews, cached, [True] * len(run), at, extras)
            outcomes = await sql.run(plan)
            for (unit, message), outcome in zip(run, outcomes, strict=False):
                done.append(await self._stored(unit, message, outcome, now, wrote, True))
        if wrote:  # one plan for the batch, no statement per message (storage.notifications)
            await notifications.customer_wrote(units[-1], self.presenter, list(wrote.values()))
        results, start = [], 0
        for messages in batches:
            results.append(done[start : start + len(messages)])
            start += len(messages)
        return results

    async def _ingest_one(
        self, unit: Unit, inbound: InboundMessage, wrote: dict[tuple[int, int], Wrote]
    ) -> Received:
        """One message, joining the chat of the thread it answers if there is one."""
        now = self.clock()
        chat_id = None
        own = True  # False: the message joins another customer's chat by reference
        if inbound.thread_refs and inbound.sender_verified:  # (unverified: see _kept_apart)
            joined = await self._chat_of_thread(inbound)
            if joined is not None:
                chat_id, own = joined.id, joined.external_id == inbound.chat_external_id
        if chat_id is None:
            chat_id = self.chat_ids.get((inbound.channel, inbound.chat_external_id))
        at = sql.time_param(now)
        extras = [own and self._states_more(unit, inbound)]
        plan = ingest_store.plan([inbound], [_preview(inbound)], [chat_id], [own], at, extras)
        outcomes = await sql.run(plan)
        return await self._stored(unit, inbound, outcomes[0], now, wrote, own)

    def _states_more(self, unit: Unit, inbound: InboundMessage) -> bool:
        """Whether the plan adds what ``inbound`` states of its customer to their contact
        (``storage.ingest.stated``): once per process and statement, remembered after the
        commit."""
        if not ingest_store.stated(inbound):
            return False
        said = ",".join((*inbound.customer_ids, inbound.customer_phone or ""))
        key = (inbound.channel, f"{inbound.chat_external_id}|{said}")
        if self.stated.get(key) is not None:
            return False
        unit.after_commit(lambda: self.stated.put(key, 1))
        return True

    async def _stored(
        self,
        unit: Unit,
        inbound: InboundMessage,
        outcome: ingest_store.Outcome,
        now: datetime,
        wrote: dict[tuple[int, int], Wrote],
        own: bool,
    ) -> Received:
        """After the plan: reopen a closed chat, emit the events, say what became of it.
        ``own``: the chat is the message's own (by its key or its customer's identity), not
        a thread it joined by reference: remembered under its key."""
        if outcome.message_id is None:  # the provider delivered it before: nothing stored
            return Received(
                outcome.chat_id, None, True, False, Mode(outcome.row["mode"]), inbound.channel,
                inbound.text, outcome.row["customer_name"],
            )  # fmt: skip
        chat = sql.values(Chat, outcome.row)
        chat_id, mode = int(chat["id"]), Mode(chat["mode"])
        key = (inbound.channel, inbound.chat_external_id)
        if own:
            unit.after_commit(lambda: self.chat_ids.put(key, chat_id))
        previous_agent = chat["assigned_agent_id"]
        note = None
        reopening: dict[str, Any] | None = None  # the transition of a closed chat reopened
        woke: list[Event] | None = None  # a snoozed chat woken: the note's events
        model, taken = None, None
        # A survey's answer: a payload says so; a comment can only come to a closed chat, which
        # takes this slow path anyway (an ordinary message costs no query here).
        if self.surveys is not None and (
            csat.is_survey_payload(inbound.payload) or mode == Mode.CLOSED
        ):
            model = sql.instance(Chat, outcome.row)
            taken = await self.surveys.take(unit, model, inbound, now)
        if taken is not None:
            pass  # the chat stays as it is (not reopened, not woken); the bot never hears of it
        elif mode == Mode.CLOSED:
            reopened = model or sql.instance(Chat, outcome.row)
            transition = modes.plan(
                mode=mode,
                assignee=previous_agent,
                action=modes.Action.CUSTOMER_WROTE,
                actor=modes.CUSTOMER,
            )
            note = await record_transition(reopened, transition, self.staff, now, self.reporting)
            reopening = transition_view(transition)
            chat = chat_values(reopened)
        elif chat["snoozed_at"] is not None:  # the row says so: no query for awake chats
            snoozed = sql.instance(Chat, outcome.row)
            reason = snooze.CUSTOMER_REPLIED
            woke = await snooze.end(unit, self, snoozed, reason, modes.CUSTOMER, now=now)
            chat = chat_values(snoozed)
        message = {
            "id": outcome.message_id,
            "chat_id": chat_id,
            "text": inbound.text,
            "sender": Sender.CUSTOMER,
            "status": Status.SENT,
            "internal": False,
            "agent_id": None,
            "attachments": [attachment.as_dict() for attachment in inbound.attachments],
            "error": None,
            "created_at": now,
            "note": None,
            "sender_auth": inbound.sender_auth,
        }
        holder = chat["assigned_agent_id"]
        if holder is not None and chat["mode"] in OPEN_MODES:  # the holder hears of it
            held = (int(holder), chat_id)
            seen = wrote.get(held)
            wrote[held] = Wrote(
                held[0], chat_id, outcome.message_id, chat["customer_name"],
                _preview(inbound), (seen.count if seen is not None else 0) + 1,
            )  # fmt: skip
        audience = row_audience(chat, previous_agent)
        row = await self._row(chat)
        if outcome.created:
            unit.emit(Event(events.CHAT_CREATED, chat_id, {"chat": row}, audience))
        if note is not None:
            view = self.presenter.message(message_values(note))
            unit.emit(
                Event(events.MESSAGE_CREATED, chat_id, {"message": view, "chat": row}, audience)
            )
        unit.emit(
            Event(
                events.MESSAGE_CREATED,
                chat_id,
                {"message": self.presenter.message(message), "chat": row},
                audience,
            )
        )
        if reopening is not None:  # the chat was reopened
            reopened_data = {"chat": row, "transition": reopening}
            unit.emit(Event(events.CHAT_UPDATED, chat_id, reopened_data, audience))
        for event in woke or ():  # after the customer's message: the thread reads in order
            unit.emit(event)
        if taken is not None and model is not None and self.surveys is not None:
            await self.surveys.thank(unit, model, taken, now)
        return Received(
            chat_id, outcome.message_id, False, outcome.created, Mode(chat["mode"]),
            inbound.channel, inbound.text, chat["customer_name"],
            any(a.status == media.PENDING for a in inbound.attachments), now,
            survey=taken is not None, answer=taken.answer if taken is not None else None,
        )  # fmt: skip

    async def _chat_of_thread(self, inbound: InboundMessage) -> Chat | None:
        """The chat of the newest message this one refers to (an email reply), if any."""
        refs = list(inbound.thread_refs[-50:])
        message = (
            await Message.filter(external_id__in=refs, chat__channel=inbound.channel)
            .order_by("-id")
            .first()
        )
        return await Chat.get_or_none(id=message.chat_id) if message is not None else None

    async def _row(self, chat: dict[str, Any]) -> dict[str, object]:
        return await self.staff.chat_row(self.presenter, chat)


_TEXTS = (
    "chat_external_id", "message_external_id", "text", "customer_name", "customer_phone",
    "customer_email", "customer_username", "subject", "reply_to_external_id", "payload",
)  # fmt: skip


def _cleaned(inbound: InboundMessage) -> InboundMessage:
    """The message with unstorable characters dropped from everything it carries (the same
    object when there are none: the usual case, and a hot path)."""
    changes: dict[str, Any] = {}
    for name in _TEXTS:
        value = getattr(inbound, name)
        if value is not None and (cleaned := clean(value)) != value:
            changes[name] = cleaned
    if inbound.attachments:
        changes["attachments"] = tuple(
            dataclasses.replace(a, **clean_tree(dataclasses.asdict(a))) for a in inbound.attachments
        )
    if inbound.thread_refs:
        changes["thread_refs"] = tuple(clean(ref) for ref in inbound.thread_refs)
    if inbound.sender_auth and (tidy := clean_tree(inbound.sender_auth)) != inbound.sender_auth:
        changes["sender_auth"] = tidy
    return dataclasses.replace(inbound, **changes) if changes else inbound


def _kept_apart(inbound: InboundMessage) -> InboundMessage:
    """An unverified sender's message: to the chat of its own, following no thread reference
    (the same object for a verified one: the usual case, and a hot path)."""
    if inbound.sender_verified:
        return inbound
    return dataclasses.replace(
        inbound, chat_external_id=unverified_chat_id(inbound.chat_external_id), thread_refs=()
    )


def _preview(inbound: InboundMessage) -> str:
    """The message in the chat list: the start of its text, else the kinds it attaches."""
    text = preview(inbound.text)
    if text:
        return text
    kinds = ", ".join(attachment.kind for attachment in inbound.attachments)
    return f"[{kinds}]" if kinds else ""
