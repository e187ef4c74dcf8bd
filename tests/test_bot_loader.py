"""Choosing the engine: the built-in bots, and a Python class of the operator's."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import BotContext, BotLoadError, BotSettings, Handoff, Reply, close_bot, load_bot
from bot.rules import RulesBot
from bot.settings import WebhookSettings
from bot.webhook import WebhookBot
from msgcenter.settings import SettingsError, build_settings

# The README's example, as an operator would write it in mybot.py.
ECHO_BOT = '''
from bot import BotContext, Decision, Handoff, Reply


class EchoBot:
    """Repeats what the customer says; "human" hands the chat over."""

    def __init__(self, options: dict) -> None:
        self.prefix = options.get("prefix", "")

    async def respond(self, context: BotContext) -> Decision:
        if "human" in context.text.lower():
            return Handoff("customer asked for a human")
        return Reply(f"{self.prefix}{context.text}")
'''

NOT_BOTS = """
NOT_A_CLASS = 42


class NotABot:
    def __init__(self, options: dict) -> None: ...


class SyncBot:
    def __init__(self, options: dict) -> None: ...

    def respond(self, context): ...


class Broken:
    def __init__(self, options: dict) -> None:
        raise RuntimeError("missing option 'api_key'")

    async def respond(self, context): ...


class Closing:
    closed = False

    def __init__(self, options: dict) -> None: ...

    async def respond(self, context): ...

    def close(self) -> None:
        Closing.closed = True
"""


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """mybot.py, notbots.py and a module that does not compile, importable from tmp_path."""
    (tmp_path / "mybot.py").write_text(ECHO_BOT)
    (tmp_path / "notbots.py").write_text(textwrap.dedent(NOT_BOTS))
    (tmp_path / "badsyntax.py").write_text("class Oops(:\n")
    monkeypatch.syspath_prepend(tmp_path)
    yield
    for name in ("mybot", "notbots", "badsyntax"):
        sys.modules.pop(name, None)


def context(text: str) -> BotContext:
    return BotContext(chat_id=3, channel="Email", customer_name="Ana", text=text)


@pytest.mark.usefixtures("modules")
async def test_a_python_bot_is_loaded_with_its_options() -> None:
    settings = build_settings(
        {"bot": {"engine": "mybot:EchoBot", "options": {"prefix": "echo: "}}}, environ={}
    )
    bot = load_bot(settings.bot.engine, settings.bot)

    assert await bot.respond(context("hello")) == Reply("echo: hello")
    assert await bot.respond(context("a HUMAN please")) == Handoff("customer asked for a human")
    await close_bot(bot)  # no close(): nothing to do


@pytest.mark.usefixtures("modules")
async def test_close_bot_calls_a_plain_close() -> None:
    bot = load_bot("notbots:Closing", BotSettings())
    await close_bot(bot)
    assert type(bot).closed is True


def test_the_built_in_engines() -> None:
    assert isinstance(load_bot("rules", BotSettings()), RulesBot)
    webhook = BotSettings(
        webhook=WebhookSettings(url="http://127.0.0.1:5005/webhooks/rest/webhook")
    )
    assert isinstance(load_bot("webhook", webhook), WebhookBot)


@pytest.mark.usefixtures("modules")
@pytest.mark.parametrize(
    ("engine", "error"),
    [
        ("webhook", 'bot.webhook.url: required when bot.engine = "webhook"'),
        (
            "rule",
            'bot.engine: \'rule\' is not "rules", "webhook", "llm" or "package.module:ClassName"',
        ),
        ("mybot", "bot.engine: 'mybot' is not"),
        ("mybot:", "bot.engine: 'mybot:' is not"),
        ("", "bot.engine: '' is not"),
        ("no_such_module_here:Bot", "bot.engine: cannot import 'no_such_module_here' (ModuleNot"),
        ("badsyntax:Oops", "bot.engine: cannot import 'badsyntax' (SyntaxError"),
        ("mybot:Missing", "bot.engine: module 'mybot' has no 'Missing'"),
        ("notbots:NOT_A_CLASS", "bot.engine: 'notbots:NOT_A_CLASS' is not a class"),
        ("notbots:NotABot", "needs `async def respond(self, context: BotContext) -> Decision`"),
        ("notbots:SyncBot", "bot.engine: notbots:SyncBot is not a bot"),
        ("notbots:Broken", "(options) failed (RuntimeError: missing option 'api_key')"),
    ],
)
def test_a_bad_engine_is_a_clear_error(engine: str, error: str) -> None:
    with pytest.raises(BotLoadError) as raised:
        load_bot(engine, BotSettings())
    assert error in str(raised.value)


@pytest.mark.parametrize("engine", ["my bot", "mybot", "mybot:Echo:Bot", "1bot:Bot", ""])
def test_the_settings_reject_a_malformed_engine(engine: str) -> None:
    with pytest.raises(SettingsError, match=r"^bot\.engine: "):
        build_settings({"bot": {"engine": engine}}, environ={})
