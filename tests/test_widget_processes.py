"""The widget with two ``msgcenter serve`` processes on PostgreSQL and Redis: a visitor's
sockets on both processes get the agent's reply, whichever process's outbox sent it (the
bus carries it; the widget connector's send needs no socket of its own process)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import aiohttp
import pytest

from tests.conftest import POSTGRES_URL
from tests.redis_support import REDIS_URL
from tests.test_two_processes import Cluster, cluster, frame_of

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason="MSGCENTER_TEST_POSTGRES_URL is not set"),
    pytest.mark.skipif(not REDIS_URL, reason="MSGCENTER_TEST_REDIS_URL is not set"),
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
]
__all__ = ["cluster"]  # the fixture, used by name

SITE = "https://shop.example"


async def post(
    cluster: Cluster, base: str, path: str, body: Any, headers: dict[str, str]
) -> tuple[int, Any]:
    async with cluster.http.post(f"{base}{path}", json=body, headers=headers) as response:
        return response.status, await response.json()


async def message_frame(ws: aiohttp.ClientWebSocketResponse, text: str) -> dict[str, Any]:
    for _ in range(20):
        frame = await frame_of(ws, "message", within=10.0)
        if frame["message"]["text"] == text:
            return frame
    raise AssertionError(f"no message {text!r}")


async def test_a_reply_reaches_the_visitors_sockets_on_both_processes(cluster: Cluster) -> None:
    a, b = cluster.processes
    admin = await cluster.login(a, "admin")
    status, widget = await cluster.call(
        a, admin, "POST", "/channels/widget", {"name": "Shop", "allowed_origins": [SITE]}
    )
    assert status == 201, widget
    status, started = await post(
        cluster, b.base, f"/widget/{widget['id']}/session", {}, {"Origin": SITE}
    )
    assert status == 200, started
    path = f"/widget/ws?token={started['token']}"
    sockets = await asyncio.gather(
        *(cluster.http.ws_connect(p.base + path, headers={"Origin": SITE}) for p in (a, b))
    )
    try:
        for ws in sockets:
            await frame_of(ws, "hello")
        await sockets[0].send_json({"type": "message", "ref": secrets.token_hex(8), "text": "hi"})
        for ws in sockets:  # the other tab, on the other process, sees it too
            await message_frame(ws, "hi")
        chats = await cluster.rows("SELECT id FROM chats WHERE channel = 'Widget'")
        status, reply = await cluster.call(
            b, admin, "POST", "/chats/messages", {"chat_id": chats[0]["id"], "text": "Hello!"}
        )
        assert status == 201, reply
        for ws in sockets:
            frame = await message_frame(ws, "Hello!")
            assert frame["message"]["status"] == "sent" and frame["message"]["sender"] == "agent"
    finally:
        for ws in sockets:
            await ws.close()
