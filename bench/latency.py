"""Push latency and dashboard traffic: WebSocket versus the seed's polling, one run.

    python bench/latency.py                      # single process on SQLite, short run
    python bench/latency.py --duration 60 --traffic-duration 60
    python bench/latency.py --postgres-url postgres://postgres@127.0.0.1:5432/postgres \\
        --redis-url redis://127.0.0.1:6379/15    # also two processes on PostgreSQL + Redis

It starts msgcenter itself (``msgcenter serve`` subprocesses on free 127.0.0.1
ports, the WhatsApp channel pointed at a mock Graph API inside this process)
and prints:

1. latency: WhatsApp webhooks at each ``--rates`` (messages per second) for
   ``--duration`` seconds while 50 dashboard sockets are open (10 admin sockets,
   40 agents each owning one of the 40 customers' chats); for every frame that
   should arrive, the time from the webhook's 200 to the ``message.created``
   frame at the socket (negative: the frame beat the 200), p50/p99/max. With
   two processes, webhooks go to A and sockets connect to B.
2. traffic: the database topped up to ``--chats`` chats, then ``--traffic-rate``
   webhooks per second over random chats for ``--traffic-duration`` seconds,
   while two admin dashboards stay current: one over the WebSocket (one list
   load, then frames), one polling like the seed (GET /chats/ pages + GET
   /chats/{id} for every chat, every 5 s, 6 connections like a browser).
   Requests and bytes of each, and per 60 s.

Client and server share this machine: the figures include the bench's own work.
Only 127.0.0.1 is ever contacted; every loop is bounded by its duration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.mock.whatsapp import MockWhatsApp  # noqa: E402
from connectors.mock.whatsapp_payloads import customer_payload, encode, sign  # noqa: E402

APP_SECRET = "bench-app-secret"
ACCESS_TOKEN = "bench-access-token"
PASSWORD = "bench-password-1"
ADMIN_SOCKETS, AGENT_SOCKETS = 10, 40
POLL_EVERY = 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Deployment:
    """Running msgcenter processes: webhooks go to ``ingest``, dashboards use ``serve``."""

    label: str
    ingest: str
    serve: str
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)


@contextlib.asynccontextmanager
async def deployment(
    label: str, env: dict[str, str], roles: list[list[str]], workdir: Path
) -> AsyncIterator[Deployment]:
    ports = [free_port() for _ in roles]
    processes = []
    for port, role in zip(ports, roles, strict=True):
        log = (workdir / f"msgcenter-{port}.log").open("ab")
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "msgcenter.cli",
                "serve",
                "--port",
                str(port),
                *(a for r in role for a in ("--role", r)),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
        )
        log.close()
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        async with aiohttp.ClientSession() as http:
            for base in bases:
                for _ in range(300):
                    with contextlib.suppress(aiohttp.ClientConnectionError):
                        async with http.get(f"{base}/healthz") as response:
                            if response.status == 200:
                                break
                    await asyncio.sleep(0.1)
                else:
                    raise SystemExit(f"{base} did not start; see {workdir}")
        yield Deployment(label, bases[0], bases[-1], processes)
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


class Client:
    """The dashboard API as one user, counting requests and bytes."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base
        self.token = ""
        self.requests = 0
        self.bytes = 0

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as r:
            raw = await r.read()
            self.requests += 1
            self.bytes += len(raw)
            return r.status, (json.loads(raw) if raw else None), r.headers

    async def login(self, username: str) -> Client:
        status, body, _ = await self.call(
            "POST", "/auth/login", {"identifier": username, "password": PASSWORD}
        )
        assert status == 200, body
        self.token = body["access_token"]
        return self

    async def all_chats(self) -> list[dict[str, Any]]:
        chats, path = [], "/chats/?limit=200"
        while path:
            status, page, headers = await self.call("GET", path)
            assert status == 200, page
            chats.extend(page)
            cursor = headers.get("X-Next-Cursor")
            path = f"/chats/?limit=200&cursor={cursor}" if cursor else ""
        return chats


async def post_webhook(http: aiohttp.ClientSession, base: str, name: str, text: str) -> float:
    body = encode(customer_payload(name, text))
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)}
    async with http.post(f"{base}/webhooks/whatsapp", data=body, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"webhook answered {response.status}")
    return time.perf_counter()


