"""Where a search matched a message: a short plain-text snippet and the offsets of its
matched words (docs/api.md, "Searching"). Nothing here is HTML: dashboards mark the ranges
with text nodes, so a customer's text is never markup.

Words are cut as the index cuts them (``storage.search``): runs of letters and digits, any
case, accents ignored. A message is read up to :data:`SCAN_CHARS` characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from storage import fts

SCAN_CHARS = 20_000  # a message's characters looked at for the matched words
WIDTH = 160  # the snippet's length at most, in characters (code points)
BEFORE = 40  # characters kept before the first matched word, when the text is cut
ELLIPSIS = "…"

_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s")


@dataclass(frozen=True, slots=True)
class Snippet:
    message_id: int
    snippet: str
    highlights: list[tuple[int, int]]  # [start, end) in code points of ``snippet``

    def as_dict(self) -> dict[str, object]:
        return {
            "message_id": self.message_id,
            "snippet": self.snippet,
            "highlights": [list(span) for span in self.highlights],
        }


@lru_cache(maxsize=4096)
def fold(word: str) -> str:
    """A word as the index compares it: case folded, accents removed."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def spans(query: fts.Query, text: str) -> list[tuple[int, int]] | None:
    """The ranges of ``text`` (its first :data:`SCAN_CHARS` characters) that the terms of
    ``query`` matched, in order and merged; None when a term does not match."""
    text = text[:SCAN_CHARS]
    if text.isascii():  # a term's first word not even in the text: no need to cut it in words
        lowered = text.lower()
        if any(fold(term.words[0]) not in lowered for term in query.terms):
            return None
    words = [(m.start(), m.end(), fold(m.group())) for m in _WORD.finditer(text)]
    at: dict[str, list[int]] = {}
    for index, (_, _, word) in enumerate(words):
        at.setdefault(word, []).append(index)
    found: list[tuple[int, int]] = []
    for term in query.terms:
        wanted = [fold(word) for word in term.words]
        last = wanted[-1]
        if len(wanted) == 1:
            if term.prefix:
                starts = [i for word, places in at.items() if word.startswith(last) for i in places]
            else:
                starts = at.get(last, [])
        else:
            starts = [
                i
                for i in at.get(wanted[0], [])
                if i + len(wanted) <= len(words)
                and all(words[i + j][2] == wanted[j] for j in range(1, len(wanted) - 1))
                and (
                    words[i + len(wanted) - 1][2].startswith(last)
                    if term.prefix
                    else words[i + len(wanted) - 1][2] == last
                )
            ]
        if not starts:
            return None
        found.extend((words[i][0], words[i + len(wanted) - 1][1]) for i in starts)
    return _merged(found)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet(message_id: int, text: str, ranges: Sequence[tuple[int, int]]) -> Snippet:
    """At most :data:`WIDTH` characters of ``text`` around its first range, white space as
    single spaces' width (new lines become spaces), ``…`` where it was cut; the ranges
    inside it, moved to its offsets."""
    start = 0
    if ranges and ranges[0][0] > BEFORE and len(text) > WIDTH:
        start = min(ranges[0][0] - BEFORE, max(0, len(text) - WIDTH))
        while start > 0 and not text[start - 1].isspace() and ranges[0][0] - start < BEFORE + 15:
            start -= 1  # begin at a word
    end = min(len(text), start + WIDTH)
    body = _SPACE.sub(" ", text[start:end])
    lead = ELLIPSIS if start > 0 else ""
    tail = ELLIPSIS if end < len(text) else ""
    shift = len(lead) - start
    inside = [
        (max(a, start) + shift, min(b, end) + shift) for a, b in ranges if a < end and b > start
    ]
    return Snippet(message_id, lead + body + tail, inside)


def first_match(
    query: fts.Query, messages: Sequence[tuple[int, str]]
) -> tuple[int, str, list[tuple[int, int]]] | None:
    """The first of ``messages`` (id, text), newest first, that ``query`` matches, with its
    ranges."""
    for message_id, text in messages:
        found = spans(query, text)
        if found is not None:
            return message_id, text, found
    return None
