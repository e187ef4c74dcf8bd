"""The bot contract: a bot reads a :class:`BotContext` and returns a :class:`Decision`.

A bot decides and nothing else: it never stores, sends or changes a chat.
``handoff`` builds the context from the chat, asks the bot, and carries the
decision out (queues the reply, hands the chat to a human, or does nothing),
the way an aiogram handler returns the method its dispatcher then runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class BotContext:
    """What a bot knows when a customer writes.

    Attributes:
        chat_id: The chat's id in msgcenter.
        channel: The chat's channel, as stored ("Telegram", "WhatsApp", "Email").
        customer_name: The customer's display name; may be empty.
        mode: The chat's mode ("bot", "agent", "paused", "closed"). Bots answer in "bot" only.
        text: The customer's new message (may be empty, e.g. a photo without caption).
        fallbacks_so_far: Fallback replies the bot gave in a row just before this message.
        is_first_message: Whether this is the customer's first message in the chat.
        history: Recent messages before this one, oldest first, as (sender, text) with
            sender "customer", "bot", "agent" or "system".
        now: When the message arrived; time-zone aware.
        sender_verified: False when the channel could not confirm who wrote (email without
            an aligned DKIM or SPF pass): the "customer" may be a stranger using someone's
            address, so answers must not repeat anything they wrote about themselves (the
            name: ``customer_name`` is then empty; the subject) back to that address.
    """

    chat_id: int
    channel: str
    customer_name: str
    text: str
    mode: str = "bot"
    fallbacks_so_far: int = 0
    is_first_message: bool = False
    history: tuple[tuple[str, str], ...] = ()
    now: datetime = field(default_factory=_utcnow)
    sender_verified: bool = True

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("BotContext.now must be time-zone aware")
        if self.fallbacks_so_far < 0:
            raise ValueError("BotContext.fallbacks_so_far must not be negative")


@dataclass(frozen=True, slots=True)
class Source:
    """A knowledge-base article an answer used (shown to agents on the message)."""

    article_id: int
    title: str


@dataclass(frozen=True, slots=True)
class Usage:
    """What asking a language model cost for one decision (recorded, never shown to customers).

    Attributes:
        model: The model that answered, as the endpoint named it.
        prompt_tokens: Tokens sent, over every call of the decision.
        completion_tokens: Tokens received, over every call.
        seconds: Time spent waiting for the model, over every call.
        outcome: How it ended: "answered", "handoff" (the model or a guardrail handed the
            chat over), "no_match" (nothing relevant was found: the model was not asked),
            "error", "timeout", "invalid" (an answer that could not be used), "budget".
        error: The short reason of a failure ("HTTP 500", "no answer within 20 s"), or None.
    """

    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    outcome: str = "answered"
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer the customer with ``text`` (sent with sender ``bot``); the chat stays with the bot.

    Attributes:
        text: What to send.
        fallback: True when the bot did not understand; the caller counts these in a row
            (a fallback adds one, any other reply resets the count, Silence leaves it).
        intent: The intent answered, for logs; None for a greeting or a fallback.
        confidence: How sure the bot was, 0..1, for logs (for a fallback: the best miss).
        labels: Names of labels to put on the chat with the answer (labels that exist).
        priority: The chat's new priority ("none", "low", "medium", "high", "urgent"), or
            None to leave it.
        sources: The knowledge-base articles the answer used (stored on the message).
        usage: What the language model cost (the LLM engine), or None.
    """

    text: str
    fallback: bool = False
    intent: str | None = None
    confidence: float | None = None
    labels: tuple[str, ...] = ()
    priority: str | None = None
    sources: tuple[Source, ...] = ()
    usage: Usage | None = None


class HandoffReason(StrEnum):
    """Stable codes for why a bot hands a chat over (dashboards translate them)."""

    CUSTOMER_ASKED = "customer_asked"  # the customer asked for a human (a handoff phrase)
    INTENT = "intent_handoff"  # the matched FAQ intent says a human must take over
    NOT_UNDERSTOOD = "not_understood"  # too many messages in a row not understood
    BOT_UNAVAILABLE = "bot_unavailable"  # the bot failed, timed out or gave no usable answer
    EXTERNAL_BOT = "external_bot"  # the external (webhook) bot asked for a human
    MODEL = "model_handoff"  # the language model asked for a human (handoff_to_human)
    TOPIC = "topic"  # a topic that always goes to a human (bot.llm.handoff_topics)
    NO_ANSWER = "no_answer"  # the knowledge base has nothing relevant (bot.llm.no_match)
    BUDGET = "budget"  # the language model's budget is spent (bot.llm.daily_tokens)


@dataclass(frozen=True, slots=True)
class Handoff:
    """Hand the chat to a human (agent mode, into the queue).

    Attributes:
        reason: Why, in a few words, recorded on the chat ("customer asked for a human").
        text: A message to send the customer before the handoff, e.g. the intent's answer;
            None for none (then the configured handoff message is sent).
        away_text: Sent (after ``text``) instead of the handoff message only when no human
            can take the chat now: no online agent has room for it. The rules bot puts the
            out-of-hours note here; when an agent is online and takes the chat, the customer
            hears the usual handoff message instead of "we are offline".
        code: One of :class:`HandoffReason` (a stable code dashboards translate), or None
            for a reason that is free text only.
        labels: Names of labels to put on the chat with the handoff (labels that exist).
        priority: The chat's new priority, e.g. "urgent" (served first in the queue), or
            None to leave it.
        usage: What the language model cost before the handoff (the LLM engine), or None.
    """

    reason: str
    text: str | None = None
    away_text: str | None = None
    code: str | None = None
    labels: tuple[str, ...] = ()
    priority: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class Silence:
    """Send nothing and change nothing."""


Decision = Reply | Handoff | Silence

# The priorities a decision may set, lowest first (msgcenter's handoff.domain.priority).
PRIORITIES = ("none", "low", "medium", "high", "urgent")


@dataclass(frozen=True, slots=True)
class Passage:
    """A passage of a knowledge-base article, as retrieval found it.

    Attributes:
        article_id: The article's id.
        title: The article's title.
        heading: The headings above the passage within the article ("" for none).
        text: The passage (markdown).
        language: The article's language ("en", "id").
        score: How well it matches, 0..1 (1 best), comparable between passages of one search.
    """

    article_id: int
    title: str
    heading: str
    text: str
    language: str
    score: float


class Retriever(Protocol):
    """Finds knowledge-base passages for a question (msgcenter's knowledge base implements it;
    a bot receives one and never reads the database itself)."""

    async def retrieve(
        self, query: str, *, language: str | None = None, limit: int = 5
    ) -> Sequence[Passage]:
        """The best passages for ``query``, best first; ``language`` preferred when given."""
        ...


class Bot(Protocol):
    """What every engine implements: the rules bot, the webhook bot, a user's Python class.

    ``respond`` is called once per customer message of a chat in bot mode, possibly for
    many chats at once; it must not keep per-chat state on the instance (the context
    carries what the service knows). A bot may also define ``async def close(self) ->
    None`` to release what it holds (HTTP sessions); call it through :func:`close_bot`.
    """

    async def respond(self, context: BotContext) -> Decision:
        """Decide what to do about the customer's new message."""
        ...


async def close_bot(bot: Bot) -> None:
    """Call the bot's optional ``close()``, awaiting it when it is a coroutine."""
    close = getattr(bot, "close", None)
    if close is None:
        return
    result = close()
    if inspect.isawaitable(result):
        await result
