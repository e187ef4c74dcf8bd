"""The chat mode state machine: bot, agent, paused, closed.

The table says which action may move a chat from one mode to another; the
guards say when it may (who acts, who is assigned). :func:`plan` checks a
request against both and returns the :class:`Transition` to apply and record,
or raises :class:`IllegalTransition` listing what is allowed instead.

Invariants kept by every transition:
- a chat in bot mode has no assignee;
- a chat in agent mode either has an assignee or waits in the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.engine import HandoffReason
from storage.models import Mode


class Action(StrEnum):
    HANDOFF = "handoff"  # the bot, the customer or an admin asks for a human: to the queue
    TAKE_OVER = "take_over"  # the acting person takes the chat (also: replying to it)
    ASSIGN = "assign"  # a person gives the chat to an agent
    CLAIM = "claim"  # an agent takes a chat from the queue
    TRANSFER = "transfer"  # the chat moves from one agent to another
    UNASSIGN = "unassign"  # the chat goes back to the queue
    PAUSE = "pause"
    RESUME = "resume"
    RETURN_TO_BOT = "return_to_bot"
    CLOSE = "close"
    REOPEN = "reopen"  # a person reopens a closed chat to work on it
    REOPEN_TO_BOT = "reopen_to_bot"  # a person reopens a closed chat for the bot
    CUSTOMER_WROTE = "customer_wrote"  # a customer writes to a closed chat


class ActorKind(StrEnum):
    PERSON = "person"  # a logged-in user (admin or agent)
    CUSTOMER = "customer"
    BOT = "bot"
    SYSTEM = "system"  # automatic assignment, time-outs
    # A system of the desk's own calling the API with a key (docs/api.md, "API keys"): an
    # admin's sight within the key's scopes; it replies without taking a chat over.
    INTEGRATION = "integration"


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    user_id: int | None = None
    is_admin: bool = False
    name: str = ""
    key_id: int | None = None  # an integration's API key (``api_keys.id``)

    @classmethod
    def person(cls, user_id: int, *, is_admin: bool, name: str = "") -> Actor:
        return cls(ActorKind.PERSON, user_id, is_admin, name)

    @classmethod
    def integration(cls, key_id: int, name: str) -> Actor:
        """An API key: sees what an admin sees, within the routes of its scopes."""
        return cls(ActorKind.INTEGRATION, None, True, name, key_id)


# Why a transition happened, as stable codes with their English text: the "reason" of a
# system note (:func:`note`); dashboards translate the code. A reason someone typed (the
# ``reason`` of an action request, a custom bot's) is kept as text with no code.
AUTOMATIC = "automatic"  # automatic assignment gave the chat to an online agent with room
OVER_CAPACITY = "over_capacity"  # an admin assigned past the agent's capacity, on purpose
AGENT_OFFLINE = "agent_offline"  # the agent went offline (chose it, or their console lapsed)
AGENT_DEACTIVATED = "agent_deactivated"  # an admin deactivated the agent's account
REASONS: dict[str, str] = {
    AUTOMATIC: "automatic",
    OVER_CAPACITY: "over capacity",
    AGENT_OFFLINE: "the agent went offline",
    AGENT_DEACTIVATED: "the agent's account was deactivated",
    HandoffReason.CUSTOMER_ASKED: "customer asked for a human",
    HandoffReason.INTENT: "the question needs a human",
    HandoffReason.NOT_UNDERSTOOD: "messages not understood",
    HandoffReason.BOT_UNAVAILABLE: "bot unavailable",
    HandoffReason.EXTERNAL_BOT: "external bot asked for a human",
    HandoffReason.MODEL: "the AI assistant asked for a human",
    HandoffReason.TOPIC: "a topic for a human",
    HandoffReason.NO_ANSWER: "nothing in the knowledge base",
    HandoffReason.BUDGET: "the AI budget is spent",
}


def known_reason(code: str | None) -> str | None:
    """``code`` if it is one of :data:`REASONS`, else None (free text has no code)."""
    return code if code in REASONS else None


CUSTOMER = Actor(ActorKind.CUSTOMER, name="customer")
BOT = Actor(ActorKind.BOT, name="bot")
SYSTEM = Actor(ActorKind.SYSTEM, name="system")

A = Action
# from mode -> to mode -> the actions that may make that move (docs/modes.md).
TABLE: dict[Mode, dict[Mode, frozenset[Action]]] = {
    Mode.BOT: {
        Mode.AGENT: frozenset({A.HANDOFF, A.TAKE_OVER, A.ASSIGN}),
        Mode.PAUSED: frozenset({A.PAUSE}),
        Mode.CLOSED: frozenset({A.CLOSE}),
    },
    Mode.AGENT: {
        Mode.AGENT: frozenset({A.CLAIM, A.TRANSFER, A.ASSIGN, A.UNASSIGN}),
        Mode.BOT: frozenset({A.RETURN_TO_BOT}),
        Mode.PAUSED: frozenset({A.PAUSE}),
        Mode.CLOSED: frozenset({A.CLOSE}),
    },
    Mode.PAUSED: {
        Mode.BOT: frozenset({A.RESUME}),
        Mode.AGENT: frozenset({A.HANDOFF, A.ASSIGN, A.TAKE_OVER}),
        Mode.CLOSED: frozenset({A.CLOSE}),
    },
    Mode.CLOSED: {
        Mode.BOT: frozenset({A.CUSTOMER_WROTE, A.REOPEN_TO_BOT}),
        Mode.AGENT: frozenset({A.REOPEN, A.ASSIGN, A.TAKE_OVER}),
    },
}

# Who may take each action; everything else is for people only.
ACTORS: dict[Action, frozenset[ActorKind]] = {
    A.HANDOFF: frozenset({ActorKind.PERSON, ActorKind.BOT, ActorKind.CUSTOMER, ActorKind.SYSTEM}),
    A.ASSIGN: frozenset({ActorKind.PERSON, ActorKind.SYSTEM}),
    A.UNASSIGN: frozenset({ActorKind.PERSON, ActorKind.SYSTEM}),
    A.CUSTOMER_WROTE: frozenset({ActorKind.CUSTOMER}),
    A.CLOSE: frozenset({ActorKind.PERSON, ActorKind.SYSTEM}),
}
PEOPLE = frozenset({ActorKind.PERSON})


class IllegalTransition(Exception):
    """The requested change is not allowed from the chat's current state."""

    def __init__(self, message: str, current: Mode, allowed: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.current = current
        self.allowed = allowed


@dataclass(frozen=True, slots=True)
class Transition:
    action: Action
    from_mode: Mode
    to_mode: Mode
    from_agent_id: int | None
    to_agent_id: int | None
    actor: Actor
    reason: str | None = None  # the reason as recorded, in English (free text or a code's)
    reason_code: str | None = None  # one of REASONS, or None

    @property
    def mode_changed(self) -> bool:
        return self.from_mode != self.to_mode

    @property
    def assignee_changed(self) -> bool:
        return self.from_agent_id != self.to_agent_id


def allowed_moves(mode: Mode, actor: ActorKind | None = None) -> list[dict[str, str]]:
    """What may be done from ``mode`` (by ``actor``): ``[{"action", "to"}]``, for errors and UIs."""
    return [
        {"action": str(action), "to": str(target)}
        for target, actions in TABLE[mode].items()
        for action in sorted(actions)
        if actor is None or actor in ACTORS.get(action, PEOPLE)
    ]


def target_of(mode: Mode, action: Action) -> Mode | None:
    """The mode ``action`` leads to from ``mode``, or None when the table has no such move."""
    for target, actions in TABLE[mode].items():
        if action in actions:
            return target
    return None


def plan(
    *,
    mode: Mode,
    assignee: int | None,
    action: Action,
    actor: Actor,
    to_agent_id: int | None = None,
    reason: str | None = None,
    reason_code: str | None = None,
) -> Transition:
    """Check ``action`` on a chat in ``mode`` assigned to ``assignee``; return the transition.

    ``to_agent_id`` names the new assignee for ASSIGN and TRANSFER; TAKE_OVER
    and CLAIM assign the acting person.
    """
    target = target_of(mode, action)
    if target is None:
        raise IllegalTransition(
            f"cannot {action.replace('_', ' ')} a chat in {mode} mode",
            mode,
            allowed_moves(mode, actor.kind),
        )
    if actor.kind not in ACTORS.get(action, PEOPLE):
        raise IllegalTransition(
            f"{actor.kind} may not {action}", mode, allowed_moves(mode, actor.kind)
        )
    new_assignee = _new_assignee(mode, assignee, action, actor, to_agent_id, target)
    code = known_reason(reason_code)
    if code is not None and not reason:
        reason = REASONS[code]
    return Transition(action, mode, target, assignee, new_assignee, actor, reason, code)


def _new_assignee(
    mode: Mode,
    assignee: int | None,
    action: Action,
    actor: Actor,
    to_agent_id: int | None,
    target: Mode,
) -> int | None:
    def refuse(message: str) -> IllegalTransition:
        return IllegalTransition(message, mode, allowed_moves(mode, actor.kind))

    if target == Mode.BOT:
        return None  # the bot needs nobody; the agent's capacity is freed
    if action in (Action.TAKE_OVER, Action.CLAIM):
        if actor.user_id is None:
            raise refuse(f"{action} needs a person")
        if action == Action.CLAIM and assignee is not None:
            raise refuse("only a chat waiting in the queue can be claimed")
        if action == Action.TAKE_OVER and assignee == actor.user_id and mode == Mode.AGENT:
            raise refuse("the chat is already yours")
        return actor.user_id
    if action in (Action.ASSIGN, Action.TRANSFER):
        if to_agent_id is None:
            raise refuse(f"{action} needs an agent")
        if action == Action.TRANSFER and assignee is None:
            raise refuse("only an assigned chat can be transferred; assign it instead")
        if mode == Mode.AGENT and to_agent_id == assignee:
            raise refuse("the chat is already assigned to that agent")
        return to_agent_id
    if action == Action.UNASSIGN:
        if assignee is None:
            raise refuse("the chat is not assigned")
        return None
    if action == Action.HANDOFF:
        return None  # to the queue; assignment picks someone
    if action == Action.REOPEN:
        # A person reopening a chat to work on it keeps its agent, or takes it.
        if assignee is not None:
            return assignee
        return actor.user_id if actor.user_id is not None and not actor.is_admin else None
    return assignee  # pause, close keep the assignee (history; capacity counts open chats)


def describe(transition: Transition, agent_names: dict[int, str]) -> str:
    """The internal note recorded in the chat for a transition, e.g. "Paused by Ann"."""
    who = transition.actor.name or str(transition.actor.kind)
    target = agent_names.get(transition.to_agent_id or 0, f"agent #{transition.to_agent_id}")
    previous = agent_names.get(transition.from_agent_id or 0, f"agent #{transition.from_agent_id}")
    reason = f" ({transition.reason})" if transition.reason else ""
    texts = {
        Action.HANDOFF: f"Handed to a human by {who}{reason}; waiting for an agent",
        Action.TAKE_OVER: f"Taken over by {who}",
        Action.ASSIGN: f"Assigned to {target} by {who}{reason}",
        Action.CLAIM: f"Claimed by {who}",
        Action.TRANSFER: f"Transferred from {previous} to {target} by {who}{reason}",
        Action.UNASSIGN: f"Returned to the queue by {who}{reason}",
        Action.PAUSE: f"Paused by {who}",
        Action.RESUME: f"Resumed by {who}; the bot answers again",
        Action.RETURN_TO_BOT: f"Returned to the bot by {who}",
        Action.CLOSE: f"Closed by {who}{reason}",
        Action.REOPEN: f"Reopened by {who}",
        Action.REOPEN_TO_BOT: f"Reopened for the bot by {who}",
        Action.CUSTOMER_WROTE: "Reopened: the customer wrote again",
    }
    return texts[transition.action]


def actor_kind(actor: Actor) -> str:
    """What a note says acted: ``admin`` or ``agent`` for a person, else the actor's kind."""
    if actor.kind == ActorKind.PERSON:
        return "admin" if actor.is_admin else "agent"
    return str(actor.kind)


def note(transition: Transition, agent_names: dict[int, str]) -> dict[str, Any]:
    """The system note of a transition as data, for dashboards to say in their language:
    ``{"action", "by", "by_kind", "to", "from", "reason", "reason_text"}``.

    ``by`` is the acting person's name (None for the bot, the system, the customer); ``to`` /
    ``from`` name the chat's agent after / before (None: nobody); ``reason`` is a code of
    :data:`REASONS` or None, ``reason_text`` the reason as recorded (English) or None.
    """
    actor = transition.actor

    def name(agent_id: int | None) -> str | None:
        return None if agent_id is None else agent_names.get(agent_id, f"agent #{agent_id}")

    return {
        "action": str(transition.action),
        "by": (actor.name or None) if actor.kind == ActorKind.PERSON else None,
        "by_kind": actor_kind(actor),
        "to": name(transition.to_agent_id),
        "from": name(transition.from_agent_id),
        "reason": transition.reason_code,
        "reason_text": transition.reason or None,
    }
