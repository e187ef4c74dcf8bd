"""Shared pieces of the benchmarks: start msgcenter / the mock / the seed / a bare handler,
post signed WhatsApp webhooks at a concurrency, percentiles, RSS, database checks.

msgcenter runs on a fresh SQLite file, or (``storage="postgres"``) on a fresh PostgreSQL
database with Redis carrying its events and presence, as several processes would run; the
database is dropped and the Redis keys deleted when it stops.

Everything listens on 127.0.0.1 only; every load is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SEED_SRC = Path(os.environ.get("SEED_REF", ROOT.parent / "shared" / "seed-reference" / "app-ref"))
SEED_VENV = Path(os.environ.get("SEED_VENV", "/tmp/appref-venv"))
MAX_N = 200_000
# Where storage="postgres" creates its database (the URL's own database is only connected to)
# and what carries its events.
POSTGRES_URL = os.environ.get(
    "MSGCENTER_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MSGCENTER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(sorted_vals: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (the seed's load tool's definition)."""
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def rss_mb(pid: int) -> float:
    """Resident set size of a process, MB (from /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int, *, main_thread: bool = False) -> float:
    """User + system CPU time a process (or its main thread: the event loop's) has used so far."""
    path = f"/proc/{pid}/task/{pid}/stat" if main_thread else f"/proc/{pid}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wa_body(
    i: int, phone: str, tag: str, text: str | None = None, content: dict[str, Any] | None = None
) -> tuple[bytes, str]:
    """A WhatsApp Cloud webhook with one message from ``phone``; (body, wamid). The message
    is a text, or ``content`` (its ``type`` and that type's object, e.g. an image)."""
    wamid = f"wamid.HBgN{phone}{tag}{i:012d}"
    if content is None:
        body_text = text or f"Halo, ini pesan nomor {i}. Berapa ongkir ke Surabaya?"
        content = {"text": {"body": body_text}, "type": "text"}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": f"Customer {phone[-4:]}"}, "wa_id": phone}],
        "messages": [{"from": phone, "id": wamid, "timestamp": str(int(time.time())), **content}],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(body, separators=(",", ":")).encode(), wamid


def phone_for(idx: int, prefix: str = "62812") -> str:
    return f"{prefix}{idx:07d}"


@dataclass
class LoadResult:
    n: int
    wall: float
    latencies: list[float]
    errors: int
    first_error: str | None
    acked: list[int] = field(default_factory=list)  # indexes answered 200

    @property
    def rate(self) -> float:
        return self.n / self.wall if self.wall else float("nan")

    def line(self, label: str) -> str:
        lat = self.latencies
        return (
            f"{label:<10} {self.n} msgs in {self.wall:6.2f} s = {self.rate:8.1f} msg/s, "
            f"p50 {pct(lat, 50) * 1000:6.1f} ms, p99 {pct(lat, 99) * 1000:7.1f} ms, "
            f"errors {self.errors}"
        )


async def post_load(
    url: str,
    bodies: Sequence[bytes],
    concurrency: int,
    secret: str | None,
    *,
    timeout: float = 60.0,
    rate: float | None = None,
    stop_on_error: bool = False,
) -> LoadResult:
    """POST every body (``concurrency`` in flight, or paced at ``rate``/s); time each 200."""
    sigs = [sign(b, secret) if secret else None for b in bodies]
    latencies: list[float] = []
    acked: list[int] = []
    errors = 0
    first_error: str | None = None
    next_idx = 0
    n = len(bodies)
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as session:

        async def worker() -> None:
            nonlocal next_idx, errors, first_error
            while True:
                idx = next_idx
                if idx >= n:
                    return
                next_idx += 1
                if rate:
                    delay = started + idx / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                headers = {"Content-Type": "application/json"}
                if sigs[idx]:
                    headers["X-Hub-Signature-256"] = sigs[idx]  # type: ignore[assignment]
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=bodies[idx], headers=headers) as resp:
                        raw = await resp.read()
                        ok = resp.status == 200
                        if not ok and first_error is None:
                            first_error = f"HTTP {resp.status}: {raw[:200]!r}"
                except Exception as exc:  # timeouts, resets
                    ok = False
                    if first_error is None:
                        first_error = repr(exc)
                latencies.append(time.perf_counter() - t0)
                if ok:
                    acked.append(idx)
                else:
                    errors += 1
                    if stop_on_error:
                        return

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    return LoadResult(n, wall, latencies, errors, first_error, acked)


async def wait_http(
    url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status < 500:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout} s")


def stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, wait: float = 20) -> None:
    """Stop a process we started (by its own pid)."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class SeedServer:
    """The seed design (``SEED_SRC``) running from a writable copy, its demo data loaded."""

    proc: subprocess.Popen[bytes]
    work: Path  # the copy's folder (app-ref/ and uvicorn.log)
    base: str

    @property
    def app_dir(self) -> Path:
        return self.work / "app-ref"

    def stop(self, keep: bool = False) -> None:
        stop(self.proc)
        if not keep:
            shutil.rmtree(self.work, ignore_errors=True)


def _seed_copy() -> tuple[Path, Path] | None:
    """The seed's venv python and a writable copy of its source in /tmp, with its demo data
    loaded; None, said why, when the venv or the source is missing."""
    python = SEED_VENV / "bin" / "python"
    if not python.exists() or not SEED_SRC.exists():
        print(f"  seed: skipped ({python} or {SEED_SRC} missing; see the seed README)")
        return None
    work = Path(tempfile.mkdtemp(prefix="seedref-"))
    app_dir = work / "app-ref"
    shutil.copytree(SEED_SRC, app_dir, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    for path in [app_dir, *app_dir.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    subprocess.run([str(python), "seed.py"], cwd=app_dir, check=True, stdout=subprocess.DEVNULL)
    return python, work


async def start_seed() -> SeedServer | None:
    """The seed design served by uvicorn on a free port, from a fresh copy (``_seed_copy``)."""
    copied = _seed_copy()
    if copied is None:
        return None
    python, work = copied
    app_dir = work / "app-ref"
    port = free_port()
    with open(work / "uvicorn.log", "ab") as log:  # the child has its own copy
        proc = subprocess.Popen(
            [str(python), "-m", "uvicorn", "app:app", "--port", str(port)],
            cwd=app_dir, stdout=log, stderr=log,
        )  # fmt: skip
    seed = SeedServer(proc, work, f"http://127.0.0.1:{port}")
    try:
        await wait_http(f"{seed.base}/", proc=proc)
    except BaseException:
        seed.stop()
        raise
    return seed


def _in_thread(fn: Callable[[], Any]) -> Any:
    """``fn()`` run in a thread of its own (it may run an event loop while one runs here)."""
    out: list[Any] = []
    failed: list[BaseException] = []

    def target() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return out[0]


def postgres_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of one statement on the PostgreSQL database at ``url``."""
    import asyncpg

    async def fetch() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()

    rows: list[tuple[Any, ...]] = _in_thread(lambda: asyncio.run(fetch()))
    return rows


def _database_url(url: str, name: str) -> str:
    base, _, _ = url.partition("?")[0].rpartition("/")
    return f"{base}/{name}"


class _Rows:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def __iter__(self) -> Any:
        return iter(self.rows)


class PostgresReader:
    """What the checks use of a ``sqlite3.Connection`` (``execute(...).fetchall()/fetchone()``,
    ``with``), on PostgreSQL: one connection per statement."""

    def __init__(self, url: str) -> None:
        self.url = url

    def execute(self, sql: str) -> _Rows:
        return _Rows(postgres_rows(self.url, sql))

    def __enter__(self) -> PostgresReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None


