"""storage/fts.py: a person's search text as safe FTS5 and tsquery expressions."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import fts


def test_words_phrases_and_prefixes() -> None:
    query = fts.parse('Late "Delivery  of order" refun*')
    assert query.terms == (
        fts.Term(("late",)),
        fts.Term(("delivery", "of", "order")),
        fts.Term(("refun",), prefix=True),
    )
    assert fts.fts5(query) == '"late" "delivery of order" "refun"*'
    assert fts.tsquery(query) == "late & (delivery <-> of <-> order) & refun:*"


def test_the_last_word_is_a_prefix_while_typing() -> None:
    assert fts.fts5(fts.parse("paket bel", last_prefix=True)) == '"paket" "bel"*'
    assert fts.fts5(fts.parse("paket bel ", last_prefix=True)) == '"paket" "bel"'
    assert fts.fts5(fts.parse('"paket bel"', last_prefix=True)) == '"paket bel"'
    assert fts.fts5(fts.parse("paket b", last_prefix=True)) == '"paket" "b"'  # too short


def test_operators_and_punctuation_are_only_separators() -> None:
    query = fts.parse("INV-1234 OR (NEAR:x) ^a & !b | 'c:*'")
    assert fts.fts5(query) == '"inv 1234" "or" "near x" "a" "b" "c"'
    assert fts.tsquery(query) == "(inv <-> 1234) & or & (near <-> x) & a & b & c"


def test_words_joined_without_a_space_are_a_phrase() -> None:
    assert fts.parse("INV-1234").terms == (fts.Term(("inv", "1234")),)
    assert fts.parse("budi@example.c", last_prefix=True).terms == (
        fts.Term(("budi", "example"), prefix=True),  # "c" alone is too short a prefix
    )
    assert fts.fts5(fts.parse("e-mai", last_prefix=True)) == '"e mai"*'
    assert fts.tsquery(fts.parse("e-mai*")) == "(e <-> mai:*)"


def test_unclosed_quote_runs_to_the_end_and_accents_stay() -> None:
    query = fts.parse('"sudah dikirim belum')
    assert query.terms == (fts.Term(("sudah", "dikirim", "belum")),)
    assert fts.parse("Café").words() == ["café"]


@pytest.mark.parametrize("text", ["", "   ", '""', "*** ---", "_"])
def test_nothing_to_search_for_is_refused(text: str) -> None:
    with pytest.raises(fts.QueryError, match="no letters or digits"):
        fts.parse(text)


def test_limits() -> None:
    with pytest.raises(fts.QueryError, match="at most 200 characters"):
        fts.parse("a" * 201)
    with pytest.raises(fts.QueryError, match="at most 8 words"):
        fts.parse("a b c d e f g h i")
    assert len(fts.parse('"' + " ".join("w" * 3 for _ in range(20)) + '"').terms[0].words) == 8


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=fts.MAX_CHARS))
def test_any_text_is_a_valid_fts5_expression_or_refused(text: str) -> None:
    try:
        query = fts.parse(text, last_prefix=True)
    except fts.QueryError:
        return
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='unicode61 remove_diacritics 2')")
    db.execute("INSERT INTO t VALUES ('late delivery of order 1234')")
    db.execute("SELECT count(*) FROM t WHERE t MATCH ?", (fts.fts5(query),)).fetchone()


def test_any_of_the_words() -> None:
    assert fts.fts5_any(["refund", "Take", "refund", "1-3"]) == '"refund" OR "take" OR "1" OR "3"'
    assert fts.tsquery_any(["refund", "Take", "don't"]) == "refund | take | don | t"
    assert fts.fts5_any([]) == "" and fts.tsquery_any(["?!"]) == ""


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=20), max_size=10))
def test_any_words_are_a_valid_fts5_expression(words: list[str]) -> None:
    expression = fts.fts5_any(words)
    if not expression:
        return
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='porter unicode61')")
    db.execute("INSERT INTO t VALUES ('late delivery of order 1234')")
    db.execute("SELECT count(*) FROM t WHERE t MATCH ?", (expression,)).fetchone()
