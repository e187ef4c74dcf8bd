"""Customer media in a burst: signed WhatsApp webhooks with an image each, against the same
burst of text messages, in the same run on the same server.

    .venv/bin/python -m bench.media [--n 200] [--size 200000] [--concurrency 16] [--rounds 2]
        [--storage sqlite|postgres]

msgcenter runs as ``msgcenter serve`` on a fresh database with the WhatsApp channel pointed at
the benchmark's mock Graph API (``bench.mockwa --media``), which serves each media id as a
distinct JPEG of ``--size`` bytes. Each round posts a burst of text webhooks and a burst of
image webhooks (alternating which goes first), then waits until every image is fetched and
stored. It prints the webhooks' latency for both (the provider's 200 must not wait for the
files: the image burst's p99 stays within 10% of the text burst's), how long until every file
was stored, the server's resident memory before, at its peak and after (files are streamed to
disk, never held whole), and checks that every file is in the blob store under its sha256.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import (
    LoadResult,
    Msgcenter,
    free_port,
    machine,
    pct,
    phone_for,
    post_load,
    rss_mb,
    wa_body,
)
from bench.mockwa import bench_jpeg


def image_body(i: int, phone: str, tag: str, seed: int, size: int) -> tuple[bytes, str]:
    """A webhook with one image message from ``phone``; (body, wamid)."""
    data = bench_jpeg(seed, size)
    image = {"id": f"bench-{seed}-{size}", "mime_type": "image/jpeg",
             "sha256": hashlib.sha256(data).hexdigest(), "caption": f"foto paket {i}"}  # fmt: skip
    return wa_body(i, phone, tag, content={"type": "image", "image": image})


class RssWatch:
    """The server's resident memory, sampled every 20 ms while running: its peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.peak = rss_mb(self.pid)
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb(self.pid))
            await asyncio.sleep(0.02)

    async def stop(self) -> float:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.peak


async def stored_files(mc: Msgcenter, wamids: list[str], timeout: float) -> tuple[int, float]:
    """Wait until the messages ``wamids`` have no file pending; (files stored, seconds)."""
    started = time.perf_counter()
    marks = ", ".join(f"'{w}'" for w in wamids)  # the bench's own ids
    while True:
        with mc.db() as db:
            rows = db.execute(
                f'SELECT "media_pending", "attachments" FROM "messages" '  # noqa: S608
                f'WHERE "external_id" IN ({marks})'
            ).fetchall()
        pending = sum(1 for row in rows if row[0])
        if rows and len(rows) == len(wamids) and not pending:
            break
        if time.perf_counter() - started > timeout:
            break
        await asyncio.sleep(0.1)
    stored = 0
    for _, attachments in rows:
        items = json.loads(attachments) if isinstance(attachments, str) else attachments
        stored += sum(1 for item in items if item.get("status") == "stored")
    return stored, time.perf_counter() - started


def check_blobs(workdir: Path, seeds: list[int], size: int) -> list[str]:
    """Problems with the blob store: a file missing, or not the bytes of its name."""
    problems = []
    for seed in seeds:
        sha = hashlib.sha256(bench_jpeg(seed, size)).hexdigest()
        path = workdir / "blobs" / sha[:2] / sha[2:4] / sha
        if not path.is_file():
            problems.append(f"missing {sha}")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != sha:
            problems.append(f"wrong bytes in {sha}")
    return problems


async def settle(mc: Msgcenter, quiet: float = 0.5, timeout: float = 60.0) -> None:
    """Wait until the bot's answers have gone out (the mock's count holds still for
    ``quiet`` seconds): each burst starts on a quiet server, not on the last one's replies."""
    deadline = time.perf_counter() + timeout
    last, still = -1, time.perf_counter()
    while time.perf_counter() < deadline:
        count = await mc.mock_count()
        if count != last:
            last, still = count, time.perf_counter()
        elif time.perf_counter() - still >= quiet:
            return
        await asyncio.sleep(0.1)