async def prepare_people(http: aiohttp.ClientSession, site: Deployment) -> list[Client]:
    """Admin and 40 agents, each owning one customer's chat: the latency run's sockets."""
    admin = await Client(http, site.serve).login("admin")
    agents = []
    for n in range(AGENT_SOCKETS):
        username = f"bench-agent-{n}"
        status, body, _ = await admin.call(
            "POST", "/users", {"username": username, "password": PASSWORD, "capacity": 50}
        )
        assert status in (201, 409), body
        agents.append(await Client(http, site.serve).login(username))
    for n in range(len(agents)):
        await post_webhook(http, site.ingest, f"Latency Customer {n}", "hello")
    chats = {c["name"]: c for c in await admin.all_chats()}
    for n, agent in enumerate(agents):
        chat_id = chats[f"Latency Customer {n}"]["id"]
        status, me, _ = await agent.call("GET", "/auth/me")
        body = {"mode": "agent", "assigned_agent_id": me["id"]}
        status, answer, _ = await admin.call("PATCH", f"/chats/{chat_id}", body)
        assert status == 200, answer
    return [admin, *agents]


async def latency(
    http: aiohttp.ClientSession, site: Deployment, people: list[Client], rate: float, seconds: float
) -> str:
    admin, agents = people[0], people[1:]
    owners = [admin] * ADMIN_SOCKETS + agents  # 50 sockets: 10 admin + 40 agents
    marker = f"lat{uuid.uuid4().hex[:6]}"
    arrivals: list[list[tuple[str, float]]] = [[] for _ in owners]
    sockets = [await http.ws_connect(f"{site.serve}/ws?token={c.token}") for c in owners]

    async def read(index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            frame = json.loads(message.data)
            if frame["type"] == "message.created":
                text = frame["data"]["message"]["text"]
                if text.startswith(marker):
                    arrivals[index].append((text, time.perf_counter()))

    readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
    await asyncio.sleep(0.5)
    answered: dict[str, float] = {}
    sent_at: dict[str, float] = {}
    owner_of: dict[str, int] = {}
    count = max(1, int(rate * seconds))
    started = time.perf_counter()

    async def send(i: int) -> None:
        customer = i % AGENT_SOCKETS
        text = f"{marker}-{i}"
        owner_of[text] = customer
        sent_at[text] = time.perf_counter()
        answered[text] = await post_webhook(http, site.ingest, f"Latency Customer {customer}", text)

    tasks = []
    for i in range(count):
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(send(i)))
    await asyncio.gather(*tasks, return_exceptions=True)
    achieved = count / (time.perf_counter() - started)
    deadline = time.perf_counter() + 5
    expected = len(answered) * (ADMIN_SOCKETS + 1)
    while time.perf_counter() < deadline:
        if sum(len(a) for a in arrivals) >= expected:
            break
        await asyncio.sleep(0.05)
    for ws in sockets:
        await ws.close()
    for reader in readers:
        reader.cancel()
    delays, totals = [], []
    for index, got in enumerate(arrivals):
        for text, at in got:
            if text in answered and (index < ADMIN_SOCKETS or owner_of[text] == index - 10):
                delays.append((at - answered[text]) * 1000)
                totals.append((at - sent_at[text]) * 1000)
    return (
        f"  {site.label}: {rate:g} msg/s for {seconds:g} s ({achieved:.0f} msg/s sent, "
        f"{len(answered)}/{count} answered 200), 50 sockets: {len(delays)}/{expected} frames; "
        f"200 -> frame p50 {pct(delays, 50):.1f} ms, p99 {pct(delays, 99):.1f} ms, "
        f"max {max(delays, default=float('nan')):.1f} ms; request sent -> frame p50 "
        f"{pct(totals, 50):.1f} ms, p99 {pct(totals, 99):.1f} ms"
    )


