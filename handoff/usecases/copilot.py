"""The agents' copilot: a draft reply, a summary note, a translation (docs/api.md "Copilot").

Each answer comes from the model of ``bot.llm`` (any engine) and is a draft or a note:
nothing reaches a customer until a person sends it. Every request is built with
``bot/prompts.py`` (the same shape as the LLM engine's: a task tag, the knowledge-base
passages, the conversation).

- **Suggest** (who may reply in the chat): the knowledge base is searched (the
  :class:`~bot.engine.Retriever`) for each of the customer's latest messages; passages scoring
  ``bot.llm.min_score`` or more (at most ``bot.llm.passages``) go to the model with the
  last ``bot.llm.history`` messages. The model writes in the customer's language, states
  only what the passages say and cites them as ``[#12]``; the markers are removed and the
  articles cited (of those given) are the draft's ``sources``; a draft that cites none
  names every article it was given.
- **Summarize** (who may write a note): the conversation (its last :data:`SUMMARY_MESSAGES`
  messages, notes left out) as a private note by the asking person, written through
  :class:`~handoff.usecases.notes.Notes` (``message.created`` to the chat's watchers like any
  note; ``@names`` in it mention nobody). With ``copilot.summarize_at_handoff`` a summary is
  also written when the bot hands a chat to a human: after the handoff's commit, in the
  background (:meth:`Copilot.on_moved`), by nobody (``agent_id`` None); a failure is logged
  and recorded, and never touches the handoff.
- **Translate** (who may read the chat): a message of the chat into ``to`` (default: the
  person's language, ``User.language``), or a text (a draft) into ``to`` (default: the
  customer's language, English or Indonesian as :func:`bot.text.language_of` reads their
  latest messages; English when neither leads).

The budget (``bot.llm.daily_tokens``) is checked before the model is asked. Every call is an
``llm_calls`` row (:class:`~handoff.usecases.llm_usage.LlmUsage`): with the note it produced,
or alone for a draft, a translation, a failure (``error``, ``timeout``, ``invalid``) or a
refusal for the budget (``budget``, no tokens). The conversation is read with one bounded
query.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot import Passage, Retriever, Usage, prompts
from bot.llm_client import Completion, LlmClient, LlmError
from bot.text import language_of
from handoff.domain.errors import (
    Conflict,
    Exhausted,
    Invalid,
    NotFound,
    Upstream,
    UpstreamTimeout,
)
from handoff.domain.modes import SYSTEM, Action, Actor, ActorKind
from handoff.domain.rights import can_note, can_read
from handoff.usecases.desk import ChatMoved, Desk
from handoff.usecases.llm_usage import SUGGEST, SUMMARIZE, TRANSLATE, LlmUsage
from handoff.usecases.notes import Notes
from storage.models import Chat, Message, Mode, Sender, User

log = logging.getLogger(__name__)

SUMMARY_MESSAGES = 100  # the newest messages a summary reads
MESSAGE_CHARS = 2000  # of each message the model reads
QUERY_CHARS = 1000  # of the customer's latest messages the knowledge base is searched for
LATEST_CUSTOMER = 3  # customer messages that make the search (and the draft's language)
MAX_TEXT = 16_384  # the longest draft, note or translation kept (a message's limit)
BACKGROUND = 4  # summaries at handoff asked at once
BACKGROUND_QUEUE = 200  # summaries at handoff waiting at most; more are dropped (logged)

CITATION = re.compile(r"\s*\[#\s*\d+(?:\s*,\s*#?\s*\d+)*\s*\]")
NUMBER = re.compile(r"\d+")

SUGGEST_INSTRUCTIONS = (
    "You draft the next reply of a customer-service agent to the customer in this chat; the "
    "agent reads and edits it before sending. Write in the language the customer writes in, "
    "briefly and politely, as the agent (not as an AI). State as fact only what the passages "
    "below say; when they do not answer the question, ask for what is needed or say that you "
    "will check, and state nothing else. End with the numbers of the articles you used, as "
    "[#12] or [#12, #14]; none if you used none."
)
SUMMARIZE_INSTRUCTIONS = (
    "Summarize this customer-service conversation for the agents, as a private note in "
    "English: a few short bullet points saying the customer's issue, what was done, and "
    "what is still pending. Do not invent anything the conversation does not say."
)
TRANSLATE_INSTRUCTIONS = (
    "Translate the user's message into the language named in the task tag (an ISO 639 "
    "code). Keep its meaning, tone, names, numbers and links; answer with the translation "
    "only."
)


@dataclass(frozen=True, slots=True)
class Draft:
    """A suggested reply: its text and the articles it rests on."""

    text: str
    sources: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Translation:
    text: str
    to: str


@dataclass(frozen=True, slots=True)
class CopilotOptions:
    """What the copilot uses: ``client`` the model (None: none configured), ``enabled``
    (``copilot.enabled``), the knowledge base's ``retriever`` (None: drafts from the
    conversation alone), and the ``bot.llm`` knobs it reads."""

    client: LlmClient | None = None
    enabled: bool = True
    summarize_at_handoff: bool = False
    retriever: Retriever | None = None
    passages: int = 4
    min_score: float = 0.2
    history: int = 10
    instructions: str = ""


class Copilot:
    def __init__(self, options: CopilotOptions, desk: Desk, notes: Notes, usage: LlmUsage) -> None:
        self.options = options
        self.client = options.client
        self.desk = desk
        self.notes = notes
        self.usage = usage
        self._pending: set[asyncio.Task[None]] = set()
        self._running = asyncio.Semaphore(BACKGROUND)

    @property
    def available(self) -> bool:
        """Whether the copilot answers (a model is set and ``copilot.enabled``)."""
        return self.options.enabled and self.client is not None

    @property
    def summarizes_at_handoff(self) -> bool:
        """Whether a summary is written when the bot hands a chat over."""
        return self.available and self.options.summarize_at_handoff

    # -- the three routes -----------------------------------------------------------------

    async def suggest(self, actor: Actor, chat_id: int) -> Draft:
        """A draft reply for ``chat_id`` (``actor`` may reply in it)."""
        client = self._client()
        chat = await self.desk.writable_chat(actor, chat_id)
        await self._budget(SUGGEST, client, chat.id, actor)
        rows = await _conversation(chat.id, max(self.options.history, LATEST_CUSTOMER))
        passages = await self._passages(_latest_customer_messages(rows))
        messages = [
            prompts.system(
                "suggest",
                _instructions(SUGGEST_INSTRUCTIONS, self.options.instructions),
                prompts.passages_block(passages),
            ),
            *prompts.conversation(_history(rows), limit=self.options.history),
        ]
        answer = await self._ask(SUGGEST, client, messages, chat.id, actor)
        text, cited = _citations(answer.text)
        await self.usage.record(SUGGEST, _usage(answer), chat_id=chat.id, agent_id=actor.user_id)
        return Draft(text[:MAX_TEXT], _sources(passages, cited))

    async def summarize(self, actor: Actor, chat_id: int) -> dict[str, Any]:
        """A private note summarizing ``chat_id`` by ``actor`` (who may write a note); the
        note's view."""
        client = self._client()
        chat = await Chat.get_or_none(id=chat_id)
        if chat is None or not can_read(chat, actor):
            raise NotFound(f"chat {chat_id} not found")
        if not can_note(chat, actor):
            raise NotFound(f"chat {chat_id} waits in the queue: claim it first", code="claim_first")
        return await self._summary(client, actor, chat.id)

    async def translate(
        self,
        actor: Actor,
        chat_id: int,
        *,
        message_id: int | None = None,
        text: str | None = None,
        to: str | None = None,
    ) -> Translation:
        """A message of ``chat_id`` into ``to`` (default the person's language), or ``text``
        into ``to`` (default the customer's language). ``actor`` may read the chat."""
        client = self._client()
        chat = await Chat.get_or_none(id=chat_id)
        if chat is None or not can_read(chat, actor):
            raise NotFound(f"chat {chat_id} not found")
        if message_id is not None:
            message = (
                await Message.filter(id=message_id, chat_id=chat.id).only("id", "text").first()
            )
            if message is None:
                raise NotFound(f"message {message_id} not found in chat {chat_id}")
            if not message.text.strip():
                raise Invalid(f"message {message_id} has no text to translate", field="message_id")
            text = message.text
            to = to or await _language_of_person(actor)
        elif to is None:
            rows = await _conversation(chat.id, LATEST_CUSTOMER * 3)
            to = language_of("\n".join(_latest_customer_messages(rows, any_turn=True))) or "en"
        assert text is not None and to is not None
        await self._budget(TRANSLATE, client, chat.id, actor)
        messages = [
            prompts.system("translate", TRANSLATE_INSTRUCTIONS, argument=to),
            {"role": "user", "content": text},
        ]
        answer = await self._ask(TRANSLATE, client, messages, chat.id, actor)
        await self.usage.record(TRANSLATE, _usage(answer), chat_id=chat.id, agent_id=actor.user_id)
        return Translation(answer.text.strip()[:MAX_TEXT], to)

    # -- the summary at handoff -----------------------------------------------------------

    def on_moved(self, moved: ChatMoved) -> None:
        """``desk.moved`` (after the commit): the bot handed a chat to a human: its summary
        is written in the background (``copilot.summarize_at_handoff``)."""
        transition = moved.transition
        handed = (
            transition.action == Action.HANDOFF
            and transition.from_mode == Mode.BOT
            and transition.actor.kind != ActorKind.PERSON
        )
        if not (handed and self.summarizes_at_handoff):
            return
        if len(self._pending) >= BACKGROUND_QUEUE:
            log.warning("summary of chat %d at handoff dropped: too many waiting", moved.chat_id)
            return
        task = asyncio.get_running_loop().create_task(
            self._summarize_at_handoff(moved.chat_id), name=f"summary-{moved.chat_id}"
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _summarize_at_handoff(self, chat_id: int) -> None:
        client = self.client
        if client is None:
            return
        async with self._running:
            try:
                await self._summary(client, SYSTEM, chat_id)
            except (Exhausted, Upstream) as exc:
                log.warning("summary of chat %d at handoff not written: %s", chat_id, exc)
            except NotFound:
                log.info("summary of chat %d at handoff not written: the chat is gone", chat_id)
            except Exception:
                log.exception("summary of chat %d at handoff failed", chat_id)

    async def drain(self) -> None:
        """Wait for the summaries at handoff started so far (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        """Stop: summaries still waiting are given up; the model's connection is closed."""
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*list(self._pending), return_exceptions=True)
        if self.client is not None:
            await self.client.close()

    # -- the parts ------------------------------------------------------------------------

    def _client(self) -> LlmClient:
        if self.client is None or not self.options.enabled:
            why = "copilot.enabled is false" if not self.options.enabled else "no model is set"
            raise Conflict(f"the copilot is unavailable: {why}", code="copilot_unavailable")
        return self.client

    async def _summary(self, client: LlmClient, actor: Actor, chat_id: int) -> dict[str, Any]:
        await self._budget(SUMMARIZE, client, chat_id, actor)
        rows = await _conversation(chat_id, SUMMARY_MESSAGES)
        messages = [
            prompts.system(
                "summarize", _instructions(SUMMARIZE_INSTRUCTIONS, self.options.instructions)
            ),
            *prompts.conversation(_history(rows), limit=SUMMARY_MESSAGES),
        ]
        answer = await self._ask(SUMMARIZE, client, messages, chat_id, actor)
        spent = _usage(answer)
        recorded = False

        async def record() -> None:
            nonlocal recorded
            await self.usage.record(SUMMARIZE, spent, chat_id=chat_id, agent_id=actor.user_id)
            recorded = True

        try:
            return await self.notes.add(
                actor, chat_id, answer.text.strip()[:MAX_TEXT], mentions=False, also=record
            )
        finally:
            if not recorded:  # the note was refused (the chat moved meanwhile): still spent
                await self.usage.record(SUMMARIZE, spent, chat_id=chat_id, agent_id=actor.user_id)

    async def _budget(self, purpose: str, client: LlmClient, chat_id: int, actor: Actor) -> None:
        """Refuse (429 ``budget_spent``, recorded) when the day's tokens are spent."""
        if await self.usage.exhausted():
            refused = Usage(client.model, outcome="budget", error="the day's tokens are spent")
            await self.usage.record(purpose, refused, chat_id=chat_id, agent_id=actor.user_id)
            raise Exhausted(
                "the language model's tokens for today are spent (bot.llm.daily_tokens)",
                code="budget_spent",
            )

    async def _ask(
        self,
        purpose: str,
        client: LlmClient,
        messages: list[dict[str, Any]],
        chat_id: int,
        actor: Actor,
    ) -> Completion:
        """The model's answer; a failure is recorded and raised as 502 / 504."""
        started = time.monotonic()
        try:
            answer = await client.complete(messages)
            if not answer.text.strip():
                raise LlmError("invalid", "an empty answer")
        except LlmError as exc:
            outcome = {"timeout": "timeout", "invalid": "invalid"}.get(exc.kind, "error")
            failed = Usage(
                client.model, seconds=time.monotonic() - started, outcome=outcome, error=str(exc)
            )
            await self.usage.record(purpose, failed, chat_id=chat_id, agent_id=actor.user_id)
            if exc.kind == "timeout":
                raise UpstreamTimeout(
                    f"the model gave no answer in time: {exc}", code="model_timeout"
                ) from exc
            raise Upstream(
                f"the model gave no usable answer: {exc}", code="model_error", reason=str(exc)
            ) from exc
        return answer

    async def _passages(self, questions: Sequence[str]) -> list[Passage]:
        """The best passages for any of ``questions`` (each searched alone, in its language:
        a message that is only an order number does not dilute the one that asks), those
        scoring ``min_score`` or more, at most ``passages``."""
        retriever = self.options.retriever
        if retriever is None:
            return []
        best: dict[tuple[int, str, str], Passage] = {}
        for question in questions:
            query = question[:QUERY_CHARS]
            found = await retriever.retrieve(
                query, language=language_of(query), limit=self.options.passages
            )
            for passage in found:
                key = (passage.article_id, passage.heading, passage.text)
                if key not in best or best[key].score < passage.score:
                    best[key] = passage
        ranked = sorted(best.values(), key=lambda passage: -passage.score)
        return [p for p in ranked if p.score >= self.options.min_score][: self.options.passages]


