"""Labels admins define and people put on chats: what a name and a colour may be."""

from __future__ import annotations

import re

from handoff.domain.errors import Invalid

MAX_NAME = 64
MAX_DESCRIPTION = 255
DEFAULT_COLOUR = "#6b7280"
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_PUNCTUATION = frozenset(" -_.")


def check_name(name: str) -> str:
    """A label's name, trimmed: 1-64 letters, digits, spaces, ``-``, ``_`` or ``.``; Invalid
    otherwise. Names are unique regardless of case (the caller checks that)."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME:
        raise Invalid(f"a label's name has 1 to {MAX_NAME} characters", field="name")
    if not all(ch.isalnum() or ch in _PUNCTUATION for ch in name):
        raise Invalid(
            "a label's name holds letters, digits, spaces, '-', '_' and '.' only", field="name"
        )
    return name


def check_colour(colour: str) -> str:
    """``#rrggbb`` (lowercase); Invalid otherwise."""
    if not _COLOUR.fullmatch(colour):
        raise Invalid('a colour is "#rrggbb", e.g. "#2563eb"', field="colour")
    return colour.lower()


def check_description(description: str) -> str:
    description = description.strip()
    if len(description) > MAX_DESCRIPTION:
        raise Invalid(
            f"a description has at most {MAX_DESCRIPTION} characters", field="description"
        )
    return description
