"""Text from outside is stored as text: characters that databases refuse go.

PostgreSQL rejects NUL in text and JSON; other C0 controls have no place in a
chat either. A lone surrogate (valid JSON: ``"\\ud83d"``, half an emoji) cannot
be written as UTF-8 by any database. Providers are never refused for them (a
refused webhook is retried forever): controls are dropped on the way in, lone
surrogates become U+FFFD.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
_DROP = {code: None for code in range(32) if chr(code) not in "\t\n\r"}


def clean(text: str) -> str:
    if text.isascii() and text.isprintable():  # the usual case: nothing to drop
        return text
    text = text.translate(_DROP)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = _SURROGATE.sub("\ufffd", text)
    return text


def clean_optional(text: str | None) -> str | None:
    return None if text is None else clean(text)


def clean_tree(value: Any) -> Any:
    """``clean`` every string in a JSON-like value (keys too)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean_tree(k): clean_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_tree(v) for v in value]
    return value