async def _conversation(chat_id: int, limit: int) -> list[dict[str, Any]]:
    """The chat's last ``limit`` messages that are not notes, oldest first (one query)."""
    rows = (
        await Message.filter(chat_id=chat_id, internal=False)
        .order_by("-id")
        .limit(limit)
        .values("id", "sender", "text")
    )
    rows.reverse()
    return rows


def _history(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(str(row["sender"]), str(row["text"] or "")[:MESSAGE_CHARS]) for row in rows]


def _latest_customer_messages(
    rows: Sequence[dict[str, Any]], *, any_turn: bool = False
) -> list[str]:
    """The texts of the customer's latest messages (at most :data:`LATEST_CUSTOMER`): those
    since the last answer, or the last one when the chat was answered since; ``any_turn``:
    their last few wherever they are."""
    said = [row for row in rows if row["sender"] == Sender.CUSTOMER]
    if not any_turn:
        trailing: list[dict[str, Any]] = []
        for row in reversed(rows):
            if row["sender"] != Sender.CUSTOMER:
                break
            trailing.insert(0, row)
        said = trailing or said[-1:]
    texts = [str(row["text"] or "").strip() for row in said[-LATEST_CUSTOMER:]]
    return [text for text in texts if text]


def _instructions(task: str, extra: str) -> str:
    return f"{task}\n\n{extra}" if extra.strip() else task


def _citations(text: str) -> tuple[str, list[int]]:
    """The text without its ``[#12]`` markers, and the numbers they cite in order."""
    cited: list[int] = []
    for marker in CITATION.findall(text):
        cited.extend(int(number) for number in NUMBER.findall(marker))
    return CITATION.sub("", text).strip(), cited


def _sources(passages: Sequence[Passage], cited: Sequence[int]) -> tuple[dict[str, Any], ...]:
    """The articles cited that were given (in citation order); none cited: every one given."""
    titles: dict[int, str] = {}
    for passage in passages:
        titles.setdefault(passage.article_id, passage.title)
    chosen = [number for number in dict.fromkeys(cited) if number in titles] or list(titles)
    return tuple({"id": number, "title": titles[number]} for number in chosen)


def _usage(answer: Completion) -> Usage:
    return Usage(
        answer.model, answer.prompt_tokens, answer.completion_tokens, answer.seconds, "answered"
    )


async def _language_of_person(actor: Actor) -> str:
    """The person's language (their profile's ``language``); English for nobody."""
    if actor.user_id is None:
        return "en"
    user = await User.filter(id=actor.user_id).only("id", "language").first()
    return user.language if user is not None and user.language else "en"
