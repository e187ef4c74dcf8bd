"""Two real ``msgcenter serve`` processes on one PostgreSQL database and one Redis.

Each test starts both as subprocesses on free ports, with the WhatsApp channel
pointed at a mock Graph API in the test, and talks to them over HTTP and
WebSockets like a load balancer's clients would.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from connectors.mock.whatsapp import MockWhatsApp
from connectors.mock.whatsapp_payloads import customer_payload, encode, sign
from tests.conftest import POSTGRES_URL
from tests.redis_support import REDIS_URL
from tests.test_cli import ROOT, _free_port
from tests.whatsapp_support import ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, running_mock

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason="MSGCENTER_TEST_POSTGRES_URL is not set"),
    pytest.mark.skipif(not REDIS_URL, reason="MSGCENTER_TEST_REDIS_URL is not set"),
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
]

PASSWORD = "two-process-pass"


@dataclass
class Process:
    name: str
    port: int
    roles: list[str]
    log: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    db_url: str
    env: dict[str, str]
    http: aiohttp.ClientSession
    mock: MockWhatsApp
    processes: list[Process] = field(default_factory=list)

    async def start(self, process: Process) -> None:
        with process.log.open("ab") as log:
            process.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "msgcenter.cli", "serve", "--port", str(process.port),
                *(arg for role in process.roles for arg in ("--role", role)),
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.processes.append(process)

    async def ready(self, process: Process, within: float = 30.0) -> None:
        async def up() -> bool:
            assert process.process is not None and process.process.returncode is None, self.logs()
            try:
                async with self.http.get(f"{process.base}/healthz") as response:
                    return response.status == 200
            except aiohttp.ClientConnectionError:
                return False

        await until(up, f"{process.name} to answer /healthz", within)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log.read_text()[-3000:]}" for p in self.processes)

    async def login(self, process: Process, username: str) -> str:
        body = {"identifier": username, "password": PASSWORD}
        async with self.http.post(f"{process.base}/auth/login", json=body) as response:
            assert response.status == 200, await response.text()
            return str((await response.json())["access_token"])

    async def call(
        self, process: Process, token: str, method: str, path: str, body: Any = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.request(
            method, f"{process.base}{path}", json=body, headers=headers
        ) as response:
            if response.content_type != "application/json":  # 204
                return response.status, None
            return response.status, await response.json()

    async def webhook(self, process: Process, name: str, text: str) -> None:
        body = encode(customer_payload(name, text))
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(body, APP_SECRET),
        }
        async with self.http.post(
            f"{process.base}/webhooks/whatsapp", data=body, headers=headers
        ) as response:
            assert response.status == 200, await response.text()

    async def metric(self, process: Process, line_start: str) -> float | None:
        async with self.http.get(f"{process.base}/metrics") as response:
            text = await response.text()
        for line in text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return None

    async def rows(self, query: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.db_url)
        try:
            return list(await connection.fetch(query, *args))
        finally:
            await connection.close()


@pytest.fixture
async def cluster(db_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    assert REDIS_URL
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MSGCENTER_")},
        "MSGCENTER_STORAGE__URL": db_url,
        "MSGCENTER_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "MSGCENTER_EVENTS__URL": REDIS_URL,
        "MSGCENTER_EVENTS__PREFIX": f"msgcenter-test-{uuid.uuid4().hex[:10]}",
        "MSGCENTER_AUTH__JWT_SECRET": "two-processes-share-this-key-" + "k" * 20,
        "MSGCENTER_AUTH__ARGON2_TIME_COST": "1",
        "MSGCENTER_AUTH__ARGON2_MEMORY_KIB": "64",
        "MSGCENTER_BOT__ENGINE": "tests.fakes:SilentBot",
        "MSGCENTER_LOGGING__FORMAT": "json",
        # tests/test_webhooks_processes.py: its receiver is on 127.0.0.1
        "MSGCENTER_INTEGRATIONS__ALLOW_PRIVATE_DESTINATIONS": "true",
    }
    async for mock in running_mock():
        env.update(
            {
                "MSGCENTER_CHANNELS__WHATSAPP__ENABLED": "true",
                "MSGCENTER_CHANNELS__WHATSAPP__GRAPH_BASE": mock.url,
                "MSGCENTER_CHANNELS__WHATSAPP__PHONE_NUMBER_ID": mock.phone_number_id,
                "MSGCENTER_CHANNELS__WHATSAPP__ACCESS_TOKEN": ACCESS_TOKEN,
                "MSGCENTER_CHANNELS__WHATSAPP__APP_SECRET": APP_SECRET,
                "MSGCENTER_CHANNELS__WHATSAPP__VERIFY_TOKEN": VERIFY_TOKEN,
            }
        )
        for user, role, capacity in (("admin", "admin", "5"), ("agent", "agent", "4")):
            added = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "msgcenter.cli", "user", "add", user, "--role", role,
                 "--password", PASSWORD, "--capacity", capacity],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert added.returncode == 0, added.stderr
        async with aiohttp.ClientSession() as http:
            cluster = Cluster(db_url, env, http, mock)
            a = Process("A", _free_port(), ["api", "outbox"], tmp_path / "a.log")
            b = Process("B", _free_port(), ["api,outbox"], tmp_path / "b.log")
            await asyncio.gather(cluster.start(a), cluster.start(b))  # start (and migrate) at once
            try:
                await asyncio.gather(cluster.ready(a), cluster.ready(b))
                yield cluster
            finally:
                for process in cluster.processes:
                    if process.process is not None and process.process.returncode is None:
                        process.process.send_signal(signal.SIGINT)
                for process in cluster.processes:
                    if process.process is not None:
                        try:
                            await asyncio.wait_for(process.process.wait(), 15)
                        except TimeoutError:
                            process.process.kill()
                            await process.process.wait()


async def until(probe: Callable[[], Awaitable[Any]], what: str, within: float = 10.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not (result := await probe()):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return result


async def frame_of(
    ws: aiohttp.ClientWebSocketResponse, kind: str, within: float = 5.0
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        message = await ws.receive(timeout=max(deadline - loop.time(), 0.01))
        assert message.type == aiohttp.WSMsgType.TEXT, message
        frame: dict[str, Any] = json.loads(message.data)
        if frame["type"] == kind:
            return frame


async def test_a_webhook_posted_to_one_process_reaches_a_socket_on_the_other(
    cluster: Cluster,
) -> None:
    a, b = cluster.processes
    token = await cluster.login(b, "admin")
    async with cluster.http.ws_connect(f"{b.base}/ws?token={token}") as ws:
        await frame_of(ws, "hello")
        await cluster.webhook(a, "Budi Santoso", "Halo dari proses A")
        frame = await frame_of(ws, "message.created")
        assert frame["data"]["message"]["text"] == "Halo dari proses A"
        assert frame["data"]["chat"]["name"] == "Budi Santoso"
    # Both processes serve the same data, whichever the balancer picks.
    for process in (a, b):
        status, chats = await cluster.call(process, token, "GET", "/chats/")
        assert status == 200 and [c["name"] for c in chats] == ["Budi Santoso"]


async def test_a_queued_chat_is_assigned_once_when_both_processes_see_the_agent(
    cluster: Cluster,
) -> None:
    a, b = cluster.processes
    admin = await cluster.login(a, "admin")
    for n in range(6):
        await cluster.webhook(a if n % 2 else b, f"Customer {n}", "I need a person")
    status, chats = await cluster.call(a, admin, "GET", "/chats/")
    assert status == 200 and len(chats) == 6
    for chat in chats:
        status, body = await cluster.call(
            b, admin, "PATCH", f"/chats/{chat['id']}", {"mode": "agent"}
        )
        assert status == 200, body
    queued = await cluster.rows(
        "SELECT id FROM chats WHERE mode = 'agent' AND assigned_agent_id IS NULL"
    )
    assert len(queued) == 6  # nobody is online yet (logging in is not being online)

    agent = await cluster.login(b, "agent")
    # The agent's dashboard connects to both processes at once: each sees them come online.
    sockets = await asyncio.gather(
        *(cluster.http.ws_connect(f"{p.base}/ws?token={agent}") for p in (a, b))
    )
    try:
        await until(
            lambda: _count(
                cluster, "SELECT count(*) FROM chats WHERE assigned_agent_id IS NOT NULL", 4
            ),
            "the agent to get four chats",
        )
        await asyncio.sleep(1.0)  # both assigners and a sweep have had their go
        assigns = await cluster.rows(
            "SELECT chat_id, count(*) AS n FROM chat_transitions WHERE action = 'assign' "
            "GROUP BY chat_id"
        )
        assert len(assigns) == 4 and all(row["n"] == 1 for row in assigns), assigns
        [load] = await cluster.rows(
            "SELECT count(*) AS n FROM chats c JOIN users u ON u.id = c.assigned_agent_id "
            "WHERE u.username = 'agent' AND c.mode IN ('agent', 'paused')"
        )
        assert load["n"] == 4  # its capacity, never more
    finally:
        for ws in sockets:
            await ws.close()


async def _count(cluster: Cluster, query: str, expected: int) -> bool:
    [row] = await cluster.rows(query)
    return bool(row[0] >= expected)


async def test_when_the_outbox_holder_dies_the_other_process_delivers(cluster: Cluster) -> None:
    a, b = cluster.processes
    holders = [p for p in (a, b) if await cluster.metric(p, 'msgcenter_lease_held{part="outbox"}')]
    assert len(holders) == 1, cluster.logs()
    [holder] = holders
    survivor = b if holder is a else a
    admin = await cluster.login(survivor, "admin")
    await cluster.webhook(survivor, "Rina", "Halo?")
    [chat] = (await cluster.call(survivor, admin, "GET", "/chats/"))[1]

    assert holder.process is not None
    holder.process.kill()  # SIGKILL: no goodbye, its database session just ends
    await asyncio.wait_for(holder.process.wait(), 10)
    status, body = await cluster.call(
        survivor, admin, "POST", "/chats/messages",
        {"chat_id": chat["id"], "text": "Maaf menunggu, Kak", "sender": "agent"},
    )  # fmt: skip
    assert status == 201, body

    async def delivered() -> bool:
        return any(s["request"]["text"]["body"] == "Maaf menunggu, Kak" for s in cluster.mock.sent)

    await until(delivered, "the reply at WhatsApp, sent by the survivor", within=10)
    assert await cluster.metric(survivor, 'msgcenter_lease_held{part="outbox"}') == 1
    [row] = await cluster.rows("SELECT status FROM messages WHERE text = 'Maaf menunggu, Kak'")
    assert row["status"] in ("sent", "delivered", "read")


async def test_a_snooze_set_on_one_process_wakes_once_where_the_outbox_runs(
    cluster: Cluster,
) -> None:
    """The waker runs under the outbox lease; a snooze set on the other process reaches it
    (chat.updated on the bus) and the chat wakes once, with one note and one notification."""
    a, b = cluster.processes
    holders = [p for p in (a, b) if await cluster.metric(p, 'msgcenter_lease_held{part="outbox"}')]
    assert len(holders) == 1, cluster.logs()
    [holder] = holders
    other = b if holder is a else a
    admin = await cluster.login(other, "admin")
    await cluster.webhook(other, "Wulan", "Halo, saya tunggu kabarnya")
    [chat] = (await cluster.call(other, admin, "GET", "/chats/"))[1]
    status, body = await cluster.call(other, admin, "POST", f"/chats/{chat['id']}/take-over")
    assert status == 200, body
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    status, body = await cluster.call(
        other, admin, "POST", f"/chats/{chat['id']}/snooze", {"until": soon}
    )
    assert (status, body["snoozed"]) == (200, True), body

    async def awake() -> bool:
        [row] = await cluster.rows("SELECT snoozed_at FROM chats WHERE id = $1", chat["id"])
        return row["snoozed_at"] is None

    await until(awake, "the chat to wake at its time (long before the 30 s look)", within=10)
    await asyncio.sleep(1.0)  # both processes have had their chance to wake it again
    [woke] = await cluster.rows(
        "SELECT count(*) AS n FROM audit_entries WHERE chat_id = $1 AND action = 'woke'",
        chat["id"],
    )
    [told] = await cluster.rows(
        "SELECT count(*) AS n FROM notifications WHERE chat_id = $1 AND kind = 'snooze_ended'",
        chat["id"],
    )
    assert (woke["n"], told["n"]) == (1, 1), cluster.logs()
