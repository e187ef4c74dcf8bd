"""The ``[bot]`` section of config.toml, typed and validated once at start-up.

These models mirror msgcenter's settings style (unknown keys rejected, frozen)
but live here, because ``bot`` imports nothing of the service around it.
Every key is described in config.toml.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from bot import hours
from bot.engine import PRIORITIES
from bot.templates import COMMON_PLACEHOLDERS, OUT_OF_HOURS_PLACEHOLDERS, Templates, check
from bot.text import normalise


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]  # an IANA zone, e.g. "Asia/Jakarta"

BUILTIN_ENGINES = ("rules", "webhook", "llm")
_PYTHON_ENGINE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")

DEFAULT_HANDOFF_PHRASES = (
    "agent",
    "human",
    "operator",
    "cs",
    "customer service",
    "real person",
    "manusia",
    "bicara dengan admin",
    "mau ngobrol sama orang",
)


def http_url(value: str) -> str:
    """``value`` when empty or an http(s) URL with a host; else ValueError."""
    if value:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DayHours = Annotated[tuple[tuple[int, int], ...], BeforeValidator(hours.parse_day)]


class BusinessHoursSettings(_Section):
    """Opening hours per weekday ("08:00-20:00", several comma-separated, or "closed")."""

    mon: DayHours = ()
    tue: DayHours = ()
    wed: DayHours = ()
    thu: DayHours = ()
    fri: DayHours = ()
    sat: DayHours = ()
    sun: DayHours = ()
    holidays: list[date] = Field(default_factory=list)

    def week(self) -> tuple[tuple[hours.Span, ...], ...]:
        """Monday first."""
        return tuple(getattr(self, day) for day in hours.DAYS)

    @model_validator(mode="after")
    def _open_some_day(self) -> BusinessHoursSettings:
        if not any(self.week()):
            raise ValueError(
                "closed every day: give some hours, or leave [bot.business_hours] out "
                "for a bot that hands off at any time"
            )
        return self


class WebhookSettings(_Section):
    """An external bot speaking Rasa's REST channel (``engine = "webhook"``)."""

    url: str = ""
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    handoff_marker: str = Field(default="handoff", min_length=1)
    token: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)


class LlmSettings(_Section):
    """An OpenAI-compatible model (``engine = "llm"``, and the agents' copilot).

    ``api_key`` comes from the environment only (``MSGCENTER_BOT__LLM__API_KEY``): a config
    file that holds one is refused when the settings load.
    """

    # Up to and including "/v1": "https://api.openai.com/v1", "http://127.0.0.1:11434/v1".
    base_url: str = ""
    model: str = ""
    api_key: SecretStr | None = None
    timeout: float = Field(default=20.0, gt=0, le=120)  # seconds for one model call
    max_tokens: int = Field(default=400, ge=16, le=8192)  # the most an answer may cost
    temperature: float = Field(default=0.2, ge=0, le=2)
    # The longest answer a customer gets, in characters (cut at a sentence's end).
    max_answer_chars: int = Field(default=1200, ge=100, le=4096)
    # Earlier messages of the chat the model reads (bounded; the newest are kept).
    history: int = Field(default=10, ge=0, le=50)
    # Knowledge-base passages given to the model, and the least score (0..1) one must have.
    passages: int = Field(default=4, ge=1, le=12)
    min_score: float = Field(default=0.2, ge=0, le=1)
    # When retrieval finds nothing relevant: "rules" answers as the rules bot would (its
    # intents, its fallback), "handoff" hands the chat to a human. The model is not asked.
    no_match: str = "rules"
    # Topics that always go to a human, each with the phrases that name it (matched like
    # handoff_phrases): {refunds = ["refund", "money back", "uang kembali"], ...}.
    handoff_topics: dict[str, list[str]] = Field(default_factory=dict)
    # Added to the engine's own instructions (tone, what the shop is).
    instructions: str = ""
    # Tokens the engine may spend a day (UTC), answers and copilot together; 0: no limit.
    # Spent: chats are handed to a human with the reason.
    daily_tokens: int = Field(default=0, ge=0)
    # Embeddings from the same endpoint's /v1/embeddings, combined with the full-text rank;
    # "" : full-text search alone.
    embedding_model: str = ""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value).rstrip("/")

    @field_validator("no_match")
    @classmethod
    def _known_no_match(cls, value: str) -> str:
        if value not in {"rules", "handoff"}:
            raise ValueError('must be "rules" or "handoff"')
        return value

    @field_validator("handoff_topics")
    @classmethod
    def _topic_phrases(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for topic, phrases in value.items():
            if not phrases or not all(normalise(phrase) for phrase in phrases):
                raise ValueError(f"topic {topic!r}: give phrases with words to match")
        return value

    @property
    def configured(self) -> bool:
        """Whether a model is set (``base_url`` and ``model``)."""
        return bool(self.base_url and self.model)


LABEL_NAME = re.compile(r"[\w .-]{1,64}")


class IntentSettings(_Section):
    """One FAQ entry: example phrasings and the answer (or a handoff); the labels and the
    priority the chat gets when it matches."""

    name: str = Field(min_length=1)
    examples: list[str] = Field(min_length=1)
    answer: str = ""
    handoff: bool = False
    labels: list[str] = Field(default_factory=list)
    priority: str | None = None

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: list[str]) -> list[str]:
        names = [" ".join(name.split()) for name in value]
        for name in names:
            if not LABEL_NAME.fullmatch(name):
                raise ValueError(
                    f"label {name!r}: 1 to 64 letters, digits, spaces, '-', '_' or '.'"
                )
        return names

    @field_validator("priority")
    @classmethod
    def _known_priority(cls, value: str | None) -> str | None:
        if value is not None and value not in PRIORITIES:
            raise ValueError(f"priority {value!r}: must be one of {', '.join(PRIORITIES)}")
        return value

    @field_validator("examples")
    @classmethod
    def _have_words(cls, value: list[str]) -> list[str]:
        for example in value:
            if not normalise(example):
                raise ValueError(f"{example!r} has no words to match")
        return value

    @model_validator(mode="after")
    def _answer_or_handoff(self) -> IntentSettings:
        if not self.answer.strip() and not self.handoff:
            raise ValueError(f"intent {self.name!r}: answer is required unless handoff = true")
        return self


