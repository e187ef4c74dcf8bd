"""The rules bot with the shipped config.toml, read as conversations with a customer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot import BotContext, BotSettings, Decision, Handoff, HandoffReason, Reply, Silence
from bot.rules import RulesBot
from bot.settings import IntentSettings
from bot.templates import render
from msgcenter.settings import SettingsError, build_settings, load_settings

CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
JAKARTA = ZoneInfo("Asia/Jakarta")
# 2025-06-02 is a Monday. The shipped hours: Mon-Fri 08:00-20:00, Sat 09:00-15:00 (WIB).
MONDAY_10AM = datetime(2025, 6, 2, 10, 0, tzinfo=JAKARTA)


def wib(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall time in Jakarta in June 2025 (the 2nd is a Monday)."""
    return datetime(2025, 6, day, hour, minute, tzinfo=JAKARTA)


def shipped() -> BotSettings:
    return load_settings(CONFIG, environ={}).bot


SHIPPED = shipped()


class Conversation:
    """One customer writing to the bot, counted the way handoff counts fallbacks."""

    def __init__(
        self, bot: RulesBot, name: str = "Budi", now: datetime = MONDAY_10AM, mode: str = "bot"
    ) -> None:
        self.bot = bot
        self.name = name
        self.now = now
        self.mode = mode
        self.fallbacks = 0
        self.history: list[tuple[str, str]] = []

    async def says(self, text: str) -> Decision:
        context = BotContext(
            chat_id=7,
            channel="WhatsApp",
            customer_name=self.name,
            text=text,
            mode=self.mode,
            fallbacks_so_far=self.fallbacks,
            is_first_message=not self.history,
            history=tuple(self.history),
            now=self.now,
        )
        decision = await self.bot.respond(context)
        self.history.append(("customer", text))
        if isinstance(decision, Reply):
            self.fallbacks = self.fallbacks + 1 if decision.fallback else 0
            self.history.append(("bot", decision.text))
        return decision


@pytest.fixture
def customer() -> Conversation:
    return Conversation(RulesBot(SHIPPED))


async def test_the_first_message_is_greeted(customer: Conversation) -> None:
    hello = await customer.says("Halo!")
    assert isinstance(hello, Reply)
    assert hello.text.startswith("Hi Budi, welcome to Toko Senja! 👋\nHalo Budi, selamat datang")
    assert hello.text.endswith(
        "Silakan tanya soal ongkir, pembayaran, pesanan, retur, stok atau toko kami."
    )

    again = await customer.says("halo")
    assert isinstance(again, Reply)
    assert "welcome" not in again.text


async def test_a_first_question_gets_the_greeting_and_the_answer(customer: Conversation) -> None:
    first = await customer.says("Hi, how much is shipping to Bali?")
    assert isinstance(first, Reply)
    greeting, answer = first.text.split("\n\n")
    assert greeting.startswith("Hi Budi, welcome to Toko Senja!")
    assert answer.startswith("We ship from Bandung with JNE, J&T and SiCepat")
    assert first.intent == "shipping_en"
    assert first.confidence is not None
    assert first.confidence >= SHIPPED.threshold


async def test_a_nameless_customer_is_greeted_with_the_default_name() -> None:
    customer = Conversation(RulesBot(SHIPPED), name="  ")
    hello = await customer.says("hello")
    assert isinstance(hello, Reply)
    assert hello.text.startswith("Hi Kak, welcome to Toko Senja!")


