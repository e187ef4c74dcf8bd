"""Every SQL statement of the knowledge base: its full-text index, and searches in it.

The index (migration 0014_kb_search, :func:`create_index`) is kept in step with
``kb_chunks`` by triggers, whatever writes the rows (the ORM, a cascade of an article's
delete, a title changed):

- SQLite: the FTS5 table ``kb_chunks_fts`` (``title``, ``heading``, ``text``; rowid = the
  chunk's id), tokenizer ``porter unicode61 remove_diacritics 2``: words cut as
  ``storage.fts`` cuts them, accents ignored, English endings stemmed ("refunds" finds
  "refund"; Indonesian words are stemmed the same way in the question and the passage).
- PostgreSQL: the column ``kb_chunks.search``, a ``tsvector`` of the article's title
  (weight A), the headings (B) and the text (D) in the chunk language's configuration
  (``kb_config(language)``: ``english``, ``indonesian`` when the server has it, else
  ``simple``), with a GIN index.

The column and the FTS table are not in the models (the ORM never reads them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from storage import fts
from storage.sql import fetch, is_postgres, tuples

FTS_TABLE = "kb_chunks_fts"
# Columns the database has and the model has not (PostgreSQL's index column, written by a
# trigger; tests/test_statements.py allows exactly these).
POSTGRES_ONLY_COLUMNS = {"kb_chunks": frozenset({"search"})}
CANDIDATES = 50  # passages the full-text rank hands on for scoring

_SQLITE_INDEX = (
    f"""CREATE VIRTUAL TABLE "{FTS_TABLE}" USING fts5(title, heading, text,
    tokenize = 'porter unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER "kb_chunks_fts_insert" AFTER INSERT ON "kb_chunks" BEGIN
    INSERT INTO "{FTS_TABLE}" (rowid, title, heading, text)
    SELECT new."id", a."title", new."heading", new."text" FROM "kb_articles" a
    WHERE a."id" = new."article_id";
    END""",
    f"""CREATE TRIGGER "kb_chunks_fts_update" AFTER UPDATE OF "heading", "text", "article_id"
    ON "kb_chunks" BEGIN
    UPDATE "{FTS_TABLE}" SET heading = new."heading", text = new."text",
    title = (SELECT "title" FROM "kb_articles" WHERE "id" = new."article_id")
    WHERE rowid = new."id";
    END""",
    f"""CREATE TRIGGER "kb_chunks_fts_delete" AFTER DELETE ON "kb_chunks" BEGIN
    DELETE FROM "{FTS_TABLE}" WHERE rowid = old."id";
    END""",
    f"""CREATE TRIGGER "kb_articles_fts_title" AFTER UPDATE OF "title" ON "kb_articles" BEGIN
    UPDATE "{FTS_TABLE}" SET title = new."title"
    WHERE rowid IN (SELECT "id" FROM "kb_chunks" WHERE "article_id" = new."id");
    END""",
    f"""INSERT INTO "{FTS_TABLE}" (rowid, title, heading, text)
    SELECT c."id", a."title", c."heading", c."text" FROM "kb_chunks" c
    JOIN "kb_articles" a ON a."id" = c."article_id\"""",
)


def _postgres_index(indonesian: str) -> tuple[str, ...]:
    return (
        f"""CREATE FUNCTION kb_config(language text) RETURNS regconfig
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN language = 'id' THEN '{indonesian}'::regconfig
        ELSE 'english'::regconfig END $$""",
        """ALTER TABLE "kb_chunks" ADD COLUMN "search" tsvector""",
        """CREATE FUNCTION kb_chunks_search() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
        NEW."search" :=
            setweight(to_tsvector(kb_config(NEW."language"), coalesce(
                (SELECT "title" FROM "kb_articles" WHERE "id" = NEW."article_id"), '')), 'A')
            || setweight(to_tsvector(kb_config(NEW."language"), NEW."heading"), 'B')
            || setweight(to_tsvector(kb_config(NEW."language"), NEW."text"), 'D');
        RETURN NEW;
        END $$""",
        """CREATE TRIGGER "kb_chunks_search" BEFORE INSERT OR UPDATE OF "heading", "text",
        "language", "article_id" ON "kb_chunks" FOR EACH ROW EXECUTE FUNCTION
        kb_chunks_search()""",
        """CREATE FUNCTION kb_articles_title() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
        UPDATE "kb_chunks" SET "heading" = "heading" WHERE "article_id" = NEW."id";
        RETURN NEW;
        END $$""",
        """CREATE TRIGGER "kb_articles_title" AFTER UPDATE OF "title" ON "kb_articles"
        FOR EACH ROW WHEN (OLD."title" IS DISTINCT FROM NEW."title") EXECUTE FUNCTION
        kb_articles_title()""",
        """UPDATE "kb_chunks" SET "heading" = "heading\"""",
        """CREATE INDEX "idx_kb_chunks_search" ON "kb_chunks" USING gin ("search")""",
    )


