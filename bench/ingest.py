"""Burst ingest: signed WhatsApp webhooks (one message each) against msgcenter, a bare aiohttp
handler and the seed design, the same load in the same run.

    .venv/bin/python -m bench.ingest [--n 2000] [--concurrency 16] [--customers 200]
        [--targets bare,msgcenter,seed] [--rounds 1] [--statuses] [--profile py-spy]
        [--storage sqlite|postgres|both] [--webhook]

msgcenter runs as ``msgcenter serve`` on a fresh SQLite file (``--storage postgres``: a fresh
PostgreSQL database, created on ``--postgres-url``'s server and dropped after, with Redis at
``--redis-url`` carrying events and presence as in a deployment of several processes;
``both``: one after the other in every round) with the WhatsApp channel pointed
at the mock Graph API (its own process): every message lands in a bot-mode chat, so the rules
bot answers each one and the outbox delivers the answer to the mock. ``--statuses`` makes the
mock post the sent/delivered/read status webhooks back, as Meta does (3 more webhooks per
reply, on the same 2 cores). After the load it waits for the outbox to deliver every reply and
checks the database: every acknowledged message stored exactly once, one chat per customer,
every unread count exact, one contact per customer holding their identity once, every chat
with a contact and no contact without a chat.

``--webhook`` registers one outgoing webhook endpoint subscribed to ``message.created`` (so
every customer message and every bot answer queues a delivery in its transaction), posting to
a receiver in this process on 127.0.0.1 (``integrations.allow_private_destinations``), and
reports when the last delivery arrived and whether every one did, each signature checked.

The seed design (``shared/seed-reference/app-ref``) runs from a copy in /tmp with its own venv
(/tmp/appref-venv, see its README), as its run_bench.sh starts it. Message i comes from customer
i % customers; bodies are built and signed before the clock starts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.common import (
    MAX_N,
    POSTGRES_URL,
    PYTHON,
    REDIS_URL,
    ROOT,
    LoadResult,
    Msgcenter,
    check_ingest,
    cpu_seconds,
    free_port,
    machine,
    pct,
    phone_for,
    post_load,
    start_seed,
    stop,
    wa_body,
    wait_http,
)
from connectors.callbacks import verify


def build(
    n: int, customers: int, prefix: str, tag: str
) -> tuple[list[bytes], list[str], list[str]]:
    bodies, wamids, phones = [], [], []
    for i in range(n):
        phone = phone_for(i % customers, prefix)
        body, wamid = wa_body(i, phone, tag)
        bodies.append(body)
        wamids.append(wamid)
        phones.append(phone)
    return bodies, wamids, phones


async def run_bare(a: argparse.Namespace, bodies: list[bytes], warm: list[bytes]) -> LoadResult:
    port = free_port()
    proc = subprocess.Popen([PYTHON, "-m", "bench.bare", "--port", str(port)], cwd=ROOT)
    try:
        await wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
        url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
        await post_load(url, warm, a.concurrency, "x")
        cpu0 = cpu_seconds(proc.pid)
        result = await post_load(url, bodies, a.concurrency, "x")
        cpu = cpu_seconds(proc.pid) - cpu0
        print(f"  bare server CPU during the load {cpu:.2f} s = "
              f"{cpu * 1000 / len(bodies):.3f} ms/msg ({cpu / result.wall:.0%} of the load's "
              f"{result.wall:.2f} s)")  # fmt: skip
        return result
    finally:
        stop(proc)


async def run_seed(
    a: argparse.Namespace, bodies: list[bytes], warm: list[bytes]
) -> LoadResult | None:
    seed = await start_seed()
    if seed is None:
        return None
    try:
        url = f"{seed.base}/webhooks/whatsapp"
        await post_load(url, warm, a.concurrency, None)
        cpu0 = cpu_seconds(seed.proc.pid)
        result = await post_load(url, bodies, a.concurrency, None)
        cpu = cpu_seconds(seed.proc.pid) - cpu0
        print(f"  seed server CPU {cpu:.2f} s = {cpu * 1000 / len(bodies):.2f} ms/msg")
        import sqlite3

        db = sqlite3.connect(seed.app_dir / "seed_ref.db")
        chats = db.execute("SELECT COUNT(*) FROM chats WHERE customer_phone LIKE '62812%'")
        msgs = db.execute(
            "SELECT COUNT(*), (SELECT SUM(unread_count) FROM chats WHERE customer_phone LIKE "
            "'62812%') FROM messages m JOIN chats c ON c.id = m.chat_id "
            "WHERE c.customer_phone LIKE '62812%' AND m.sender = 'customer'"
        ).fetchone()
        print(f"  seed db: {chats.fetchone()[0]} chats for {a.customers} customers, "
              f"{msgs[0]} customer messages, sum(unread) {msgs[1]} "
              f"(lost increments {msgs[0] - (msgs[1] or 0)})")  # fmt: skip
        return result
    finally:
        seed.stop(keep=a.keep)


WEBHOOK_SECRET = "bench-webhook-secret-0123456789"


class Receiver:
    """The webhook endpoint: an aiohttp server on 127.0.0.1 that counts signed deliveries."""

    def __init__(self) -> None:
        self.delivery_ids: set[str] = set()
        self.posts = 0
        self.bad = 0
        self.last = 0.0
        self.want = 0
        self.done = asyncio.Event()
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.posts += 1
        self.last = time.perf_counter()
        if not verify(WEBHOOK_SECRET, request.headers, body):
            self.bad += 1
        self.delivery_ids.add(json.loads(body)["id"])
        if self.want and len(self.delivery_ids) >= self.want:
            self.done.set()
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def register(self, mc: Msgcenter) -> None:
        body = {"url": f"http://127.0.0.1:{self.port}/hook", "secret": WEBHOOK_SECRET,
                "events": ["message.created"]}  # fmt: skip
        headers = {"Authorization": f"Bearer {await mc.token()}"}
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{mc.base}/integrations/webhooks", json=body, headers=headers) as r,
        ):
            if r.status != 201:
                raise RuntimeError(f"registering the endpoint: {r.status} {await r.text()}")

    async def wait(self, want: int, timeout: float) -> int:
        """Wait until ``want`` distinct deliveries arrived; how many did."""
        self.want = want
        if len(self.delivery_ids) < want:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), timeout)
        return len(self.delivery_ids)


async def run_msgcenter(
    a: argparse.Namespace,
    bodies: list[bytes],
    wamids: list[str],
    phones: list[str],
    warm: tuple[list[bytes], list[str], list[str]],
    storage: str,
) -> LoadResult:
    work = Path(tempfile.mkdtemp(prefix="msgcenter-ingest-"))
    env = {"MSGCENTER_BOT__ENGINE": "bench.silentbot:SilentBot"} if a.silent_bot else {}
    receiver = Receiver() if a.webhook else None
    if receiver is not None:
        env["MSGCENTER_INTEGRATIONS__ALLOW_PRIVATE_DESTINATIONS"] = "true"
    mc = Msgcenter(
        work, statuses=a.statuses, extra_env=env, storage=storage,
        postgres_url=a.postgres_url, redis_url=a.redis_url,
    )  # fmt: skip
    out = Path(a.profile_out or work / "profile.txt")
    spy: subprocess.Popen[bytes] | None = None
    try:
        if receiver is not None:
            mc.add_user()
            await receiver.start()
        await mc.start()
        pid = mc.pid
        if receiver is not None:
            await receiver.register(mc)
        await post_load(mc.webhook, warm[0], a.concurrency, mc.app_secret)
        await drain(mc, 0 if a.silent_bot else len(warm[0]), 60)
        sent_before = await mc.mock_count()
        if a.profile:  # attached after start-up and warm-up: the profile is the load alone
            spy = subprocess.Popen(
                [str(Path(PYTHON).parent / "py-spy"), "record", "--format", "raw", "--rate",
                 "250", "--pid", str(pid), "--output", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(1.0)
        cpu0, loop0 = cpu_seconds(pid), cpu_seconds(pid, main_thread=True)
        result = await post_load(mc.webhook, bodies, a.concurrency, mc.app_secret)
        cpu, loop = cpu_seconds(pid) - cpu0, cpu_seconds(pid, main_thread=True) - loop0
        print(f"  msgcenter server CPU during the load {cpu:.2f} s = "
              f"{cpu * 1000 / len(bodies):.2f} ms/msg ({loop * 1000 / len(bodies):.2f} in the "
              f"event loop's thread, {loop / result.wall:.0%} of the load's "
              f"{result.wall:.2f} s)")  # fmt: skip
        t0 = time.perf_counter()
        want = sent_before + (0 if a.silent_bot else len(bodies))
        replies = await drain(mc, want, a.drain_timeout)
        print(f"  outbox: {replies - sent_before} bot replies delivered to the mock Graph API, "
              f"the last {time.perf_counter() - t0:.2f} s after the last 200")  # fmt: skip
        if receiver is not None:
            per_message = 1 if a.silent_bot else 2  # the customer's and the bot's answer
            want = (len(warm[0]) + len(bodies)) * per_message
            got = await receiver.wait(want, a.drain_timeout)
            total = cpu_seconds(pid) - cpu0
            print(f"  webhooks: {got} of {want} deliveries arrived ({receiver.posts} posts, "
                  f"{receiver.bad} badly signed), the last {receiver.last - t0:.2f} s after "
                  f"the last 200; server CPU from the load's start to the last delivery "
                  f"{total:.2f} s = {total * 1000 / len(bodies):.2f} ms/msg")  # fmt: skip
            if got < want or receiver.bad:
                result.errors += 1
        acked = {wamids[i] for i in result.acked}
        with mc.db() as db:
            problems = check_ingest(db, [*warm[1], *wamids], [*warm[2], *phones],
                                    acked | set(warm[1]))  # fmt: skip
            queued = db.execute("SELECT COUNT(*) FROM messages WHERE status = 'queued'").fetchone()
            batches = db.execute("SELECT COUNT(*) FROM events").fetchone()
        print(
            f"  db check: {'OK' if not problems else 'FAILED'}: {len(acked)} acknowledged "
            f"messages stored once each, {len(set(phones))} customers one chat and one "
            f"contact each, unread counts exact; {queued[0]} replies still queued; "
            f"{batches[0]} events logged"
        )
        for problem in problems:
            print(f"    PROBLEM: {problem}")
        if problems:
            result.errors += 1
        return result
    finally:
        if spy is not None:
            stop(spy, 2)  # SIGINT: py-spy writes its profile
            print(f"  profile (load and drain): {out}")
        mc.stop_all()
        if receiver is not None:
            await receiver.stop()
        if not a.keep and not a.profile:
            shutil.rmtree(work, ignore_errors=True)
        elif a.keep:
            print(f"  kept {work}")


async def drain(mc: Msgcenter, want: int, timeout: float) -> int:
    """Wait until the mock has ``want`` sends (every reply delivered); the count."""
    deadline = time.monotonic() + timeout
    count = await mc.mock_count()
    while count < want and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        count = await mc.mock_count()
    return count


async def main_async(a: argparse.Namespace) -> int:
    print(f"machine: {machine()}")
    statuses = "on" if a.statuses else "off"
    print(f"load: {a.n} signed webhooks, 1 message each, {a.customers} customers, "
          f"concurrency {a.concurrency}; status webhooks {statuses}")  # fmt: skip
    bodies, wamids, phones = build(a.n, a.customers, "62812", "B")
    warm = build(a.warmup, max(1, a.warmup // 4), "62899", "W")
    storages = ["sqlite", "postgres"] if a.storage == "both" else [a.storage]
    targets = []
    for t in (t.strip() for t in a.targets.split(",") if t.strip()):
        if t == "msgcenter":
            targets += ["msgcenter" if s == "sqlite" else f"msgcenter-{s}" for s in storages]
        else:
            targets.append(t)
    rounds: list[dict[str, LoadResult]] = []
    for number in range(1, a.rounds + 1):
        results: dict[str, LoadResult] = {}
        for target in targets:
            print(f"== {target}" + (f" (round {number} of {a.rounds})" if a.rounds > 1 else ""))
            if target == "bare":
                results[target] = await run_bare(a, bodies, warm[0])
            elif target.startswith("msgcenter"):
                storage = target.partition("-")[2] or "sqlite"
                results[target] = await run_msgcenter(a, bodies, wamids, phones, warm, storage)
            elif target == "seed":
                seed = await run_seed(a, bodies, warm[0])
                if seed is not None:
                    results[target] = seed
            else:
                raise SystemExit(f"unknown target {target!r}")
            if target in results:
                print("  " + results[target].line(target))
                if results[target].first_error:
                    print(f"  first error: {results[target].first_error}")
        rounds.append(results)
    print("== summary")
    ratios: dict[str, list[float]] = {"seed": [], "bare": []}
    for number, results in enumerate(rounds, 1):
        if a.rounds > 1:
            print(f"  round {number}")
        for name, result in results.items():
            print("  " + result.line(name))
        mc = results.get("msgcenter")
        for other in ratios:
            if mc is not None and other in results:
                ratios[other].append(mc.rate / results[other].rate)
                print(f"  msgcenter / {other} = {ratios[other][-1]:.2f}x")
        pg = results.get("msgcenter-postgres")
        if mc is not None and pg is not None:
            ratios.setdefault("postgres", []).append(pg.rate / mc.rate)
            print(f"  msgcenter-postgres / msgcenter = {ratios['postgres'][-1]:.2f}x")
    for other, target in (("seed", "10x"), ("bare", "0.3x"), ("postgres", "0.5x")):
        if ratios.get(other):
            got = ratios[other]
            label = (
                "msgcenter-postgres / msgcenter" if other == "postgres" else f"msgcenter / {other}"
            )
            print(f"  {label}: median {statistics.median(got):.2f}x of {len(got)} "
                  f"(range {min(got):.2f}-{max(got):.2f}x; target >= {target})")  # fmt: skip
    if a.rounds > 1:
        for target in targets:
            got_rounds = [r[target] for r in rounds if target in r]
            if got_rounds:
                rate = statistics.median(r.rate for r in got_rounds)
                p99 = statistics.median(pct(r.latencies, 99) for r in got_rounds) * 1000
                print(f"  {target}: median {rate:.1f} msg/s, median p99 {p99:.1f} ms "
                      f"of {len(got_rounds)} rounds")  # fmt: skip
    return 1 if any(r[t].errors for r in rounds for t in r if t.startswith("msgcenter")) else 0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=2000, help="webhooks to post (one message each)")
    ap.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    ap.add_argument("--customers", type=int, default=200, help="distinct customers")
    ap.add_argument("--warmup", type=int, default=100, help="webhooks before the clock starts")
    ap.add_argument("--targets", default="bare,msgcenter,seed")
    ap.add_argument("--rounds", type=int, default=1, help="run every target this many times")
    ap.add_argument("--statuses", action="store_true", help="mock posts status webhooks back")
    ap.add_argument("--silent-bot", action="store_true", help="no bot answers: ingest alone")
    ap.add_argument(
        "--webhook",
        action="store_true",
        help="one outgoing webhook endpoint (message.created) at a receiver on 127.0.0.1",
    )
    ap.add_argument(
        "--storage",
        choices=["sqlite", "postgres", "both"],
        default="sqlite",
        help="msgcenter's database: a SQLite file, PostgreSQL and Redis, or both",
    )
    ap.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help="a PostgreSQL server's URL: --storage postgres creates a database there",
    )
    ap.add_argument("--redis-url", default=REDIS_URL, help="Redis for --storage postgres")
    ap.add_argument("--profile", choices=["py-spy"], help="profile msgcenter")
    ap.add_argument("--profile-out", help="where the profile goes")
    ap.add_argument("--drain-timeout", type=float, default=120.0)
    ap.add_argument("--keep", action="store_true", help="keep the work folders")
    a = ap.parse_args()
    if not 1 <= a.n <= MAX_N or not 1 <= a.concurrency <= 256 or a.customers < 1:
        sys.exit("--n 1..200000, --concurrency 1..256, --customers >= 1")
    if not 1 <= a.rounds <= 20:
        sys.exit("--rounds 1..20")
    sys.exit(asyncio.run(main_async(a)))


if __name__ == "__main__":
    main()
