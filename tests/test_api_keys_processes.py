"""Two ``msgcenter serve`` processes (PostgreSQL, Redis): an API key revoked through one
process is refused by the other at once (keys are looked up at every request)."""

from __future__ import annotations

import pytest

from tests.conftest import POSTGRES_URL
from tests.redis_support import REDIS_URL
from tests.test_two_processes import Cluster, cluster

__all__ = ["cluster"]  # the fixture, used by name

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason="MSGCENTER_TEST_POSTGRES_URL is not set"),
    pytest.mark.skipif(not REDIS_URL, reason="MSGCENTER_TEST_REDIS_URL is not set"),
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
]


async def test_a_key_revoked_in_one_process_is_refused_by_the_other(cluster: Cluster) -> None:
    a, b = cluster.processes
    admin = await cluster.login(a, "admin")
    body = {"name": "CRM", "scopes": ["chats:read"]}
    status, made = await cluster.call(a, admin, "POST", "/api-keys", body)
    assert status == 201, made
    status, _ = await cluster.call(b, made["key"], "GET", "/chats/")
    assert status == 200
    status, _ = await cluster.call(a, admin, "DELETE", f"/api-keys/{made['id']}")
    assert status == 204
    status, refused = await cluster.call(b, made["key"], "GET", "/chats/")
    assert (status, refused["error"]["code"]) == (401, "invalid_token")
