"""The knowledge base (docs/api.md, "Knowledge base"): articles written by admins through
the API and the console, or imported from a folder of markdown files.

An article is saved with its passages in one writer operation (the full-text index follows
the passages by triggers, in the same transaction: ``storage.kb``), and the change is
recorded in the audit record (no chat). When embeddings are on, the passages are embedded
after the commit, in the background: the request does not wait for the model, and an
article whose passages are not embedded (yet, or ever: the model failed) is still found by
full text. Articles are not chat changes: no event is pushed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count

from handoff.domain import kb as rules
from handoff.domain.errors import Conflict, Invalid, NotFound
from handoff.domain.modes import SYSTEM, Actor
from handoff.infra.writer import Unit, Writer
from handoff.read.kb import Embedder, KbRetriever, pack
from handoff.read.views import Presenter
from handoff.usecases import audit
from storage import fts
from storage import kb as index
from storage.models import MAX_ID, KbArticle, KbChunk

log = logging.getLogger(__name__)

MAX_FILES = 5000  # markdown files one import reads
MAX_FILE_BYTES = 4 * 1024 * 1024  # a bigger file is refused before it is read
EMBED_BATCH = 32  # passages per embeddings request
MAX_SEARCH_LIMIT = 12
MAX_SOURCE = 255  # KbArticle.source

FIELDS = ("title", "body", "language", "tags")


@dataclass(slots=True)
class ImportReport:
    """What ``import_folder`` did, by source path."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    # path -> why the file was refused (nothing of it was saved).
    refused: dict[str, str] = field(default_factory=dict)


