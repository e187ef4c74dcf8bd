"""handoff/domain/kb.py: articles checked, front matter read, bodies cut into passages,
questions cut into keywords, and the score's arithmetic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.domain import kb as rules
from handoff.domain.errors import Invalid

DEMO = Path(__file__).resolve().parent.parent / "msgcenter" / "demo_kb"


def test_passages_follow_the_headings_and_keep_their_path() -> None:
    body = (
        "# Refunds\n\nWe refund quickly.\n\n## How long it takes\n\n"
        "Three to five days.\n\nCards take longer.\n\n### Cards\n\nUp to 14 days.\n\n"
        "## Partial refunds\n\nShipping is kept."
    )
    chunks = rules.chunk(body, 1200)
    assert chunks == [
        rules.Chunk("Refunds", "We refund quickly."),
        rules.Chunk("Refunds > How long it takes", "Three to five days.\n\nCards take longer."),
        rules.Chunk("Refunds > How long it takes > Cards", "Up to 14 days."),
        rules.Chunk("Refunds > Partial refunds", "Shipping is kept."),
    ]


def test_paragraphs_are_packed_up_to_the_limit_and_never_split_when_they_fit() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 30 for i in range(10)]  # ~170 chars each
    chunks = rules.chunk("\n\n".join(paragraphs), 400)
    assert all(len(c.text) <= 400 for c in chunks)
    assert len(chunks) == 5  # two paragraphs a passage
    assert "\n\n".join(c.text for c in chunks) == "\n\n".join(p.strip() for p in paragraphs)


def test_a_long_paragraph_is_cut_at_sentences_and_a_long_sentence_at_spaces() -> None:
    sentences = [f"Sentence number {i} says something useful about refunds." for i in range(40)]
    chunks = rules.chunk(" ".join(sentences), 300)
    assert all(len(c.text) <= 300 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)  # cut after a sentence
    assert " ".join(c.text for c in chunks) == " ".join(sentences)
    word_soup = " ".join(["lorem"] * 200)  # one "sentence" of 1,199 characters
    pieces = rules.chunk(word_soup, 100)
    assert all(len(c.text) <= 100 for c in pieces)
    assert " ".join(c.text for c in pieces) == word_soup
    no_spaces = "x" * 250
    assert [c.text for c in rules.chunk(no_spaces, 100)] == ["x" * 100, "x" * 100, "x" * 50]


def test_code_blocks_are_never_cut_inside_and_headings_in_them_are_code() -> None:
    code = "```\n# not a heading\n\nline two\n```"
    body = "Intro.\n\n" + code + "\n\nAfter."
    chunks = rules.chunk(body, 1200)
    assert chunks == [rules.Chunk("", "Intro.\n\n" + code + "\n\nAfter.")]
    # With a small limit the block stays whole in a passage of its own.
    small = rules.chunk("A" * 60 + "\n\n" + code + "\n\n" + "B" * 60, 70)
    assert rules.Chunk("", code) in small
    # A code block longer than a passage is cut at its lines, each piece fenced again.
    long_code = "```python\n" + "\n".join(f"print({i})" for i in range(100)) + "\n```"
    pieces = rules.chunk(long_code, 200)
    assert len(pieces) > 1
    for piece in pieces:
        assert len(piece.text) <= 200
        assert piece.text.startswith("```python\n") and piece.text.endswith("\n```")
    assert "print(99)" in pieces[-1].text


def test_an_unclosed_fence_runs_to_the_end() -> None:
    chunks = rules.chunk("Text.\n\n```\ncode\n# still code", 1200)
    assert chunks == [rules.Chunk("", "Text.\n\n```\ncode\n# still code")]


def test_front_matter_is_read_and_wrong_front_matter_refused_with_the_line() -> None:
    text = '---\ntitle: "Refunds: how"\nlanguage: id\ntags: [billing, "money back"]\n---\n# X\n'
    meta, body = rules.front_matter(text)
    assert meta == {"title": "Refunds: how", "language": "id", "tags": ["billing", "money back"]}
    assert body == "# X\n"
    assert rules.front_matter("# No front matter\n") == ({}, "# No front matter\n")
    bad = {
        "---\ntitle: x\n": "never closed",
        "---\nlangauge: en\n---\n": "line 2: unknown key 'langauge'",
        "---\ntitle x\n---\n": "line 2: expected 'key: value'",
        "---\ntags: [a, b\n---\n": "line 2: a list opened by '[' is not closed",
        "---\ntitle: a\ntitle: b\n---\n": "line 3: 'title' given twice",
    }
    for text, message in bad.items():
        with pytest.raises(Invalid, match=re.escape(message)):
            rules.front_matter(text)


def test_a_file_takes_its_title_from_the_front_matter_the_heading_or_its_name() -> None:
    kwargs = {"default_language": "en", "max_body_chars": 1000}
    with_meta = rules.read_file("---\ntitle: Shipping\n---\n# Other\nText", path="a.md", **kwargs)
    assert with_meta.title == "Shipping"
    from_heading = rules.read_file("Intro\n\n# Returns\nText", path="a.md", **kwargs)
    assert from_heading.title == "Returns"
    from_name = rules.read_file("Just text", path="en/gift-wrapping.md", **kwargs)
    assert from_name.title == "Gift wrapping"
    with pytest.raises(Invalid, match="no language"):
        rules.read_file("Text", path="a.md", default_language=None, max_body_chars=1000)
    with pytest.raises(Invalid, match="the language must be one of en, id"):
        rules.read_file("---\nlanguage: fr\n---\nText", path="a.md", **kwargs)


def test_limits_of_an_article() -> None:
    def check(**fields: object) -> rules.Article:
        given: dict[str, object] = {"title": "T", "body": "B", "language": "en", "tags": []}
        given.update(fields)
        return rules.check_article(**given, max_body_chars=1000)  # type: ignore[arg-type]

    assert check(tags=[" a ", "A", "b"]).tags == ("a", "b")  # stripped, repeats dropped
    assert check(title="  many   spaces ").title == "many spaces"
    cases = {
        "the title is empty": {"title": "   "},
        "the title is longer than 200": {"title": "t" * 201},
        "the body is empty": {"body": "\n \n"},
        "the body is longer than 1000 characters": {"body": "b" * 1001},
        "a tag is empty": {"tags": [" "]},
        "a tag is longer than 64": {"tags": ["t" * 65]},
        "at most 20 tags": {"tags": [f"t{i}" for i in range(21)]},
        "the language must be": {"language": "fr"},
    }
    for message, fields in cases.items():
        with pytest.raises(Invalid, match=message) as caught:
            check(**fields)
        assert caught.value.code == "invalid_article"
        assert caught.value.details["field"] in fields


def test_keywords_drop_the_stop_words_of_both_languages() -> None:
    assert rules.keywords("How long does a refund take?") == ["long", "refund", "take"]
    assert rules.keywords("Kak, berapa lama pengiriman ke Bali ya?") == [
        "lama", "pengiriman", "bali",
    ]  # fmt: skip
    assert rules.keywords("ongkirnya berapa? tokonya di mana, bisakah COD") == [
        "ongkir", "toko", "cod",
    ]  # fmt: skip
    assert rules.keywords("Allah Kenya") == ["allah", "kenya"]  # too short to lose a particle
    assert rules.keywords("the the") == ["the"]  # only stop words: better than nothing
    assert rules.keywords("?!") == []
    assert len(rules.keywords(" ".join(f"word{i}" for i in range(40)))) == rules.MAX_KEYWORDS


def test_scores_are_between_0_and_1_and_mean_the_share_of_words() -> None:
    weights = {"refund": rules.idf(2, 100), "take": rules.idf(30, 100)}
    assert weights["refund"] > weights["take"] > 0  # rare words weigh more
    assert rules.idf(0, 100) > weights["refund"]
    assert rules.coverage(["refund", "take"], weights) == 1.0
    assert rules.coverage(["refund"], weights) > 0.5 > rules.coverage(["take"], weights)
    assert rules.score(1.0, 10.0, 10.0) == 1.0
    assert rules.score(1.0, 0.0, 10.0) == 0.5  # the same words, the worst rank: half
    assert rules.score(1.0, 10.0, 10.0, same_language=False) == rules.OTHER_LANGUAGE
    assert rules.score(0.0, 10.0, 10.0) == 0.0
    assert rules.cosine([1.0, 0.0], [1.0, 0.0]) == 1.0
    assert rules.cosine([1.0, 0.0], [0.0, 1.0]) == 0.0
    assert rules.cosine([0.0, 0.0], [1.0, 0.0]) == 0.0


def test_every_demo_article_reads_and_cuts_within_the_limit() -> None:
    files = sorted(DEMO.rglob("*.md"))
    assert len(files) >= 16
    languages = set()
    for path in files:
        relative = path.relative_to(DEMO).as_posix()
        article = rules.read_file(
            path.read_text(), path=relative, default_language=None, max_body_chars=100_000
        )
        assert article.language == relative.split("/")[0]
        assert article.tags and article.title
        languages.add(article.language)
        chunks = rules.chunk(article.body, 1200)
        assert chunks and all(len(c.text) <= 1200 and c.heading for c in chunks)
    assert languages == {"en", "id"}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet=st.sampled_from("abc de.!?\n"), max_size=400),
            st.sampled_from(["# Title", "## Section", "```", "- item", "1. first", ""]),
        ),
        max_size=30,
    ),
    st.integers(min_value=50, max_value=300),
)
def test_any_body_is_cut_within_the_limit_keeping_its_words(lines: list[str], limit: int) -> None:
    body = "\n".join(lines)
    chunks = rules.chunk(body, limit)
    assert all(0 < len(c.text) <= limit and len(c.heading) <= rules.MAX_HEADING for c in chunks)

    # Every word outside headings and fences is kept, in order (cut code is fenced again).
    def words(text: str) -> list[str]:
        return [w for w in text.split() if w not in ("```",)]

    kept = [w for c in chunks for w in words(c.text)]
    fenced = False
    expected: list[str] = []
    for line in body.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced and rules._HEADING.match(line):
            continue
        expected.extend(words(line))
    assert kept == expected
