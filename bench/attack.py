"""Hostile input against a running msgcenter: does one attacker stall everyone else?

    .venv/bin/python -m bench.attack [--only NAME[,NAME]] [--nofile 1024] [--keep]

``msgcenter serve`` runs with the email channel on (SQLite, a fresh folder in /tmp, under
``prlimit --nofile`` so the file-descriptor attack meets the limit it met in issue 16).
Each attack runs alone, bounded in count and time, only against 127.0.0.1; meanwhile a
prober asks ``/healthz`` every 50 ms and logs in (admin) every 0.5 s. For each attack it
prints: how long the attack took, what the server answered, the slowest ``/healthz`` and
login during it, the server's RSS growth (and its parsing workers' RSS), and the files and
folders that appeared under its data folder.

Adding an attack: write ``async def my_attack(target: Target) -> str`` (it returns what the
server answered, in a few words) and add ``Attack("name", my_attack, "what it sends")`` to
ATTACKS.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import aiosmtplib

from bench.attack_replay import replay_waves
from bench.common import Msgcenter, free_port, machine, phone_for, post_load, rss_mb, wa_body

DOMAIN = "support.example.com"
TO = f"support@{DOMAIN}"
SENDER = "mallory@attacker.example"
TIME_LIMIT = 300.0  # seconds, per attack


@dataclass
class Target:
    server: Msgcenter
    smtp_port: int

    def data_entries(self) -> set[Path]:
        """Files and folders under the data folder, but the database and the log."""
        skip = ("msgcenter.db", "server.log", "jwt")
        return {
            path
            for path in self.server.workdir.rglob("*")
            if not path.name.startswith(skip) and ".secret" not in path.name
        }

    def rss(self) -> tuple[float, float]:
        """The server's RSS and its children's (the parsing workers), MB."""
        pid = self.server.pid  # prlimit execs the server: the same process
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        workers = 0.0
        for child in children:
            with contextlib.suppress(OSError, ValueError):
                workers += rss_mb(int(child))
        return rss_mb(pid), workers


@dataclass
class Attack:
    name: str
    run: Callable[[Target], Awaitable[str]]
    what: str


@dataclass
class Probe:
    """Polls /healthz and logs in while an attack runs; keeps the slowest of each."""

    base: str
    health_worst: float = 0.0
    health_failed: int = 0
    login_worst: float = 0.0
    login_failed: int = 0
    statuses: Counter[int] = field(default_factory=Counter)

    async def run(self, stop: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=TIME_LIMIT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(self._health(session, stop), self._login(session, stop))

    async def _health(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                async with session.get(f"{self.base}/healthz") as answer:
                    await answer.read()
                    self.statuses[answer.status] += 1
                    if answer.status != 200:
                        self.health_failed += 1
            except (aiohttp.ClientError, TimeoutError):
                self.health_failed += 1
            self.health_worst = max(self.health_worst, time.perf_counter() - started)
            await asyncio.sleep(0.05)

    async def _login(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        body = {"identifier": "admin", "password": "admin-bench-pw"}
        while not stop.is_set():
            started = time.perf_counter()
            try:
                async with session.post(f"{self.base}/auth/login", json=body) as answer:
                    await answer.read()
                    if answer.status != 200:
                        self.login_failed += 1
            except (aiohttp.ClientError, TimeoutError):
                self.login_failed += 1
            self.login_worst = max(self.login_worst, time.perf_counter() - started)
            await asyncio.sleep(0.5)


# -- the hostile mail --------------------------------------------------------------------


def _mail(content_type: str, body: bytes, encoding: str | None = None) -> bytes:
    head = (
        f"From: Mallory <{SENDER}>\r\nTo: {TO}\r\nSubject: hello\r\n"
        f"Message-ID: <{time.time_ns()}@attacker.example>\r\nContent-Type: {content_type}\r\n"
    )
    if encoding == "base64":
        head += "Content-Transfer-Encoding: base64\r\n"
        body = base64.encodebytes(body).replace(b"\n", b"\r\n")
    return head.encode() + b"\r\n" + body


async def _send(target: Target, raw: bytes) -> str:
    """One mail over its own connection; the server's answer to DATA."""
    try:
        errors, _ = await aiosmtplib.send(
            raw, sender=SENDER, recipients=[TO], hostname="127.0.0.1", port=target.smtp_port,
            start_tls=False, timeout=TIME_LIMIT,
        )  # fmt: skip
    except aiosmtplib.SMTPResponseException as exc:
        return f"{exc.code} {exc.message[:60]}"
    except (aiosmtplib.SMTPException, OSError) as exc:
        return f"failed: {type(exc).__name__}"
    return "250 accepted" if not errors else f"refused {errors}"