@dataclass
class Msgcenter:
    """A ``msgcenter serve`` subprocess on a fresh SQLite file (or, ``storage="postgres"``, a
    fresh PostgreSQL database with Redis for events and presence), WhatsApp pointed at a mock."""

    workdir: Path
    port: int = field(default_factory=free_port)
    mock_port: int = field(default_factory=free_port)
    app_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    access_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    statuses: bool = False
    mock_media: bool = False  # the mock serves customer media (bench.mockwa --media)
    extra_env: dict[str, str] = field(default_factory=dict)
    storage: str = "sqlite"  # or "postgres"
    postgres_url: str = POSTGRES_URL
    redis_url: str = REDIS_URL
    database: str = field(default_factory=lambda: f"msgcenter_bench_{secrets.token_hex(6)}")
    database_created: bool = False
    proc: subprocess.Popen[bytes] | None = None
    mock: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.workdir / "msgcenter.db"

    @property
    def webhook(self) -> str:
        return f"{self.base}/webhooks/whatsapp"

    @property
    def storage_url(self) -> str:
        if self.storage == "postgres":
            return _database_url(self.postgres_url, self.database)
        return f"sqlite://{self.db_path}"

    @property
    def events_prefix(self) -> str:
        return self.database

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.storage == "postgres":
            env["MSGCENTER_EVENTS__URL"] = self.redis_url
            env["MSGCENTER_EVENTS__PREFIX"] = self.events_prefix
        env.update(
            {
                "MSGCENTER_CONFIG": str(ROOT / "config.toml"),
                "MSGCENTER_STORAGE__URL": self.storage_url,
                "MSGCENTER_STORAGE__DATA_DIR": str(self.workdir),
                "MSGCENTER_SERVER__PORT": str(self.port),
                "MSGCENTER_SERVER__PUBLIC_URL": self.base,
                "MSGCENTER_AUTH__JWT_SECRET": self.jwt_secret,
                "MSGCENTER_AUTH__ARGON2_TIME_COST": "1",
                "MSGCENTER_AUTH__ARGON2_MEMORY_KIB": "1024",
                "MSGCENTER_AUTH__LOGIN_MAX_FAILURES": "1000",
                "MSGCENTER_HANDOFF__AUTO_ASSIGN": "false",
                "MSGCENTER_LOGGING__LEVEL": "WARNING",
                "MSGCENTER_CHANNELS__WHATSAPP__ENABLED": "true",
                "MSGCENTER_CHANNELS__WHATSAPP__GRAPH_BASE": f"http://127.0.0.1:{self.mock_port}",
                "MSGCENTER_CHANNELS__WHATSAPP__PHONE_NUMBER_ID": "106540352242922",
                "MSGCENTER_CHANNELS__WHATSAPP__ACCESS_TOKEN": self.access_token,
                "MSGCENTER_CHANNELS__WHATSAPP__APP_SECRET": self.app_secret,
                "MSGCENTER_CHANNELS__WHATSAPP__VERIFY_TOKEN": "bench-verify",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    async def start_mock(self) -> None:
        if self.mock is not None:
            return
        args = [
            PYTHON, "-m", "bench.mockwa", "--port", str(self.mock_port),
            # --x=value: a token may start with "-", which argparse would take for an option
            f"--secret={self.app_secret}", f"--token={self.access_token}",
            "--webhook", self.webhook,
        ]  # fmt: skip
        if self.statuses:
            args.append("--statuses")
        if self.mock_media:
            args.append("--media")
        self.mock = subprocess.Popen(args, cwd=ROOT, env=self.env())
        await wait_http(f"http://127.0.0.1:{self.mock_port}/_mock/count", proc=self.mock)

    async def start(self, *, profile: list[str] | None = None) -> None:
        """Start the mock (once) and the server; ``profile`` wraps it (e.g. py-spy record)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.storage == "postgres" and not self.database_created:
            postgres_rows(self.postgres_url, f'CREATE DATABASE "{self.database}"')
            self.database_created = True
        await self.start_mock()
        self.log_path = self.workdir / "server.log"
        args = [*(profile or []), PYTHON, "-m", "msgcenter.cli", "serve"]
        with open(self.log_path, "ab") as log:  # the child has its own copy
            self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env(), stdout=log, stderr=log)
        await wait_http(f"{self.base}/health", timeout=90, proc=self.proc)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def server_pid(self) -> int:
        """The Python server's pid (the child when wrapped by a profiler)."""
        pid = self.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return int(children[0]) if children else pid

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop(self.proc, sig)
        self.proc = None

    def stop_all(self) -> None:
        self.stop()
        stop(self.mock)
        self.mock = None
        self.drop_storage()

    def drop_storage(self) -> None:
        """Drop the PostgreSQL database and delete the Redis keys (after the server stopped)."""
        if self.storage != "postgres" or not self.database_created:
            return
        postgres_rows(self.postgres_url, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        self.database_created = False
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=f"{self.events_prefix}:*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    async def mock_count(self) -> int:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"http://127.0.0.1:{self.mock_port}/_mock/count") as r,
        ):
            return int((await r.json())["sent"])

    def db(self) -> sqlite3.Connection | PostgresReader:
        """The database, for the checks after a load (read only on SQLite)."""
        if self.storage == "postgres":
            return PostgresReader(self.storage_url)
        return sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)

    async def token(self, username: str = "admin", password: str = "admin-bench-pw") -> str:
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                f"{self.base}/auth/login", json={"identifier": username, "password": password}
            ) as r,
        ):
            if r.status != 200:
                raise RuntimeError(f"login failed: {r.status} {await r.text()}")
            return str((await r.json())["access_token"])

    def add_user(
        self, username: str = "admin", password: str = "admin-bench-pw", role: str = "admin"
    ) -> None:
        subprocess.run(
            [PYTHON, "-m", "msgcenter.cli", "user", "add", username, "--role", role,
             "--password", password],
            cwd=ROOT, env=self.env(), check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip


def check_ingest(
    db: sqlite3.Connection | PostgresReader,
    wamids: Sequence[str],
    phones: Sequence[str],
    acked: set[str],
) -> list[str]:
    """Every acknowledged message stored exactly once, nothing else doubled, unread exact."""
    problems = []
    rows = db.execute(
        "SELECT m.external_id, COUNT(*) FROM messages m JOIN chats c ON c.id = m.chat_id "
        "WHERE c.channel = 'WhatsApp' AND m.sender = 'customer' GROUP BY m.external_id"
    ).fetchall()
    counts = dict(rows)
    missing = [w for w in acked if counts.get(w, 0) == 0]
    doubled = [w for w, c in counts.items() if c > 1]
    if missing:
        problems.append(f"{len(missing)} acknowledged messages not stored, e.g. {missing[:3]}")
    if doubled:
        problems.append(f"{len(doubled)} messages stored more than once, e.g. {doubled[:3]}")
    chats = db.execute(
        "SELECT external_id, COUNT(*) FROM chats WHERE channel = 'WhatsApp' GROUP BY external_id"
    ).fetchall()
    if any(c > 1 for _, c in chats):
        problems.append("a customer has more than one chat")
    expected: dict[str, int] = {}
    for wamid, phone in zip(wamids, phones, strict=True):
        if counts.get(wamid):
            expected[phone] = expected.get(phone, 0) + 1
    unread = dict(
        db.execute("SELECT external_id, unread_count FROM chats WHERE channel = 'WhatsApp'")
    )
    wrong = {p: (unread.get(p), n) for p, n in expected.items() if unread.get(p) != n}
    if wrong:
        problems.append(f"{len(wrong)} chats with a wrong unread count (got, want): "
                        f"{list(wrong.items())[:3]}")  # fmt: skip
    return problems + check_contacts(db, set(expected))


def check_contacts(db: sqlite3.Connection | PostgresReader, customers: set[str]) -> list[str]:
    """Contacts (docs/api.md, "Contacts"): every chat has one; each WhatsApp customer (their
    number, digits) is one contact, holding the identity ``+number`` written into their chat;
    each identity is held once; no contact is left without a chat (a rolled-back attempt's)."""
    problems = []
    chats = db.execute(
        "SELECT id, external_id, contact_id FROM chats WHERE channel = 'WhatsApp'"
    ).fetchall()
    if any(contact is None for _, _, contact in chats):
        problems.append(f"{sum(c is None for _, _, c in chats)} chats without a contact")
    chat_of = {key: (chat, contact) for chat, key, contact in chats}
    held = db.execute(
        "SELECT channel, external_id, COUNT(*), MIN(contact_id), MIN(chat_id) "
        "FROM contact_identities GROUP BY channel, external_id"
    ).fetchall()
    if any(n > 1 for _, _, n, _, _ in held):
        problems.append("an identity is held more than once")
    identity = {key: (chat, contact) for channel, key, _, contact, chat in held
                if channel == "WhatsApp"}  # fmt: skip
    wrong = [p for p in customers if identity.get(f"+{p}") != chat_of.get(p)]
    if wrong:
        problems.append(f"{len(wrong)} customers whose identity is not their chat's contact "
                        f"and chat, e.g. {wrong[:3]}")  # fmt: skip
    contacts = {chat_of[p][1] for p in customers if p in chat_of}
    if len(contacts) != len(customers):
        problems.append(f"{len(customers)} customers have {len(contacts)} contacts")
    orphans = db.execute(
        "SELECT COUNT(*) FROM contacts WHERE id NOT IN "
        "(SELECT contact_id FROM chats WHERE contact_id IS NOT NULL)"
    ).fetchone()
    if orphans[0]:
        problems.append(f"{orphans[0]} contacts without a chat")
    return problems


def machine() -> str:
    import platform

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {time.strftime('%Y-%m-%d %H:%M %Z')}"
    )


def stats_line(label: str, lat: Sequence[float]) -> str:
    lat = sorted(lat)
    return (
        f"{label:<34} n={len(lat):<5} p50 {pct(lat, 50) * 1000:6.2f} ms  "
        f"p99 {pct(lat, 99) * 1000:6.2f} ms  max {lat[-1] * 1000 if lat else float('nan'):6.1f} ms"
    )


def any_json(raw: bytes) -> Any:
    return json.loads(raw)
