"""connectors/callbacks.py: signed posts to the desk's own URLs, public destinations only,
against a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connectors.callbacks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CallbackPoster,
    DestinationRefused,
    check_url,
    public,
    signature,
    verify,
)

SECRET = "whsec-test-0123456789"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[TestServer, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append({"headers": dict(request.headers), "body": body})
        return web.Response(status=int(request.query.get("status", "204")))

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/hook")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/moved", moved)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, seen
    await server.close()


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"type":"chat.created"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1700000000, body) == "sha256=" + expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # shared (CGNAT)
        ("0.0.0.0", False),  # noqa: S104 - an address judged, not bound
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4 in IPv6
        ("::ffff:8.8.8.8", True),
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
    ],
)
def test_public_addresses(address: str, expected: bool) -> None:
    assert public(ipaddress.ip_address(address)) is expected


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http://",
        "https://user:pw@example.com/hook",
        "https://example.com:99999/hook",
        "not a url",
        "https://example.com/" + "x" * 2100,
    ],
)
def test_urls_that_are_refused_before_any_lookup(url: str) -> None:
    with pytest.raises(DestinationRefused):
        check_url(url)


async def test_a_loopback_destination_is_refused_when_checked_and_when_posted(
    receiver: tuple[TestServer, list[dict[str, Any]]],
) -> None:
    server, seen = receiver
    poster = CallbackPoster(allow_private=False, timeout_seconds=5)
    try:
        for url in (f"http://127.0.0.1:{server.port}/hook", f"http://localhost:{server.port}/hook"):
            with pytest.raises(DestinationRefused):
                await poster.check(url)
            # at delivery time too: a name is resolved inside the connection and refused there
            result = await poster.post(url, b"{}", secret=SECRET, delivery_id="d1")
            assert not result.ok and result.status is None
            assert result.error is not None and result.error.startswith("destination refused")
        with pytest.raises(DestinationRefused, match="cannot be resolved"):
            await poster.check("https://no-such-host.invalid/hook")
    finally:
        await poster.close()
    assert seen == []


async def test_a_post_is_signed_and_verifiable_when_private_destinations_are_allowed(
    receiver: tuple[TestServer, list[dict[str, Any]]],
) -> None:
    server, seen = receiver
    poster = CallbackPoster(allow_private=True, timeout_seconds=5)
    body = b'{"id":"d-42","type":"message.created"}'
    try:
        await poster.check(f"http://localhost:{server.port}/hook")
        result = await poster.post(
            f"http://localhost:{server.port}/hook", body, secret=SECRET, delivery_id="d-42"
        )
        failed = await poster.post(
            f"http://127.0.0.1:{server.port}/hook?status=500", body, secret=SECRET,
            delivery_id="d-43",
        )  # fmt: skip
        moved = await poster.post(
            f"http://127.0.0.1:{server.port}/moved", body, secret=SECRET, delivery_id="d-44"
        )
    finally:
        await poster.close()
    assert result.ok and result.status == 204 and result.error is None
    assert (failed.ok, failed.status, failed.error) == (False, 500, "HTTP 500")
    assert moved.status == 302 and not moved.ok and "redirects are not followed" in str(moved.error)
    assert len(seen) == 2  # the redirect's target was not asked
    headers = seen[0]["headers"]
    assert seen[0]["body"] == body
    assert headers[DELIVERY_HEADER] == "d-42"
    assert headers["Content-Type"] == "application/json"
    assert verify(SECRET, headers, body)
    assert not verify("another-secret", headers, body)
    assert not verify(SECRET, headers, body + b" ")
    assert not verify(SECRET, headers, body, now=int(headers[TIMESTAMP_HEADER]) + 301)
    assert headers[SIGNATURE_HEADER] == signature(SECRET, int(headers[TIMESTAMP_HEADER]), body)


async def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", slow)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    poster = CallbackPoster(allow_private=True, timeout_seconds=0.3)
    try:
        result = await poster.post(
            f"http://127.0.0.1:{server.port}/hook", b"{}", secret=SECRET, delivery_id="d"
        )
    finally:
        await poster.close()
        await server.close()
    assert (result.ok, result.status, result.error) == (False, None, "timed out")
