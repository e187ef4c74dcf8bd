"""Outgoing webhooks with two ``msgcenter serve`` processes on one PostgreSQL database and one
Redis (the cluster of ``tests/test_two_processes.py``): an endpoint registered through one
process gets the messages stored by the other, once that process has read the endpoints (at
most 2 seconds later), every one of them after that, each posted once, by whichever process
holds the outbox lease."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import POSTGRES_URL
from tests.redis_support import REDIS_URL
from tests.test_two_processes import Cluster, cluster, until

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason="MSGCENTER_TEST_POSTGRES_URL is not set"),
    pytest.mark.skipif(not REDIS_URL, reason="MSGCENTER_TEST_REDIS_URL is not set"),
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
]
__all__ = ["cluster"]  # the fixture, used by name

SECRET = "whsec-two-processes-0123456789"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[TestServer, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append(json.loads(await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, seen
    await server.close()


async def test_an_endpoint_registered_on_one_process_gets_the_others_messages(
    cluster: Cluster, receiver: tuple[TestServer, list[dict[str, Any]]]
) -> None:
    server, seen = receiver
    a, b = cluster.processes
    token = await cluster.login(a, "admin")
    body = {"url": f"http://127.0.0.1:{server.port}/hook", "secret": SECRET,
            "events": ["message.created"]}  # fmt: skip
    status, endpoint = await cluster.call(a, token, "POST", "/integrations/webhooks", body)
    assert status == 201, endpoint
    sent: list[str] = []

    async def queued_by_b() -> bool:
        """B stores one more message; whether a delivery was queued for it."""
        text = f"Hello {len(sent)}"
        sent.append(text)
        await cluster.webhook(b, "Nadia", text)
        rows = await cluster.rows("SELECT body FROM webhook_deliveries")
        return any(json.loads(row["body"])["data"]["message"]["text"] == text for row in rows)

    await until(queued_by_b, "B to queue deliveries for the endpoint registered on A")
    first = len(sent) - 1  # from this message on, every one is queued
    for n in range(5):
        process = a if n % 2 else b
        text = f"Then {n}"
        sent.append(text)
        await cluster.webhook(process, "Nadia", text)
    wanted = sent[first:]

    async def delivered() -> bool:
        texts = [item["data"]["message"]["text"] for item in seen]
        return all(text in texts for text in wanted)

    await until(delivered, "every queued delivery posted", within=20.0)
    texts = [item["data"]["message"]["text"] for item in seen]
    assert [t for t in texts if t in wanted] == wanted  # in order: one chat
    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids)), cluster.logs()  # each posted once
    rows = await cluster.rows(
        "SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status"
    )
    assert {row["status"]: row["n"] for row in rows} == {"delivered": len(seen)}