async def create_index(client: BaseDBAsyncClient) -> None:
    """Create the full-text index of passages (migration 0014), filled from the rows there."""
    if client.capabilities.dialect == "postgres":
        _, rows = await client.execute_query(
            "SELECT cfgname FROM pg_ts_config WHERE cfgname = 'indonesian'"
        )
        for statement in _postgres_index("indonesian" if rows else "simple"):
            await client.execute_script(statement)
    else:
        for statement in _SQLITE_INDEX:
            await client.execute_script(statement)


# -- searches ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    """A passage found by words: its row and the database's own rank (higher is better)."""

    chunk_id: int
    article_id: int
    title: str
    heading: str
    text: str
    language: str
    rank: float


_HIT_COLUMNS = (
    'c."id" AS "chunk_id", c."article_id", a."title", c."heading", c."text", c."language"'
)


async def candidates(words: Sequence[str], limit: int = CANDIDATES) -> list[Hit]:
    """The passages holding any of ``words`` (letters and digits only, as
    :func:`handoff.domain.kb.keywords` gives them), best full-text rank first: bm25 with
    the title weighing 4 and the headings 2 (SQLite), ts_rank_cd over the weights A, B, D
    (PostgreSQL)."""
    if not words:
        return []
    if is_postgres():
        any_of = fts.tsquery_any(words)
        rows = await tuples(
            f"""SELECT {_HIT_COLUMNS}, ts_rank_cd(c."search", CASE WHEN c."language" = 'id'
            THEN to_tsquery(kb_config('id'), ?) ELSE to_tsquery('english', ?) END) AS "rank"
            FROM "kb_chunks" c JOIN "kb_articles" a ON a."id" = c."article_id"
            WHERE (c."language" = 'id' AND c."search" @@ to_tsquery(kb_config('id'), ?))
            OR (c."language" <> 'id' AND c."search" @@ to_tsquery('english', ?))
            ORDER BY "rank" DESC, c."id" LIMIT ?""",
            [any_of, any_of, any_of, any_of, limit],
        )
    else:
        rows = await tuples(
            f"""SELECT {_HIT_COLUMNS}, -bm25("{FTS_TABLE}", 4.0, 2.0, 1.0) AS "rank"
            FROM "{FTS_TABLE}" f JOIN "kb_chunks" c ON c."id" = f.rowid
            JOIN "kb_articles" a ON a."id" = c."article_id"
            WHERE "{FTS_TABLE}" MATCH ? ORDER BY "rank" DESC, c."id" LIMIT ?""",
            [fts.fts5_any(words), limit],
        )
    return [Hit(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], float(r[6])) for r in rows]


async def holders(
    words: Sequence[str], among: Sequence[int]
) -> tuple[int, dict[str, int], dict[str, set[int]]]:
    """``(passages, found_in, holding)`` in one statement: how many passages there are; for
    each word, how many passages hold it (``found_in``) and which of the passages ``among``
    do (``holding``), each word matched as the index matches it (stemmed, accents ignored).
    The rows are bounded by ``among`` (the candidates), not by the knowledge base's size."""
    parts: list[str] = []
    values: list[Any] = []
    postgres = is_postgres()
    marks = ", ".join("?" for _ in among) or "NULL"
    for position, word in enumerate(words):
        if postgres:
            term = fts.tsquery_any([word])
            match = """(("language" = 'id' AND "search" @@ to_tsquery(kb_config('id'), ?))
                OR ("language" <> 'id' AND "search" @@ to_tsquery('english', ?)))"""
            parts.append(f'SELECT {position} AS "k", "id" FROM "kb_chunks" WHERE {match} '
                         f'AND "id" IN ({marks})')  # fmt: skip
            parts.append(f'SELECT {-position - 2} AS "k", count(*) AS "id" FROM "kb_chunks" '
                         f"WHERE {match}")  # fmt: skip
            values += [term, term, *among, term, term]
        else:
            term = fts.fts5_any([word])
            parts.append(f"""SELECT {position} AS "k", rowid AS "id" FROM "{FTS_TABLE}"
                WHERE "{FTS_TABLE}" MATCH ? AND rowid IN ({marks})""")  # fmt: skip
            parts.append(f"""SELECT {-position - 2} AS "k", count(*) AS "id" FROM "{FTS_TABLE}"
                WHERE "{FTS_TABLE}" MATCH ?""")  # fmt: skip
            values += [term, *among, term]
    parts.append('SELECT -1 AS "k", count(*) AS "id" FROM "kb_chunks"')
    found_in: dict[str, int] = {word: 0 for word in words}
    holding: dict[str, set[int]] = {word: set() for word in words}
    total = 0
    for key, number in await tuples(" UNION ALL ".join(parts), values):
        if key == -1:
            total = int(number)
        elif key < -1:
            found_in[words[-int(key) - 2]] = int(number)
        else:
            holding[words[int(key)]].add(int(number))
    return total, found_in, holding


