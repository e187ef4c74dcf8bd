"""The knowledge base's rules (docs/api.md, "Knowledge base"): pure, no I/O.

- :func:`check_article`: what an article's title, body, language and tags may be.
- :func:`read_file`: a markdown file as an article: its front matter (a tiny ``key: value``
  reader: ``title``, ``language``, ``tags: [a, b]``; no YAML), else the first ``#`` heading.
- :func:`chunk`: a body cut into passages of at most ``max_chars`` characters, at paragraph
  boundaries, each with the headings above it. A code block is never cut inside unless it
  alone is longer than a passage (then at its lines, each piece fenced again); a paragraph
  longer than a passage is cut at sentences, a sentence longer than one at spaces.
- :func:`keywords`: a question's words without the stop words of English and Indonesian,
  what retrieval looks for (any of them: a question rarely holds every word of an article).
- :func:`coverage`, :func:`score`: how retrieval's 0..1 score is made (see there).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from handoff.domain.errors import Invalid
from handoff.domain.sanitize import clean

LANGUAGES = ("en", "id")
MAX_TITLE = 200
MAX_TAGS = 20
MAX_TAG = 64
MAX_HEADING = 255  # KbChunk.heading
MAX_QUESTION_CHARS = 2000  # the longest question read (the rest is ignored)
MAX_KEYWORDS = 16  # the most words a question is searched for
EXCERPT_READ = 4000  # characters of a body an excerpt is looked for in
# A passage in another language than the one asked for counts this much of its score.
OTHER_LANGUAGE = 0.75

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_WORD = re.compile(r"[^\W_]+")  # as storage.fts and the index's tokenizers cut words
_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)\s*:\s*(.*)$")

# English: PostgreSQL's english stop words (so that both databases look for the same words)
# and what customers add around a question; Indonesian: function words, question words and
# the ways customers address the shop.
STOP_WORDS = frozenset(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom
    this that these those am is are was were be been being have has had having do does did
    doing a an the and but if or because as until while of at by for with about against
    between into through during before after above below to from up down in out on off over
    under again further then once here there when where why how all any both each few more
    most other some such no nor not only own same so than too very s t can will just don
    should now d ll m o re ve y ain aren couldn didn doesn hadn hasn haven isn ma mightn
    mustn needn shan shouldn wasn weren won wouldn
    please pls hi hello hey thanks thank thx ok okay yes would could get got want need know
    tell like also still much many one anything something
    ada adalah agar akan aku anda apa apakah atau bagaimana bahwa banget bang belum berapa
    bisa boleh buat dalam dan dari deh dengan di dia dong dulu ga gak gan gimana hai halo
    hal harus ingin ini itu jadi jika juga kah kak kakak kalau kalo kami kamu kan kapan karena
    ke kenapa ketika kita kok lagi lah mana mas masih mau mbak min mohon nggak ngga nya oleh
    pada para permisi punya saja sama saya secara sedang sih siapa sis sudah supaya tapi
    terima kasih makasih tetapi tidak tolong udah untuk ya yang yg
    """.split()  # noqa: SIM905 - a list of 300 words reads better as words
)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage: the headings above it (outermost first, joined by " > ") and its text."""

    heading: str
    text: str


@dataclass(frozen=True, slots=True)
class Article:
    """An article's fields, checked (``tags`` stripped, without repeats)."""

    title: str
    body: str
    language: str
    tags: tuple[str, ...]


# -- checks -------------------------------------------------------------------------------


def check_title(title: str) -> str:
    title = " ".join(clean(title).split())
    if not title:
        raise Invalid("the title is empty", code="invalid_article", field="title")
    if len(title) > MAX_TITLE:
        raise Invalid(
            f"the title is longer than {MAX_TITLE} characters", code="invalid_article",
            field="title", max=MAX_TITLE,
        )  # fmt: skip
    return title


def check_body(body: str, max_chars: int) -> str:
    body = clean(body).replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if not body.strip():
        raise Invalid("the body is empty", code="invalid_article", field="body")
    if len(body) > max_chars:
        raise Invalid(
            f"the body is longer than {max_chars} characters ({len(body)})",
            code="invalid_article", field="body", max=max_chars,
        )  # fmt: skip
    return body


