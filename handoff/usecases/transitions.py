"""Applying a planned transition to a chat: its fields, the audit row, the internal note and
the facts the reports count (``handoff.usecases.reporting``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handoff.domain.modes import Action, Transition, describe, note
from handoff.read.views import preview
from handoff.usecases.reporting import CONVERSATION_FIELDS, Reporting, write
from handoff.usecases.snooze import SNOOZABLE_MODES, end_quietly
from handoff.usecases.staff import Staff
from storage.models import Chat, ChatTransition, ChatWatcher, Message, Mode, Sender, Status


async def record_transition(
    chat: Chat, transition: Transition, staff: Staff, now: datetime, reporting: Reporting
) -> Message:
    """Move ``chat`` as ``transition`` says, record who did it, note it in the chat, and write
    what the reports count of it (its conversation columns and facts).

    Runs inside a writer operation; the caller emits the events.
    """
    facts = reporting.transition(chat, transition, now)  # reads the chat as it was
    chat.mode = transition.to_mode
    chat.assigned_agent_id = transition.to_agent_id
    waiting = transition.to_mode == Mode.AGENT and transition.to_agent_id is None
    if waiting and chat.queued_at is None:
        chat.queued_at = now
    elif not waiting:
        chat.queued_at = None
    if transition.to_mode == Mode.AGENT and transition.from_mode != Mode.AGENT:
        chat.handoff_reason = (transition.reason or str(transition.action))[:255]
        chat.handoff_reason_code = transition.reason_code
    elif transition.to_mode == Mode.BOT:
        chat.handoff_reason = chat.handoff_reason_code = None
        chat.bot_fallbacks = 0
        # What the customer wrote before a person gave the chat to the bot was not the bot's
        # to answer; the message that reopens a closed chat is.
        if transition.action == Action.CUSTOMER_WROTE:
            chat.bot_answered_id = None
        else:
            chat.bot_answered_id = await _last_customer_message_id(chat.id)
    if transition.to_mode == Mode.CLOSED and chat.watchers:
        # Watching ends when the chat closes (docs/modes.md): the rows and the list.
        await ChatWatcher.filter(chat_id=chat.id).delete()
        chat.watchers = None
    chat.updated_at = now
    # A snooze is its agent's: it ends quietly when the chat leaves them (docs/modes.md).
    held = transition.to_mode in SNOOZABLE_MODES and transition.to_agent_id is not None
    kept = held and transition.to_agent_id == transition.from_agent_id
    snooze_fields = [] if kept else await end_quietly(chat, transition.actor)
    await chat.save(
        update_fields=[
            "watchers",
            *snooze_fields,
            "mode",
            "assigned_agent_id",
            "queued_at",
            "handoff_reason",
            "handoff_reason_code",
            "bot_fallbacks",
            "bot_answered_id",
            *CONVERSATION_FIELDS,
            "updated_at",
        ]
    )
    await write(facts)
    actor = transition.actor
    await ChatTransition.create(
        chat_id=chat.id,
        action=transition.action.value,
        from_mode=transition.from_mode.value,
        to_mode=transition.to_mode.value,
        from_agent_id=transition.from_agent_id,
        to_agent_id=transition.to_agent_id,
        actor_kind=actor.kind.value,
        actor_id=actor.user_id,
        reason=transition.reason[:255] if transition.reason else None,
    )
    wanted = {i for i in (transition.to_agent_id, transition.from_agent_id) if i is not None}
    names = await staff.names(wanted) if wanted else {}
    return await Message.create(
        chat_id=chat.id,
        text=preview(describe(transition, names)),
        sender=Sender.SYSTEM,
        status=Status.SENT,
        internal=True,
        note=note(transition, names),
        created_at=now,
    )


def transition_view(transition: Transition) -> dict[str, Any]:
    """A transition as events show it (docs/events.md): ``chat.updated``'s ``transition``."""
    return {
        "action": str(transition.action),
        "from": str(transition.from_mode),
        "to": str(transition.to_mode),
        "from_agent_id": transition.from_agent_id,
        "to_agent_id": transition.to_agent_id,
        "by": transition.actor.user_id,
        "reason": transition.reason,
        "reason_code": transition.reason_code,
    }


async def _last_customer_message_id(chat_id: int) -> int | None:
    last = (
        await Message.filter(chat_id=chat_id, sender=Sender.CUSTOMER)
        .order_by("-id")
        .only("id")
        .first()
    )
    return last.id if last is not None else None
