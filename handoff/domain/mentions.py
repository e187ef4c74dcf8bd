"""@mentions in a private note: ``@username`` names a person (docs/api.md, "Private notes
and mentions"). A username is letters, digits and ``_ . -``; an ``@`` inside a word (an email
address such as ``ann@example.com``) is not a mention."""

from __future__ import annotations

import re

MAX_MENTIONS = 20  # more names than this in one note are not looked up
_MENTION = re.compile(r"(?<![\w.@+-])@([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})")


def mentioned(text: str) -> list[str]:
    """The usernames ``text`` mentions, lower-cased, each once, in order (at most
    :data:`MAX_MENTIONS`)."""
    found: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        name = match.group(1).rstrip(".-").lower()
        if name:
            found.setdefault(name, None)
    return list(found)[:MAX_MENTIONS]
