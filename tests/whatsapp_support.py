"""The WhatsApp test world: msgcenter with its WhatsApp channel pointed at the mock Graph API.

Test modules define their fixtures with :func:`running_mock` and :func:`start_whatsapp`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from connectors.mock.whatsapp import MockWhatsApp, encode, sign
from handoff.usecases.delivery import RetryPolicy
from msgcenter import demo
from msgcenter.service import SERVICE, Service, build_app, build_service
from tests.fakes import QUIET_BOT
from tests.support import Api, ClientFactory, make_settings

APP_SECRET = "mock-app-secret"
ACCESS_TOKEN = "mock-access-token"
VERIFY_TOKEN = "mock-verify-token"
# Configuration of the outbox's retries, so that retried sends take milliseconds.
FAST = RetryPolicy(max_attempts=4, base_seconds=0.01, max_seconds=0.05)
T = TypeVar("T")


@dataclass
class WhatsApp:
    """msgcenter with the WhatsApp channel, the mock it talks to, and an admin logged in."""

    anon: Api
    admin: Api
    mock: MockWhatsApp
    service: Service
    db_url: str

    @property
    def http(self) -> aiohttp.ClientSession:
        """A client session for other servers (the mock's control API)."""
        return self.anon.client.session

    async def post(self, body: bytes, signature: str | None) -> tuple[int, Any]:
        """POST raw bytes to the webhook, as Meta would, with this signature header (if any)."""
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return await self.anon.call("POST", "/webhooks/whatsapp", data=body, headers=headers)

    async def deliver(self, payload: dict[str, Any]) -> tuple[int, Any]:
        """POST a webhook body signed with the app secret."""
        body = encode(payload)
        return await self.post(body, sign(body, APP_SECRET))

    async def chat_row(self, name: str) -> dict[str, Any]:
        status, chats = await self.admin.get("/chats/")
        assert status == 200
        [row] = [chat for chat in chats if chat["name"] == name]
        return dict(row)

    async def messages(self, chat_id: int) -> list[dict[str, Any]]:
        status, detail = await self.admin.get(f"/chats/{chat_id}")
        assert status == 200
        return list(detail["messages"])

    async def customer_chat(self, name: str, phone: str) -> tuple[int, str]:
        """A customer writes through the mock: (their chat id, the message's wamid).

        Returns once whatever msgcenter does about it (a bot's answer) has been sent, so
        failures the test then tells the mock hit the test's own replies.
        """
        status, wamid = await self.mock.customer_says(name, "Hello, is anyone there?", phone=phone)
        assert status == 200
        await self.idle()
        return (await self.chat_row(name))["id"], wamid

    async def idle(self) -> None:
        """Wait for the reactions to inbound messages and for an empty outbox queue."""
        core = self.service.core
        await core.drain()

        async def nothing_queued() -> bool:
            return await core.outbox.queue_depth() == 0

        await eventually(nothing_queued, "an empty outbox")

    async def reply(self, chat_id: int, text: str) -> int:
        """An agent's reply over the dashboard API; its message id."""
        status, body = await self.admin.post(
            "/chats/messages", {"chat_id": chat_id, "text": text, "sender": "agent"}
        )
        assert status == 201, body
        return int(body["id"])

    async def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        [found] = [m for m in await self.messages(chat_id) if m["id"] == message_id]
        return found

    async def has_status(self, chat_id: int, message_id: int, *expected: str) -> bool:
        return (await self.message(chat_id, message_id))["status"] in expected


async def eventually(probe: Callable[[], Awaitable[T]], what: str, within: float = 5.0) -> T:
    """Poll ``probe`` until it returns something truthy (fail after ``within`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not (result := await probe()):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return result


async def sends_of(mock: MockWhatsApp, text: str) -> list[dict[str, Any]]:
    """What reached the mock with this text body."""
    return [s for s in mock.sent if s["request"].get("text", {}).get("body") == text]


def attempts_of(mock: MockWhatsApp, text: str) -> int:
    """How often msgcenter tried to send this text (failed tries too)."""
    return sum(1 for body in mock.attempts if body.get("text", {}).get("body") == text)


async def running_mock() -> AsyncIterator[MockWhatsApp]:
    mock = MockWhatsApp(APP_SECRET, ACCESS_TOKEN)
    await mock.start("127.0.0.1", 0)
    try:
        yield mock
    finally:
        await mock.stop()


async def start_whatsapp(
    mock: MockWhatsApp,
    aiohttp_client: ClientFactory,
    db_url: str,
    tmp_path: Path,
    *,
    bot: dict[str, Any] | None = None,
    whatsapp: dict[str, Any] | None = None,
    storage: dict[str, Any] | None = None,
    clock: Callable[[], datetime] | None = None,
    **sections: dict[str, Any],
) -> WhatsApp:
    """``whatsapp``: more settings of ``channels.whatsapp`` (e.g. business_account_id);
    ``storage``: of ``storage`` (e.g. the blobs in a bucket); ``clock``: the core's current
    time (a test's fake clock); ``sections``: more settings sections."""
    channel = {
        "enabled": True,
        "graph_base": mock.url,
        "phone_number_id": mock.phone_number_id,
        "access_token": ACCESS_TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        **(whatsapp or {}),
    }
    settings = make_settings(
        db_url, tmp_path / "data", bot=bot or QUIET_BOT, channels={"whatsapp": channel},
        storage=storage or {}, **sections,
    )  # fmt: skip
    service = build_service(settings, clock=clock) if clock is not None else None
    client = await aiohttp_client(build_app(settings, service))
    mock.webhook_url = str(client.make_url("/webhooks/whatsapp"))
    service: Service = client.app[SERVICE]
    service.core.outbox.retry = FAST
    await demo.seed_users(service.core.staff)
    anon = Api(client)
    return WhatsApp(anon, await anon.login("admin", "admin123"), mock, service, db_url)
