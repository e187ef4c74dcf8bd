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

BUILTIN_ENGINES = ("rules", "webhook")
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
        if value:
            parts = urlsplit(value)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL")
        return value


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
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if value not in BUILTIN_ENGINES and not _PYTHON_ENGINE.fullmatch(value):
            raise ValueError(f'{value!r}: must be "rules", "webhook" or "package.module:ClassName"')
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