class BotSettings(_Section):
    """The ``[bot]`` section."""

    engine: str = "rules"
    greeting: str = "Hi {name}! I'm the virtual assistant. How can I help?"
    fallback: str = Field(
        default="Sorry, I didn't understand that. Could you say it in other words?",
        min_length=1,
    )
    threshold: float = Field(default=0.7, ge=0, le=1)
    handoff_phrases: list[str] = Field(default_factory=lambda: list(DEFAULT_HANDOFF_PHRASES))
    handoff_after_fallbacks: int = Field(default=2, ge=0)
    handoff_message: str = "Connecting you to an agent..."
    timezone: TimeZoneName = "UTC"
    business_hours: BusinessHoursSettings | None = None
    out_of_hours_message: str = (
        "Our team is offline right now. An agent will answer you from {next_open}."
    )
    default_name: str = "there"
    variables: dict[str, str] = Field(default_factory=dict)
    intents: list[IntentSettings] = Field(default_factory=list)
    webhook: WebhookSettings = WebhookSettings()
    llm: LlmSettings = LlmSettings()
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if value not in BUILTIN_ENGINES and not _PYTHON_ENGINE.fullmatch(value):
            raise ValueError(
                f'{value!r}: must be "rules", "webhook", "llm" or "package.module:ClassName"'
            )
        return value

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = COMMON_PLACEHOLDERS + OUT_OF_HOURS_PLACEHOLDERS
        for name in value:
            if not name.isidentifier() or name in reserved:
                raise ValueError(
                    f"{name!r}: a variable is named like a Python identifier and is none of "
                    + ", ".join(reserved)
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BotSettings:
        if self.engine == "webhook" and not self.webhook.url:
            raise ValueError('bot.webhook.url is required when bot.engine = "webhook"')
        if self.engine == "llm" and not self.llm.configured:
            raise ValueError(
                'bot.llm.base_url and bot.llm.model are required when bot.engine = "llm"'
            )
        names = [intent.name for intent in self.intents]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"bot.intents: the name {duplicates[0]!r} is used twice")
        common = (*COMMON_PLACEHOLDERS, *self.variables)
        check(self.greeting, common, "bot.greeting")
        check(self.fallback, common, "bot.fallback")
        check(self.handoff_message, common, "bot.handoff_message")
        check(
            self.out_of_hours_message,
            (*common, *OUT_OF_HOURS_PLACEHOLDERS),
            "bot.out_of_hours_message",
        )
        for index, intent in enumerate(self.intents):
            check(intent.answer, common, f"bot.intents[{index}].answer ({intent.name})")
        return self

    def intent_labels(self) -> list[str]:
        """Every label name the intents put on chats (msgcenter creates those missing)."""
        seen: dict[str, str] = {}
        for intent in self.intents:
            for name in intent.labels:
                seen.setdefault(name.casefold(), name)
        return list(seen.values())

    def schedule(self) -> hours.Schedule:
        """The business hours as a :class:`~bot.hours.Schedule` (always open when not set)."""
        zone = ZoneInfo(self.timezone)
        if self.business_hours is None:
            return hours.Schedule(zone, None, ())
        return hours.Schedule(zone, self.business_hours.week(), self.business_hours.holidays)

    def templates(self) -> Templates:
        """Renders this section's templates (``{name}``, ``{hours}``, variables...)."""
        schedule = self.schedule()
        described = {language: schedule.describe(language) for language in hours.LANGUAGES}
        return Templates(self.variables, self.default_name, described)

    def handoff_text(self, *, customer_name: str, channel: str) -> str:
        """``handoff_message`` rendered for one customer ("" when it is empty)."""
        return self.templates().render(
            self.handoff_message, customer_name=customer_name, channel=channel
        )
