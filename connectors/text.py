"""Cutting a long reply into the pieces a provider accepts (Telegram and WhatsApp: 4096)."""

from __future__ import annotations


def split_text(text: str, limit: int, *, utf16: bool = False) -> list[str]:
    """Cut ``text`` into parts of at most ``limit`` characters, at a line break or space.

    A break is looked for in the second half of each part (a newline first, then a
    space), else anywhere, else the part is cut hard. The break itself (one newline
    or space) is dropped, and parts of only whitespace are left out. With ``utf16``
    characters are counted in UTF-16 code units (an emoji counts 2), as Telegram does.
    """
    parts: list[str] = []
    rest = text
    while _length(rest, utf16) > limit:
        window = rest[: _fitting(rest, limit, utf16)]
        cut = _break_at(window)
        if cut is None:
            parts.append(window)
            rest = rest[len(window) :]
        else:
            parts.append(window[:cut])
            rest = rest[cut + 1 :]
    parts.append(rest)
    return [part for part in parts if part.strip()] or [text]


def _break_at(window: str) -> int | None:
    half = len(window) // 2
    for separator, least in (("\n", half), (" ", half), ("\n", 1), (" ", 1)):
        at = window.rfind(separator)
        if at >= least:
            return at
    return None


def _length(text: str, utf16: bool) -> int:
    return len(text) + (sum(1 for ch in text if ord(ch) > 0xFFFF) if utf16 else 0)


def _fitting(text: str, limit: int, utf16: bool) -> int:
    """How many characters of ``text`` fit into ``limit``."""
    if not utf16:
        return min(len(text), limit)
    units = 0
    for index, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)
