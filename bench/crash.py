"""Crash safety: stream signed WhatsApp webhooks, SIGKILL the server at a random moment,
restart it, replay every webhook as Meta would (it redelivers until it gets a 200), and check:

* every acknowledged message is stored exactly once, and so is every other one after the
  replay (nothing lost, nothing doubled), with exact unread counts;
* every bot reply that was queued is delivered after the restart (none lost; one sent just
  before the kill may be sent twice: at least once), and no customer is left without an
  answer to their last message.

    .venv/bin/python -m bench.crash [--n 3000] [--customers 300] [--concurrency 16]
        [--rounds 3] [--seed N] [--kill-at ACKS] [--json]

``tests/test_crash.py`` runs a short version of the same in ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.common import Msgcenter, check_ingest, phone_for, post_load, sign, wa_body


@dataclass
class CrashReport:
    posted_before_kill: int = 0
    acked_before_kill: int = 0
    failed_before_kill: int = 0
    stored_at_restart: int = 0
    queued_at_restart: int = 0
    replayed: int = 0
    replay_errors: int = 0
    stored: int = 0
    bot_replies: int = 0
    sends: int = 0
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"before the kill: {self.posted_before_kill} webhooks answered or failed, "
            f"{self.acked_before_kill} acknowledged (200), {self.failed_before_kill} failed",
            f"at restart: {self.stored_at_restart} customer messages in the database, "
            f"{self.queued_at_restart} bot replies still queued",
            f"replay of all {self.replayed} webhooks: errors {self.replay_errors}",
            f"after: {self.stored} customer messages stored (each once), {self.bot_replies} bot "
            f"replies, all delivered; {self.sends} sends seen by the mock Graph API "
            f"({self.sends - self.bot_replies} sent twice: a reply sent just before the kill)",
            "result: " + ("OK" if not self.problems else "FAILED: " + "; ".join(self.problems)),
        ]


async def stream_until_killed(
    mc: Msgcenter,
    bodies: list[bytes],
    concurrency: int,
    kill_after: float,
    kill_at: int | None = None,
) -> tuple[set[int], int, int]:
    """Post bodies until the server is SIGKILLed after ``kill_after`` s (or once ``kill_at``
    webhooks are acknowledged: mid-stream however fast the server is); (acked, done, failed)."""
    acked: set[int] = set()
    done = failed = 0
    next_idx = 0
    stop_at = time.monotonic() + kill_after
    enough = asyncio.Event()  # kill_at webhooks acknowledged (or all answered)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal next_idx, done, failed
            while next_idx < len(bodies) and mc.proc is not None:
                idx = next_idx
                next_idx += 1
                headers = {
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": sign(bodies[idx], mc.app_secret),
                }
                try:
                    async with session.post(mc.webhook, data=bodies[idx], headers=headers) as r:
                        await r.read()
                        if r.status == 200:
                            acked.add(idx)
                        else:
                            failed += 1
                except (aiohttp.ClientError, TimeoutError):
                    failed += 1
                done += 1
                if kill_at is not None and (len(acked) >= kill_at or done >= len(bodies)):
                    enough.set()

        async def killer() -> None:
            if kill_at is None:
                await asyncio.sleep(max(stop_at - time.monotonic(), 0))
            else:
                await enough.wait()
            if mc.proc is not None:
                mc.proc.send_signal(signal.SIGKILL)
                mc.proc.wait()
                mc.proc = None

        await asyncio.gather(killer(), *(worker() for _ in range(concurrency)))
    return acked, done, failed


# Bot-mode chats whose newest customer message the bot has not answered (nor handed over).
UNANSWERED = """
    SELECT COUNT(*) FROM chats c WHERE c.mode = 'bot' AND (
        (c.bot_answered_id IS NULL AND c.last_message_sender = 'customer')
        OR c.bot_answered_id < (
            SELECT MAX(m.id) FROM messages m WHERE m.chat_id = c.id AND m.sender = 'customer'))
"""


async def wait_quiet(mc: Msgcenter, timeout: float) -> int:
    """Wait until no reply is queued and the mock's count is steady; the queued count."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        with mc.db() as db:
            queued = db.execute(
                "SELECT COUNT(*) FROM messages WHERE status = 'queued' AND internal = 0"
            ).fetchone()[0]
            waiting = db.execute(UNANSWERED).fetchone()[0]
        sends = await mc.mock_count()
        if queued == 0 and waiting == 0 and sends == last:
            return 0
        last = sends
        await asyncio.sleep(0.3)
    return int(queued)


