"""The bot in the loop: asks the bot about each customer message in bot mode, acts on it.

The bot decides (``bot/``); this module carries the decision out: a Reply is
queued for the outbox with sender ``bot``; a Handoff moves the chat to agent
mode (the queue, then automatic assignment); Silence does nothing. The
decision is applied only if the chat is still in bot mode when it is written,
and the outbox refuses to send a bot message once the chat has left bot mode,
so a bot answer computed just before a handoff never reaches the customer. A
bot that fails or times out hands the chat to a human, with the failure
recorded on the chat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tortoise import timezone

from bot import Bot, BotContext, Decision, Handoff, Reply, Silence
from handoff import modes
from handoff.desk import Desk
from handoff.inbox import Received
from handoff.modes import Action
from handoff.unit import Unit, Writer
from storage.models import Chat, Message, Mode, Sender

log = logging.getLogger(__name__)

HISTORY = 10  # earlier messages the bot sees


class Autopilot:
    def __init__(
        self,
        bot: Bot,
        writer: Writer,
        desk: Desk,
        *,
        timeout: float = 15.0,
    ) -> None:
        self.bot = bot
        self.writer = writer
        self.desk = desk
        self.timeout = timeout
        self._locks: dict[int, asyncio.Lock] = {}
        self.replies = 0
        self.handoffs = 0
        self.on_decision: list[Callable[[Received, Decision, float], None]] = []

    async def react(self, received: Received) -> None:
        """Inbox reaction: a stored customer message in a bot-mode chat gets the bot."""
        if received.mode != Mode.BOT:
            return
        lock = self._locks.setdefault(received.chat_id, asyncio.Lock())
        try:
            async with lock:  # one decision at a time per chat (fallback counts stay exact)
                await self._answer(received)
        finally:
            if not lock.locked() and not lock._waiters:
                self._locks.pop(received.chat_id, None)

    async def _answer(self, received: Received) -> None:
        started = asyncio.get_running_loop().time()
        context = await self._context(received)
        if context is None:
            return
        try:
            decision = await asyncio.wait_for(self.bot.respond(context), timeout=self.timeout)
        except TimeoutError:
            decision = Handoff(f"bot unavailable: no answer within {self.timeout:g} s")
        except Exception as exc:
            log.exception("the bot failed on chat %d", received.chat_id)
            decision = Handoff(f"bot unavailable: {type(exc).__name__}")
        await self.writer.run(lambda unit: self._apply(unit, received.chat_id, decision))
        elapsed = asyncio.get_running_loop().time() - started
        for listener in self.on_decision:
            listener(received, decision, elapsed)

    async def _context(self, received: Received) -> BotContext | None:
        chat = await Chat.get_or_none(id=received.chat_id)
        if chat is None or chat.mode != Mode.BOT or received.message_id is None:
            return None
        rows = (
            await Message.filter(chat_id=chat.id, internal=False, id__lt=received.message_id)
            .order_by("-id")
            .limit(HISTORY)
            .values_list("sender", "text")
        )
        history = tuple((str(sender), text) for sender, text in reversed(rows))
        return BotContext(
            chat_id=chat.id,
            channel=str(chat.channel),
            customer_name=chat.customer_name,
            text=received.text,
            mode=str(chat.mode),
            fallbacks_so_far=chat.bot_fallbacks,
            is_first_message=not any(sender == Sender.CUSTOMER for sender, _ in history),
            history=history,
            now=timezone.now(),
        )

    async def _apply(self, unit: Unit, chat_id: int, decision: Decision) -> None:
        chat = await Chat.get_or_none(id=chat_id)
        if chat is None or chat.mode != Mode.BOT or isinstance(decision, Silence):
            return  # a human took over meanwhile: the bot stays silent
        now = timezone.now()
        if isinstance(decision, Reply):
            chat.bot_fallbacks = chat.bot_fallbacks + 1 if decision.fallback else 0
            await chat.save(update_fields=["bot_fallbacks", "updated_at"])
            await self.desk.queue_message(unit, chat, decision.text, Sender.BOT, now)
            self.replies += 1
            return
        if decision.text:
            # Said as part of the handoff (e.g. when humans are back), so sent in agent mode.
            await self.desk.queue_message(unit, chat, decision.text, Sender.SYSTEM, now)
        await self.desk.transition(
            unit,
            chat,
            Action.HANDOFF,
            modes.BOT,
            reason=decision.reason[:255],
            now=now,
            announce=not decision.text,
        )
        self.handoffs += 1
