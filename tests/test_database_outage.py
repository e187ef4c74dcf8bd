"""A PostgreSQL that stops answering (a silent network partition): requests fail in time.

Between msgcenter and PostgreSQL runs a TCP proxy on 127.0.0.1 that the test pauses: it
keeps every connection open and accepts new ones but forwards nothing, which is what a
partition looks like from here (no reset, no refusal, just silence). Webhooks then get 503
``database_unavailable`` within seconds (so the provider delivers again), ``/healthz``
answers within a second with ``"database": "timeout"``, and once the proxy forwards again
everything works without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from connectors.mock.telegram import MockTelegram
from connectors.mock.whatsapp import MockWhatsApp, encode, sign
from connectors.mock.whatsapp_payloads import customer_payload
from connectors.telegram import SECRET_HEADER, WEBHOOK_PATH
from msgcenter.service import build_app
from storage.models import Message
from tests.fakes import QUIET_BOT
from tests.support import Api, ClientFactory, make_settings
from tests.whatsapp_support import ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, eventually


class SilentProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``pause()`` stops forwarding in both
    directions without closing anything (new connections are accepted and held too),
    ``resume()`` forwards again, what waited included."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._forwarding = asyncio.Event()
        self._forwarding.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def pause(self) -> None:
        self._forwarding.clear()

    def resume(self) -> None:
        self._forwarding.set()

    async def stop(self) -> None:
        self.resume()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._forwarding.wait()  # a partition: the connection is never answered
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self._writers.add(up_writer)
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._forwarding.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


# A network partition is PostgreSQL's (SQLite is a local file): these run on PostgreSQL only.
pytestmark = pytest.mark.parametrize(
    "db_url",
    [
        pytest.param(
            "postgres",
            marks=pytest.mark.skipif(
                not os.environ.get("MSGCENTER_TEST_POSTGRES_URL"),
                reason="MSGCENTER_TEST_POSTGRES_URL is not set",
            ),
        )
    ],
    indirect=True,
)


@pytest.fixture
async def proxy(db_url: str) -> AsyncIterator[SilentProxy]:
    parts = urlsplit(db_url)
    running = SilentProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    await running.start()
    yield running
    await running.stop()


async def _service(
    db_url: str, proxy: SilentProxy, mock: MockWhatsApp, tmp_path: Path, factory: ClientFactory
) -> Api:
    channel = {"enabled": True, "graph_base": mock.url, "phone_number_id": mock.phone_number_id,
               "access_token": ACCESS_TOKEN, "app_secret": APP_SECRET,
               "verify_token": VERIFY_TOKEN}  # fmt: skip
    settings = make_settings(
        _through(db_url, proxy.port), tmp_path / "data", bot=QUIET_BOT,
        channels={"whatsapp": channel},
        storage={"connect_timeout_seconds": 1, "statement_timeout_seconds": 2},
    )  # fmt: skip
    return Api(await factory(build_app(settings)))


async def _webhook(api: Api, name: str, text: str) -> tuple[int, object, float]:
    body = encode(customer_payload(name, text))
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)}
    started = time.monotonic()
    status, data = await api.call("POST", "/webhooks/whatsapp", data=body, headers=headers)
    return status, data, time.monotonic() - started


async def _health(api: Api) -> tuple[int, dict[str, object], float]:
    started = time.monotonic()
    status, body = await api.get("/healthz")
    return status, body, time.monotonic() - started


async def test_a_silent_partition_fails_requests_in_time_and_heals_by_itself(
    db_url: str,
    proxy: SilentProxy,
    mock: MockWhatsApp,
    tmp_path: Path,
    aiohttp_client: ClientFactory,
) -> None:
    api = await _service(db_url, proxy, mock, tmp_path, aiohttp_client)
    status, body, _ = await _health(api)
    assert status == 200 and body["checks"]["database"] == "ok"  # type: ignore[index]
    assert (await _webhook(api, "Budi", "before"))[0] == 200

    proxy.pause()
    status, body, took = await _health(api)
    assert (status, body["status"], body["checks"]["database"]) == (  # type: ignore[index]
        503,
        "degraded",
        "timeout",
    )
    assert took < 1.5, f"/healthz took {took:.2f} s"
    status, data, took = await _webhook(api, "Sari", "during the partition")
    assert status == 503 and data["error"]["code"] == "database_unavailable"  # type: ignore[index]
    assert took < 8, f"the webhook took {took:.2f} s"
    # While it lasts, every request keeps failing in time (no pile-up behind stuck ones).
    results = await asyncio.gather(*(_webhook(api, f"Cust {n}", "again") for n in range(3)))
    assert all(status == 503 and took < 8 for status, _, took in results), results
    status, _, took = await _health(api)
    assert status == 503 and took < 1.5

    proxy.resume()

    async def healthy() -> bool:
        return (await _health(api))[0] == 200

    await eventually(healthy, "healthy again after the partition", within=15)
    assert (await _webhook(api, "Sari", "after the partition"))[0] == 200
    assert await Message.filter(text="after the partition").exists()


@pytest.fixture
async def telegram() -> AsyncIterator[MockTelegram]:
    running = MockTelegram()
    await running.start("127.0.0.1", 0)
    yield running
    await running.stop()


UPDATE = {
    "update_id": 901,
    "message": {
        "message_id": 4, "date": 1_800_000_000, "text": "during the partition",
        "chat": {"id": 556, "first_name": "Tele", "last_name": "Gram", "type": "private"},
        "from": {"id": 556, "is_bot": False, "first_name": "Tele", "last_name": "Gram"},
    },
}  # fmt: skip


async def test_a_telegram_webhook_gets_503_while_the_database_is_silent(
    db_url: str,
    proxy: SilentProxy,
    telegram: MockTelegram,
    tmp_path: Path,
    aiohttp_client: ClientFactory,
) -> None:
    secret = "partition-secret"
    channel = {"enabled": True, "api_base": telegram.url, "token": telegram.token,
               "mode": "webhook", "webhook_secret": secret}  # fmt: skip
    settings = make_settings(
        _through(db_url, proxy.port), tmp_path / "data", bot=QUIET_BOT,
        channels={"telegram": channel},
        storage={"connect_timeout_seconds": 1, "statement_timeout_seconds": 2},
    )  # fmt: skip
    api = Api(await aiohttp_client(build_app(settings)))
    assert (await _health(api))[0] == 200

    async def post() -> tuple[int, object, float]:
        started = time.monotonic()
        status, data = await api.post(WEBHOOK_PATH, UPDATE, headers={SECRET_HEADER: secret})
        return status, data, time.monotonic() - started

    proxy.pause()
    status, data, took = await post()
    assert status == 503 and data["error"]["code"] == "database_unavailable"  # type: ignore[index]
    assert took < 8, f"the webhook took {took:.2f} s"
    proxy.resume()

    async def stored() -> bool:
        return (await post())[0] == 200  # Telegram sends the update again until it is

    await eventually(stored, "the update stored after the partition", within=15)
    assert await Message.filter(text="during the partition").count() == 1