def check_language(language: str) -> str:
    language = language.strip().lower()
    if language not in LANGUAGES:
        raise Invalid(
            f"the language must be one of {', '.join(LANGUAGES)}, not {language[:16]!r}",
            code="invalid_article", field="language",
        )  # fmt: skip
    return language


def check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    seen: set[str] = set()
    for raw in tags:
        tag = " ".join(clean(raw).split())
        if not tag:
            raise Invalid("a tag is empty", code="invalid_article", field="tags")
        if len(tag) > MAX_TAG:
            raise Invalid(
                f"a tag is longer than {MAX_TAG} characters: {tag[:20]!r}...",
                code="invalid_article", field="tags", max=MAX_TAG,
            )  # fmt: skip
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            out.append(tag)
        if len(out) > MAX_TAGS:
            raise Invalid(
                f"an article has at most {MAX_TAGS} tags", code="invalid_article",
                field="tags", max=MAX_TAGS,
            )  # fmt: skip
    return tuple(out)


def check_article(
    title: str, body: str, language: str, tags: Iterable[str], *, max_body_chars: int
) -> Article:
    """The fields checked and cleaned; Invalid (``invalid_article``, ``details.field``)."""
    return Article(
        check_title(title),
        check_body(body, max_body_chars),
        check_language(language),
        check_tags(tags),
    )


# -- files --------------------------------------------------------------------------------


def read_file(
    text: str, *, path: str, default_language: str | None, max_body_chars: int
) -> Article:
    """A markdown file as an article (``path``: its place in the folder, for messages and the
    title of last resort). Invalid when its front matter cannot be read or a field is wrong;
    the message names the line."""
    meta, body = front_matter(text)
    if "title" in meta and isinstance(meta["title"], str):
        title = meta["title"]
    else:
        title = first_heading(body) or _name_of(path)
    language = meta.get("language", default_language)
    if not isinstance(language, str):
        raise Invalid(
            "no language: give one in the front matter (language: en) or put the file in "
            "a folder named en or id", code="invalid_article", field="language",
        )  # fmt: skip
    raw_tags = meta.get("tags", [])
    tags = [raw_tags] if isinstance(raw_tags, str) else raw_tags
    return check_article(title, body, language, tags, max_body_chars=max_body_chars)


FRONT_KEYS = ("title", "language", "tags")


def front_matter(text: str) -> tuple[dict[str, str | list[str]], str]:
    """``(fields, body)``: the ``---`` block at the top, if any, read as ``key: value``
    lines (a value in quotes keeps its spaces; ``[a, b]`` is a list); ``#`` lines are
    comments. Only ``title``, ``language`` and ``tags``: another key is refused (a typo
    would otherwise be lost quietly)."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    fields: dict[str, str | list[str]] = {}
    for number, line in enumerate(lines[1:], start=2):
        stripped = line.strip()
        if stripped in ("---", "..."):
            return fields, "\n".join(lines[number:])
        if not stripped or stripped.startswith("#"):
            continue
        match = _KEY.match(stripped)
        if match is None:
            raise Invalid(
                f"front matter line {number}: expected 'key: value', got {stripped[:40]!r}",
                code="invalid_front_matter", line=number,
            )  # fmt: skip
        key, value = match.group(1).lower(), match.group(2).strip()
        if key not in FRONT_KEYS:
            raise Invalid(
                f"front matter line {number}: unknown key {key!r} (known: "
                f"{', '.join(FRONT_KEYS)})", code="invalid_front_matter", line=number,
            )  # fmt: skip
        if key in fields:
            raise Invalid(
                f"front matter line {number}: {key!r} given twice",
                code="invalid_front_matter", line=number,
            )  # fmt: skip
        fields[key] = _value(value, number)
    raise Invalid(
        "the front matter opened by '---' on line 1 is never closed by another '---'",
        code="invalid_front_matter", line=1,
    )  # fmt: skip


def _value(value: str, line: int) -> str | list[str]:
    if value.startswith("["):
        if not value.endswith("]"):
            raise Invalid(
                f"front matter line {line}: a list opened by '[' is not closed on the line",
                code="invalid_front_matter", line=line,
            )  # fmt: skip
        inner = value[1:-1].strip()
        return [_unquote(item.strip()) for item in inner.split(",")] if inner else []
    return _unquote(value)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def first_heading(body: str) -> str | None:
    """The text of the first ``#`` heading outside code blocks, or None."""
    fenced = False
    for line in body.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match and len(match.group(1)) == 1 and match.group(2):
            return match.group(2)
    return None