async def regex_bomb(target: Target) -> str:
    line = b"am " + b"schrieb " * (350_000 // 8)
    return await _send(target, _mail("text/plain; charset=utf-8", line + b"\n> q\n", "base64"))


async def many_parts(target: Target) -> str:
    part = b"--B\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n"
    return await _send(target, _mail("multipart/mixed; boundary=B", part * 50_000 + b"--B--\r\n"))


async def deep_nest(target: Target) -> str:
    body = b"".join(
        b"--B%d\r\nContent-Type: multipart/mixed; boundary=B%d\r\n\r\n" % (i, i + 1)
        for i in range(949)
    )
    body += b"--B949\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
    return await _send(target, _mail("multipart/mixed; boundary=B0", body))


async def quadratic_html(target: Target) -> str:
    """Six 90 KB HTML-only mails at once: unclosed tags and comments to the end."""
    html = b"<p>hi</p>" + b"<a" * 15_000 + b"<!--" * 15_000
    answers = await asyncio.gather(
        *(_send(target, _mail("text/html; charset=utf-8", html, "base64")) for _ in range(6))
    )
    return ", ".join(f"{n}x {a}" for a, n in Counter(answers).items())


async def idle_connections(target: Target, count: int = 1100, hold: float = 5.0) -> str:
    """``count`` SMTP connections opened and left idle for ``hold`` seconds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, count + 200), hard), hard))
    answers: Counter[str] = Counter()
    writers: list[asyncio.StreamWriter] = []

    async def one() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", target.smtp_port)
        except OSError as exc:
            answers[f"connect failed ({exc.errno})"] += 1
            return
        writers.append(writer)
        try:
            line = await asyncio.wait_for(reader.readline(), 30)
        except TimeoutError:  # e.g. still in the kernel's accept queue (listen backlog)
            answers["no answer in 30 s"] += 1
            return
        except OSError as exc:
            answers[f"error ({exc.errno})"] += 1
            return
        answers[line[:3].decode() or "closed"] += 1

    try:
        await asyncio.gather(*(one() for _ in range(count)))
        await asyncio.sleep(hold)
    finally:
        for writer in writers:
            writer.close()
    recovered = await _smtp_greets_again(target)
    summary = ", ".join(f"{n}x {a}" for a, n in sorted(answers.items()))
    return f"{summary}; greets again {recovered:.1f} s after the close"


async def _smtp_greets_again(target: Target, limit: float = 90.0) -> float:
    """Seconds until a new connection gets 220 (the crowd's places freed); so the next
    attack does not meet this one's leftovers."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        with contextlib.suppress(OSError, TimeoutError):
            reader, writer = await asyncio.open_connection("127.0.0.1", target.smtp_port)
            try:
                if (await asyncio.wait_for(reader.readline(), 5)).startswith(b"220"):
                    return time.perf_counter() - started
            finally:
                writer.close()
        await asyncio.sleep(0.5)
    return float("inf")


async def replay_flood(target: Target, messages: int = 12_000, sockets: int = 20) -> str:
    """Issue 16, item 8: ``sockets`` sockets of one agent resume with ``after_seq=0``, then
    from 9,000 events back, on a log of others' messages (``bench.attack_replay`` measures
    more, e.g. an admin's replays)."""
    server = target.server
    await asyncio.to_thread(server.add_user, "replayer", "agent-bench-pw", "agent")
    bodies = [wa_body(i, phone_for(i % 500), "replay")[0] for i in range(messages)]
    await post_load(server.webhook, bodies, 16, server.app_secret, timeout=TIME_LIMIT)
    token = await server.token("replayer", "agent-bench-pw")
    return await replay_waves(server.base, token, sockets)


async def short_lines(target: Target) -> str:
    """A mail at the 10 MB size limit made of 3-byte lines (aiosmtpd reads DATA line by line)."""
    return await _send(target, _mail("text/plain", b"x\r\n" * (10 * 1024 * 1024 // 3 - 100)))


ATTACKS = [
    Attack("regex-bomb", regex_bomb, "350 KB base64 mail, one line 'am schrieb schrieb ...'"),
    Attack("many-parts", many_parts, "1.8 MB mail of 50,000 tiny MIME parts"),
    Attack("deep-nest", deep_nest, "multipart nested 950 levels deep"),
    Attack("quadratic-html", quadratic_html, "6 HTML-only mails of 90 KB, unclosed '<a' '<!--'"),
    Attack("idle-connections", idle_connections, "1,100 SMTP connections held idle for 5 s"),
    Attack("short-lines", short_lines, "a 10 MB mail of 3.5 million 3-byte lines"),
    Attack("replay-flood", replay_flood, "20 sockets of one agent resume from 0 and 9,000 back"),
]


async def run_one(target: Target, attack: Attack) -> None:
    before_files = target.data_entries()
    rss0, _ = target.rss()
    probe = Probe(target.server.base)
    stop = asyncio.Event()
    prober = asyncio.create_task(probe.run(stop))
    await asyncio.sleep(0.3)  # the probe's baseline
    started = time.perf_counter()
    try:
        answer = await asyncio.wait_for(attack.run(target), TIME_LIMIT)
    except TimeoutError:
        answer = f"not finished within {TIME_LIMIT:g} s"
    took = time.perf_counter() - started
    await asyncio.sleep(0.3)
    stop.set()
    await prober
    rss1, workers = target.rss()
    new = target.data_entries() - before_files
    folders = sum(1 for path in new if path.is_dir())
    print(f"{attack.name}: {attack.what}")
    print(f"  took {took:.2f} s; server answered: {answer}")
    print(
        f"  /healthz worst {probe.health_worst * 1000:.0f} ms ({probe.health_failed} failed of "
        f"{probe.statuses.total() + probe.health_failed}); login worst "
        f"{probe.login_worst * 1000:.0f} ms ({probe.login_failed} failed)"
    )
    print(
        f"  server RSS {rss0:.0f} -> {rss1:.0f} MB ({rss1 - rss0:+.0f}), parsing workers "
        f"{workers:.0f} MB; written under the data folder: {len(new) - folders} files, "
        f"{folders} folders"
    )


async def main_async(args: argparse.Namespace) -> int:
    chosen = [a for a in ATTACKS if not args.only or a.name in args.only.split(",")]
    if not chosen:
        sys.exit(f"no attack named {args.only}; known: {', '.join(a.name for a in ATTACKS)}")
    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="msgcenter-attack-"))
    smtp_port = free_port()
    server = Msgcenter(
        work,
        extra_env={
            "MSGCENTER_CHANNELS__EMAIL__ENABLED": "true",
            "MSGCENTER_CHANNELS__EMAIL__PORT": str(smtp_port),
            "MSGCENTER_CHANNELS__EMAIL__DOMAINS": f'["{DOMAIN}"]',
            "MSGCENTER_CHANNELS__EMAIL__ADDRESS": TO,
            "MSGCENTER_CHANNELS__EMAIL__RELAY_PORT": "9",  # replies are not what is measured
            "MSGCENTER_CHANNELS__EMAIL__SENDER_AUTH": "off",  # no DNS from the bench
            "MSGCENTER_CHANNELS__EMAIL__AUTO_REPLIES_PER_HOUR": "0",
        },
    )
    print(f"server: msgcenter serve under prlimit --nofile={args.nofile}, data in {work}")
    try:
        server.add_user()
        await server.start(profile=["prlimit", f"--nofile={args.nofile}:{args.nofile}"])
        target = Target(server, smtp_port)
        for attack in chosen:
            await run_one(target, attack)
    finally:
        server.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help="comma-separated attack names: " + ", ".join(
        a.name for a in ATTACKS))  # fmt: skip
    parser.add_argument("--nofile", type=int, default=1024, help="the server's open files limit")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args()
    if not 256 <= args.nofile <= 65536:
        sys.exit("--nofile out of bounds (256-65536)")
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
