"""Test doubles of the parts a deployment plugs in (not of our own code)."""

from __future__ import annotations

from typing import Any

from bot import BotContext, Decision, Silence

# make_settings(..., bot=QUIET_BOT): channel tests look at the wire, not at bot answers.
QUIET_BOT = {"engine": "tests.fakes:SilentBot"}


class SilentBot:
    """A bot (loaded the way an operator's own bot is) that never answers."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    async def respond(self, context: BotContext) -> Decision:
        return Silence()
