"""Property tests: no sequence of actions breaks the mode table or an agent's capacity.

Hypothesis drives random sequences of what people, customers and the bot do to a
handful of chats, through the real desk and inbox on a real database, with
automatic assignment running; after every step the invariants must hold.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import InboundMessage
from handoff.domain import modes
from handoff.domain.errors import DomainError
from handoff.domain.modes import TABLE, Action, Actor
from storage.models import Chat, ChatTransition, Mode, User
from tests.support import Api

PEOPLE_ACTIONS = [a for a in Action if a not in (Action.CUSTOMER_WROTE,)]
CAPACITY = 2


async def _team(admin: Api) -> list[Actor]:
    """The admin and three agents of capacity 2, all online."""
    people = [await User.get(username="admin")]
    for name in ("p1", "p2", "p3"):
        user = await User.get_or_none(username=name)
        if user is None:
            status, _ = await admin.post(
                "/users", {"username": name, "password": "desk-pass-4821", "capacity": CAPACITY}
            )
            assert status == 201
            user = await User.get(username=name)
        people.append(user)
    presence = admin.service.core.presence
    for user in people:
        await presence.heartbeat(user.id)
    return [Actor.person(u.id, is_admin=u.role == "admin", name=u.display_name) for u in people]


async def _check_invariants() -> None:
    for chat in await Chat.all():
        if chat.mode == Mode.BOT:
            assert chat.assigned_agent_id is None, f"bot chat {chat.id} has an agent"
        if chat.mode == Mode.AGENT and chat.assigned_agent_id is None:
            assert chat.queued_at is not None, f"agent chat {chat.id} neither assigned nor queued"
    for user in await User.all():
        load = await Chat.filter(
            assigned_agent_id=user.id, mode__in=[Mode.AGENT, Mode.PAUSED]
        ).count()
        assert load <= user.capacity, f"{user.username} holds {load} > {user.capacity}"
    for row in await ChatTransition.all():
        allowed = TABLE[Mode(row.from_mode)].get(Mode(row.to_mode), frozenset())
        assert Action(row.action) in allowed, f"illegal {row.action} {row.from_mode}->{row.to_mode}"


step = st.one_of(
    st.tuples(
        st.just("person"),
        st.integers(0, 3),  # who
        st.sampled_from(PEOPLE_ACTIONS),
        st.integers(0, 3),  # which chat
        st.integers(0, 3),  # to whom (assign, transfer)
    ),
    st.tuples(st.just("customer"), st.integers(0, 3), st.text(max_size=20)),
    st.tuples(st.just("bot"), st.integers(0, 3)),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=25), run=st.uuids())
async def test_no_sequence_of_actions_breaks_the_table_or_capacity(
    admin: Api, steps: list[Any], run: Any
) -> None:
    core = admin.service.core
    team = await _team(admin)
    phones = [f"{run.hex[:8]}-{i}" for i in range(4)]
    for phone in phones:
        await core.inbox.receive(_message(phone, "hello", f"{phone}-0"))
    chat_ids = [(await Chat.get(external_id=phone)).id for phone in phones]
    for number, item in enumerate(steps, 1):
        before = await ChatTransition.all().count()
        try:
            if item[0] == "person":
                _, who, action, chat, target = item
                await core.desk.act(
                    team[who], chat_ids[chat], action, to_agent_id=team[target].user_id
                )
            elif item[0] == "customer":
                _, chat, text = item
                await core.inbox.receive(_message(phones[chat], text, f"{phones[chat]}-{number}"))
            else:
                _, chat = item
                await core.desk.act(modes.BOT, chat_ids[chat], Action.HANDOFF, reason="bot")
        except (DomainError, modes.IllegalTransition):
            assert await ChatTransition.all().count() == before  # refused: nothing written
        await core.drain()
        await core.assigner.drain()
        await _check_invariants()


def _message(phone: str, text: str, message_id: str) -> InboundMessage:
    return InboundMessage(
        channel="WhatsApp",
        chat_external_id=phone,
        message_external_id=message_id,
        text=text,
        customer_name="Prop",
    )
