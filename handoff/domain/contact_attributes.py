"""Custom attributes of contacts (docs/api.md "Custom attributes"): what a definition may be
and what a value of each type may be. No I/O: the use case reads the definitions."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from handoff.domain.errors import Invalid

TYPES = ("text", "number", "date", "boolean", "list")
KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_DEFINITIONS = 100
MAX_LABEL = 128
MAX_OPTIONS = 100
MAX_OPTION = 128
MAX_TEXT = 1000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class Definition:
    key: str
    label: str
    type: str
    options: tuple[str, ...] = ()


def check_key(key: str) -> str:
    if not KEY.fullmatch(key):
        raise Invalid(
            "an attribute's key is 1-64 lower-case letters, digits and _, starting with a letter",
            code="validation_error",
            field="key",
        )
    return key


def check_label(label: str) -> str:
    label = " ".join(label.split())
    if not 1 <= len(label) <= MAX_LABEL:
        raise Invalid(
            f"a label has 1 to {MAX_LABEL} characters", code="validation_error", field="label"
        )
    return label


def check_type(kind: str) -> str:
    if kind not in TYPES:
        raise Invalid(f"type is one of {', '.join(TYPES)}", code="validation_error", field="type")
    return kind


def check_options(kind: str, options: Sequence[str] | None) -> tuple[str, ...]:
    """A list attribute's options: 1-100 distinct non-empty strings (trimmed); other types
    take none."""
    if kind != "list":
        if options:
            raise Invalid(
                "only a list attribute has options", code="validation_error", field="options"
            )
        return ()
    cleaned = tuple(" ".join(str(option).split()) for option in options or ())
    if not cleaned:
        raise Invalid(
            "a list attribute needs its options", code="validation_error", field="options"
        )
    if len(cleaned) > MAX_OPTIONS or any(not 1 <= len(o) <= MAX_OPTION for o in cleaned):
        raise Invalid(
            f"at most {MAX_OPTIONS} options of 1 to {MAX_OPTION} characters",
            code="validation_error",
            field="options",
        )
    if len(set(cleaned)) != len(cleaned):
        raise Invalid("options must differ", code="validation_error", field="options")
    return cleaned


def check_value(definition: Definition, value: Any, field: str) -> Any:
    """``value`` as stored for ``definition`` (the JSON value), or Invalid
    (``validation_error`` naming ``field``). None is not a value (the caller removes it)."""
    kind = definition.type
    if kind == "text":
        if isinstance(value, str) and len(value) <= MAX_TEXT:
            return value
        problem = f"a text of at most {MAX_TEXT} characters"
    elif kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            if isinstance(value, int) or math.isfinite(value):
                if isinstance(value, int) and abs(value) > 2**53:
                    problem = "a number between -2^53 and 2^53"
                else:
                    return value
            else:
                problem = "a finite number"
        else:
            problem = "a number"
    elif kind == "date":
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        problem = 'a date "YYYY-MM-DD"'
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
        problem = "true or false"
    else:  # list
        if isinstance(value, str) and value in definition.options:
            return value
        problem = "one of " + ", ".join(repr(o) for o in definition.options[:20])
    raise Invalid(
        f"{field}: {definition.key} takes {problem}",
        code="validation_error",
        field=field,
        fields=[{"field": field, "message": f"takes {problem}"}],
    )


def parse_text(definition: Definition, text: str, field: str) -> Any:
    """A value written as text (a query string, a CSV cell) for ``definition``, checked."""
    kind = definition.type
    value: Any = text
    if kind == "number":
        try:
            value = int(text) if re.fullmatch(r"[+-]?\d{1,16}", text) else float(text)
        except ValueError:
            value = text  # refused below
        if len(text) > 64:
            value = text
    elif kind == "boolean":
        lowered = text.strip().lower()
        value = {"true": True, "false": False, "1": True, "0": False}.get(lowered, text)
    return check_value(definition, value, field)


def as_text(value: Any) -> str:
    """A stored value as a CSV cell (the form :func:`parse_text` reads back)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
