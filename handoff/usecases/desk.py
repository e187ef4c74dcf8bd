"""What people do with chats: reply, assign, transfer, claim, pause, close, read.

Each method is one writer operation: it loads the chat, checks that the actor
may touch it, plans the change with ``handoff.domain.modes``, applies it, records it
and emits the events; nothing is written when any check fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tortoise import timezone

from connectors.base import Attachment, Connector, RefusesReplies
from handoff.domain import events, modes, priority
from handoff.domain.errors import Conflict, Forbidden, Invalid, NotFound
from handoff.domain.events import Event
from handoff.domain.modes import Action, Actor, ActorKind, Transition
from handoff.domain.rights import OPEN_MODES, can_change, can_read, queued, watching
from handoff.domain.sanitize import clean, clean_tree
from handoff.hooks import Hook, Step
from handoff.infra.locks import ASSIGNMENT, exclusive
from handoff.infra.writer import Unit, Writer
from handoff.read.views import Presenter, chat_audience, chat_values, message_values, preview
from handoff.usecases import audit, tags, templates
from handoff.usecases.notifications import ASSIGNED, notify
from handoff.usecases.reporting import Reporting
from handoff.usecases.staff import Staff
from handoff.usecases.transitions import record_transition, transition_view
from storage import contacts, identities, sql
from storage.models import Channel, Chat, Message, Mode, Sender, Status, User

log = logging.getLogger(__name__)

# Entering agent mode by these tells the customer that a human is coming.
ANNOUNCED = frozenset({Action.HANDOFF, Action.ASSIGN})


@dataclass(frozen=True, slots=True)
class ChatMoved:
    """A committed change of a chat's mode or assignee (what ``Desk.moved`` carries)."""

    chat_id: int
    transition: Transition


@dataclass(frozen=True, slots=True)
class Closing:
    """A chat being closed, inside the operation that closes it (``Desk.closing``): the chat
    as it is after the transition, at ``now``."""

    unit: Unit
    chat: Chat
    transition: Transition
    now: datetime


@dataclass(frozen=True, slots=True)
class ChatChange:
    """A ``PATCH /chats/{id}`` (docs/api.md): any of mode, assignee, online."""

    mode: Mode | None = None
    assign: bool = False  # True when assigned_agent_id was given (it may be None)
    assigned_agent_id: int | None = None
    online: bool | None = None
    force: bool = False  # an admin assigns past the agent's capacity, on purpose
    priority: str | None = None  # none, low, medium, high, urgent (handoff.domain.priority)