async def crash_once(
    n: int,
    customers: int,
    concurrency: int,
    rng: random.Random,
    *,
    kill_window: float = 3.0,
    kill_at: int | None = None,
) -> CrashReport:
    report = CrashReport()
    work = Path(tempfile.mkdtemp(prefix="msgcenter-crash-"))
    mc = Msgcenter(work)
    tag = f"C{rng.randrange(10**6)}"
    built = [wa_body(i, phone_for(i % customers, "62813"), tag) for i in range(n)]
    bodies = [b for b, _ in built]
    wamids = [w for _, w in built]
    phones = [phone_for(i % customers, "62813") for i in range(n)]
    try:
        await mc.start()
        kill_after = rng.uniform(0.3, kill_window)
        acked, done, failed = await stream_until_killed(
            mc, bodies, concurrency, kill_after, kill_at
        )
        report.posted_before_kill, report.failed_before_kill = done, failed
        report.acked_before_kill = len(acked)
        with mc.db() as db:
            report.stored_at_restart = db.execute(
                "SELECT COUNT(*) FROM messages WHERE sender = 'customer'"
            ).fetchone()[0]
            report.queued_at_restart = db.execute(
                "SELECT COUNT(*) FROM messages WHERE status = 'queued'"
            ).fetchone()[0]
            # Acknowledged before the kill means committed: all of them must be there now.
            early = check_ingest(db, wamids, phones, {wamids[i] for i in acked})
            report.problems += [f"right after the kill: {p}" for p in early if "unread" not in p]
        await mc.start()  # same database, same port: Meta's retries reach the new process
        replay = await post_load(mc.webhook, bodies, concurrency, mc.app_secret, timeout=30)
        report.replayed, report.replay_errors = len(bodies), replay.errors
        if replay.errors:
            report.problems.append(f"{replay.errors} replayed webhooks not acknowledged")
        if await wait_quiet(mc, 120):
            report.problems.append("bot replies still queued two minutes after the restart")
        with mc.db() as db:
            report.problems += check_ingest(db, wamids, phones, set(wamids))
            report.stored = db.execute(
                "SELECT COUNT(*) FROM messages WHERE sender = 'customer'"
            ).fetchone()[0]
            bots = db.execute(
                "SELECT external_id, status FROM messages WHERE sender = 'bot'"
            ).fetchall()
            unanswered = db.execute(UNANSWERED).fetchone()[0]
        report.bot_replies = len(bots)
        report.sends = await mc.mock_count()
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"http://127.0.0.1:{mc.mock_port}/_mock/sent") as r,
        ):
            sent_ids = {item["id"] for item in await r.json()}
        lost = [e for e, status in bots if status not in ("sent", "delivered", "read")]
        undelivered = [e for e, status in bots if e not in sent_ids]
        if lost:
            report.problems.append(f"{len(lost)} bot replies not sent (status)")
        if undelivered:
            report.problems.append(f"{len(undelivered)} bot replies the mock never received")
        if unanswered:
            report.problems.append(f"{unanswered} chats left without an answer from the bot")
        if report.stored != n:
            report.problems.append(f"{report.stored} customer messages stored, {n} sent")
    finally:
        mc.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    return report


async def main_async(a: argparse.Namespace) -> int:
    rng = random.Random(a.seed)
    failed = 0
    for round_ in range(1, a.rounds + 1):
        report = await crash_once(
            a.n, a.customers, a.concurrency, rng, kill_window=a.window, kill_at=a.kill_at
        )
        if a.json:
            print(json.dumps(dataclasses.asdict(report)), flush=True)
        else:
            print(f"== round {round_}")
            for line in report.lines():
                print(f"  {line}")
        failed += bool(report.problems)
    return 1 if failed else 0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=8000, help="webhooks (one message each)")
    ap.add_argument("--customers", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=float, default=4.0, help="kill within this many seconds")
    ap.add_argument("--seed", type=int, default=None, help="random seed (kill moment)")
    ap.add_argument(
        "--kill-at", type=int, default=None, help="kill once this many webhooks are acknowledged"
    )
    ap.add_argument("--json", action="store_true", help="one JSON report per round")
    a = ap.parse_args()
    if not (1 <= a.n <= 50_000 and 1 <= a.rounds <= 20 and 1 <= a.concurrency <= 64) or not (
        a.kill_at is None or 1 <= a.kill_at < a.n
    ):
        sys.exit("out of bounds")
    sys.exit(asyncio.run(main_async(a)))


if __name__ == "__main__":
    main()
