"""A bot that never answers: ``bot.engine = "bench.silentbot:SilentBot"`` measures ingest alone."""

from __future__ import annotations

from typing import Any

from bot import BotContext, Decision, Silence


class SilentBot:
    def __init__(self, options: Any = None) -> None:
        self.options = options

    async def respond(self, context: BotContext) -> Decision:
        return Silence()