class Desk:
    def __init__(
        self,
        writer: Writer,
        staff: Staff,
        presenter: Presenter,
        *,
        connectors: Mapping[str, Connector] | None = None,
        handoff_message: Callable[[Chat], str] | None = None,
        postgres: bool = False,
        clock: Callable[[], datetime] = timezone.now,
        reporting: Reporting | None = None,
    ) -> None:
        """``connectors``: the running channels, by name, whose reply rules apply (a
        :class:`~connectors.base.RefusesReplies` refuses a reply it cannot send now);
        ``handoff_message``: what the customer is told when their chat goes to a human;
        ``clock``: the time changes are stamped with (tests move it); ``reporting``: the facts
        transitions and replies record (docs/api.md, "Reports")."""
        self.clock = clock
        self.reporting = reporting or Reporting()
        self.writer = writer
        self.postgres = postgres
        self.staff = staff
        self.presenter = presenter
        self.connectors: Mapping[str, Connector] = connectors if connectors is not None else {}
        self.handoff_message = handoff_message
        # After a commit that queued outbound messages.
        self.queued: Hook[None] = Hook("desk.queued")
        # After a commit that changed a chat's mode or assignee.
        self.moved: Hook[ChatMoved] = Hook("desk.moved")
        # Inside the operation that closes a chat (a satisfaction survey is queued with it).
        self.closing: Step[Closing] = Step("desk.closing")

    # -- messages -------------------------------------------------------------------------

    async def reply(
        self,
        actor: Actor,
        chat_id: int,
        text: str,
        attachments: Sequence[Attachment] = (),
    ) -> dict[str, Any]:
        """Queue an agent's reply for delivery; a reply to a bot or closed chat takes it over."""

        async def operation(unit: Unit) -> dict[str, Any]:
            await exclusive(ASSIGNMENT, postgres=self.postgres)
            chat = await self.writable_chat(actor, chat_id)
            now = self.clock()
            self._check_channel_allows_reply(chat, now)
            await self._replying(unit, chat, actor, now)
            message = await self.queue_message(
                unit, chat, text, Sender.AGENT, now, agent_id=actor.user_id,
                author=_author(actor), attachments=attachments,
            )  # fmt: skip
            await self._replied(chat, actor, [message])
            return message

        return await self.writer.run(operation)

    async def send_template(
        self,
        actor: Actor,
        chat_id: int,
        name: str,
        language: str,
        parameters: Mapping[str, Sequence[str]],
    ) -> dict[str, Any]:
        """Queue an approved WhatsApp template message: allowed outside the 24-hour window
        (that is what templates are for). Its text is the template rendered; the message
        keeps the spec its connector sends. Invalid when the chat is not a WhatsApp chat or
        the template or its parameters do not fit; nothing is stored then."""

        name, language = clean(name), clean(language)
        given = {part: [clean(value) for value in values] for part, values in parameters.items()}

        async def operation(unit: Unit) -> dict[str, Any]:
            await exclusive(ASSIGNMENT, postgres=self.postgres)
            chat = await self.writable_chat(actor, chat_id)
            if chat.channel != Channel.WHATSAPP:
                raise Invalid(
                    f"templates are WhatsApp's: chat {chat_id} is a {chat.channel} chat "
                    "(send text instead)",
                    code="not_whatsapp",
                    field="template",
                )
            spec, text = await templates.resolve(name, language, given)
            now = self.clock()
            await self._replying(unit, chat, actor, now)
            message = await self.queue_message(
                unit, chat, text, Sender.AGENT, now, agent_id=actor.user_id,
                author=_author(actor), template=spec,
            )  # fmt: skip
            await self._replied(chat, actor, [message])
            return message

        return await self.writer.run(operation)

    async def check_reply(self, actor: Actor, chat_id: int) -> str:
        """The chat's channel, if ``actor`` may reply there now (reads only: a check before
        an upload is read; :meth:`reply_parts` checks again when it queues)."""
        chat = await self.writable_chat(actor, chat_id)
        self._check_channel_allows_reply(chat, self.clock())
        return str(chat.channel)

    async def reply_parts(
        self,
        actor: Actor,
        chat_id: int,
        parts: Sequence[tuple[str, Sequence[Attachment]]],
        *,
        channel: str | None = None,
    ) -> list[dict[str, Any]]:
        """Queue a reply of several messages (each file of a WhatsApp or Telegram reply is a
        message of its own), all or none, in one transaction; their views in order.
        ``channel``: the channel the parts were planned for (Conflict if the chat's is not)."""

        async def operation(unit: Unit) -> list[dict[str, Any]]:
            await exclusive(ASSIGNMENT, postgres=self.postgres)
            chat = await self.writable_chat(actor, chat_id)
            if channel is not None and str(chat.channel) != channel:
                raise Conflict(f"chat {chat_id} is not a {channel} chat", code="channel_changed")
            now = self.clock()
            self._check_channel_allows_reply(chat, now)
            await self._replying(unit, chat, actor, now)  # the first part answers
            agent, author = actor.user_id, _author(actor)
            messages = [
                await self.queue_message(
                    unit,
                    chat,
                    text,
                    Sender.AGENT,
                    now,
                    agent_id=agent,
                    author=author,
                    attachments=files,
                )
                for text, files in parts
            ]
            await self._replied(chat, actor, messages)
            return messages

        return await self.writer.run(operation)

    async def _replying(self, unit: Unit, chat: Chat, actor: Actor, now: datetime) -> None:
        """Before a reply is queued: a person's reply to a bot or closed chat takes it over,
        and counts as a human reply in the reports. An integration's (an API key's) changes
        neither the mode nor the reports: it is a message on the chat, like the bot's."""
        if actor.kind == ActorKind.INTEGRATION:
            return
        if chat.mode in (Mode.BOT, Mode.CLOSED):
            await self.transition(unit, chat, Action.TAKE_OVER, actor, now=now)
        await self.reporting.human_reply(chat, actor.user_id, now)

    async def _replied(self, chat: Chat, actor: Actor, messages: Sequence[dict[str, Any]]) -> None:
        """After an integration's reply is queued: the audit record says which key wrote it
        (the message has no agent)."""
        if actor.kind == ActorKind.INTEGRATION:
            ids = [message["id"] for message in messages]
            await audit.record(chat.id, actor, audit.API_REPLY, message_ids=ids)

    def _check_channel_allows_reply(self, chat: Chat, now: datetime) -> None:
        """Conflict when the chat's channel cannot take a reply now (WhatsApp's 24 hours)."""
        connector = self.connectors.get(str(chat.channel))
        if isinstance(connector, RefusesReplies):
            reason = connector.reply_refusal(chat.last_customer_message_at, now)
            if reason:
                raise Conflict(reason, code="channel_refused", channel=connector.channel)

    def _fire_queued(self) -> None:
        self.queued.fire(None)

    async def post(
        self, chat_id: int, text: str, sender: Sender, *, internal: bool = False
    ) -> dict[str, Any]:
        """A message from the bot or the system to the customer (or an internal note)."""

        async def operation(unit: Unit) -> dict[str, Any]:
            chat = await Chat.get_or_none(id=chat_id)
            if chat is None:
                raise NotFound(f"chat {chat_id} not found")
            return await self.queue_message(
                unit, chat, text, sender, self.clock(), internal=internal
            )

        return await self.writer.run(operation)

    async def mark_read(self, actor: Actor, chat_id: int) -> dict[str, Any]:
        """The customer's messages are read: unread count to zero."""

        async def operation(unit: Unit) -> dict[str, Any]:
            chat = await self.writable_chat(actor, chat_id)
            await Message.filter(
                chat_id=chat.id, sender=Sender.CUSTOMER, status=Status.SENT
            ).update(status=Status.READ)
            chat.unread_count = 0
            chat.updated_at = self.clock()
            await chat.save(update_fields=["unread_count", "updated_at"])
            row = await self._row(chat)
            unit.emit(Event(events.CHAT_READ, chat.id, {"chat": row}, chat_audience(chat)))
            return row

        return await self.writer.run(operation)

    # -- mode and assignment ------------------------------------------------------------

    async def act(
        self,
        actor: Actor,
        chat_id: int,
        action: Action,
        *,
        to_agent_id: int | None = None,
        reason: str | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """Take one action of the mode table (pause, close, claim, assign, ...).

        ``force`` (admins only) assigns past the agent's capacity; the note says so.
        """
        _check_force(actor, force)

        async def operation(unit: Unit) -> dict[str, Any]:
            await exclusive(ASSIGNMENT, postgres=self.postgres)
            chat = await self.writable_chat(actor, chat_id, queue_ok=action == Action.CLAIM)
            await self.transition(
                unit, chat, action, actor, to_agent_id=to_agent_id, reason=reason, force=force
            )
            return await self._row(chat)

        return await self.writer.run(operation)

    async def change(self, actor: Actor, chat_id: int, change: ChatChange) -> Chat:
        """Apply a PATCH: the assignment first, then the mode, then ``online`` and
        ``priority``; all or nothing."""
        _check_force(actor, change.force)
        rank = priority.rank(change.priority) if change.priority is not None else None

        async def operation(unit: Unit) -> Chat:
            await exclusive(ASSIGNMENT, postgres=self.postgres)
            chat = await self.writable_chat(actor, chat_id)
            for action, agent_id in _patch_plan(chat, actor, change):
                await self.transition(
                    unit, chat, action, actor, to_agent_id=agent_id, force=change.force
                )
            if change.online is not None:  # stands until the customer writes again
                chat.online = change.online
                chat.online_set_at = chat.updated_at = self.clock()
                await chat.save(update_fields=["online", "online_set_at", "updated_at"])
                row = await self._row(chat)
                unit.emit(Event(events.CHAT_UPDATED, chat.id, {"chat": row}, chat_audience(chat)))
            if rank is not None:
                await tags.put_priority(unit, self.staff, self.presenter, chat, rank, actor)
            return chat

        return await self.writer.run(operation)

    async def create_chat(self, actor: Actor, given: dict[str, Any]) -> Chat:
        """A chat started from the dashboard (e.g. to write to a customer first)."""
        fields: dict[str, Any] = clean_tree(given)

        async def operation(unit: Unit) -> Chat:
            channel = Channel(fields["channel"])
            external_id = _external_id_for(channel, fields)
            if external_id and await Chat.filter(channel=channel, external_id=external_id).exists():
                existing = await Chat.get(channel=channel, external_id=external_id)
                raise Conflict(
                    "a chat with this customer on this channel exists",
                    code="chat_exists",
                    chat_id=existing.id,
                )
            now = self.clock()
            mine = not actor.is_admin
            ids = identities.identities(channel, external_id) if external_id else []
            found = await sql.run(
                contacts.find(ids, (), fields["customer_name"], sql.time_param(now))
            )
            chat = await Chat.create(
                contact_id=found.contact_id,
                channel=channel,
                external_id=external_id,
                customer_name=fields["customer_name"],
                customer_phone=fields.get("customer_phone"),
                customer_email=fields.get("customer_email"),
                customer_address=fields.get("customer_address"),
                subject=fields.get("subject"),
                mode=Mode.AGENT if mine else Mode.BOT,
                assigned_agent_id=actor.user_id if mine else None,
                activity_at=now,
                created_at=now,
            )
            await _record_contact(found, chat, ids, now)
            row = await self._row(chat)
            unit.emit(Event(events.CHAT_CREATED, chat.id, {"chat": row}, chat_audience(chat)))
            return chat

        return await self.writer.run(operation)

    async def start_conversation(
        self, actor: Actor, phone: str, customer_name: str | None = None
    ) -> tuple[Chat, bool]:
        """A person starts a WhatsApp conversation with ``phone`` (E.164, checked by the
        caller): the chat of that number, created if there is none (then True), and theirs
        in agent mode, as a takeover makes it (docs/modes.md): a new chat is created in bot
        mode and taken over in the same transaction; a chat in the queue is claimed; a bot,
        paused or closed chat taken over; their own chat stays as it is. A chat another
        agent holds stays theirs: an admin gets it as it is, an agent a Conflict that names
        neither the chat nor the agent."""
        digits = "".join(ch for ch in phone if ch.isdigit())
        name = clean(customer_name or "") or phone

        async def operation(unit: Unit) -> tuple[Chat, bool]:
            await exclusive(ASSIGNMENT, postgres=self.postgres)
            now = self.clock()
            chat = await Chat.get_or_none(channel=Channel.WHATSAPP, external_id=digits)
            if chat is None:  # the number's user may write from their BSUID: that chat
                ids = identities.identities(Channel.WHATSAPP, digits)
                found = await sql.run(contacts.find(ids, (), name, sql.time_param(now)))
                if found.chat_id is not None:
                    chat = await Chat.get_or_none(id=found.chat_id)
            created = chat is None
            if chat is None:
                chat = await Chat.create(
                    contact_id=found.contact_id,
                    channel=Channel.WHATSAPP,
                    external_id=digits,
                    customer_name=name,
                    customer_phone=phone,
                    mode=Mode.BOT,
                    activity_at=now,
                    created_at=now,
                )
                await _record_contact(found, chat, ids, now)
                row = await self._row(chat)
                unit.emit(Event(events.CHAT_CREATED, chat.id, {"chat": row}, chat_audience(chat)))
            action = _starting_action(chat, actor)
            if action is not None:
                await self.transition(unit, chat, action, actor, now=now)
            return chat, created

        return await self.writer.run(operation)

    # -- inside an operation ------------------------------------------------------------

    async def writable_chat(self, actor: Actor, chat_id: int, *, queue_ok: bool = False) -> Chat:
        """The chat, if ``actor`` may change it: admins any, agents theirs (the queue: claim)."""
        chat = await Chat.get_or_none(id=chat_id)
        if chat is not None and actor.kind != ActorKind.PERSON:
            return chat  # the bot and the system act on any chat
        if chat is None or not can_read(chat, actor):
            raise NotFound(f"chat {chat_id} not found")
        if not can_change(chat, actor) and not queue_ok:
            if watching(chat, actor) and not queued(chat):
                raise NotFound(
                    f"chat {chat_id}: you were mentioned in it and may add notes, not act on it",
                    code="notes_only",
                )
            raise NotFound(f"chat {chat_id} waits in the queue: claim it first", code="claim_first")
        return chat

    async def transition(
        self,
        unit: Unit,
        chat: Chat,
        action: Action,
        actor: Actor,
        *,
        to_agent_id: int | None = None,
        reason: str | None = None,
        reason_code: str | None = None,
        now: datetime | None = None,
        announce: bool = True,
        force: bool = False,
    ) -> Transition:
        """Plan, check, apply and record one action; emit its events (inside an operation).

        With ``announce``, a chat that enters agent mode by a handoff or an assignment gets
        the handoff message queued for the customer. With ``force`` (an admin's), an agent
        at capacity is given the chat anyway, recorded with the reason ``over_capacity``.
        """
        now = now or self.clock()
        transition = modes.plan(
            mode=chat.mode,
            assignee=chat.assigned_agent_id,
            action=action,
            actor=actor,
            to_agent_id=to_agent_id,
            reason=reason,
            reason_code=reason_code,
        )
        reopening = transition.from_mode not in OPEN_MODES and transition.to_mode in OPEN_MODES
        if transition.to_agent_id is not None and (transition.assignee_changed or reopening):
            over = await self._check_can_take(transition.to_agent_id, chat.id, actor, force=force)
            if over is not None:
                load, capacity = over
                text = f"over capacity: {load + 1} open chats, capacity {capacity}"
                transition = replace(
                    transition,
                    reason=f"{text}; {transition.reason}" if transition.reason else text,
                    reason_code=modes.OVER_CAPACITY,
                )
        watched = tuple(chat.watchers or ())  # a close ends watching: they still hear of it
        note = await record_transition(chat, transition, self.staff, now, self.reporting)
        if transition.to_mode == Mode.CLOSED and self.closing:
            await self.closing.run(Closing(unit, chat, transition, now))
        row = await self._row(chat)
        audience = chat_audience(chat, transition.from_agent_id, *watched)
        unit.emit(
            Event(
                events.MESSAGE_CREATED,
                chat.id,
                {"message": self.presenter.message(message_values(note)), "chat": row},
                audience,
            )
        )
        # A chat leaving the queue is news to every agent who saw it waiting there.
        left_queue = transition.from_mode == Mode.AGENT and transition.from_agent_id is None
        unit.emit(
            Event(
                events.CHAT_UPDATED,
                chat.id,
                {"chat": row, "transition": transition_view(transition)},
                replace(audience, queue=True) if left_queue else audience,
            )
        )
        if transition.to_mode == Mode.AGENT and transition.from_mode != Mode.AGENT:
            unit.emit(
                Event(
                    events.HANDOFF,
                    chat.id,
                    {
                        "chat": row,
                        "reason": chat.handoff_reason,
                        "by": str(actor.kind),
                        "reason_code": transition.reason_code,
                    },
                    audience,
                )
            )
        entered = transition.to_mode == Mode.AGENT and transition.from_mode != Mode.AGENT
        if announce and entered and action in ANNOUNCED and self.handoff_message is not None:
            text = self.handoff_message(chat)
            await self.queue_message(unit, chat, text, Sender.SYSTEM, now)
        to_agent = transition.to_agent_id
        if to_agent is not None and transition.assignee_changed and to_agent != actor.user_id:
            # Given to someone by another person or by automatic assignment.
            by = actor.name
            if not by and actor.user_id is not None:
                by = (await self.staff.names({actor.user_id})).get(actor.user_id, "")
            await notify(
                unit, self.presenter, [to_agent], ASSIGNED, chat_id=chat.id,
                by=by, by_kind=str(actor.kind),
                customer=chat.customer_name, reason_code=transition.reason_code,
            )  # fmt: skip
        if self.moved:
            moved = ChatMoved(chat.id, transition)
            unit.after_commit(lambda: self.moved.fire(moved))
        return transition

    async def _check_can_take(
        self, agent_id: int, chat_id: int, actor: Actor, *, force: bool = False
    ) -> tuple[int, int] | None:
        """The agent exists, is active and has room for one more open chat; with ``force``
        a full agent is accepted: then (open chats, capacity), else None."""
        agent = await User.get_or_none(id=agent_id)
        if agent is None or not agent.active:
            raise Invalid(f"user {agent_id} is not an active agent", field="assigned_agent_id")
        load = (
            await Chat.filter(assigned_agent_id=agent_id, mode__in=OPEN_MODES)
            .exclude(id=chat_id)
            .count()
        )
        if load < agent.capacity:
            return None
        if force:
            return load, agent.capacity
        name = agent.display_name or agent.username
        raise Conflict(
            f"{name} is at capacity ({load} of {agent.capacity} open chats)",
            code="agent_at_capacity",
            agent_id=agent_id,
            agent_name=name,
            capacity=agent.capacity,
            open=load,
            can_force=actor.is_admin,
        )

    async def queue_message(
        self,
        unit: Unit,
        chat: Chat,
        text: str,
        sender: Sender,
        now: datetime,
        *,
        agent_id: int | None = None,
        author: str | None = None,
        internal: bool = False,
        attachments: Sequence[Attachment] = (),
        template: dict[str, Any] | None = None,
        interactive: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a message for the customer (``queued``; an ``internal`` note ``sent``) in
        ``unit`` and tell the dashboards; ``interactive``: choices offered with it
        (``Message.interactive``: a satisfaction survey); ``author``: an integration's
        name (:func:`_author`)."""
        text = clean(text)
        message = await Message.create(
            chat_id=chat.id,
            text=text,
            sender=sender,
            status=Status.SENT if internal else Status.QUEUED,
            internal=internal,
            agent_id=agent_id,
            author=author,
            attachments=[attachment.as_dict() for attachment in attachments],
            template=template,
            created_at=now,
            interactive=interactive,
        )
        if not internal:
            chat.last_message_at = message.created_at
            chat.last_message_text = preview(text) or _kinds(attachments)
            chat.last_message_sender = sender.value
            chat.activity_at = message.created_at
            chat.updated_at = now
            await chat.save(
                update_fields=[
                    "last_message_at",
                    "last_message_text",
                    "last_message_sender",
                    "activity_at",
                    "first_response_at",  # a human reply's (Reporting.human_reply)
                    "updated_at",
                ]
            )
            unit.after_commit(self._fire_queued)
        view = self.presenter.message(message_values(message))
        row = await self._row(chat)
        unit.emit(
            Event(
                events.MESSAGE_CREATED, chat.id, {"message": view, "chat": row}, chat_audience(chat)
            )
        )
        return view

    async def _row(self, chat: Chat) -> dict[str, Any]:
        return await self.staff.chat_row(self.presenter, chat_values(chat))


def _author(actor: Actor) -> str | None:
    """The name an integration's (an API key's) message goes out and is shown under: its
    key's; None for a person (their user is the message's agent)."""
    return actor.name[:100] if actor.kind == ActorKind.INTEGRATION else None


def _kinds(attachments: Sequence[Attachment]) -> str:
    """A message without text in the chat list: the kinds of files it sends."""
    kinds = ", ".join(attachment.kind for attachment in attachments)
    return f"[{kinds}]" if kinds else ""


def _check_force(actor: Actor, force: bool) -> None:
    """Only an admin may assign past an agent's capacity."""
    if force and not actor.is_admin:
        raise Forbidden("only admins may assign past an agent's capacity (force)", field="force")


