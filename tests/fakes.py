"""Test doubles of the parts a deployment plugs in (not of our own code)."""

from __future__ import annotations

import asyncio
from typing import Any

from bot import BotContext, Decision, Reply, Silence

# make_settings(..., bot=QUIET_BOT): channel tests look at the wire, not at bot answers.
QUIET_BOT = {"engine": "tests.fakes:SilentBot"}


class SilentBot:
    """A bot (loaded the way an operator's own bot is) that never answers."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    async def respond(self, context: BotContext) -> Decision:
        return Silence()


class SlowBot:
    """Answers every message, but only after ``options["delay"]`` seconds (race tests)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.delay = float(options.get("delay", 0.5))
        self.started = asyncio.Event()

    async def respond(self, context: BotContext) -> Decision:
        self.started.set()
        await asyncio.sleep(self.delay)
        return Reply(f"(slow answer to: {context.text})")


class PeakBot:
    """Answers every message after ``options["delay"]`` seconds; counts answers in progress."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.delay = float(options.get("delay", 0.02))
        self.thinking = 0
        self.peak = 0

    async def respond(self, context: BotContext) -> Decision:
        self.thinking += 1
        self.peak = max(self.peak, self.thinking)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.thinking -= 1
        return Reply(f"(answer to: {context.text})")


class BrokenBot:
    """A bot whose code raises: the chat must go to a human."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    async def respond(self, context: BotContext) -> Decision:
        raise RuntimeError("the bot's own bug")
