"""Turn ``bot.engine`` into a bot: the built-in ones, or a Python class of the operator's.

``engine = "llm"`` needs what only the service has: the knowledge base (a
:class:`~bot.engine.Retriever`) and the day's budget; the composition root passes them
(``retriever=``, ``budget_spent=``) and may pass the model client (``llm_client=``; else
one is made from ``bot.llm``).

``engine = "package.module:ClassName"`` imports ``package.module`` (from the
Python path: install it, or run from its directory) and calls
``ClassName(options)`` with the ``[bot.options]`` table as one plain ``dict``,
so the class decides how to validate its own options. The class must define
``async def respond(self, context: BotContext) -> Decision`` and may define
``async def close(self) -> None``.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, cast

from bot.engine import Bot, Retriever
from bot.llm import LlmBot
from bot.llm_client import LlmClient
from bot.rules import RulesBot
from bot.settings import BotSettings
from bot.webhook import WebhookBot

_SHAPES = '"rules", "webhook", "llm" or "package.module:ClassName"'


class BotLoadError(Exception):
    """The configured engine cannot be made into a bot; the message names the setting."""


def load_bot(
    engine: str,
    settings: BotSettings,
    *,
    retriever: Retriever | None = None,
    llm_client: LlmClient | None = None,
    budget_spent: Callable[[], Awaitable[bool]] | None = None,
) -> Bot:
    """Build the bot named by ``engine`` ("rules", "webhook", "llm",
    "package.module:ClassName"). ``retriever``, ``llm_client``, ``budget_spent``: the LLM
    engine's knowledge base, model client (None: made from ``settings.llm``) and "is the
    day's budget spent?" (None: no budget).

    Raises:
        BotLoadError: an unknown engine, a module that does not import, a missing class,
            a class without ``async def respond``, or a constructor that raised.
    """
    if engine == "rules":
        return RulesBot(settings)
    if engine == "webhook":
        if not settings.webhook.url:
            raise BotLoadError('bot.webhook.url: required when bot.engine = "webhook"')
        return WebhookBot(settings.webhook)
    if engine == "llm":
        return _llm_bot(settings, retriever, llm_client, budget_spent)
    module_name, colon, class_name = engine.partition(":")
    if not colon or not module_name or not class_name.isidentifier():
        raise BotLoadError(f"bot.engine: {engine!r} is not {_SHAPES}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an import runs the operator's code: anything can go wrong
        raise BotLoadError(
            f"bot.engine: cannot import {module_name!r} ({type(exc).__name__}: {exc})"
        ) from exc
    cls: Any = getattr(module, class_name, None)
    if cls is None:
        raise BotLoadError(f"bot.engine: module {module_name!r} has no {class_name!r}")
    if not inspect.isclass(cls):
        raise BotLoadError(f"bot.engine: {engine!r} is not a class")
    if not inspect.iscoroutinefunction(getattr(cls, "respond", None)):
        raise BotLoadError(
            f"bot.engine: {engine} is not a bot: it needs "
            "`async def respond(self, context: BotContext) -> Decision`"
        )
    factory: Callable[[dict[str, Any]], object] = cls
    try:
        instance = factory(copy.deepcopy(settings.options))
    except Exception as exc:  # the operator's constructor: report it against the setting
        raise BotLoadError(
            f"bot.engine: {engine}(options) failed ({type(exc).__name__}: {exc}); "
            "the class is called with the [bot.options] table as one dict"
        ) from exc
    return cast(Bot, instance)


def llm_client(settings: BotSettings) -> LlmClient:
    """The model client of ``bot.llm`` (its key from the settings, i.e. the environment)."""
    llm = settings.llm
    return LlmClient(
        base_url=llm.base_url,
        model=llm.model,
        api_key=llm.api_key.get_secret_value() if llm.api_key is not None else None,
        timeout=llm.timeout,
        max_tokens=llm.max_tokens,
        temperature=llm.temperature,
        embedding_model=llm.embedding_model or None,
    )


def _llm_bot(
    settings: BotSettings,
    retriever: Retriever | None,
    client: LlmClient | None,
    budget_spent: Callable[[], Awaitable[bool]] | None,
) -> Bot:
    if not settings.llm.configured:
        raise BotLoadError('bot.llm.base_url and bot.llm.model: required when bot.engine = "llm"')
    if retriever is None:
        raise BotLoadError('bot.engine = "llm" needs the knowledge base (a retriever)')
    return LlmBot(settings, retriever, client or llm_client(settings), budget_spent)
