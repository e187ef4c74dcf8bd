"""Soak: a steady stream of WhatsApp messages with dashboards connected, memory watched.

    .venv/bin/python -m bench.soak [--duration 120] [--rate 200] [--sockets 50] [--customers 2000]

msgcenter serve (SQLite, fresh file, WhatsApp pointed at the mock Graph API, every message
answered by the bot) gets ``--rate`` signed webhooks per second for ``--duration`` seconds
while ``--sockets`` admin WebSocket clients follow /ws. Prints RSS every 10 s; at the end:
errors (webhooks not answered 200, sockets dropped), p50/p99 of the 200, frames received,
replies delivered, the database check, and start/end RSS. Bounded in time and count.

The load generator and the socket clients share this process's event loop: when frames
pour in, the client notices a 200 late. So the server's own time is printed beside it, from
its ``msgcenter_webhook_seconds`` histogram (``GET /metrics``), as bucket bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    PYTHON,
    Msgcenter,
    check_ingest,
    cpu_seconds,
    machine,
    pct,
    phone_for,
    post_load,
    rss_mb,
    wa_body,
)
from bench.common import stop as stop_process


async def follow(mc: Msgcenter, token: str, stop: asyncio.Event, stats: dict[str, Any]) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{mc.base}/ws?token={token}", heartbeat=None) as ws,
    ):
        while not stop.is_set():
            try:
                msg = await ws.receive(timeout=1.0)
            except TimeoutError:
                continue
            if msg.type == aiohttp.WSMsgType.TEXT:
                stats["frames"] += 1
                stats["bytes"] += len(msg.data)
            else:
                stats["dropped"] += 1
                stats["close_codes"].append(ws.close_code)
                return


def server_side(metrics: str) -> str:
    """p50 and p99 of the WhatsApp webhooks answered 200, as the histogram's bucket bounds."""
    buckets: list[tuple[float, float]] = []  # (upper bound, cumulative count)
    for line in metrics.splitlines():
        if line.startswith("msgcenter_webhook_seconds_bucket{") and 'status="200"' in line:
            labels, _, count = line.rpartition(" ")
            bound = labels.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(bound), float(count)))
    if not buckets or not buckets[-1][1]:
        return "no webhooks in /metrics"
    total = buckets[-1][1]
    p50 = next(b for b, c in buckets if c >= 0.5 * total)
    p99 = next(b for b, c in buckets if c >= 0.99 * total)
    return f"{total:.0f} webhooks, p50 <= {p50 * 1000:g} ms, p99 <= {p99 * 1000:g} ms"


async def main_async(a: argparse.Namespace) -> int:
    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="msgcenter-soak-"))
    mc = Msgcenter(work)
    n = int(a.duration * a.rate)
    built = [wa_body(i, phone_for(i % a.customers, "62814"), "K") for i in range(n)]
    bodies, wamids = [b for b, _ in built], [w for _, w in built]
    phones = [phone_for(i % a.customers, "62814") for i in range(n)]
    print(f"soak: {n} webhooks at {a.rate:g}/s for {a.duration:g} s, {a.customers} customers, "
          f"{a.sockets} WebSocket clients")  # fmt: skip
    try:
        mc.add_user()
        await mc.start()
        token = await mc.token()
        stop = asyncio.Event()
        stats: dict[str, Any] = {"frames": 0, "bytes": 0, "dropped": 0, "close_codes": []}
        followers = [asyncio.create_task(follow(mc, token, stop, stats)) for _ in range(a.sockets)]
        await asyncio.sleep(1.0)
        samples: list[tuple[float, float]] = []
        started = time.monotonic()

        async def sample() -> None:
            while not stop.is_set():
                samples.append((time.monotonic() - started, rss_mb(mc.pid)))
                print(f"  t={samples[-1][0]:5.0f} s  RSS {samples[-1][1]:6.1f} MB  "
                      f"frames {stats['frames']}", flush=True)  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 10)

        sampler = asyncio.create_task(sample())
        spy = None
        if a.profile:
            spy = subprocess.Popen(
                [str(Path(PYTHON).parent / "py-spy"), "record", "--format", "raw", "--rate",
                 "100", "--pid", str(mc.pid), "--output", a.profile],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        cpu0, own0 = cpu_seconds(mc.pid), time.process_time()
        sent0 = await mc.mock_count()
        result = await post_load(mc.webhook, bodies, 64, mc.app_secret, rate=a.rate)
        wall = result.wall
        cpu, own = cpu_seconds(mc.pid) - cpu0, time.process_time() - own0
        if spy is not None:
            stop_process(spy, 2)
        deadline = time.monotonic() + 60
        while await mc.mock_count() - sent0 < n and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        replies = await mc.mock_count() - sent0
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(sampler, *followers, return_exceptions=True)
        end_rss = rss_mb(mc.pid)
        lat = result.latencies
        print(f"load: {n} webhooks in {wall:.1f} s = {n / wall:.1f} msg/s (target {a.rate:g}), "
              f"p50 {pct(lat, 50) * 1000:.1f} ms, p99 {pct(lat, 99) * 1000:.1f} ms, "
              f"errors {result.errors}")  # fmt: skip
        async with aiohttp.ClientSession() as session, session.get(f"{mc.base}/metrics") as got:
            metrics = await got.text()
        print(f"  the server's own time in the webhook handler: {server_side(metrics)}")
        print(f"bot replies delivered: {replies} of {n}")
        print(f"CPU during the load: server {cpu:.1f} s ({cpu / wall:.0%} of a core), "
              f"load generator + socket clients {own:.1f} s ({own / wall:.0%})")  # fmt: skip
        print(f"websockets: {stats['frames']} frames, {stats['bytes'] / 1e6:.1f} MB, "
              f"dropped {stats['dropped']} {stats['close_codes'][:5]}")  # fmt: skip
        with mc.db() as db:
            problems = check_ingest(db, wamids, phones, {wamids[i] for i in result.acked})
        print(f"db check: {problems or 'OK'}")
        first = samples[1][1] if len(samples) > 1 else samples[0][1]
        print(f"RSS: start {samples[0][1]:.1f} MB, after 10 s {first:.1f} MB, "
              f"end {end_rss:.1f} MB (growth after warm-up {end_rss - first:+.1f} MB)")  # fmt: skip
        bad = result.errors or stats["dropped"] or problems or replies < n
        return 1 if bad else 0
    finally:
        mc.stop_all()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--duration", type=float, default=120.0)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--sockets", type=int, default=50)
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--profile", help="py-spy raw profile of the server to this file")
    a = ap.parse_args()
    if not (1 <= a.duration <= 600 and 1 <= a.rate <= 2000 and 0 <= a.sockets <= 1000):
        sys.exit("out of bounds")
    sys.exit(asyncio.run(main_async(a)))


if __name__ == "__main__":
    main()