def _starting_action(chat: Chat, actor: Actor) -> Action | None:
    """What makes ``chat`` the starter's when they start a conversation with its customer
    (None: nothing to do), or Conflict when another agent holds it."""
    held_by = chat.assigned_agent_id
    if chat.mode in (Mode.BOT, Mode.CLOSED):
        return Action.TAKE_OVER
    if chat.mode == Mode.PAUSED and held_by in (None, actor.user_id):
        return Action.TAKE_OVER
    if chat.mode == Mode.AGENT and held_by is None:
        return Action.CLAIM  # waiting in the queue
    if held_by == actor.user_id or actor.is_admin:
        return None  # theirs already; an admin does not take another agent's chat
    raise Conflict(
        "another agent holds the chat with this number; ask an admin to assign it to you",
        code="chat_held",
    )


def _patch_plan(chat: Chat, actor: Actor, change: ChatChange) -> list[tuple[Action, int | None]]:
    """A PATCH ``{mode, assigned_agent_id}`` as actions of the mode table (docs/modes.md)."""
    steps: list[tuple[Action, int | None]] = []
    mode = chat.mode
    if change.assign:
        if change.mode == Mode.BOT:
            raise Invalid("a chat in bot mode has no agent", field="assigned_agent_id")
        target = change.assigned_agent_id
        if target is None:
            if mode == Mode.AGENT:
                steps.append((Action.UNASSIGN, None))
            elif change.mode in (None, Mode.AGENT):
                steps.append((Action.HANDOFF, None))
        elif mode == Mode.AGENT and chat.assigned_agent_id is not None and not actor.is_admin:
            steps.append((Action.TRANSFER, target))
        elif not (mode == Mode.AGENT and chat.assigned_agent_id == target):
            steps.append((Action.ASSIGN, target))
        if steps and steps[-1][0] != Action.UNASSIGN:
            mode = Mode.AGENT
    wanted = change.mode
    if wanted is None or wanted == mode:
        return steps
    if wanted == Mode.AGENT:
        if mode == Mode.CLOSED:
            steps.append((Action.REOPEN, None))
        elif actor.is_admin:
            steps.append((Action.HANDOFF, None))
        else:
            steps.append((Action.TAKE_OVER, None))
    elif wanted == Mode.PAUSED:
        steps.append((Action.PAUSE, None))
    elif wanted == Mode.CLOSED:
        steps.append((Action.CLOSE, None))
    else:  # back to the bot
        back = {Mode.AGENT: Action.RETURN_TO_BOT, Mode.PAUSED: Action.RESUME}
        steps.append((back.get(mode, Action.REOPEN_TO_BOT), None))
    return steps


async def _record_contact(
    found: contacts.Found, chat: Chat, ids: Sequence[identities.Key], now: datetime
) -> None:
    """A dashboard-made chat's identities and the number and address typed for it (not
    verified: they suggest merges, they link nothing) on its contact."""
    points = []
    if (phone := identities.e164(chat.customer_phone, international=False)) is not None:
        points.append((identities.PHONE, phone))
    if (address := identities.email(chat.customer_email)) is not None:
        points.append((identities.MAIL, address))
    at = sql.time_param(now)
    await sql.run(contacts.record(found, chat.id, ids, points, at, verified=False))


def _external_id_for(channel: Channel, fields: dict[str, Any]) -> str | None:
    """The provider address a dashboard-created chat is reached at, when it has one."""
    if channel == Channel.WHATSAPP and fields.get("customer_phone"):
        digits = "".join(ch for ch in str(fields["customer_phone"]) if ch.isdigit())
        return digits or None
    if channel == Channel.EMAIL and fields.get("customer_email"):
        return str(fields["customer_email"]).strip().lower()
    return None
