"""The bot and an unverified email sender: no echo of the sender's words, few answers per hour."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot import BotContext, Handoff, Reply
from bot.rules import RulesBot
from handoff.usecases.autopilot import ReplyLimit
from msgcenter.settings import load_settings

CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
PHISH = "Your order is on hold - confirm payment at evil.example/pay"
MONDAY_NOON = datetime(2025, 6, 2, 5, 0, tzinfo=UTC)  # 12:00 in Jakarta: business hours


def context(text: str, *, verified: bool, first: bool = True) -> BotContext:
    return BotContext(
        chat_id=1, channel="Email", customer_name=PHISH, text=text, is_first_message=first,
        now=MONDAY_NOON, sender_verified=verified,
    )  # fmt: skip


def test_the_rules_bot_never_puts_an_unverified_senders_name_in_an_answer() -> None:
    bot = RulesBot(load_settings(CONFIG, environ={}).bot)
    # The greeting and an intent that says {name} ("You're welcome, {name}!").
    for text in ("hello", "thank you", "the item arrived damaged"):
        decision = bot.decide(context(text, verified=False))
        said = decision.text if isinstance(decision, Reply | Handoff) else ""
        assert said and "evil.example" not in said and "on hold" not in said, said
    greeting = bot.decide(context("hello", verified=False))
    assert isinstance(greeting, Reply) and "Hi Kak," in greeting.text  # the default name
    # A verified customer is greeted by the name they gave.
    verified = bot.decide(context("hello", verified=True))
    assert isinstance(verified, Reply) and PHISH in verified.text


def test_automatic_answers_per_address_stop_at_the_limit_for_an_hour() -> None:
    now = [0.0]
    limit = ReplyLimit(2, clock=lambda: now[0])
    assert [limit.allow("Email", "a@x.example") for _ in range(3)] == [True, True, False]
    assert limit.allow("Email", "A@X.example") is False  # the same address
    assert limit.allow("Email", "b@x.example") is True  # another address has its own
    assert limit.allow("Telegram", "a@x.example") is True  # other channels are not limited
    now[0] = 3599.0
    assert limit.allow("Email", "a@x.example") is False
    now[0] = 3600.5  # an hour after the first two
    assert limit.allow("Email", "a@x.example") is True
    assert ReplyLimit(0).allow("Email", "a@x.example") is True  # 0: no limit
