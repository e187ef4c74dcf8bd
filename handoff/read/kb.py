"""Retrieval from the knowledge base: the passages for a question (``bot.engine.Retriever``).

How a passage is found and scored (the same meaning on SQLite and PostgreSQL):

1. The question's words, without the stop words of English and Indonesian
   (``handoff.domain.kb.keywords``), are looked up with OR in the full-text index: a
   passage holding any of them is a candidate (at most 50, best full-text rank first:
   bm25 on SQLite, ts_rank_cd on PostgreSQL, the title and headings weighing more).
2. Each word weighs its idf (rare words more; a word the knowledge base does not hold
   weighs the most, so a question about something it does not cover scores low).
3. A passage's score is the idf-weighted share of the question's words it holds (title and
   headings included), scaled from half to all of it by its rank against the best
   candidate's of its language, times 0.75 when its language is not the one asked for
   (``handoff.domain.kb.score``). 1 means it holds every word and ranks best.
4. With embeddings (``bot.llm.embedding_model``), the question is embedded too; a
   passage's score becomes the mean of its full-text score and its cosine similarity when
   that is higher (embeddings can only raise a score), and the passages closest by cosine
   join the candidates. Passages without an embedding (not computed yet, another model)
   keep their full-text score. An embedding call that fails, or takes over 5 seconds,
   leaves the full-text scores.
"""

from __future__ import annotations

import array
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Protocol

from bot.engine import Passage
from handoff.domain import kb as rules
from storage import kb as index
from storage.kb import Hit

log = logging.getLogger(__name__)

SEMANTIC_CANDIDATES = 20  # passages the closest embeddings add to the candidates


class Embedder(Protocol):
    """What computes embeddings (``bot.llm_client.LlmClient``): one vector per text."""

    embedding_model: str

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def close(self) -> None: ...


def pack(vector: Sequence[float]) -> bytes:
    """A vector as stored (``KbChunk.embedding``): float32, little-endian."""
    values = array.array("f", vector)
    if sys.byteorder != "little":
        values.byteswap()
    return values.tobytes()


def unpack(data: bytes) -> array.array[float]:
    values = array.array("f")
    values.frombytes(data)
    if sys.byteorder != "little":
        values.byteswap()
    return values


class KbRetriever:
    """Implements ``bot.engine.Retriever`` over the database's full-text index."""

    def __init__(self, embedder: Embedder | None = None, *, embed_timeout: float = 5.0) -> None:
        self.embedder = embedder
        # Seconds a question's embedding may take; then full text alone (the engine's own
        # time runs meanwhile).
        self.embed_timeout = embed_timeout
        # The stored embeddings of one model, by chunk id, and the state they were read at.
        self._vectors: dict[int, array.array[float]] = {}
        self._vectors_state: tuple[int, int] | None = None

    async def retrieve(
        self, query: str, *, language: str | None = None, limit: int = 5
    ) -> Sequence[Passage]:
        """The best passages for ``query``, best first; ``language`` preferred."""
        words = rules.keywords(query)
        if not words or limit < 1:
            return []
        hits = await index.candidates(words)
        similarity: dict[int, float] = {}
        if self.embedder is not None:
            similarity = await self._similarity(query)
            known = {hit.chunk_id for hit in hits}
            closest = sorted(similarity, key=lambda cid: -similarity[cid])
            extra = [cid for cid in closest[:SEMANTIC_CANDIDATES] if cid not in known]
            hits += await index.hits(extra)
        if not hits:
            return []
        total, found_in, holders = await index.holders(words, [hit.chunk_id for hit in hits])
        weights = {word: rules.idf(found_in[word], total) for word in words}
        best: dict[str, float] = {}  # ranks of two languages' stemmers are not comparable
        for hit in hits:
            best[hit.language] = max(best.get(hit.language, 0.0), hit.rank)
        scored: list[tuple[float, float, int, Passage]] = []
        for hit in hits:
            matched = [word for word in words if hit.chunk_id in holders[word]]
            same = language is None or hit.language == language
            share = rules.coverage(matched, weights)
            value = rules.score(share, hit.rank, best[hit.language], same_language=same)
            cosine = similarity.get(hit.chunk_id)
            if cosine is not None:
                mixed = (value + max(cosine, 0.0) * (1.0 if same else rules.OTHER_LANGUAGE)) / 2
                value = round(max(value, mixed), 4)
            if value <= 0:
                continue
            passage = Passage(hit.article_id, hit.title, hit.heading, hit.text, hit.language, value)
            scored.append((-value, -hit.rank, hit.chunk_id, passage))
        scored.sort(key=lambda item: item[:3])
        return [item[3] for item in scored[:limit]]

    async def _similarity(self, query: str) -> dict[int, float]:
        """Each embedded passage's cosine similarity to ``query`` ({} when the embedding
        cannot be had: full text alone)."""
        assert self.embedder is not None
        model = self.embedder.embedding_model
        try:
            async with asyncio.timeout(self.embed_timeout):
                vectors = await self.embedder.embed([query[: rules.MAX_QUESTION_CHARS]])
        except TimeoutError:
            log.warning(
                "embedding a question took over %.1f s: full-text search alone",
                self.embed_timeout,
            )
            return {}
        except Exception as exc:  # noqa: BLE001 - a failing endpoint leaves full text
            log.warning("embedding a question failed (%s): full-text search alone", exc)
            return {}
        state = await index.embeddings_state(model)
        if state != self._vectors_state:
            stored = await index.embeddings(model)
            self._vectors = {chunk_id: unpack(data) for chunk_id, data in stored}
            self._vectors_state = state
        question = vectors[0]
        chunks = self._vectors
        return await asyncio.to_thread(_cosines, question, chunks)


def _cosines(question: Sequence[float], chunks: dict[int, array.array[float]]) -> dict[int, float]:
    out = {}
    for chunk_id, vector in chunks.items():
        if len(vector) == len(question):
            out[chunk_id] = rules.cosine(question, vector)
    return out


__all__ = ["Embedder", "Hit", "KbRetriever", "pack", "unpack"]
