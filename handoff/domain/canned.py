"""Canned responses: saved answers agents insert from the composer (``/`` in the console).

Pure rules, no I/O: what a short code may be, the variables a text may hold
(``{{customer.name}}``, ``{{customer.first_name}}``, ``{{agent.name}}``, ``{{chat.id}}``,
whitespace inside the braces allowed), the checks made when a response is saved, and the
rendering for one chat (a value that is missing renders as nothing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from handoff.domain.errors import Invalid

SHARED = "shared"
PERSONAL = "personal"
SCOPES = (SHARED, PERSONAL)
SHARED_OWNER = 0  # CannedResponse.owner_key of the shared ones; else the owner's user id

MAX_SHORT_CODE = 64
MAX_TITLE = 128
MAX_TEXT = 4096
MAX_PER_OWNER = 500  # responses per owner (the shared ones count as one owner)
SHORT_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

VARIABLES = ("customer.name", "customer.first_name", "agent.name", "chat.id")
# A placeholder as saved: "{{", a name (letters, digits, dots, underscores), "}}", with
# whitespace allowed inside the braces.
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]*)\s*\}\}")


@dataclass(frozen=True, slots=True)
class Context:
    """What the variables are filled with for one chat (None: not known, renders as "")."""

    customer_name: str | None = None
    agent_name: str | None = None
    chat_id: int | None = None

    def values(self) -> dict[str, str]:
        name = (self.customer_name or "").strip()
        return {
            "customer.name": name,
            "customer.first_name": first_name(name),
            "agent.name": (self.agent_name or "").strip(),
            "chat.id": "" if self.chat_id is None else str(self.chat_id),
        }


def first_name(name: str | None) -> str:
    """The first word of a name ("" for none)."""
    words = (name or "").split()
    return words[0] if words else ""


def check_short_code(code: str, field: str = "short_code") -> str:
    if not SHORT_CODE.match(code):
        raise Invalid(
            "a short code is 1 to 64 letters, digits, - and _ (no spaces)",
            code="invalid_short_code",
            field=field,
        )
    return code


def check_title(title: str, field: str = "title") -> str:
    title = title.strip()
    if not title or len(title) > MAX_TITLE:
        raise Invalid(f"a title is 1 to {MAX_TITLE} characters", code="invalid_title", field=field)
    return title


def check_text(text: str, field: str = "text") -> str:
    """The text, if it is 1 to 4096 characters and every ``{{...}}`` in it is a known
    variable; Invalid (``unknown_variable``, details ``variable`` and ``field``) otherwise:
    an unknown name, an empty ``{{ }}``, or a brace pair left open or never opened."""
    if not text.strip() or len(text) > MAX_TEXT:
        raise Invalid(f"a text is 1 to {MAX_TEXT} characters", code="invalid_text", field=field)
    for variable in variables(text):
        if variable not in VARIABLES:
            raise Invalid(
                f"unknown variable {{{{{variable}}}}} in {field}; known: "
                + ", ".join(f"{{{{{name}}}}}" for name in VARIABLES),
                code="unknown_variable",
                field=field,
                variable=variable,
                known=list(VARIABLES),
            )
    return text


def variables(text: str) -> list[str]:
    """The variables of ``text`` in order, as written; a malformed placeholder ("{{name",
    "name}}", "{{a b}}") is returned as the text it spans, so it is never a known one."""
    found: list[str] = []
    at = 0
    while True:
        opening = text.find("{{", at)
        closing = text.find("}}", at)
        if opening < 0 and closing < 0:
            return found
        if opening < 0 or (0 <= closing < opening):  # "}}" with no "{{" before it
            found.append(text[max(0, closing - 20) : closing + 2])
            at = closing + 2
            continue
        match = _PLACEHOLDER.match(text, opening)
        if match is None:  # opened and never closed, or not a name inside
            end = text.find("}}", opening + 2)
            found.append(text[opening : end + 2 if end >= 0 else opening + 22])
            if end < 0:
                return found
            at = end + 2
            continue
        found.append(match.group(1))
        at = match.end()


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each known variable filled from ``values`` (missing: ""). Texts are
    checked when saved, so every placeholder in a stored text is a known one."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), ""), text)


def matches(query: str, short_code: str, title: str, text: str) -> int | None:
    """How well a response matches a search (lower is better), None when it does not: a
    short code starting with ``query`` first, then a title starting with it, then the
    query anywhere in the short code, title or text (case-insensitive)."""
    needle = query.strip().casefold()
    if not needle:
        return 0
    code, head = short_code.casefold(), title.casefold()
    if code.startswith(needle):
        return 0
    if head.startswith(needle):
        return 1
    if needle in code or needle in head:
        return 2
    if needle in text.casefold():
        return 3
    return None