def _name_of(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    name = name[:-3] if name.lower().endswith(".md") else name
    return name.replace("-", " ").replace("_", " ").strip().capitalize() or "Untitled"


# -- chunking -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Block:
    text: str
    code: bool = False


def chunk(body: str, max_chars: int) -> list[Chunk]:
    """``body`` (markdown) as passages of at most ``max_chars`` characters, in order.

    A heading starts a new passage; the paragraphs under it are packed together while they
    fit. Headings are not part of a passage's text: they are its ``heading``.
    """
    if max_chars < 50:
        raise ValueError("max_chars must be at least 50")
    sections: list[tuple[str, list[_Block]]] = []
    path: list[tuple[int, str]] = []
    blocks: list[_Block] = []
    paragraph: list[str] = []
    code: list[str] | None = None

    def end_paragraph() -> None:
        if paragraph:
            blocks.append(_Block("\n".join(paragraph).strip()))
            paragraph.clear()

    def end_section() -> None:
        end_paragraph()
        if blocks:
            heading = " > ".join(text for _, text in path)
            sections.append((heading, list(blocks)))
            blocks.clear()

    for line in body.replace("\r\n", "\n").split("\n"):
        if code is not None:
            code.append(line)
            if _FENCE.match(line):
                blocks.append(_Block("\n".join(code), code=True))
                code = None
            continue
        if _FENCE.match(line):
            end_paragraph()
            code = [line]
            continue
        found = _HEADING.match(line)
        if found:
            end_section()
            level = len(found.group(1))
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, found.group(2)))
            continue
        if line.strip():
            paragraph.append(line)
        else:
            end_paragraph()
    if code is not None:  # a fence never closed: the rest is code
        blocks.append(_Block("\n".join(code), code=True))
    end_section()

    out: list[Chunk] = []
    for heading, section in sections:
        heading = _cut(heading, MAX_HEADING)
        pieces = [piece for block in section for piece in _fit(block, max_chars)]
        current = ""
        for piece in pieces:
            if current and len(current) + 2 + len(piece) > max_chars:
                out.append(Chunk(heading, current))
                current = ""
            current = f"{current}\n\n{piece}" if current else piece
        if current:
            out.append(Chunk(heading, current))
    return out


def _fit(block: _Block, max_chars: int) -> list[str]:
    """A block as pieces of at most ``max_chars``: itself if it fits."""
    if len(block.text) <= max_chars:
        return [block.text]
    if block.code:
        return _cut_code(block.text, max_chars)
    sentences = _SENTENCE_END.split(block.text)
    return _pack((part for s in sentences for part in _cut_words(s, max_chars)), max_chars)


def _cut_code(text: str, max_chars: int) -> list[str]:
    """A code block longer than a passage, cut at its lines; each piece fenced again."""
    lines = text.split("\n")
    opening = lines[0].strip()
    fence = "~~~" if opening.startswith("~~~") else "```"
    inner = lines[1:-1] if len(lines) > 1 and _FENCE.match(lines[-1]) else lines[1:]
    room = max_chars - len(opening) - len(fence) - 2
    parts = (line[i : i + room] for line in inner for i in range(0, len(line), room) or [0])
    return ["\n".join([opening, piece, fence]) for piece in _pack(parts, room, "\n")]