@pytest.mark.parametrize(
    ("message", "intent", "answer_starts"),
    [
        ("wher is my ordr", "tracking_en", "Once your order ships we send the tracking number"),
        ("berapa ongkir ke surabya", "shipping_id", "Kami kirim dari Bandung"),
        ("METODE PEMBAYARAN??", "payment_id", "Pembayaran bisa lewat transfer bank"),
        ("Métode pembayarån", "payment_id", "Pembayaran bisa lewat transfer bank"),
        ("Do you accept credit card?", "payment_en", "You can pay by bank transfer"),
        ("what time do you close on saturday", "hours_en", "Our team answers Mon-Fri 08:00-20:00"),
        (
            "jam buka hari sabtu?",
            "hours_id",
            "Tim kami melayani Sen-Jum 08:00-20:00, Sab 09:00",
        ),
        ("how long does shiping to jakarta take?", "shipping_en", "We ship from Bandung"),
        ("paket saya belum sampe", "tracking_id", "Setelah pesanan dikirim, nomor resi"),
        ("whats your return policy", "returns_en", "You can return unused items"),
        ("kebijakan retur gimana?", "returns_id", "Barang yang belum dipakai"),
        ("Is the V60 dripper in stock?", "stock_en", "The stock shown on each product page"),
        ("stok kopi gayo masih ada?", "stock_id", "Stok di setiap halaman produk"),
        ("where is the store located", "location_en", "Our shop is at Jl. Braga No. 12, Bandung"),
        ("alamat tokonya di mana kak", "location_id", "Toko kami di Jl. Braga No. 12, Bandung"),
        ("halo admin, berapa ongkir ke medan?", "shipping_id", "Kami kirim dari Bandung"),
        ("hello, where's my package?", "tracking_en", "Once your order ships"),
        ("thx!", "thanks_en", "You're welcome, Budi!"),
        ("makasih ya kak", "thanks_id", "Sama-sama, Budi!"),
    ],
)
async def test_faq_answers_survive_case_accents_punctuation_and_typos(
    message: str, intent: str, answer_starts: str
) -> None:
    customer = Conversation(RulesBot(SHIPPED))
    customer.history.append(("customer", "hi"))  # not the first message: no greeting
    answer = await customer.says(message)
    assert isinstance(answer, Reply), answer
    assert (answer.intent, answer.fallback) == (intent, False)
    assert answer.text.startswith(answer_starts)


async def test_two_messages_not_understood_in_a_row_reach_a_human(customer: Conversation) -> None:
    await customer.says("halo")
    first_miss = await customer.says("my blender makes a funny noise")
    assert isinstance(first_miss, Reply)
    assert first_miss.fallback
    assert first_miss.text.startswith("Sorry, I didn't get that.")

    second_miss = await customer.says("it goes brrrr when I switch it on")
    assert second_miss == Handoff(
        "2 messages in a row not understood", code=HandoffReason.NOT_UNDERSTOOD
    )


async def test_an_answer_in_between_resets_the_fallback_count(customer: Conversation) -> None:
    await customer.says("my blender makes a funny noise")
    await customer.says("ongkir ke bandung?")
    miss = await customer.says("it goes brrrr when I switch it on")
    assert isinstance(miss, Reply)
    assert miss.fallback


@pytest.mark.parametrize(
    "message",
    [
        "I want to talk to a human",
        "HUMAN!!!",
        "Can I talk to an agent?",
        "can I speak to customer servis",
        "bisa bicara dengan admin?",
        "mau ngobrol sama orang aja",
        "tolong sambungkan ke CS",
        "saya mau bicara dengan manusia",
    ],
)
async def test_asking_for_a_human_hands_off(customer: Conversation, message: str) -> None:
    decision = await customer.says(message)
    assert isinstance(decision, Handoff)
    assert decision.reason.startswith("customer asked for a human")
    assert decision.text is None  # within business hours: handoff sends its own message


@pytest.mark.parametrize(
    "message",
    ["can you send me the docs for the grinder?", "halo admin, ada diskon?", "untuk tugas kuliah"],
)
async def test_words_that_only_contain_a_handoff_phrase_do_not_hand_off(
    customer: Conversation, message: str
) -> None:
    decision = await customer.says(message)
    assert not isinstance(decision, Handoff)


async def test_an_intent_marked_handoff_answers_and_hands_off(customer: Conversation) -> None:
    customer.history.append(("customer", "hi"))
    decision = await customer.says("I'd like to cancel my order please")
    assert isinstance(decision, Handoff)
    assert decision.reason == "intent 'order_change_en' asks for a human"
    assert decision.text is not None
    assert decision.text.startswith("Orders can be changed or cancelled until we pack them")


@pytest.mark.parametrize(
    ("now", "english", "indonesian"),
    [
        # Saturday 16:00 WIB, given in UTC: closed Sunday, so Monday.
        (datetime(2025, 6, 7, 9, 0, tzinfo=UTC), "Monday at 08:00 WIB", "Senin pukul 08:00 WIB"),
        (
            wib(8, 23),
            "tomorrow at 08:00 WIB",
            "besok pukul 08:00 WIB",
        ),
        (
            wib(2, 6, 30),
            "today at 08:00 WIB",
            "hari ini pukul 08:00 WIB",
        ),
        (
            wib(6, 20),
            "tomorrow at 09:00 WIB",
            "besok pukul 09:00 WIB",
        ),
    ],
)
async def test_out_of_hours_the_handoff_says_when_a_human_is_back(
    now: datetime, english: str, indonesian: str
) -> None:
    customer = Conversation(RulesBot(SHIPPED), now=now)
    decision = await customer.says("I want to talk to a human")
    assert isinstance(decision, Handoff)
    assert decision.reason.endswith("; outside business hours")
    assert decision.code == HandoffReason.CUSTOMER_ASKED
    # Sent only if no agent online can take the chat (handoff.usecases.autopilot decides).
    assert decision.text is None and decision.away_text is not None
    assert f"An agent will reply {english};" in decision.away_text
    assert f"Tim kami akan membalas {indonesian};" in decision.away_text


