"""The bot in the loop: asks the bot about each customer message in bot mode, acts on it.

When: a message stored by the inbox (its ``received`` hook) is answered once messages have
stopped arriving for a moment, or after :data:`BURST_DEFER` seconds, whichever is first: in
a burst, acknowledging providers goes first and answering follows. One chat's messages are
answered one at a time.

The bot decides (``bot/``); this module carries the decision out: a Reply is
queued for the outbox with sender ``bot``; a Handoff moves the chat to agent
mode (the queue, then automatic assignment); Silence does nothing. The
decision is applied only if the chat is still in bot mode when it is written,
and the outbox refuses to send a bot message once the chat has left bot mode,
so a bot answer computed just before a handoff never reaches the customer. A
bot that fails or times out hands the chat to a human, with the failure
recorded on the chat.

A handoff's ``away_text`` (the rules bot's out-of-hours note) is sent only when no human
can take the chat now: when an online agent has room for it (more free places than
chats waiting), the customer hears the usual handoff message instead, and automatic
assignment gives the chat to that agent right after the commit.

Email senders the channel could not authenticate (a chat marked ``sender_unverified``)
get answers that repeat nothing they wrote about themselves: the bot sees no customer name
(``BotContext.sender_verified`` is False) and the mail goes out without their display name
or subject (``connectors.email``). And one address gets at most
``channels.email.auto_replies_per_hour`` automatic answers an hour (:class:`ReplyLimit`):
a stranger cannot make the bot mail someone else without end. Past the limit the bot
stays silent; a handoff still happens, without its message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from tortoise import timezone

from bot import Bot, BotContext, Decision, Handoff, HandoffReason, Reply, Silence, Usage
from handoff.domain import events, modes, priority
from handoff.domain.errors import Invalid
from handoff.domain.events import Event
from handoff.domain.modes import Action
from handoff.hooks import Hook
from handoff.infra.writer import Unit, Writer
from handoff.read.views import chat_values, preview, row_audience
from handoff.usecases import tags
from handoff.usecases.assignment import room_for_one_more
from handoff.usecases.burst import BURST_DEFER, Burst
from handoff.usecases.desk import Desk
from handoff.usecases.ingest import Received
from handoff.usecases.llm_usage import ANSWER, LlmUsage
from storage import bot as bot_store
from storage import sql
from storage.models import Chat, Message, Mode, Sender, Status

log = logging.getLogger(__name__)

HISTORY = 10  # earlier messages the bot sees
RELEASE_STEP = 0.02  # seconds: deferred answers that fell due start together, this often
# Answers in progress at once. A burst ends with thousands of deferred answers released
# together; unbounded, their context queries all queued in SQLite's thread ahead of the
# writer's next COMMIT, and the webhooks waiting for it waited ~370 ms (soak, every ~4 s).
ANSWERING = 32


class Autopilot:
    def __init__(
        self,
        bot: Bot,
        writer: Writer,
        desk: Desk,
        *,
        defer: float = BURST_DEFER,
        timeout: float = 15.0,
        who_is_online: Callable[[], Awaitable[set[int]]] | None = None,
        reply_limit: ReplyLimit | None = None,
        clock: Callable[[], datetime] = timezone.now,
        usage: LlmUsage | None = None,
        history: int = HISTORY,
    ) -> None:
        """``defer``: seconds an answer may wait while a burst of messages is arriving;
        ``timeout``: seconds the bot may take (then a ``bot_unavailable`` handoff);
        ``who_is_online``: the people online (``Presence.online``; None: nobody is known to
        be, an away_text is sent); ``reply_limit``: automatic answers per address (None: no
        limit); ``clock``: the time answers are stamped with (tests move it); ``usage``:
        where a decision's :class:`~bot.Usage` (the LLM engine's) is recorded, in the
        operation that writes the decision (None: not recorded); ``history``: earlier
        messages the bot sees."""
        self.bot = bot
        self.clock = clock
        self.writer = writer
        self.desk = desk
        self.defer = defer
        self.timeout = timeout
        self.who_is_online = who_is_online
        self.reply_limit = reply_limit
        self.usage = usage
        self.history = history
        self.burst = Burst()
        # Stored messages whose answers have not started, with the loop time they came.
        self._deferred: deque[tuple[float, Received]] = deque()
        self._releasing = False  # a task starts the deferred answers
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[int, asyncio.Lock] = {}
        self._in_line: dict[int, int] = {}  # answers holding or awaiting a chat's lock
        self._answering = asyncio.Semaphore(ANSWERING)
        self.replies = 0
        self.handoffs = 0
        self.limited = 0  # answers not sent because of reply_limit
        # After a commit that queued the bot's answer (the outbox sends it).
        self.queued: Hook[None] = Hook("autopilot.queued")
        # After each decision was carried out (or found nothing to do).
        self.decided: Hook[Decided] = Hook("autopilot.decided")

    # -- when to answer ---------------------------------------------------------------------

    def on_arriving(self, _: None) -> None:
        """Listens to ``Inbox.arriving``: a burst goes on."""
        self.burst.started()

    def on_received(self, results: Sequence[Received]) -> None:
        """Listens to ``Inbox.received``: each stored message in a bot-mode chat gets its
        answer, once messages have stopped arriving or :attr:`defer` seconds after it came,
        whichever is first: in a burst, acknowledging providers goes first and answering
        follows."""
        self.burst.ended()
        for received in results:
            if received.stored and received.mode == Mode.BOT and not received.survey:
                self.schedule(received)

    def schedule(self, received: Received) -> None:
        """Answer ``received`` in the background, after the burst (see :meth:`on_received`)."""
        self._deferred.append((asyncio.get_running_loop().time(), received))
        if not self._releasing:
            self._releasing = True
            self.track(self._release())

    async def _release(self) -> None:
        """One task holds the waiting answers (not a task and a timer each: a burst of
        thousands of webhooks would carry as many through the event loop)."""
        loop = asyncio.get_running_loop()
        try:
            while self._deferred:
                calm, now = self.burst.is_calm(), loop.time()
                while self._deferred and (calm or self._deferred[0][0] + self.defer <= now):
                    self.track(self.react(self._deferred.popleft()[1]))
                if self._deferred:
                    due = self._deferred[0][0] + self.defer - now
                    await self.burst.calm(max(due, RELEASE_STEP))
        finally:
            self._releasing = False

    def track(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; :meth:`drain` waits for it, errors are logged."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("answering a customer message failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for the answers started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def start(self, *, answer_pending: bool) -> None:
        """With ``answer_pending`` (the one process of a SQLite deployment): messages whose
        answer a crash interrupted get it now."""
        if answer_pending:
            self.track(self._answer_pending())

    async def _answer_pending(self) -> None:
        for received in await self.pending():
            self.schedule(received)

    # -- answering --------------------------------------------------------------------------

    async def react(self, received: Received) -> None:
        """A stored customer message in a bot-mode chat gets the bot, one chat at a time."""
        if received.mode != Mode.BOT:
            return
        chat_id = received.chat_id
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        ahead = self._in_line.get(chat_id, 0)
        queued = ahead > 0  # behind another answer for this chat
        self._in_line[chat_id] = ahead + 1
        try:
            async with lock:  # one decision at a time per chat (fallback counts stay exact)
                if queued:  # one answer per chat per deferral while a burst goes on
                    await self.burst.calm(self.defer)
                async with self._answering:
                    await self._answer(received)
        finally:
            left = self._in_line[chat_id] - 1
            if left:
                self._in_line[chat_id] = left
            else:
                del self._in_line[chat_id]
                self._locks.pop(chat_id, None)

    async def pending(self, within: timedelta = timedelta(hours=1)) -> list[Received]:
        """Bot-mode chats whose last message (of the last ``within``) is the customer's: the
        bot's answer was lost (a crash between the commit of the message and the answer)."""
        since = self.clock() - within
        rows = await sql.run(bot_store.pending_plan(since))
        return [_pending_received(row) for row in rows]

    async def _answer(self, received: Received) -> None:
        started = asyncio.get_running_loop().time()
        found = await self._context(received)
        if found is None:
            return
        context, address = found
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # (shutdown) that arrives together with the bot's answer.
            async with asyncio.timeout(self.timeout):
                decision = await self.bot.respond(context)
        except TimeoutError:
            decision = Handoff(
                f"bot unavailable: no answer within {self.timeout:g} s",
                code=HandoffReason.BOT_UNAVAILABLE,
            )
        except Exception as exc:
            log.exception("the bot failed on chat %d", received.chat_id)
            decision = Handoff(
                f"bot unavailable: {type(exc).__name__}", code=HandoffReason.BOT_UNAVAILABLE
            )
        limit = self.reply_limit
        if (
            not isinstance(decision, Silence)
            and limit is not None
            and not limit.allow(context.channel, address)
        ):
            log.info("chat %d: automatic answer to %s held back (%d an hour at most)",
                     received.chat_id, address, limit.per_hour)  # fmt: skip
            self.limited += 1
            spent = decision.usage if isinstance(decision, Reply) else None
            decision = _held_back(decision)
            if spent is not None and self.usage is not None:  # the model was asked all the same
                await self.writer.run(partial(self._record, spent, received.chat_id))
        if not isinstance(decision, Silence):  # silence changes nothing: no write at all
            away = isinstance(decision, Handoff) and bool(decision.away_text)
            online = await self._online() if away else None
            item = (received, decision, online)
            await self.writer.run_merged("autopilot", self._apply_merged, item)
        if self.decided:
            elapsed = asyncio.get_running_loop().time() - started
            self.decided.fire(Decided(received, decision, elapsed))

    async def _online(self) -> set[int]:
        """Who is online, asked before the writer's operation (presence may be in Redis)."""
        if self.who_is_online is None:
            return set()
        try:
            return await self.who_is_online()
        except Exception:
            log.exception("presence unavailable; the handoff assumes nobody is online")
            return set()

    async def _context(self, received: Received) -> tuple[BotContext, str | None] | None:
        """What the bot knows, and the customer's email address (None on other channels)."""
        if received.message_id is None:
            return None
        plan = bot_store.context_plan(received.chat_id, received.message_id, self.history)
        found = await sql.run(plan)
        if found is None:
            return None
        chat, rows = found
        history = tuple((str(row["sender"]), row["text"]) for row in reversed(rows))
        verified = not chat["sender_unverified"]
        context = BotContext(
            chat_id=chat["id"],
            channel=str(chat["channel"]),
            # An unverified sender's name is a stranger's words: the bot never sees it.
            customer_name=chat["customer_name"] if verified else "",
            text=received.text,
            mode=str(chat["mode"]),
            fallbacks_so_far=chat["bot_fallbacks"],
            is_first_message=not any(sender == Sender.CUSTOMER for sender, _ in history),
            history=history,
            now=self.clock(),
            sender_verified=verified,
        )
        return context, chat["customer_email"]

    async def _apply_merged(
        self, units: Sequence[Unit], items: Sequence[tuple[Received, Decision, Any]]
    ) -> list[None]:
        """Several chats' decisions in one savepoint (see ``Writer.run_merged``): runs of
        replies as one plan (two statements each, and their facts), handoffs through the
        desk."""
        index = 0
        while index < len(items):
            received, decision, online = items[index]
            if not isinstance(decision, Reply):
                await self._apply(units[index], received.chat_id, decision, online or set())
                index += 1
                continue
            replies: list[tuple[Received, Reply]] = []
            for received, decision, _ in items[index:]:
                if not isinstance(decision, Reply):
                    break
                replies.append((received, decision))
            now = self.clock()
            answers = [self._answer_row(received, reply, now) for received, reply in replies]
            outcomes = await sql.run(bot_store.reply_plan(answers, now))
            for (received, reply), outcome in zip(replies, outcomes, strict=True):
                if reply.usage is not None and self.usage is not None:  # sent or not: spent
                    await self.usage.record(ANSWER, reply.usage, chat_id=received.chat_id)
                if outcome is not None:
                    await self._replied(units[index], reply, outcome[0], outcome[1], now)
                index += 1
        return [None for _ in items]

    def _answer_row(self, received: Received, reply: Reply, now: datetime) -> bot_store.Answer:
        """The answer to queue, with what the reports count of it."""
        fact = self.desk.reporting.bot_answer(
            now, received.received_at, fallback=reply.fallback, intent=reply.intent,
            question=received.text,
        )  # fmt: skip
        return bot_store.Answer(
            received.chat_id, received.message_id, reply.text, preview(reply.text), reply.fallback,
            fact, bot_store.stored_sources(_sources(reply)),
        )  # fmt: skip

    async def _replied(
        self, unit: Unit, decision: Reply, chat_row: dict[str, Any], message_id: int, now: datetime
    ) -> None:
        """The bot's answer is queued: wake the outbox after the commit, tell the dashboards."""
        chat = sql.values(Chat, chat_row)
        message = {
            "id": message_id, "chat_id": chat["id"], "text": decision.text,
            "sender": Sender.BOT, "status": Status.QUEUED, "internal": False, "agent_id": None,
            "attachments": [], "error": None, "created_at": now, "note": None,
            "sources": _sources(decision) or None,
        }  # fmt: skip
        unit.after_commit(self._fire_queued)
        if decision.labels or decision.priority is not None:
            tagged = await Chat.get_or_none(id=chat["id"])
            if tagged is not None:
                await self._tag(unit, tagged, decision)
                chat = chat_values(tagged)
        row = await self.desk.staff.chat_row(self.desk.presenter, chat)
        view = self.desk.presenter.message(message)
        unit.emit(
            Event(
                events.MESSAGE_CREATED,
                chat["id"],
                {"message": view, "chat": row},
                row_audience(chat),
            )
        )
        self.replies += 1

    async def _apply(
        self, unit: Unit, chat_id: int, decision: Handoff | Silence, online: set[int]
    ) -> None:
        if isinstance(decision, Handoff) and decision.usage is not None:
            await self._record(decision.usage, chat_id)  # the model was asked: spent
        chat = await Chat.get_or_none(id=chat_id)
        if chat is None or chat.mode != Mode.BOT or isinstance(decision, Silence):
            return  # a human took over meanwhile: the bot stays silent
        now = self.clock()
        away = decision.away_text
        if away and await room_for_one_more(online):
            away = None  # a human takes the chat now: the usual handoff message, not "offline"
        said = "\n\n".join(part for part in (decision.text, away) if part)
        quiet = isinstance(decision, _QuietHandoff)  # past the reply limit: nothing said
        await self._tag(unit, chat, decision)  # before the handoff: the queue sees them
        if said and not quiet:
            # Said as part of the handoff (e.g. when humans are back), so sent in agent mode.
            await self.desk.queue_message(unit, chat, said, Sender.SYSTEM, now)
        await self.desk.transition(
            unit,
            chat,
            Action.HANDOFF,
            modes.BOT,
            reason=decision.reason[:255],
            reason_code=decision.code,
            now=now,
            announce=not said and not quiet,
        )
        self.handoffs += 1

    async def _tag(self, unit: Unit, chat: Chat, decision: Reply | Handoff) -> None:
        """The decision's labels and priority on the chat, by the bot, in the operation that
        writes its answer. A label that does not exist (deleted since start-up) or a
        priority that is none of the levels (a custom bot's) is left out, logged."""
        staff, presenter = self.desk.staff, self.desk.presenter
        if decision.labels:
            chosen = await tags.labels_named(decision.labels)
            if len(chosen) < len(decision.labels):
                known = {label.name.casefold() for label in chosen}
                unknown = [
                    n for n in decision.labels if " ".join(n.split()).casefold() not in known
                ]
                log.warning("chat %d: the bot's labels %s do not exist", chat.id, unknown)
            await tags.put_labels(unit, staff, presenter, chat, chosen, modes.BOT)
        if decision.priority is not None:
            try:
                rank = priority.rank(decision.priority)
            except Invalid:
                log.warning("chat %d: the bot's priority %r is unknown", chat.id, decision.priority)
            else:
                await tags.put_priority(unit, staff, presenter, chat, rank, modes.BOT)

    async def _record(self, usage: Usage, chat_id: int, _unit: Unit | None = None) -> None:
        if self.usage is not None:
            await self.usage.record(ANSWER, usage, chat_id=chat_id)

    def _fire_queued(self) -> None:
        self.queued.fire(None)


