"""Full-text queries: a person's search text, parsed once, written for either database.

What a person may type (docs/api.md, "Searching"):

- words: every word must match (``late delivery``), in any order;
- a phrase in double quotes: the words next to each other, in that order
  (``"late delivery"``); an unclosed quote runs to the end;
- a prefix: a word ending in ``*`` matches every word it begins (``refun*``); with
  ``last_prefix`` the last word is a prefix too, unless the text ends with a space or a quote
  (search as you type).

Everything else (operators, parentheses, colons, hyphens) separates words and means nothing:
a word is a run of letters and digits, as the index's tokenizers (SQLite FTS5 ``unicode61``,
PostgreSQL's parser) cut text. Words joined by such characters without a space
(``INV-1234``, ``e-mail``, ``budi@example.com``) are a phrase, as they were written. The
result is written for SQLite's ``MATCH`` with every word quoted, and for PostgreSQL's
``to_tsquery`` with nothing but words, ``&``, ``<->`` and ``:*``: no text a person types can
become syntax of either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_CHARS = 200  # the longest search text read
MAX_TERMS = 8  # words and phrases together
MAX_PHRASE_WORDS = 8
MIN_PREFIX = 2  # a shorter prefix ("a*") would match most of the index

_WORD = re.compile(r"[^\W_]+")  # letters and digits (underscore separates, as in FTS5)
_PART = re.compile(r'"([^"]*)"?|([^"\s]+)')  # a quoted phrase (maybe unclosed), or a bare run


class QueryError(ValueError):
    """The search text holds nothing to search for, or too much; the message says which."""


@dataclass(frozen=True, slots=True)
class Term:
    """A word (one of ``words``) or a phrase (several), optionally a prefix of its last word."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """Terms that must all match."""

    terms: tuple[Term, ...]

    def words(self) -> list[str]:
        """Every word, in order (for highlighting)."""
        return [word for term in self.terms for word in term.words]


def parse(text: str, *, last_prefix: bool = False) -> Query:
    """Read a person's search text.

    Raises:
        QueryError: more than :data:`MAX_CHARS` characters or :data:`MAX_TERMS` terms, or no
            word at all.
    """
    if len(text) > MAX_CHARS:
        raise QueryError(f"a search is at most {MAX_CHARS} characters")
    terms: list[Term] = []
    parts = list(_PART.finditer(text))
    for index, part in enumerate(parts):
        phrase, bare = part.group(1), part.group(2)
        if phrase is not None:
            words = tuple(word.casefold() for word in _WORD.findall(phrase))[:MAX_PHRASE_WORDS]
            if words:
                terms.append(Term(words))
            continue
        starred = bare.endswith("*")
        is_last = index == len(parts) - 1 and part.end() == len(text)
        words = tuple(word.casefold() for word in _WORD.findall(bare))[:MAX_PHRASE_WORDS]
        typing = starred or (last_prefix and is_last)
        if typing and len(words) > 1 and len(words[-1]) < MIN_PREFIX:
            words = words[:-1]  # "budi@example.c" while typing: "c" would match only "c"
        if words:  # "INV-1234", "e-mail", "budi@example.com": one phrase, as written
            terms.append(Term(words, typing and len(words[-1]) >= MIN_PREFIX))
    if not terms:
        raise QueryError("the search has no letters or digits to look for")
    if len(terms) > MAX_TERMS:
        raise QueryError(f"a search has at most {MAX_TERMS} words or phrases")
    return Query(tuple(terms))


def is_word(text: str) -> bool:
    """Whether ``text`` is one word (letters and digits only)."""
    return _WORD.fullmatch(text) is not None


def has_words(text: str) -> bool:
    """Whether ``text`` holds a letter or a digit (something :func:`parse` would look for)."""
    return _WORD.search(text) is not None


def fts5(query: Query) -> str:
    """The query as an FTS5 ``MATCH`` expression: every word quoted, terms ANDed."""
    parts = []
    for term in query.terms:
        quoted = '"' + " ".join(term.words) + '"'
        parts.append(quoted + "*" if term.prefix else quoted)
    return " ".join(parts)


def tsquery(query: Query) -> str:
    """The query for PostgreSQL's ``to_tsquery``: words joined by ``<->`` in a phrase and
    ``&`` between terms, ``:*`` on a prefix. Words hold letters and digits only."""
    parts = []
    for term in query.terms:
        words = list(term.words)
        if term.prefix:
            words[-1] += ":*"
        joined = " <-> ".join(words)
        parts.append(f"({joined})" if len(words) > 1 else joined)
    return " & ".join(parts)


def _plain(words: Sequence[str]) -> list[str]:
    """Each word cut as the tokenizers cut it (letters and digits), lower case, once."""
    out: list[str] = []
    for word in words:
        out.extend(part.casefold() for part in _WORD.findall(word))
    return list(dict.fromkeys(out))


def fts5_any(words: Sequence[str]) -> str:
    """Any of ``words`` as an FTS5 ``MATCH`` expression (``"a" OR "b"``), every word quoted;
    "" for none. Retrieval's question, where a passage need not hold every word."""
    return " OR ".join(f'"{word}"' for word in _plain(words))


def tsquery_any(words: Sequence[str]) -> str:
    """Any of ``words`` for PostgreSQL's ``to_tsquery`` (``a | b``); letters and digits
    only, so nothing becomes syntax."""
    return " | ".join(_plain(words))
