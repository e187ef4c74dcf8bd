"""Test support: settings for tests and a small dashboard API client that logs in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from handoff.core import Core
from msgcenter.service import SERVICE, Service
from msgcenter.settings import Settings, build_settings

TEST_SECRET = "test-secret-" + "x" * 40


def make_settings(db_url: str, data_dir: Path, **sections: dict[str, Any]) -> Settings:
    """Test settings: cheap password hashing, a fixed key, nothing from the environment."""
    data: dict[str, Any] = {
        "storage": {"url": db_url, "data_dir": str(data_dir)},
        "auth": {"jwt_secret": TEST_SECRET, "argon2_time_cost": 1, "argon2_memory_kib": 64},
        "server": {"port": 0},
    }
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values}
    email = data.get("channels", {}).get("email")
    if email is not None and "sender_auth" not in email:
        # Tests of other things send unsigned mail from example domains with no DNS to ask;
        # tests/test_email_sender_auth.py checks senders against a DNS stand-in.
        data["channels"]["email"] = {**email, "sender_auth": "off"}
    return build_settings(data, environ={})


class Api:
    """A logged-in dashboard client: ``await api.get("/chats/")`` -> (status, json)."""

    def __init__(self, client: TestClient[web.Request, web.Application], token: str | None = None):
        self.client = client
        self.token = token

    @property
    def service(self) -> Service:
        return self.client.app[SERVICE]  # type: ignore[index]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def call(
        self, method: str, path: str, body: Any = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        if body is not None:
            kwargs["json"] = body
        async with self.client.request(method, path, headers=headers, **kwargs) as response:
            data = await response.json() if response.content_type == "application/json" else None
            self.last_headers = response.headers
            return response.status, data

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.call("POST", path, body, **kwargs)

    async def patch(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.call("PATCH", path, body, **kwargs)

    async def chat_ids(self) -> dict[str, int]:
        """The chats this user lists (the first page of ``GET /chats/``), by customer name."""
        status, chats = await self.get("/chats/")
        assert status == 200, chats
        return {chat["name"]: chat["id"] for chat in chats}

    async def new_user(self, username: str, password: str, **fields: Any) -> tuple[Api, int]:
        """(As an admin) a new user, logged in, and their id."""
        status, user = await self.post(
            "/users", {"username": username, "password": password, **fields}
        )
        assert status == 201, user
        return await self.login(username, password), int(user["id"])

    async def socket(self) -> aiohttp.ClientWebSocketResponse:
        """This user's WebSocket, past its hello frame."""
        ws = await self.client.ws_connect(f"/ws?token={self.token}")
        hello = json.loads((await ws.receive(timeout=5)).data)
        assert hello["type"] == "hello"
        return ws

    async def login(self, identifier: str, password: str) -> Api:
        status, data = await self.post(
            "/auth/login", {"identifier": identifier, "password": password}
        )
        assert status == 200, data
        return Api(self.client, data["access_token"])


ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


async def frames_within(ws: aiohttp.ClientWebSocketResponse, within: float = 0.5) -> list[Any]:
    """Every frame that arrives on ``ws`` within ``within`` seconds."""
    frames = []
    try:
        async with asyncio.timeout(within):
            while True:
                message = await ws.receive()
                assert message.type == aiohttp.WSMsgType.TEXT, message
                frames.append(json.loads(message.data))
    except TimeoutError:
        pass
    return frames


def mute_bot(core: Core) -> Callable[[], None]:
    """The bot hears of no message stored from now on (as if the process died right after
    the commit, or for tests of what a message alone changes); returns the undo."""
    pilot = core.autopilot
    if pilot is None:
        return lambda: None
    core.inbox.arriving.unregister(pilot.on_arriving)
    core.inbox.received.unregister(pilot.on_received)

    def unmute() -> None:
        core.inbox.arriving.register(pilot.on_arriving)
        core.inbox.received.register(pilot.on_received)

    return unmute


T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], within: float = 5.0) -> T:
    """Ask ``check`` until it returns something truthy; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"still {result!r} after {within} s")
        await asyncio.sleep(0.02)