async def test_out_of_hours_the_bot_still_answers_questions() -> None:
    sunday = wib(8, 11)
    customer = Conversation(RulesBot(SHIPPED), now=sunday)
    customer.history.append(("customer", "hi"))
    answer = await customer.says("berapa ongkir ke surabaya")
    assert isinstance(answer, Reply)
    assert answer.intent == "shipping_id"


async def test_out_of_hours_a_handoff_intent_sends_its_answer_and_the_note() -> None:
    customer = Conversation(RulesBot(SHIPPED), now=wib(8, 11))
    customer.history.append(("customer", "hi"))
    decision = await customer.says("barang saya datang rusak")
    assert isinstance(decision, Handoff)
    assert decision.text is not None and decision.away_text is not None
    assert decision.text.startswith("Mohon maaf, Budi.")
    assert decision.away_text.startswith("Thanks for your message! Our team is offline now")
    assert decision.code == HandoffReason.INTENT


async def test_holidays_are_skipped_when_saying_who_is_back() -> None:
    assert SHIPPED.business_hours is not None
    hours = SHIPPED.business_hours.model_copy(update={"holidays": [date(2025, 6, 9)]})
    bot = RulesBot(SHIPPED.model_copy(update={"business_hours": hours}))
    customer = Conversation(bot, now=wib(7, 16))
    decision = await customer.says("agent please")
    assert isinstance(decision, Handoff)
    assert decision.away_text is not None
    assert "An agent will reply Tuesday at 08:00 WIB" in decision.away_text


async def test_without_business_hours_a_handoff_carries_no_note() -> None:
    bot = RulesBot(SHIPPED.model_copy(update={"business_hours": None}))
    customer = Conversation(bot, now=wib(8, 3))
    assert await customer.says("human please") == Handoff(
        "customer asked for a human ('human')", code=HandoffReason.CUSTOMER_ASKED
    )


async def test_the_bot_is_silent_outside_bot_mode() -> None:
    for mode in ("agent", "paused", "closed"):
        customer = Conversation(RulesBot(SHIPPED), mode=mode)
        assert await customer.says("where is my order") == Silence()


async def test_a_message_without_words_gets_silence_or_the_greeting(customer: Conversation) -> None:
    first = await customer.says("👍")
    assert isinstance(first, Reply)
    assert first.text.startswith("Hi Budi, welcome")
    assert await customer.says("") == Silence()
    assert await customer.says("?!") == Silence()


def test_the_shipped_config_parses() -> None:
    bot = shipped()
    assert bot.engine == "rules"
    assert bot.timezone == "Asia/Jakarta"
    assert len(bot.intents) >= 20
    names = {intent.name for intent in bot.intents}
    for topic in (
        "hours", "shipping", "payment", "tracking", "returns", "order_change", "stock", "location"
    ):  # fmt: skip
        assert {f"{topic}_en", f"{topic}_id"} <= names
    assert {"cs", "human", "agent", "manusia", "bicara dengan admin"} <= set(bot.handoff_phrases)


@pytest.mark.parametrize("intent", SHIPPED.intents, ids=lambda intent: intent.name)
async def test_every_shipped_intent_answers_its_own_examples(intent: IntentSettings) -> None:
    for example in intent.examples:
        customer = Conversation(RulesBot(SHIPPED))
        customer.history.append(("customer", "hi"))
        decision = await customer.says(example)
        if intent.handoff:
            assert isinstance(decision, Handoff), example
            assert decision.reason == f"intent {intent.name!r} asks for a human"
        else:
            assert isinstance(decision, Reply), example
            assert decision.intent == intent.name, example


def test_the_handoff_message_is_rendered_for_handoff() -> None:
    assert SHIPPED.handoff_text(customer_name="Budi", channel="WhatsApp") == (
        "Connecting you to an agent... / Menghubungkan Kakak dengan tim kami..."
    )
    custom = BotSettings(handoff_message="One moment {name}, a person is coming via {channel}.")
    assert custom.handoff_text(customer_name="", channel="Email") == (
        "One moment there, a person is coming via Email."
    )