def _cut_words(sentence: str, max_chars: int) -> list[str]:
    """A sentence in pieces of at most ``max_chars``, cut at spaces (a longer word cut too)."""
    if len(sentence) <= max_chars:
        return [sentence]
    words = sentence.split(" ")
    parts = (
        word[i : i + max_chars] for word in words for i in range(0, len(word), max_chars) or [0]
    )
    return _pack(parts, max_chars)


def _pack(parts: Iterable[str], max_chars: int, sep: str = " ") -> list[str]:
    """``parts`` joined with ``sep`` into pieces of at most ``max_chars`` (each part fits),
    in order, a piece ending where the next part would not fit."""
    pieces: list[str] = []
    current: str | None = None
    for part in parts:
        if current is not None and len(current) + len(sep) + len(part) > max_chars:
            pieces.append(current)
            current = None
        current = part if current is None else current + sep + part
    if current is not None:
        pieces.append(current)
    return pieces


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def excerpt(body: str, limit: int = 200) -> str:
    """The start of the body as plain text (markup marks dropped), for lists; only its first
    :data:`EXCERPT_READ` characters are read (a list of long articles stays cheap)."""
    words: list[str] = []
    size = 0
    fenced = False
    for line in body[:EXCERPT_READ].split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced or _HEADING.match(line):
            continue
        text = re.sub(r"[*_`>#]|^\s*(?:[-+]|\d+[.)])\s+", "", line)
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        for word in text.split():
            words.append(word)
            size += len(word) + 1
            if size > limit:
                return _cut(" ".join(words), limit)
    return " ".join(words)


# -- retrieval ----------------------------------------------------------------------------


def keywords(question: str) -> list[str]:
    """The words retrieval looks for: lower case, without Indonesian particles ("-nya",
    "-kah", "-lah"), stop words and repeats, at most :data:`MAX_KEYWORDS` (the first
    ones). A question made only of stop words keeps its words (better than nothing)."""
    words = [_particle_off(w.casefold()) for w in _WORD.findall(question[:MAX_QUESTION_CHARS])]
    kept = [w for w in words if w not in STOP_WORDS and (len(w) > 1 or w.isdigit())]
    return list(dict.fromkeys(kept or words))[:MAX_KEYWORDS]


# Indonesian particles customers glue to a word: "ongkirnya", "bisakah", "tokonya".
_PARTICLES = ("nya", "kah", "lah")


def _particle_off(word: str) -> str:
    """``word`` without an Indonesian particle at its end ("ongkirnya" -> "ongkir"), when
    at least four letters stay; neither stemmer strips them."""
    for particle in _PARTICLES:
        if word.endswith(particle) and len(word) - len(particle) >= 4 and word.isalpha():
            return word[: -len(particle)]
    return word


def idf(found_in: int, passages: int) -> float:
    """How telling a word is: rare words weigh more (BM25's idf, always above 0; a word the
    knowledge base does not hold weighs the most)."""
    return math.log(1 + (passages - found_in + 0.5) / (found_in + 0.5))


def coverage(matched: Iterable[str], weights: Mapping[str, float]) -> float:
    """The share of the question's words (``weights``: each word's :func:`idf`) a passage
    holds, weighted by idf: 1 when it holds them all."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(weights.get(word, 0.0) for word in set(matched)) / total


def score(share: float, rank: float, best_rank: float, *, same_language: bool = True) -> float:
    """A passage's 0..1 score: its :func:`coverage` of the question, scaled by its
    full-text rank against the best one's of its language in the search (``rank /
    best_rank``, from half to all of it), times :data:`OTHER_LANGUAGE` for a passage in
    another language than asked. The database's rank (bm25, ts_rank_cd) only orders
    passages that hold the same words; the share of the question's words they hold means
    the same on both."""
    relative = rank / best_rank if best_rank > 0 else 1.0
    value = share * (0.5 + 0.5 * min(max(relative, 0.0), 1.0))
    if not same_language:
        value *= OTHER_LANGUAGE
    return round(min(max(value, 0.0), 1.0), 4)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors of the same length (0 when either is zero)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0
