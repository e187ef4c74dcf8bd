"""The mode table of DESIGN.md, cell by cell: every action from every mode, legal or not."""

from __future__ import annotations

import re

import pytest

from bot import HandoffReason
from handoff.domain.modes import (
    AUTOMATIC,
    BOT,
    CUSTOMER,
    REASONS,
    SYSTEM,
    TABLE,
    Action,
    Actor,
    IllegalTransition,
    Transition,
    allowed_moves,
    note,
    plan,
    target_of,
)
from storage.models import Mode

ADMIN = Actor.person(1, is_admin=True, name="Ann")
AGENT = Actor.person(2, is_admin=False, name="Bob")
OTHER = 3

# (from mode, action) -> to mode, exactly the cells of DESIGN.md's table.
LEGAL = {
    (Mode.BOT, Action.HANDOFF): Mode.AGENT,
    (Mode.BOT, Action.TAKE_OVER): Mode.AGENT,
    (Mode.BOT, Action.ASSIGN): Mode.AGENT,
    (Mode.BOT, Action.PAUSE): Mode.PAUSED,
    (Mode.BOT, Action.CLOSE): Mode.CLOSED,
    (Mode.AGENT, Action.CLAIM): Mode.AGENT,
    (Mode.AGENT, Action.TRANSFER): Mode.AGENT,
    (Mode.AGENT, Action.ASSIGN): Mode.AGENT,
    (Mode.AGENT, Action.UNASSIGN): Mode.AGENT,
    (Mode.AGENT, Action.RETURN_TO_BOT): Mode.BOT,
    (Mode.AGENT, Action.PAUSE): Mode.PAUSED,
    (Mode.AGENT, Action.CLOSE): Mode.CLOSED,
    (Mode.PAUSED, Action.RESUME): Mode.BOT,
    (Mode.PAUSED, Action.HANDOFF): Mode.AGENT,
    (Mode.PAUSED, Action.ASSIGN): Mode.AGENT,
    (Mode.PAUSED, Action.TAKE_OVER): Mode.AGENT,
    (Mode.PAUSED, Action.CLOSE): Mode.CLOSED,
    (Mode.CLOSED, Action.CUSTOMER_WROTE): Mode.BOT,
    (Mode.CLOSED, Action.REOPEN_TO_BOT): Mode.BOT,
    (Mode.CLOSED, Action.REOPEN): Mode.AGENT,
    (Mode.CLOSED, Action.ASSIGN): Mode.AGENT,
    (Mode.CLOSED, Action.TAKE_OVER): Mode.AGENT,
}


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("action", list(Action))
def test_every_cell_of_the_table(mode: Mode, action: Action) -> None:
    assert target_of(mode, action) == LEGAL.get((mode, action))


def test_each_action_leads_to_one_mode_at_most() -> None:
    for targets in TABLE.values():
        actions = [action for allowed in targets.values() for action in allowed]
        assert len(actions) == len(set(actions))


def _plan(mode: Mode, action: Action, actor: Actor = ADMIN, **kwargs: object) -> object:
    assignee = kwargs.pop("assignee", OTHER if mode in (Mode.AGENT, Mode.PAUSED) else None)
    return plan(mode=mode, assignee=assignee, action=action, actor=actor, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("mode", "action"), sorted(LEGAL, key=str))
def test_legal_moves_reach_their_target(mode: Mode, action: Action) -> None:
    actor = CUSTOMER if action == Action.CUSTOMER_WROTE else ADMIN
    kwargs: dict[str, object] = {}
    if action in (Action.ASSIGN, Action.TRANSFER):
        kwargs["to_agent_id"] = 5
    if action == Action.CLAIM:
        kwargs["assignee"] = None
    transition = _plan(mode, action, actor, **kwargs)
    assert transition.to_mode == target_of(mode, action)  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", list(Mode))
def test_illegal_moves_are_refused_with_the_allowed_ones_listed(mode: Mode) -> None:
    for action in Action:
        if target_of(mode, action) is not None:
            continue
        with pytest.raises(IllegalTransition) as refused:
            _plan(mode, action)
        assert refused.value.current == mode
        assert refused.value.allowed == allowed_moves(mode, ADMIN.kind)
        assert "customer_wrote" not in {move["action"] for move in refused.value.allowed}
        assert {move["to"] for move in refused.value.allowed} == {str(m) for m in TABLE[mode]}


def test_closed_chat_cannot_be_paused() -> None:
    with pytest.raises(IllegalTransition, match="cannot pause a chat in closed mode"):
        _plan(Mode.CLOSED, Action.PAUSE)


def test_bot_mode_never_keeps_an_agent() -> None:
    for mode, action in [(Mode.AGENT, Action.RETURN_TO_BOT), (Mode.PAUSED, Action.RESUME)]:
        assert _plan(mode, action).to_agent_id is None  # type: ignore[attr-defined]
    reopened = plan(mode=Mode.CLOSED, assignee=OTHER, action=Action.CUSTOMER_WROTE, actor=CUSTOMER)
    assert reopened.to_agent_id is None