def test_env_overrides_reach_the_bot_section() -> None:
    overridden = load_settings(
        CONFIG, environ={"MSGCENTER_BOT__THRESHOLD": "0.9", "MSGCENTER_BOT__TIMEZONE": "UTC"}
    )
    assert (overridden.bot.threshold, overridden.bot.timezone) == (0.9, "UTC")


@pytest.mark.parametrize(
    ("bot_section", "message"),
    [
        ({"greeting": "Hi {nam}!"}, "bot.greeting: unknown placeholder {nam}"),
        ({"fallback": "Sorry {name.__class__}"}, "bot.fallback: {name.__class__} is not a plain"),
        (
            {"intents": [{"name": "x", "examples": ["a"], "answer": "{next_open}"}]},
            "bot.intents[0].answer",
        ),
        ({"intents": [{"name": "x", "examples": ["?!"], "answer": "a"}]}, "'?!' has no words"),
        ({"intents": [{"name": "x", "examples": ["a"]}]}, "answer is required unless handoff"),
        ({"business_hours": {"mon": "8-20"}}, "bot.business_hours.mon"),
        ({"business_hours": {"mon": "20:00-08:00"}}, "the end must be after the start"),
        ({"business_hours": {"mon": "08:00-12:00, 11:00-13:00"}}, "overlap"),
        ({"business_hours": {"sun": "closed"}}, "closed every day"),
        (
            {"business_hours": {"monday": "08:00-20:00"}},
            "bot.business_hours.monday: unknown setting",
        ),
        ({"timezone": "Mars/Olympus"}, "bot.timezone"),
        ({"threshold": 1.5}, "bot.threshold"),
        ({"engine": "webhook"}, 'bot.webhook.url is required when bot.engine = "webhook"'),
        ({"engine": "my bot"}, "bot.engine"),
        ({"webhook": {"url": "ftp://example.com"}}, "bot.webhook.url"),
        ({"variables": {"name": "x"}}, "bot.variables"),
    ],
)
def test_a_wrong_bot_setting_stops_start_up_naming_the_key(
    bot_section: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        build_settings({"bot": bot_section}, environ={})
    assert message in str(raised.value)


def test_templates_render_safely_even_when_unchecked() -> None:
    assert render("Hi {name}, {unknown} {x!r} {{literal}}", {"name": "Ana"}) == (
        "Hi Ana, {unknown} {x!r} {literal}"
    )
    assert render("broken {", {"name": "Ana"}) == "broken {"
    assert render("Hi {name}", {"name": "{evil}"}) == "Hi {evil}"


def test_settings_models_are_frozen() -> None:
    with pytest.raises(ValidationError):
        SHIPPED.threshold = 0.1  # type: ignore[misc]


ANY_TEXT = st.text(max_size=300) | st.sampled_from(
    ["", " ", "cs", "docs", "{name}", "halo {", "👍", "ongkir", "human", "ß" * 50]
)


@settings(deadline=None, max_examples=150)
@given(
    text=ANY_TEXT,
    name=st.text(max_size=40),
    fallbacks=st.integers(min_value=0, max_value=10),
    first=st.booleans(),
    mode=st.sampled_from(["bot", "agent", "paused", "closed"]),
    now=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
async def test_the_rules_bot_always_decides_and_never_raises(
    text: str, name: str, fallbacks: int, first: bool, mode: str, now: datetime
) -> None:
    context = BotContext(
        chat_id=1,
        channel="Telegram",
        customer_name=name,
        text=text,
        mode=mode,
        fallbacks_so_far=fallbacks,
        is_first_message=first,
        now=now,
    )
    decision = await RulesBot(SHIPPED).respond(context)
    assert isinstance(decision, Reply | Handoff | Silence)
    if isinstance(decision, Reply):
        assert decision.text.strip()
        assert decision.confidence is None or 0.0 <= decision.confidence <= 1.0
    if mode != "bot":
        assert decision == Silence()


@settings(deadline=None, max_examples=200)
@given(
    now=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    )
)
def test_the_next_opening_is_after_now_and_open(now: datetime) -> None:
    schedule = SHIPPED.schedule()
    following = schedule.next_open(now)
    if schedule.is_open(now):
        assert following is None
    else:
        assert following is not None
        assert now < following <= now + timedelta(days=8)
        assert schedule.is_open(following)
        assert not schedule.is_open(following - timedelta(minutes=1))
