"""What the reports count, decided where the change happens (docs/api.md, "Reports").

Each fact is a row of ``report_events`` written in the transaction of the change it counts,
so a report never disagrees with the chats: a transition's facts by ``record_transition``
(``handoff.usecases.transitions``), a human reply's by the desk's reply paths, the bot's
answers in the autopilot's reply plan (``storage.bot``). A chat's current conversation is
three columns: ``opened_at`` (None: its ``created_at``; set when a closed chat reopens),
``handed_off_at`` (its first handoff to a person; kept at the close, cleared when it reopens)
and ``first_response_at``.

Durations are seconds between two instants of the clock the services share (``Core.clock``);
each also counts the part within the business hours of ``bot.hours`` (``business_value``; the
whole duration when no schedule is set).
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.hours import Schedule
from handoff.domain.modes import Transition
from storage import report_facts, sql
from storage.models import Chat, Mode
from storage.report_facts import BotFact, Fact

REOPENED = "reopened"
HANDED_OFF = "handed_off"
ASSIGNED = "assigned"
FIRST_RESPONSE = "first_response"
REPLY = "reply"
RESOLVED = "resolved"
BOT_ANSWER = "bot_answer"
BOT_FALLBACK = "bot_fallback"
NAMES = (REOPENED, HANDED_OFF, ASSIGNED, FIRST_RESPONSE, REPLY, RESOLVED, BOT_ANSWER, BOT_FALLBACK)

# What the conversation columns of a chat are called (saved with the transition).
CONVERSATION_FIELDS = ("opened_at", "handed_off_at", "first_response_at")
QUESTION_LENGTH = 255  # an unmatched question is kept this long (the column's length)


class Reporting:
    """The facts of transitions, human replies and the bot's answers, with their business
    seconds counted on ``hours`` (None: every second counts)."""

    def __init__(self, hours: Schedule | None = None) -> None:
        self.hours = hours

    def business(self, start: datetime, end: datetime) -> float:
        """The seconds from ``start`` to ``end`` within business hours."""
        if self.hours is None:
            return max((end - start).total_seconds(), 0.0)
        return self.hours.business_seconds(start, end)

    def fact(
        self,
        name: str,
        at: datetime,
        chat_id: int,
        channel: str,
        *,
        agent_id: int | None = None,
        since: datetime | None = None,
        detail: str | None = None,
    ) -> Fact:
        """A fact at ``at``; with ``since``, its value is the seconds from ``since`` to ``at``."""
        value = business = None
        if since is not None:
            value = max((at - since).total_seconds(), 0.0)
            business = self.business(since, at)
        return Fact(
            name, sql.time_param(at.astimezone(UTC)), chat_id, channel, agent_id, value,
            business, detail,
        )  # fmt: skip

    def transition(self, chat: Chat, transition: Transition, now: datetime) -> list[Fact]:
        """The facts of ``transition`` of ``chat`` (as it is before the change), and its
        conversation columns brought up to date (saved by the caller with the transition)."""
        facts: list[Fact] = []
        action, to_agent = str(transition.action), transition.to_agent_id

        def add(name: str, since: datetime | None = None, detail: str | None = None) -> None:
            facts.append(
                self.fact(name, now, chat.id, str(chat.channel), agent_id=to_agent,
                          since=since, detail=detail)
            )  # fmt: skip

        if transition.from_mode == Mode.CLOSED:  # any move out of closed opens a conversation
            chat.opened_at, chat.handed_off_at, chat.first_response_at = now, None, None
            add(REOPENED, detail=action)
        if transition.to_mode == Mode.AGENT and chat.handed_off_at is None:
            chat.handed_off_at = now
            add(HANDED_OFF, detail=transition.reason_code or action)
        waited = transition.from_mode == Mode.AGENT and transition.from_agent_id is None
        if waited and to_agent is not None:  # the queue gave it to someone
            add(ASSIGNED, since=chat.queued_at, detail=action)
        if transition.to_mode == Mode.CLOSED:  # the agent at the close: unchanged by it
            human = chat.handed_off_at is not None
            add(RESOLVED, since=chat.handed_off_at, detail="human" if human else "bot")
        return facts

    async def human_reply(self, chat: Chat, agent_id: int | None, now: datetime) -> None:
        """A person's message to the customer of ``chat``, before it is stored: a ``reply``
        when the customer waits (and the conversation's ``first_response`` when it is its
        first), written now; ``chat.first_response_at`` is set for the caller to save. One
        statement reads since when the customer waits (docs/api.md: the later of their first
        message after the last human reply and the handoff)."""
        opened = chat.opened_at or chat.created_at
        since = await sql.run(report_facts.waiting_plan(chat.id, sql.time_param(opened)))
        if since is None:
            return  # nobody waits: a follow-up, not a reply
        if chat.handed_off_at is not None and chat.handed_off_at > since:
            since = chat.handed_off_at  # what the bot had reached human hands at the handoff
        channel = str(chat.channel)
        facts = [self.fact(REPLY, now, chat.id, channel, agent_id=agent_id, since=since)]
        if chat.first_response_at is None:
            chat.first_response_at = now
            facts.append(
                self.fact(FIRST_RESPONSE, now, chat.id, channel, agent_id=agent_id, since=since)
            )
        await write(facts)

    def bot_answer(
        self, now: datetime, asked_at: datetime | None, *, fallback: bool, intent: str | None,
        question: str,
    ) -> BotFact:  # fmt: skip
        """The fact of the bot's answer at ``now`` to a customer message of ``asked_at`` (the
        reply plan writes it with the answer: ``storage.bot``): a fallback keeps the question
        (spaces collapsed), an answer its intent (None: a greeting)."""
        value = business = None
        if asked_at is not None:
            value = max((now - asked_at).total_seconds(), 0.0)
            business = self.business(asked_at, now)
        if fallback:
            detail = " ".join(question.split())[:QUESTION_LENGTH]
            return BotFact(BOT_FALLBACK, value, business, detail)
        return BotFact(BOT_ANSWER, value, business, intent)


async def write(facts: list[Fact]) -> None:
    """The facts, in one statement (inside the operation of their change)."""
    if facts:
        await sql.run(report_facts.insert_plan(facts))