async def main_async(a: argparse.Namespace) -> int:
    print(machine())
    print(f"{a.n} webhooks per burst, images of {a.size} bytes, concurrency {a.concurrency}, "
          f"{a.rounds} rounds, {a.storage}")  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="bench-media-"))
    mc = Msgcenter(workdir, port=free_port(), storage=a.storage, mock_media=True)
    failures = 0
    try:
        await mc.start()
        warm = [wa_body(i, phone_for(i, "62899"), "warm")[0] for i in range(50)]
        warm_images = [image_body(i, phone_for(i, "62898"), "warm", 10**9 + i, a.size)
                       for i in range(20)]  # fmt: skip
        await post_load(mc.webhook, warm, a.concurrency, mc.app_secret)
        await post_load(mc.webhook, [b for b, _ in warm_images], a.concurrency, mc.app_secret)
        await stored_files(mc, [w for _, w in warm_images], a.timeout)
        await settle(mc)
        texts: list[LoadResult] = []
        images: list[LoadResult] = []
        rss_before = rss_mb(mc.server_pid())
        peaks, settle_times, seeds_all = [], [], []
        for r in range(a.rounds):
            text_bodies = [wa_body(i, phone_for(i, f"6281{r}"), f"t{r}")[0] for i in range(a.n)]
            seeds = [r * 100_000 + i for i in range(a.n)]
            seeds_all += seeds
            built = [image_body(i, phone_for(i, f"6282{r}"), f"i{r}", seed, a.size)
                     for i, seed in enumerate(seeds)]  # fmt: skip
            image_bodies = [body for body, _ in built]
            wamids = [wamid for _, wamid in built]
            order = ("text", "image") if r % 2 == 0 else ("image", "text")
            for kind in order:
                await settle(mc)
                if kind == "text":
                    texts.append(await post_load(mc.webhook, text_bodies, a.concurrency,
                                                 mc.app_secret))  # fmt: skip
                    print(texts[-1].line(f"text {r}"))
                    continue
                watch = RssWatch(mc.server_pid())
                watch.start()
                images.append(await post_load(mc.webhook, image_bodies, a.concurrency,
                                              mc.app_secret))  # fmt: skip
                print(images[-1].line(f"image {r}"))
                stored, seconds = await stored_files(mc, wamids, a.timeout)
                peaks.append(await watch.stop())
                settle_times.append(seconds)
                print(f"           {stored}/{a.n} files stored {seconds:5.2f} s after the burst "
                      f"({stored * a.size / 1e6 / max(seconds, 1e-9):5.1f} MB/s), "
                      f"RSS peak {peaks[-1]:.1f} MB")  # fmt: skip
                if stored != a.n:
                    failures += 1
        rss_after = rss_mb(mc.server_pid())
        text_lat = sorted(x for t in texts for x in t.latencies)
        image_lat = sorted(x for t in images for x in t.latencies)
        p99_text, p99_image = pct(text_lat, 99) * 1000, pct(image_lat, 99) * 1000
        errors = sum(t.errors for t in (*texts, *images))
        problems = check_blobs(workdir, seeds_all, a.size)
        print()
        print(f"webhook p50 text {pct(text_lat, 50) * 1000:.1f} ms, image "
              f"{pct(image_lat, 50) * 1000:.1f} ms; p99 text {p99_text:.1f} ms, image "
              f"{p99_image:.1f} ms: image/text {p99_image / p99_text:.2f}")  # fmt: skip
        print(f"files: {len(seeds_all) - len(problems)}/{len(seeds_all)} in the blob store under "
              f"their sha256; all stored in {max(settle_times):.2f} s at worst")  # fmt: skip
        print(f"server RSS: before {rss_before:.1f} MB, peak {max(peaks):.1f} MB, after "
              f"{rss_after:.1f} MB (growth {max(peaks) - rss_before:+.1f} MB for "
              f"{len(seeds_all) * a.size / 1e6:.0f} MB of files)")  # fmt: skip
        print(f"errors {errors}; blob problems {problems[:3]}")
        return 1 if failures or problems or errors else 0
    finally:
        mc.stop_all()
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--size", type=int, default=200_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    raise SystemExit(asyncio.run(main_async(ap.parse_args())))


if __name__ == "__main__":
    main()