async def matching_articles(query: fts.Query) -> list[int]:
    """The ids of the articles one of whose passages holds every term of ``query`` (the
    syntax of searching: words, "phrases", prefixes*)."""
    if is_postgres():
        text = fts.tsquery(query)
        rows = await fetch(
            """SELECT DISTINCT "article_id" FROM "kb_chunks" WHERE
            ("language" = 'id' AND "search" @@ to_tsquery(kb_config('id'), ?))
            OR ("language" <> 'id' AND "search" @@ to_tsquery('english', ?))""",
            [text, text],
        )
    else:
        rows = await fetch(
            f"""SELECT DISTINCT c."article_id" FROM "{FTS_TABLE}" f
            JOIN "kb_chunks" c ON c."id" = f.rowid WHERE "{FTS_TABLE}" MATCH ?""",
            [fts.fts5(query)],
        )
    return [int(row["article_id"]) for row in rows]


async def indexed(chunk_ids: Sequence[int]) -> dict[int, str]:
    """What the index holds for these passages, as text (tests: the index is in step)."""
    if not chunk_ids:
        return {}
    marks = ", ".join("?" for _ in chunk_ids)
    if is_postgres():
        rows = await fetch(
            f'SELECT "id", "search"::text AS "indexed" FROM "kb_chunks" WHERE "id" IN ({marks})',
            list(chunk_ids),
        )
    else:
        rows = await fetch(
            f"""SELECT rowid AS "id", title || ' | ' || heading || ' | ' || text AS "indexed"
            FROM "{FTS_TABLE}" WHERE rowid IN ({marks})""",
            list(chunk_ids),
        )
    return {int(row["id"]): str(row["indexed"]) for row in rows}


async def index_size() -> int:
    """Rows in the full-text index (SQLite: the FTS table's; PostgreSQL: chunks with a
    tsvector)."""
    if is_postgres():
        rows = await fetch('SELECT count(*) AS "n" FROM "kb_chunks" WHERE "search" IS NOT NULL')
    else:
        rows = await fetch(f'SELECT count(*) AS "n" FROM "{FTS_TABLE}"')
    return int(rows[0]["n"])


async def hits(chunk_ids: Sequence[int]) -> list[Hit]:
    """These passages as hits of rank 0 (found by their embeddings alone)."""
    if not chunk_ids:
        return []
    marks = ", ".join("?" for _ in chunk_ids)
    rows = await tuples(
        f"""SELECT {_HIT_COLUMNS}, 0.0 AS "rank" FROM "kb_chunks" c
        JOIN "kb_articles" a ON a."id" = c."article_id" WHERE c."id" IN ({marks})""",
        list(chunk_ids),
    )
    return [Hit(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], float(r[6])) for r in rows]


async def embeddings_state(model: str) -> tuple[int, int]:
    """``(count, sum of ids)`` of the passages embedded by ``model``: it changes whenever
    one is embedded, rewritten or deleted (passages are rewritten with new ids)."""
    rows = await tuples(
        """SELECT count(*), coalesce(sum("id"), 0) FROM "kb_chunks"
        WHERE "embedding_model" = ? AND "embedding" IS NOT NULL""",
        [model],
    )
    return int(rows[0][0]), int(rows[0][1])


async def embeddings(model: str) -> list[tuple[int, bytes]]:
    """Every passage's embedding by ``model``: ``(chunk id, float32 bytes)``."""
    rows = await tuples(
        """SELECT "id", "embedding" FROM "kb_chunks"
        WHERE "embedding_model" = ? AND "embedding" IS NOT NULL""",
        [model],
    )
    return [(int(r[0]), bytes(r[1])) for r in rows]


async def tagged_articles(tag: str) -> list[int]:
    """The ids of the articles tagged ``tag`` (any case)."""
    if is_postgres():
        sql = """SELECT "id" FROM "kb_articles" WHERE EXISTS (SELECT 1 FROM
        jsonb_array_elements_text("tags"::jsonb) t WHERE lower(t) = lower(?))"""
    else:
        sql = """SELECT "id" FROM "kb_articles" WHERE EXISTS (SELECT 1 FROM
        json_each("kb_articles"."tags") t WHERE lower(t.value) = lower(?))"""
    return [int(row["id"]) for row in await fetch(sql, [tag])]
