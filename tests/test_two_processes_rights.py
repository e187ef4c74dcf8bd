"""Two ``msgcenter serve`` processes (PostgreSQL, Redis): a user deactivated through one
process loses their WebSocket on the other at once, before any later event reaches it."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.conftest import POSTGRES_URL
from tests.redis_support import REDIS_URL
from tests.test_two_processes import PASSWORD, Cluster, cluster, frame_of

__all__ = ["cluster"]  # the fixture, used by name

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason="MSGCENTER_TEST_POSTGRES_URL is not set"),
    pytest.mark.skipif(not REDIS_URL, reason="MSGCENTER_TEST_REDIS_URL is not set"),
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
]


async def test_deactivating_in_one_process_closes_the_socket_in_the_other(
    cluster: Cluster,
) -> None:
    a, b = cluster.processes
    admin = await cluster.login(a, "admin")
    body = {"username": "boss", "password": PASSWORD, "role": "admin"}
    status, boss = await cluster.call(a, admin, "POST", "/users", body)
    assert status == 201, boss
    token = await cluster.login(b, "boss")
    async with cluster.http.ws_connect(f"{b.base}/ws?token={token}") as ws:
        await frame_of(ws, "hello")
        status, _ = await cluster.call(a, admin, "PATCH", f"/users/{boss['id']}", {"active": False})
        assert status == 200
        # A customer writes right after: process B heard of the deactivation first (one
        # Redis channel, published in that order), so the message never reaches the socket
        # (B's sweep, seconds later, would have let it through).
        await cluster.webhook(a, "Budi Santoso", "after the deactivation")
        frames = []
        async with asyncio.timeout(10):
            while (message := await ws.receive()).type == aiohttp.WSMsgType.TEXT:
                frames.append(json.loads(message.data))
        assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 4001), message
        assert "message.created" not in [f["type"] for f in frames], frames
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await cluster.http.ws_connect(f"{b.base}/ws?token={token}")
    assert refused.value.status == 401