async def traffic(http: aiohttp.ClientSession, site: Deployment, chats: int, rate: float,
                  seconds: float) -> list[str]:  # fmt: skip
    admin = await Client(http, site.serve).login("admin")
    have = len(await admin.all_chats())
    seeding = asyncio.Semaphore(32)

    async def seed(n: int) -> None:
        async with seeding:
            await post_webhook(http, site.ingest, f"Traffic Customer {n}", "hi")

    started = time.perf_counter()
    await asyncio.gather(*(seed(n) for n in range(max(0, chats - have))))
    seeded = time.perf_counter() - started
    total = len(await admin.all_chats())
    lines = [
        f"  {site.label}: {total} chats ({total - have} created by webhooks in {seeded:.1f} s)"
    ]

    pushed = await Client(http, site.serve).login("admin")
    polled = await Client(http, site.serve).login("admin")
    pushed.requests = pushed.bytes = polled.requests = polled.bytes = 0
    frames = {"count": 0, "bytes": 0}
    stop = asyncio.Event()

    async def websocket_dashboard() -> None:
        await pushed.all_chats()  # the initial list, then only frames
        async with http.ws_connect(f"{site.serve}/ws?token={pushed.token}") as ws:
            pushed.requests += 1  # the upgrade
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    message = await ws.receive(timeout=0.2)
                    if message.type == aiohttp.WSMsgType.TEXT:
                        frames["count"] += 1
                        frames["bytes"] += len(message.data.encode())

    rounds: list[float] = []

    async def polling_dashboard() -> None:
        connector = aiohttp.TCPConnector(limit=6)  # a browser: 6 connections per origin
        async with aiohttp.ClientSession(connector=connector) as browser:
            polled.http = browser
            while not stop.is_set():
                begun = time.perf_counter()
                listed = await polled.all_chats()
                await asyncio.gather(*(polled.call("GET", f"/chats/{c['id']}") for c in listed))
                rounds.append(time.perf_counter() - begun)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, POLL_EVERY - rounds[-1]))

    async def customers() -> None:
        names = [f"Traffic Customer {n}" for n in range(chats)]
        begun, i, sent = time.perf_counter(), 0, set()
        while time.perf_counter() - begun < seconds:
            await asyncio.sleep(max(0.0, begun + i / rate - time.perf_counter()))
            task = asyncio.create_task(
                post_webhook(http, site.ingest, random.choice(names), f"t{i}")
            )
            sent.add(task)
            task.add_done_callback(sent.discard)
            i += 1
        await asyncio.gather(*sent, return_exceptions=True)
        stop.set()

    dashboards = [
        asyncio.create_task(websocket_dashboard()),
        asyncio.create_task(polling_dashboard()),
    ]
    await customers()
    await asyncio.gather(*dashboards)
    per_minute = 60 / seconds
    ws_bytes = pushed.bytes + frames["bytes"]
    lines.append(
        f"    websocket: {pushed.requests} requests (list pages + upgrade), "
        f"{frames['count']} frames, {ws_bytes / 1e6:.2f} MB in {seconds:g} s "
        f"(per 60 s: {pushed.requests} requests, {ws_bytes * per_minute / 1e6:.2f} MB)"
    )
    lines.append(
        f"    polling:   {polled.requests} requests, {polled.bytes / 1e6:.2f} MB in {seconds:g} s "
        f"(per 60 s: {polled.requests * per_minute:.0f} requests, "
        f"{polled.bytes * per_minute / 1e6:.2f} MB); {len(rounds)} rounds, each "
        f"{statistics.median(rounds) if rounds else float('nan'):.2f} s median "
        f"(max {max(rounds, default=float('nan')):.2f} s; the seed polls every {POLL_EVERY:g} s)"
    )
    return lines


def base_env(workdir: Path, mock: MockWhatsApp) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MSGCENTER_")},
        "MSGCENTER_STORAGE__DATA_DIR": str(workdir / "data"),
        "MSGCENTER_STORAGE__URL": f"sqlite://{workdir / 'data' / 'bench.db'}",
        "MSGCENTER_AUTH__JWT_SECRET": "bench-jwt-secret-" + "b" * 32,
        "MSGCENTER_AUTH__ARGON2_TIME_COST": "1",
        "MSGCENTER_AUTH__ARGON2_MEMORY_KIB": "64",
        "MSGCENTER_AUTH__LOGIN_MAX_FAILURES": "1000",
        "MSGCENTER_LOGGING__LEVEL": "WARNING",
        "MSGCENTER_CHANNELS__WHATSAPP__ENABLED": "true",
        "MSGCENTER_CHANNELS__WHATSAPP__GRAPH_BASE": mock.url,
        "MSGCENTER_CHANNELS__WHATSAPP__PHONE_NUMBER_ID": mock.phone_number_id,
        "MSGCENTER_CHANNELS__WHATSAPP__ACCESS_TOKEN": ACCESS_TOKEN,
        "MSGCENTER_CHANNELS__WHATSAPP__APP_SECRET": APP_SECRET,
        "MSGCENTER_CHANNELS__WHATSAPP__VERIFY_TOKEN": "bench-verify",
    }