def encode_cursor(updated_at: datetime, article_id: int) -> str:
    raw = json.dumps([updated_at.isoformat(), article_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, article_id = json.loads(raw)
        when, last_id = datetime.fromisoformat(stamp), int(article_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise Invalid("cursor is not one this server gave out", field="cursor") from exc
    if not 0 <= last_id <= MAX_ID or when.tzinfo is None:
        raise Invalid("cursor is not one this server gave out", field="cursor")
    return when, last_id


class KnowledgeBase:
    def __init__(
        self,
        writer: Writer,
        presenter: Presenter,
        *,
        chunk_chars: int = 1200,
        max_body_chars: int = 100_000,
        embedder: Embedder | None = None,
        retriever: KbRetriever | None = None,
        default_passages: int = 4,
    ) -> None:
        self.writer = writer
        self.presenter = presenter
        self.chunk_chars = chunk_chars
        self.max_body_chars = max_body_chars
        self.embedder = embedder
        self.retriever = retriever or KbRetriever(embedder)
        self.default_passages = default_passages
        self._embedding: set[asyncio.Task[None]] = set()

    # -- reading ---------------------------------------------------------------------------

    def view(self, row: KbArticle, passages: int, *, body: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": row.id,
            "title": row.title,
            "language": row.language,
            "tags": list(row.tags or []),
            "source": row.source,
            "passages": passages,
            "created_at": self.presenter.when(row.created_at),
            "updated_at": self.presenter.when(row.updated_at),
        }
        if body:
            out["body"] = row.body
        else:
            out["excerpt"] = rules.excerpt(row.body)
        return out

    async def articles(
        self,
        *,
        q: str | None = None,
        language: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """``{"items", "next_cursor"}``: articles without their body (an excerpt instead),
        newest change first; ``q``: one of its passages holds every term."""
        query = KbArticle.all()
        if q:
            try:
                parsed = fts.parse(q, last_prefix=True)
            except fts.QueryError as exc:
                raise Invalid(str(exc), code="invalid_query", field="q") from exc
            query = query.filter(id__in=await index.matching_articles(parsed))
        if language:
            query = query.filter(language=language)
        if tag:
            query = query.filter(id__in=await index.tagged_articles(tag))
        if cursor:
            when, last_id = decode_cursor(cursor)
            query = query.filter(Q(updated_at__lt=when) | Q(updated_at=when, id__lt=last_id))
        rows = await query.order_by("-updated_at", "-id").limit(limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        counts = await self._passages([row.id for row in rows])
        items = [self.view(row, counts.get(row.id, 0), body=False) for row in rows]
        last = rows[-1] if rows else None
        next_cursor = encode_cursor(last.updated_at, last.id) if more and last else None
        return {"items": items, "next_cursor": next_cursor}

    async def get(self, article_id: int) -> dict[str, Any]:
        row = await KbArticle.get_or_none(id=article_id)
        if row is None:
            raise NotFound(f"article {article_id} not found", code="unknown_article")
        return self.view(row, (await self._passages([row.id])).get(row.id, 0))

    async def search(
        self, q: str, *, language: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        """What the engine would give the model for ``q``: ``{"passages": [...]}``."""
        if not rules.keywords(q):
            raise Invalid(
                "the question has no letters or digits to look for", code="invalid_query",
                field="q",
            )  # fmt: skip
        found = await self.retriever.retrieve(
            q, language=language, limit=limit or self.default_passages
        )
        return {
            "passages": [
                {
                    "article_id": p.article_id,
                    "title": p.title,
                    "heading": p.heading,
                    "text": p.text,
                    "language": p.language,
                    "score": p.score,
                }
                for p in found
            ]
        }

    @staticmethod
    async def _passages(ids: list[int]) -> dict[int, int]:
        if not ids:
            return {}
        rows = (
            await KbChunk.filter(article_id__in=ids)
            .annotate(n=Count("id"))
            .group_by("article_id")
            .values_list("article_id", "n")
        )
        return {int(article): int(n) for article, n in rows}

    # -- writing ---------------------------------------------------------------------------

    def check(self, given: Mapping[str, Any], base: KbArticle | None = None) -> rules.Article:
        """The fields of an article as they would be saved (``base``: the article changed)."""
        return rules.check_article(
            given.get("title", base.title if base else ""),
            given.get("body", base.body if base else ""),
            given.get("language", base.language if base else "en"),
            given.get("tags", base.tags if base else []),
            max_body_chars=self.max_body_chars,
        )

    async def create(
        self, actor: Actor, given: Mapping[str, Any], *, source: str | None = None
    ) -> dict[str, Any]:
        article = self.check(given)
        chunks = await asyncio.to_thread(rules.chunk, article.body, self.chunk_chars)

        async def operation(unit: Unit) -> KbArticle:
            row = await KbArticle.create(
                title=article.title, body=article.body, language=article.language,
                tags=list(article.tags), source=source, created_by_id=actor.user_id,
            )  # fmt: skip
            await self._write_chunks(row, chunks)
            await audit.record(
                None, actor, audit.KB_ARTICLE_CREATED, article_id=row.id, title=row.title,
                source=source,
            )  # fmt: skip
            unit.after_commit(lambda: self._embed_later(row.id))
            return row

        try:
            row = await self.writer.run(operation)
        except IntegrityError as exc:  # the same source imported at that moment
            raise Conflict(f"an article from {source!r} exists", code="source_taken") from exc
        log.info("kb article %d created by %s (%s)", row.id, actor.user_id, actor.name)
        return self.view(row, len(chunks))

    async def update(
        self, actor: Actor, article_id: int, given: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Change any of the four fields; the passages are rewritten when the body or the
        language changed."""
        current = await KbArticle.get_or_none(id=article_id)
        if current is None:
            raise NotFound(f"article {article_id} not found", code="unknown_article")
        article = self.check(given, current)
        chunks = await asyncio.to_thread(rules.chunk, article.body, self.chunk_chars)
        row, changed = await self.writer.run(
            lambda unit: self._update(unit, actor, article_id, article, chunks)
        )
        log.info("kb article %d changed (%s) by %s", row.id, ", ".join(changed), actor.user_id)
        return self.view(row, len(chunks))

    async def _update(
        self,
        unit: Unit,
        actor: Actor,
        article_id: int,
        article: rules.Article,
        chunks: list[rules.Chunk],
    ) -> tuple[KbArticle, list[str]]:
        row = await KbArticle.get_or_none(id=article_id)
        if row is None:
            raise NotFound(f"article {article_id} not found", code="unknown_article")
        values = {
            "title": article.title,
            "body": article.body,
            "language": article.language,
            "tags": list(article.tags),
        }
        changed = [name for name, value in values.items() if getattr(row, name) != value]
        if changed:
            row.update_from_dict(values)
            await row.save(update_fields=[*changed, "updated_at"])
            # A new title reaches the index through its trigger; the passages (and their
            # embeddings) are rewritten when what they hold changes.
            if "body" in changed or "language" in changed:
                await KbChunk.filter(article_id=row.id).delete()
                await self._write_chunks(row, chunks)
            await audit.record(
                None, actor, audit.KB_ARTICLE_UPDATED, article_id=row.id, title=row.title,
                fields=changed,
            )  # fmt: skip
            if "body" in changed or "language" in changed:
                unit.after_commit(lambda: self._embed_later(row.id))
        return row, changed

    async def delete(self, actor: Actor, article_id: int) -> None:
        async def operation(unit: Unit) -> KbArticle:
            row = await KbArticle.get_or_none(id=article_id)
            if row is None:
                raise NotFound(f"article {article_id} not found", code="unknown_article")
            await row.delete()  # its passages (and their index rows) go with it
            await audit.record(
                None, actor, audit.KB_ARTICLE_DELETED, article_id=row.id, title=row.title,
                source=row.source,
            )  # fmt: skip
            return row

        row = await self.writer.run(operation)
        log.info("kb article %d deleted by %s (%s)", row.id, actor.user_id, actor.name)

    @staticmethod
    async def _write_chunks(row: KbArticle, chunks: list[rules.Chunk]) -> None:
        await KbChunk.bulk_create(
            [
                KbChunk(
                    article_id=row.id,
                    position=position,
                    heading=chunk.heading,
                    text=chunk.text,
                    language=row.language,
                )
                for position, chunk in enumerate(chunks)
            ]
        )

    # -- import ----------------------------------------------------------------------------

    async def import_folder(
        self, folder: Path, *, prune: bool = False, actor: Actor = SYSTEM
    ) -> ImportReport:
        """Every ``*.md`` file under ``folder`` as an article, by its path there
        (``source``): created, updated when it changed, left when it did not; with
        ``prune``, articles imported from a file no longer there are deleted (never those
        written through the API). A file that cannot be read or checked is refused with
        the reason and changes nothing; the others are still imported. Raises Invalid when
        the folder is not one, or holds more than :data:`MAX_FILES` files."""
        files = await asyncio.to_thread(_markdown_files, folder)
        report = ImportReport()
        seen: set[str] = set()
        for path in files:
            source = path.relative_to(folder).as_posix()
            seen.add(source)
            if len(source) > MAX_SOURCE:
                report.refused[source] = f"the path is longer than {MAX_SOURCE} characters"
                continue
            try:
                text = await asyncio.to_thread(_read, path)
                parts = path.relative_to(folder).parts
                default = parts[0] if len(parts) > 1 and parts[0] in rules.LANGUAGES else None
                article = await asyncio.to_thread(
                    rules.read_file, text, path=source, default_language=default,
                    max_body_chars=self.max_body_chars,
                )  # fmt: skip
            except Invalid as exc:
                report.refused[source] = exc.message
                continue
            except (OSError, UnicodeDecodeError) as exc:
                report.refused[source] = f"cannot be read: {exc}"
                continue
            given = {
                "title": article.title,
                "body": article.body,
                "language": article.language,
                "tags": list(article.tags),
            }
            existing = await KbArticle.get_or_none(source=source)
            if existing is None:
                await self.create(actor, given, source=source)
                report.created.append(source)
                continue
            before = self.view(existing, 0)
            after = await self.update(actor, existing.id, given)
            same = all(before[name] == after[name] for name in FIELDS)
            (report.unchanged if same else report.updated).append(source)
        if prune:
            gone = await KbArticle.filter(source__not_isnull=True).values_list("id", "source")
            for article_id, source in gone:
                if source not in seen:
                    await self.delete(actor, int(article_id))
                    report.deleted.append(str(source))
        return report

    # -- embeddings ------------------------------------------------------------------------

    def _embed_later(self, article_id: int) -> None:
        if self.embedder is None:
            return
        task = asyncio.get_running_loop().create_task(
            self._embed(article_id), name=f"kb-embed-{article_id}"
        )
        self._embedding.add(task)
        task.add_done_callback(self._embedding.discard)

    async def _embed(self, article_id: int) -> None:
        """Embed the article's passages that are not (by the current model); a failure is
        logged and leaves them to full-text search."""
        assert self.embedder is not None
        model = self.embedder.embedding_model
        rows = await KbChunk.filter(
            Q(embedding_model=None) | Q(embedding_model__not=model), article_id=article_id
        ).values_list("id", "heading", "text")  # fmt: skip
        for start in range(0, len(rows), EMBED_BATCH):
            batch = rows[start : start + EMBED_BATCH]
            texts = [f"{heading}\n{text}" if heading else str(text) for _, heading, text in batch]
            try:
                vectors = await self.embedder.embed(texts)
            except Exception as exc:  # noqa: BLE001 - a failing endpoint leaves full text
                log.warning(
                    "embedding article %d failed (%s): full-text search alone", article_id, exc
                )
                return
            ids = [int(chunk_id) for chunk_id, _, _ in batch]
            packed = [(i, pack(v)) for i, v in zip(ids, vectors, strict=True)]

            async def operation(unit: Unit, packed: list[tuple[int, bytes]] = packed) -> None:
                for chunk_id, data in packed:  # a passage rewritten meanwhile is gone: no row
                    await KbChunk.filter(id=chunk_id).update(embedding=data, embedding_model=model)

            await self.writer.run(operation)

    async def embed_missing(self) -> int:
        """Embed every article with a passage not embedded by the current model (at
        start-up, and after the model changes); how many articles were embedded."""
        if self.embedder is None:
            return 0
        model = self.embedder.embedding_model
        rows = await KbChunk.filter(
            Q(embedding_model=None) | Q(embedding_model__not=model)
        ).values_list("article_id", "id")  # fmt: skip
        ids = sorted({int(article_id) for article_id, _ in rows})
        for article_id in ids:
            await self._embed(article_id)
        return len(ids)

    def start(self) -> None:
        """Embed, in the background, the passages the current model has not embedded (a
        new ``embedding_model``, calls that failed); nothing without embeddings."""
        if self.embedder is None:
            return
        task = asyncio.get_running_loop().create_task(self._embed_missing(), name="kb-embed")
        self._embedding.add(task)
        task.add_done_callback(self._embedding.discard)

    async def _embed_missing(self) -> None:
        try:
            count = await self.embed_missing()
        except Exception:
            log.exception("embedding the knowledge base failed; full-text search alone")
            return
        if count:
            log.info("embedded the passages of %d knowledge-base articles", count)

    async def drain(self) -> None:
        """Wait for the embeddings being computed (tests, shutdown)."""
        while self._embedding:
            await asyncio.gather(*list(self._embedding), return_exceptions=True)

    async def close(self) -> None:
        """Wait for the embeddings being computed, then close the embeddings' client."""
        await self.drain()
        if self.embedder is not None:
            await self.embedder.close()


def _markdown_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise Invalid(f"{folder} is not a folder", code="not_a_folder")
    files: list[Path] = []
    for path in sorted(folder.rglob("*.md")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue  # .git and other hidden folders
        if path.is_file():
            files.append(path)
            if len(files) > MAX_FILES:
                raise Invalid(f"{folder} holds more than {MAX_FILES} markdown files")
    return files


def _read(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise Invalid(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return path.read_bytes().decode("utf-8")