@dataclass(frozen=True, slots=True)
class Decided:
    """What ``Autopilot.decided`` carries: the message, the bot's decision, seconds taken."""

    received: Received
    decision: Decision
    seconds: float


class _QuietHandoff(Handoff):
    """A handoff that sends the customer nothing (the address is past its reply limit)."""


def _held_back(decision: Decision) -> Decision:
    """``decision`` without anything sent: a reply becomes silence, a handoff a quiet one."""
    if isinstance(decision, Handoff):  # labels and priority still apply: nothing is sent
        return _QuietHandoff(
            decision.reason, code=decision.code, labels=decision.labels,
            priority=decision.priority, usage=decision.usage,
        )  # fmt: skip
    return Silence()


class ReplyLimit:
    """At most ``per_hour`` automatic answers to one address in any hour, on ``channels``
    (email: a forged sender could otherwise make the bot mail someone without end).
    Counted in this process, like the login limits; ``per_hour`` 0: no limit."""

    def __init__(
        self,
        per_hour: int,
        channels: Collection[str] = ("Email",),
        *,
        window: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_hour = per_hour
        self.channels = frozenset(channels)
        self.window = window
        self.clock = clock
        self._sent: dict[str, deque[float]] = {}

    def allow(self, channel: str, address: str | None) -> bool:
        """Whether one more automatic answer may go to ``address`` now (counted if so)."""
        if self.per_hour <= 0 or channel not in self.channels or not address:
            return True
        now = self.clock()
        if len(self._sent) > 50_000:
            self._forget_before(now - self.window)
        sent = self._sent.setdefault(address.lower(), deque())
        while sent and sent[0] <= now - self.window:
            sent.popleft()
        if len(sent) >= self.per_hour:
            return False
        sent.append(now)
        return True

    def _forget_before(self, cutoff: float) -> None:
        for key in [key for key, sent in self._sent.items() if not sent or sent[-1] <= cutoff]:
            del self._sent[key]


def _sources(reply: Reply) -> list[dict[str, Any]]:
    """A reply's sources as stored and shown: ``[{"id", "title"}]``."""
    return [{"id": source.article_id, "title": source.title} for source in reply.sources]


def _pending_received(row: dict[str, Any]) -> Received:
    asked = sql.values(Message, row)["created_at"]
    return Received(
        row["chat_id"], row["id"], False, False, Mode.BOT, str(row["channel"]), row["text"],
        row["customer_name"], received_at=asked,
    )  # fmt: skip