async def add_admin(env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "msgcenter.cli", "user", "add", "admin", "--role", "admin",
        "--password", PASSWORD, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"could not create the admin: {err.decode()}")


@contextlib.asynccontextmanager
async def postgres_database(url: str) -> AsyncIterator[str]:
    import asyncpg  # only for the two-process run

    name = f"msgcenter_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield f"{url.rpartition('/')[0]}/{name}"
    finally:
        admin = await asyncpg.connect(url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def run(args: argparse.Namespace) -> None:
    mock = MockWhatsApp(APP_SECRET, ACCESS_TOKEN)
    await mock.start("127.0.0.1", 0)
    with tempfile.TemporaryDirectory(prefix="msgcenter-bench-") as tmp:
        workdir = Path(tmp)
        setups: list[tuple[str, dict[str, str], list[list[str]], str | None]] = [
            ("single process, SQLite", base_env(workdir / "single", mock), [["all"]], None)
        ]
        if args.postgres_url and args.redis_url:
            env = base_env(workdir / "two", mock)
            env["MSGCENTER_EVENTS__URL"] = args.redis_url
            env["MSGCENTER_EVENTS__PREFIX"] = f"msgcenter-bench-{uuid.uuid4().hex[:6]}"
            roles = [["api", "outbox"], ["api"]]
            setups.append(("two processes, PostgreSQL + Redis", env, roles, args.postgres_url))
        try:
            for label, env, roles, pg in setups:
                async with contextlib.AsyncExitStack() as stack:
                    if pg:
                        env["MSGCENTER_STORAGE__URL"] = await stack.enter_async_context(
                            postgres_database(pg)
                        )
                    await add_admin(env)
                    site = await stack.enter_async_context(deployment(label, env, roles, workdir))
                    mock.webhook_url = f"{site.ingest}/webhooks/whatsapp"  # receipts
                    connector = aiohttp.TCPConnector(limit=256)
                    http = await stack.enter_async_context(
                        aiohttp.ClientSession(connector=connector)
                    )
                    print(f"{label}:", flush=True)
                    people = await prepare_people(http, site)
                    for rate in args.rates:
                        print(await latency(http, site, people, rate, args.duration), flush=True)
                    if not args.no_traffic:
                        for line in await traffic(
                            http, site, args.chats, args.traffic_rate, args.traffic_duration
                        ):
                            print(line, flush=True)
        finally:
            await mock.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per latency rate")
    parser.add_argument(
        "--rates",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[10.0, 200.0],
        help="messages per second, comma-separated",
    )
    parser.add_argument("--chats", type=int, default=1000, help="chats for the traffic part")
    parser.add_argument("--traffic-rate", type=float, default=10.0, help="webhooks per second")
    parser.add_argument("--traffic-duration", type=float, default=15.0, help="seconds")
    parser.add_argument("--no-traffic", action="store_true", help="only the latency part")
    parser.add_argument("--postgres-url", help="also run two processes on this PostgreSQL...")
    parser.add_argument("--redis-url", help="... and this Redis")
    args = parser.parse_args()
    if not (0 < args.duration <= 120 and 0 < args.traffic_duration <= 120):
        parser.error("--duration and --traffic-duration: 0-120 s")
    if not (all(0 < r <= 1000 for r in args.rates) and 0 < args.traffic_rate <= 200):
        parser.error("--rates: 0-1000 msg/s each; --traffic-rate: 0-200")
    if not 1 <= args.chats <= 5000:
        parser.error("--chats: 1-5000")
    for url in (args.postgres_url, args.redis_url):
        if url and not url.split("://", 1)[-1].split("@")[-1].startswith(
            ("127.0.0.1", "localhost")
        ):
            parser.error("only local PostgreSQL and Redis (127.0.0.1) are allowed")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
