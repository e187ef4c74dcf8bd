"""Text from outside is stored as text: control characters that databases refuse go.

PostgreSQL rejects NUL in text and JSON; other C0 controls have no place in a
chat either. Providers are never refused for them (a refused webhook is
retried forever): the characters are dropped on the way in.
"""

from __future__ import annotations

from typing import Any

_DROP = {code: None for code in range(32) if chr(code) not in "\t\n\r"}


def clean(text: str) -> str:
    return text.translate(_DROP)


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