def test_handoff_goes_to_the_queue_and_assignment_needs_an_agent() -> None:
    assert _plan(Mode.BOT, Action.HANDOFF, BOT).to_agent_id is None  # type: ignore[attr-defined]
    with pytest.raises(IllegalTransition, match="needs an agent"):
        _plan(Mode.BOT, Action.ASSIGN)


def test_take_over_and_claim_assign_the_acting_person() -> None:
    assert _plan(Mode.BOT, Action.TAKE_OVER, AGENT).to_agent_id == AGENT.user_id  # type: ignore[attr-defined]
    claimed = plan(mode=Mode.AGENT, assignee=None, action=Action.CLAIM, actor=AGENT)
    assert claimed.to_agent_id == AGENT.user_id


def test_only_queued_chats_can_be_claimed() -> None:
    with pytest.raises(IllegalTransition, match="only a chat waiting in the queue"):
        plan(mode=Mode.AGENT, assignee=OTHER, action=Action.CLAIM, actor=AGENT)


def test_transfer_needs_a_current_agent_and_a_different_one() -> None:
    with pytest.raises(IllegalTransition, match="only an assigned chat"):
        plan(mode=Mode.AGENT, assignee=None, action=Action.TRANSFER, actor=ADMIN, to_agent_id=4)
    with pytest.raises(IllegalTransition, match="already assigned"):
        plan(mode=Mode.AGENT, assignee=4, action=Action.TRANSFER, actor=ADMIN, to_agent_id=4)


@pytest.mark.parametrize("actor", [CUSTOMER, BOT])
def test_customers_and_the_bot_only_hand_off(actor: Actor) -> None:
    for mode, action in LEGAL:
        if action in (Action.HANDOFF, Action.CUSTOMER_WROTE):
            continue
        with pytest.raises(IllegalTransition):
            _plan(mode, action, actor, to_agent_id=5)


def test_people_cannot_pretend_the_customer_wrote() -> None:
    with pytest.raises(IllegalTransition, match="person may not customer_wrote"):
        _plan(Mode.CLOSED, Action.CUSTOMER_WROTE, ADMIN)


def test_the_system_assigns_and_closes() -> None:
    assigned = _plan(Mode.BOT, Action.ASSIGN, SYSTEM, to_agent_id=7)
    assert assigned.to_agent_id == 7  # type: ignore[attr-defined]
    assert _plan(Mode.AGENT, Action.CLOSE, SYSTEM).to_mode == Mode.CLOSED  # type: ignore[attr-defined]


def test_every_reason_code_is_stable_snake_case_with_an_english_text() -> None:
    assert set(HandoffReason) <= set(REASONS)
    for code, text in REASONS.items():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", code) and text


@pytest.mark.parametrize(("mode", "action"), sorted(LEGAL, key=str))
def test_every_note_says_what_happened_as_data(mode: Mode, action: Action) -> None:
    actor = {Action.CUSTOMER_WROTE: CUSTOMER, Action.HANDOFF: BOT}.get(action, AGENT)
    kwargs: dict[str, object] = {}
    if action in (Action.ASSIGN, Action.TRANSFER):
        kwargs["to_agent_id"] = 5
    if action in (Action.CLAIM, Action.TAKE_OVER):
        kwargs["assignee"] = None
    if action == Action.HANDOFF:
        kwargs["reason"] = "customer asked for a human ('cs')"
        kwargs["reason_code"] = HandoffReason.CUSTOMER_ASKED
    transition = _plan(mode, action, actor, **kwargs)
    assert isinstance(transition, Transition)
    data = note(transition, {2: "Bob", 3: "Cy", 5: "Eve"})
    assert set(data) == {"action", "by", "by_kind", "to", "from", "reason", "reason_text"}
    assert data["action"] == action.value
    assert data["by_kind"] == {CUSTOMER: "customer", BOT: "bot"}.get(actor, "agent")
    assert data["by"] == ("Bob" if actor is AGENT else None)
    names = {None: None, 2: "Bob", 3: "Cy", 5: "Eve"}
    assert (data["to"], data["from"]) == (
        names[transition.to_agent_id],
        names[transition.from_agent_id],
    )
    if action == Action.HANDOFF:
        assert (data["reason"], data["reason_text"]) == (
            "customer_asked", "customer asked for a human ('cs')",
        )  # fmt: skip


def test_a_code_alone_gives_its_english_text_and_unknown_codes_are_dropped() -> None:
    automatic = plan(mode=Mode.AGENT, assignee=None, action=Action.ASSIGN, actor=SYSTEM,
                     to_agent_id=5, reason_code=AUTOMATIC)  # fmt: skip
    assert (automatic.reason, automatic.reason_code) == ("automatic", "automatic")
    typed = plan(mode=Mode.AGENT, assignee=3, action=Action.PAUSE, actor=ADMIN,
                 reason="waiting for the courier", reason_code="made_up")  # fmt: skip
    assert (typed.reason, typed.reason_code) == ("waiting for the courier", None)
    assert note(typed, {3: "Cy"})["by_kind"] == "admin"
