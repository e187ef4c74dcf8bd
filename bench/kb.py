"""Knowledge-base retrieval at scale: the demo's 24 articles copied ``--copies`` times (each
copy's words made its own by a suffix on every word of its title, so the copies do not all
tie), then the questions of tests/test_kb.py asked ``--rounds`` times through
``KbRetriever.retrieve`` (what the LLM engine and ``GET /kb/search`` call), full text only.

    .venv/bin/python -m bench.kb [--storage sqlite|postgres|both] [--copies 100]
        [--rounds 5] [--postgres-url URL]

Prints the passages indexed, the import's time, retrieval's p50 / p99 / max, and how often
the expected article came first (the copies hold the same words: an original or one of its
copies counts as right).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from tortoise.backends.base.executor import EXECUTOR_CACHE

from handoff.core import Core
from handoff.infra.bus import MemoryEventBus
from handoff.usecases.staff import Passwords
from msgcenter.demo import DEMO_KB
from storage.db import Database, migrate
from storage.kb import index_size
from storage.models import KbArticle
from tests.test_kb import QUESTIONS

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"


def build_folder(root: Path, copies: int) -> None:
    """The demo folder, and ``copies - 1`` copies of it with their titles made distinct."""
    for copy in range(copies):
        for path in sorted(DEMO_KB.rglob("*.md")):
            relative = path.relative_to(DEMO_KB)
            target = (
                root / relative.parent / (f"{relative.stem}-{copy}.md" if copy else relative.name)
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            text = path.read_text()
            if copy:
                text = text.replace("title: ", f"title: Copy{copy} ", 1)
            target.write_text(text)


async def run(url: str, copies: int, rounds: int) -> None:
    EXECUTOR_CACHE.clear()  # Tortoise caches insert SQL per connection name, not dialect
    await migrate(url)
    database = Database(url)
    await database.open(run_migrations=False)
    core = Core.build(MemoryEventBus(), Passwords(time_cost=1, memory_kib=64),
                      postgres=url.startswith("postgres"))  # fmt: skip
    core.writer.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            build_folder(Path(folder), copies)
            started = time.perf_counter()
            report = await core.kb.import_folder(Path(folder))
            imported = time.perf_counter() - started
        sources = dict(await KbArticle.all().values_list("id", "source"))
        passages = await index_size()
        print(
            f"  {len(report.created)} articles, {passages} passages, imported in {imported:.1f} s"
        )
        for question, language, _ in QUESTIONS:  # warm up
            await core.kb.retriever.retrieve(question, language=language, limit=4)
        times: list[float] = []
        right = 0
        for _ in range(rounds):
            for question, language, expected in QUESTIONS:
                started = time.perf_counter()
                found = await core.kb.retriever.retrieve(question, language=language, limit=4)
                times.append((time.perf_counter() - started) * 1000)
                top = str(sources[found[0].article_id]) if found else ""
                right += _original(top) == expected
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        p90 = times[int(len(times) * 0.9)]
        print(f"  retrieve: {len(times)} questions, p50 {statistics.median(times):.1f} ms, "
              f"p90 {p90:.1f} ms, p99 {p99:.1f} ms, max {times[-1]:.1f} ms; the right article "
              f"first {right}/{len(times)}")  # fmt: skip
    finally:
        await core.writer.stop()
        await database.close()


def _original(source: str) -> str:
    """The demo file a copy was made of: "en/refunds-7.md" -> "en/refunds.md"."""
    return re.sub(r"-\d+\.md$", ".md", source)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    if args.storage in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            print(f"SQLite, {args.copies} copies of the demo knowledge base:")
            await run(f"sqlite://{folder}/kb.db", args.copies, args.rounds)
    if args.storage in ("postgres", "both"):
        name = f"bench_kb_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(args.postgres_url)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            print(f"PostgreSQL, {args.copies} copies of the demo knowledge base:")
            await run(args.postgres_url.rsplit("/", 1)[0] + f"/{name}", args.copies, args.rounds)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
