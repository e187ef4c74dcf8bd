"""The bot engine: decides what to answer a customer, never stores or sends anything.

``handoff`` builds a :class:`BotContext`, awaits ``bot.respond(context)`` and
carries out the :class:`Reply`, :class:`Handoff` or :class:`Silence` it gets.
"""

from bot.engine import (
    PRIORITIES,
    Bot,
    BotContext,
    Decision,
    Handoff,
    HandoffReason,
    Passage,
    Reply,
    Retriever,
    Silence,
    Source,
    Usage,
    close_bot,
)
from bot.loader import BotLoadError, load_bot
from bot.settings import BotSettings

__all__ = [
    "PRIORITIES",
    "Bot",
    "BotContext",
    "BotLoadError",
    "BotSettings",
    "Decision",
    "Handoff",
    "HandoffReason",
    "Passage",
    "Reply",
    "Retriever",
    "Silence",
    "Source",
    "Usage",
    "close_bot",
    "load_bot",
]
