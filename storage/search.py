"""The messages' full-text index and the statements of the chat search (``GET /chats/?q=``).

SQLite: ``messages_fts``, a contentless FTS5 table (tokenizer ``unicode61 remove_diacritics
2``: words are runs of letters and digits, any case, accents ignored). Its rowid is
``chat_id * 2**31 + id`` of the message (ids stay below 2**31, ``storage.models.MAX_ID``), so
a match names its chat without reading ``messages``: a search touches the index and the
chats, never a message row, whatever the number of hits. Contentless: the text lives in
``messages`` only; triggers on ``messages`` keep the index (a row inserted, its text or chat
changed, a row deleted, also by the cascade of a chat's deletion), giving FTS5's ``delete``
the old text.

PostgreSQL: a GIN index on ``to_tsvector('simple', ...)`` of the text with ``@ . / : + - _``
read as spaces (PostgreSQL's parser keeps ``name@example.com``, ``example.com`` and
``+62812`` as single words, FTS5 cuts them; so both cut alike). ``simple``: the words as
written, lower-cased, no stemming and no stop words, the same for English and Indonesian
(and like SQLite's). The index is on an expression, so it is always in step with the rows.

The customer's name, phone and email (SQLite): ``chats_fts``, a contentless FTS5 table with
the ``trigram`` tokenizer, rowid the chat's id, kept by triggers on ``chats`` (a chat
inserted, one of the three changed, a chat deleted). A phrase of trigrams is a substring in
any case, what the list's ``icontains`` finds, so a rare search lists its chats by id
(:func:`found_chats`) and reads no other chat; text under 3 characters has no trigram and is
filtered row by row. PostgreSQL filters the three row by row (``ILIKE``).

The search text is parsed by :mod:`storage.fts`; the expressions written here hold nothing
else than what it makes (letters, digits, quotes, ``*``, ``&``, ``<->``, ``:*``), checked
again before it is put into SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from storage import fts
from storage.models import MAX_ID
from storage.sql import fetch, is_postgres

CHAT_SHIFT = 2**31  # messages_fts.rowid = chat_id * CHAT_SHIFT + message id
RECENT = 10  # a page's chats: their newest messages looked at first for the match, each
RECENT_CHARS = 1_000  # ... their first characters
SCAN_CHARS = 5_000  # a matched message's characters read for its snippet
MAX_PAGE = 200
# From this many matching messages a one-word search probes the list's chats one by one, in
# the list's order, and stops after the page; below it the matching chats are listed once
# (bench/README.md, "Search (issue 22)": a list costs about 0.1 us a match, a probe 20-130 us
# a chat).
COMMON = 20_000
MAX_EXPANSIONS = 16  # a prefix written out as the words the index holds, when as few
# A search the index finds in this many messages or more is first looked for among the list's
# next chats only (handoff.read.queries: a window of 4 pages), by the range of their ids.
WINDOW_MIN = 2_000

# A rare search's chats listed by id up to this many (found_chats); more are filtered row by
# row in the list's order, which stops after the page.
LISTED = 1_000
TRIGRAM = 3  # characters of a trigram: shorter search text has none
NAME_COLUMNS = ("customer_name", "customer_phone", "customer_email")

# The text as PostgreSQL's index reads it: ``translate`` is the same in every locale.
_PG_SPACES = "@./:+-_"
# A message's first INDEXED characters are indexed (what channels take is shorter: an email's
# text is cut at 100,000): PostgreSQL refuses a tsvector over 1 MB, and an insert with it.
INDEXED = 100_000
PG_DOCUMENT = (
    f"to_tsvector('simple'::regconfig, translate(left(\"text\", {INDEXED}), '{_PG_SPACES}', "
    f"'{' ' * len(_PG_SPACES)}'))"
)

_ROWID = "{row}.chat_id * " + str(CHAT_SHIFT) + " + {row}.id"


def _sqlite_ddl() -> tuple[str, ...]:
    """The FTS5 table and the triggers that keep it."""
    add = "INSERT INTO messages_fts (rowid, text) VALUES ({}, {});".format(  # noqa: S608
        _ROWID.format(row="NEW"), f"substr(NEW.text, 1, {INDEXED})"
    )
    remove = "INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', {}, {});"
    remove = remove.format(_ROWID.format(row="OLD"), f"substr(OLD.text, 1, {INDEXED})")
    return (
        "CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5("
        "text, content='', columnsize=0, tokenize='unicode61 remove_diacritics 2')",
        # The index's words, each with its messages and places (read from the index: nothing
        # stored), for the words a prefix stands for.
        "CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts_vocab "
        "USING fts5vocab(messages_fts, 'instance')",
        f"CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages "
        f"BEGIN {add} END",
        f"CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages "
        f"BEGIN {remove} END",
        "CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF text, chat_id "
        "ON messages WHEN OLD.text IS NOT NEW.text OR OLD.chat_id IS NOT NEW.chat_id "
        f"BEGIN {remove} {add} END",
    )


def _names_ddl() -> tuple[str, ...]:
    """The trigram table of the chats' names, phones and emails, and the triggers that keep
    it (an update only when one of the three changed: most updates of a chat are its
    activity)."""
    old = ", ".join(f"OLD.{column}" for column in NAME_COLUMNS)
    new = ", ".join(f"NEW.{column}" for column in NAME_COLUMNS)
    add = f"INSERT INTO chats_fts (rowid, name, phone, email) VALUES (NEW.id, {new});"  # noqa: S608
    remove = (
        "INSERT INTO chats_fts (chats_fts, rowid, name, phone, email) "  # noqa: S608
        f"VALUES ('delete', OLD.id, {old});"
    )
    changed = " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in NAME_COLUMNS)
    return (
        "CREATE VIRTUAL TABLE IF NOT EXISTS chats_fts USING fts5("
        "name, phone, email, content='', columnsize=0, tokenize='trigram')",
        f"CREATE TRIGGER IF NOT EXISTS chats_fts_insert AFTER INSERT ON chats BEGIN {add} END",
        f"CREATE TRIGGER IF NOT EXISTS chats_fts_delete AFTER DELETE ON chats BEGIN {remove} END",
        f"CREATE TRIGGER IF NOT EXISTS chats_fts_update AFTER UPDATE OF {', '.join(NAME_COLUMNS)} "
        f"ON chats WHEN {changed} BEGIN {remove} {add} END",
    )


SQLITE_DDL = _sqlite_ddl()
NAMES_DDL = _names_ddl()
NAMES_FILL = (
    "INSERT INTO chats_fts (rowid, name, phone, email) "  # noqa: S608
    f"SELECT id, {', '.join(NAME_COLUMNS)} FROM chats",
    "INSERT INTO chats_fts (chats_fts) VALUES ('optimize')",
)
NAMES_DROP = (
    "DROP TRIGGER IF EXISTS chats_fts_insert",
    "DROP TRIGGER IF EXISTS chats_fts_delete",
    "DROP TRIGGER IF EXISTS chats_fts_update",
    "DROP TABLE IF EXISTS chats_fts",
)
SQLITE_FILL = (
    "INSERT INTO messages_fts (rowid, text) SELECT {}, substr(text, 1, {}) FROM messages".format(  # noqa: S608
        _ROWID.format(row="messages"), INDEXED
    ),
    # One segment: what a search reads is then one b-tree (later writes merge as they go).
    "INSERT INTO messages_fts (messages_fts) VALUES ('optimize')",
)
POSTGRES_DDL = (
    f'CREATE INDEX IF NOT EXISTS "messages_search" ON "messages" USING GIN ({PG_DOCUMENT})',
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS messages_fts_insert",
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    "DROP TRIGGER IF EXISTS messages_fts_update",
    "DROP TABLE IF EXISTS messages_fts_vocab",
    "DROP TABLE IF EXISTS messages_fts",
)
POSTGRES_DROP = ('DROP INDEX IF EXISTS "messages_search"',)


async def create(client: BaseDBAsyncClient) -> None:
    """Make the index of the messages and fill it with those already stored (migration
    0015)."""
    if client.capabilities.dialect == "postgres":
        for sql in POSTGRES_DDL:
            await client.execute_script(sql)
        return
    for sql in (*SQLITE_DDL, *SQLITE_FILL):
        await client.execute_script(sql)


async def drop(client: BaseDBAsyncClient) -> None:
    """Undo :func:`create` (the migration's way back)."""
    postgres = client.capabilities.dialect == "postgres"
    for sql in POSTGRES_DROP if postgres else SQLITE_DROP:
        await client.execute_script(sql)


async def create_names(client: BaseDBAsyncClient) -> None:
    """SQLite: make the trigram index of the chats' names, phones and emails and fill it with
    the chats already stored (migration 0017); PostgreSQL: nothing."""
    if client.capabilities.dialect != "postgres":
        for sql in (*NAMES_DDL, *NAMES_FILL):
            await client.execute_script(sql)


async def drop_names(client: BaseDBAsyncClient) -> None:
    """Undo :func:`create_names`."""
    if client.capabilities.dialect != "postgres":
        for sql in NAMES_DROP:
            await client.execute_script(sql)


def _literal(expression: str) -> str:
    """``expression`` (made by :mod:`storage.fts`) as an SQL string literal. It holds only
    letters, digits, spaces, ``"*&<->():`` by construction; anything else is refused."""
    if any(ch in expression for ch in "'\\\x00;") or len(expression) > 4 * fts.MAX_CHARS:
        raise ValueError("not a query made by storage.fts")
    return "'" + expression + "'"


@dataclass(frozen=True, slots=True)
class Plan:
    """How the list finds its chats for a search: ``common`` probes chat by chat (in the
    list's order, so it stops after the page), else the matching chats are listed once.
    ``expression`` is what the index is asked (SQLite: a typed prefix written out as the
    words it stands for when the plan is ``common``)."""

    expression: str
    common: bool = False


# The index's words from a prefix on, each found by a seek: the vocabulary's ``instance`` rows
# come lazily, the first one of a word at once ("row" counts each word's messages first: 3.5 ms
# for a word in 140,000). ``term >= w || char(1)``: the next word (``>`` reads every instance
# of ``w`` first).
_PREFIX_WORDS = (
    "WITH RECURSIVE w(term) AS ("
    "SELECT (SELECT term FROM messages_fts_vocab WHERE term >= ? LIMIT 1) UNION ALL "
    "SELECT (SELECT term FROM messages_fts_vocab WHERE term >= w.term || char(1) LIMIT 1) "
    "FROM w WHERE w.term < ?) SELECT term FROM w WHERE term < ? LIMIT ?"
)
_COUNT_MATCHES = (  # the matches (up to a bound), their chats, and the chat ids they span
    'SELECT count(*) AS "hits", count(DISTINCT c) AS "chats", max(c) - min(c) + 1 AS "span" '  # noqa: S608
    f"FROM (SELECT rowid / {CHAT_SHIFT} AS c FROM messages_fts "
    "WHERE messages_fts MATCH ? LIMIT ?)"
)


async def plan(query: fts.Query, *, threshold: int = COMMON) -> Plan:
    """Choose the plan of ``query`` (SQLite; PostgreSQL lists the matching chats): ``common``
    for one word (or a typed prefix of one, written out as the words the index holds, when
    at most :data:`MAX_EXPANSIONS`) the index finds in ``threshold`` messages or more, at
    least every other chat among them. Two statements at most: the prefix's words, and the
    matches counted up to ``threshold``.

    Several words or a phrase keep the list: a probe that finds nothing reads the words'
    entries past the chat to their end in FTS5 (SQLite 3.40: 5-9 ms a chat at 140,000
    matches), where one word's probe is a seek."""
    if is_postgres():
        return Plan(fts.tsquery(query))
    rare = Plan(fts.fts5(query))
    if len(query.terms) != 1 or len(query.terms[0].words) != 1:
        return rare
    term = query.terms[0]
    expression = rare.expression
    if term.prefix:
        written = await _prefix_words(term.words[0])
        if written is None:
            return rare
        expression = written
    [row] = await fetch(_COUNT_MATCHES, [expression, int(threshold)])
    if int(row["hits"]) < threshold or 2 * int(row["chats"]) < int(row["span"] or 0):
        return rare
    return Plan(expression, common=True)


async def _prefix_words(start: str) -> str | None:
    """The words of the index that begin with ``start``, as an FTS5 OR (:func:`_written_out`),
    or None."""
    if not start.isascii():  # (the index folds cases and accents its own way)
        return None
    end = start[:-1] + chr(ord(start[-1]) + 1)  # the first text after every word of it
    words = await fetch(_PREFIX_WORDS, [start, end, end, MAX_EXPANSIONS + 1])
    return _written_out([str(row["term"]) for row in words])


def _written_out(words: list[str]) -> str | None:
    """The words a prefix stands for as an FTS5 OR; None when none, more than
    :data:`MAX_EXPANSIONS` (a prefix itself probed chat by chat is read whole each time: 5 ms
    a chat) or one is not a word as :mod:`storage.fts` writes them."""
    if not 0 < len(words) <= MAX_EXPANSIONS or not all(fts.is_word(w) for w in words):
        return None
    return "(" + " OR ".join(f'"{word}"' for word in words) + ")"


async def matching_chats(query: fts.Query, *, probe: bool = True) -> str:
    """An SQL condition on a ``chats`` row (the ORM's list query, ``RawSQL``): 1 when one of
    its messages matches ``query``, else 0, by the plan :func:`plan` chooses; without
    ``probe`` (the list is sorted after its filters, so every chat kept would be probed) the
    matching chats are listed."""
    postgres = is_postgres()
    if not probe:
        return _matching_sql(fts.tsquery(query) if postgres else fts.fts5(query), postgres)
    return matching_sql(await plan(query), postgres)


def matching_sql(chosen: Plan, postgres: bool) -> str:
    """The condition of :func:`matching_chats` for a plan."""
    if chosen.common and not postgres:
        probe = (
            "SELECT 1 FROM messages_fts WHERE messages_fts MATCH "  # noqa: S608
            f'{_literal(chosen.expression)} AND rowid >= "chats"."id" * {CHAT_SHIFT} '
            f'AND rowid < ("chats"."id" + 1) * {CHAT_SHIFT}'
        )
        return f"CASE WHEN EXISTS ({probe}) THEN 1 ELSE 0 END"
    return _matching_sql(chosen.expression, postgres)


async def window_expression(query: fts.Query) -> str | None:
    """What the index is asked for the chats of a window (:func:`matching_window`), or None
    when a search is better listed whole (then :func:`plan` would list it too). PostgreSQL:
    always its ``to_tsquery``. SQLite: None when the index finds it in fewer than
    :data:`WINDOW_MIN` messages (the list
    of its chats costs little; one statement counts them, its words without a prefix when it
    has some); when a prefix is not one word of its term or stands for more than
    :data:`MAX_EXPANSIONS` words of the index (FTS5 merges a prefix's words over the whole
    index, whatever the range: it is written out as those words, one statement a prefix)."""
    if is_postgres():  # (counting reads every matching row, recheck and all: 15-22 ms)
        return fts.tsquery(query)
    plain = [f'"{" ".join(term.words)}"' for term in query.terms if not term.prefix]
    if plain and not await _found_in(" AND ".join(plain), WINDOW_MIN):
        return None
    parts = []
    for term in query.terms:
        quoted = '"' + " ".join(term.words) + '"'
        if term.prefix:
            written = await _prefix_words(term.words[0]) if len(term.words) == 1 else None
            if written is None:
                return None
            quoted = written
        parts.append(quoted)
    expression = " AND ".join(parts)
    if not plain and not await _found_in(expression, WINDOW_MIN):
        return None
    return expression


async def _found_in(expression: str, messages: int) -> bool:
    """Whether the index finds ``expression`` in ``messages`` messages or more."""
    [row] = await fetch(_COUNT_MATCHES, [expression, int(messages)])
    return int(row["hits"]) >= messages


def matching_window(expression: str, first: int, last: int) -> str:
    """The condition of :func:`matching_chats` for chats whose ids are ``first`` to ``last``
    (any other chat is 0): the matching chats listed from that range of the index only
    (SQLite: ``rowid`` within the chats' bounds, FTS5 seeks to the first and stops after
    the last; PostgreSQL: ``chat_id`` between them, its index and the text's index read
    together, a ``BitmapAnd``). ``expression``: from :func:`window_expression`."""
    first, last = int(first), int(last)
    if not 0 <= first <= last <= MAX_ID:
        raise ValueError("not a range of chat ids")
    return _matching_sql(expression, is_postgres(), (first, last))


def _matching_sql(expression: str, postgres: bool, chats: tuple[int, int] | None = None) -> str:
    if postgres:
        hits = (
            'SELECT "chat_id" FROM "messages" WHERE '  # noqa: S608
            f"{PG_DOCUMENT} @@ to_tsquery('simple'::regconfig, {_literal(expression)})"
        )
        if chats is not None:
            hits += f' AND "chat_id" >= {chats[0]} AND "chat_id" <= {chats[1]}'
    else:
        hits = (
            f"SELECT rowid / {CHAT_SHIFT} FROM messages_fts WHERE messages_fts MATCH "  # noqa: S608
            f"{_literal(expression)}"
        )
        if chats is not None:
            hits += (
                f" AND rowid >= {chats[0] * CHAT_SHIFT} AND rowid < {(chats[1] + 1) * CHAT_SHIFT}"
            )
    return f'CASE WHEN "chats"."id" IN ({hits}) THEN 1 ELSE 0 END'


def _found_sql(messages: bool) -> str:
    """The chats whose customer's name, phone or email holds a text (a trigram phrase), and
    with ``messages`` those with a message the index matches; one more than
    :data:`LISTED` at most."""
    names = 'SELECT rowid AS "id" FROM chats_fts WHERE chats_fts MATCH ?'
    if messages:
        names = (
            f'SELECT rowid / {CHAT_SHIFT} AS "id" FROM messages_fts WHERE messages_fts MATCH ? '  # noqa: S608
            f"UNION {names}"
        )
    return f"{names} LIMIT {LISTED + 1}"


def substring(text: str) -> str:
    """``text`` as a trigram phrase: FTS5's double quotes around it, its own doubled."""
    return '"' + text.replace('"', '""') + '"'


async def found_chats(query: fts.Query | None, text: str) -> list[int] | None:
    """SQLite: the ids of the chats a search finds, in no order: a message matches ``query``
    (None: no word to look for) or the customer's name, phone or email contains ``text`` in
    any case (``text`` as typed, trimmed). None when there are more than :data:`LISTED`, when
    ``text`` is shorter than a trigram, and on PostgreSQL: then the list filters its rows one
    by one. One statement, two index lookups."""
    if is_postgres() or len(text) < TRIGRAM:
        return None
    params = [substring(text)] if query is None else [fts.fts5(query), substring(text)]
    found = await fetch(_found_sql(query is not None), params)
    if len(found) > LISTED:
        return None
    return [int(row["id"]) for row in found]


async def recent_messages(chat_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The newest :data:`RECENT` messages of each chat (``id``, ``chat_id``, ``text``: its
    first :data:`RECENT_CHARS` characters), newest first: one statement, an indexed range
    per chat."""
    chat_ids = list(chat_ids)[:MAX_PAGE]
    if not chat_ids:
        return []
    return await fetch(_recent_sql(len(chat_ids), is_postgres()), chat_ids)


def _recent_sql(chats: int, postgres: bool) -> str:
    one = (
        f'(SELECT "id", "chat_id", substr("text", 1, {RECENT_CHARS}) AS "text" '  # noqa: S608
        f'FROM "messages" WHERE "chat_id" = ? ORDER BY "id" DESC LIMIT {RECENT})'
    )
    if not postgres:  # SQLite takes no parentheses around a compound's parts
        one = f"SELECT * FROM {one}"  # noqa: S608
    return " UNION ALL ".join([one] * chats)


async def latest_matches(query: fts.Query, chat_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Each chat's newest message matching ``query`` (``id``, ``chat_id``, ``text``: its
    first :data:`SCAN_CHARS` characters), for the chats among ``chat_ids`` that have one:
    one statement (SQLite: the index read from the smallest chat's rowids to the largest's,
    not every match)."""
    chat_ids = [int(i) for i in chat_ids][:MAX_PAGE]
    if not chat_ids:
        return []
    if is_postgres():
        return await fetch(_latest_sql(len(chat_ids), True), [*chat_ids, fts.tsquery(query)])
    bounds = [min(chat_ids) * CHAT_SHIFT, (max(chat_ids) + 1) * CHAT_SHIFT]
    return await fetch(_latest_sql(len(chat_ids), False), [fts.fts5(query), *bounds, *chat_ids])


def _latest_sql(chats: int, postgres: bool) -> str:
    marks = ", ".join("?" * chats)
    if postgres:
        return (
            'SELECT DISTINCT ON ("chat_id") "id", "chat_id", '  # noqa: S608
            f'substr("text", 1, {SCAN_CHARS}) AS "text" FROM "messages" '
            f'WHERE "chat_id" IN ({marks}) AND {PG_DOCUMENT} @@ '
            f'to_tsquery(\'simple\'::regconfig, ?) ORDER BY "chat_id", "id" DESC'
        )
    return (
        f'SELECT "id", "chat_id", substr("text", 1, {SCAN_CHARS}) AS "text" FROM "messages" '  # noqa: S608
        'WHERE "id" IN ('
        f"SELECT max(rowid % {CHAT_SHIFT}) FROM messages_fts WHERE messages_fts MATCH ? "
        f"AND rowid >= ? AND rowid < ? AND rowid / {CHAT_SHIFT} IN ({marks}) "
        f"GROUP BY rowid / {CHAT_SHIFT})"
    )


# One instance of every statement, for tests/test_statements.py: PostgreSQL's, and SQLite's
# own (FTS5: no PostgreSQL statement).
PG_STATEMENTS = (
    _recent_sql(2, True),
    _latest_sql(2, True),
    f'SELECT "id" FROM "chats" WHERE {_matching_sql("(late <-> deliv:*) & inv", True)} = 1',  # noqa: S608
    f'SELECT "id" FROM "chats" WHERE {_matching_sql("late & inv", True, (2, 7))} = 1',  # noqa: S608
)
_EXAMPLE_MATCH = "late deliv*"  # (bare words: the test reads double-quoted names as columns)
SQLITE_STATEMENTS = (
    _recent_sql(2, False),
    _latest_sql(2, False),
    f'SELECT "id" FROM "chats" WHERE {_matching_sql(_EXAMPLE_MATCH, False)} = 1',  # noqa: S608
    f'SELECT "id" FROM "chats" WHERE {matching_sql(Plan("late deliv", True), False)} = 1',  # noqa: S608
    f'SELECT "id" FROM "chats" WHERE {_matching_sql(_EXAMPLE_MATCH, False, (2, 7))} = 1',  # noqa: S608
    SQLITE_FILL[0],
    NAMES_FILL[0],
    _found_sql(True),
    _found_sql(False),
    _PREFIX_WORDS,
    _COUNT_MATCHES,
)
