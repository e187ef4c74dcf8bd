"""Login lockout: per account and per client address, X-Forwarded-For from trusted proxies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from dashboard_api.auth import LoginThrottle
from dashboard_api.errors import ApiError
from dashboard_api.typedefs import CONTEXT
from msgcenter import demo
from msgcenter.service import SERVICE, Service, build_app
from msgcenter.settings import SettingsError
from storage.models import User
from tests.support import Api, ClientFactory, make_settings

Start = Callable[..., Awaitable[Api]]


@pytest.fixture
def start(db_url: str, tmp_path: Path, aiohttp_client: ClientFactory) -> Start:
    """The service with the demo users and the given [auth] / [server] settings, no token."""

    async def started(auth: dict[str, Any] | None = None, **server: Any) -> Api:
        settings = make_settings(db_url, tmp_path / "data", auth=auth or {}, server=server)
        client = await aiohttp_client(build_app(settings))
        service: Service = client.app[SERVICE]
        await demo.seed_users(service.core.staff)
        return Api(client)

    return started


async def attempt(api: Api, identifier: str, password: str, via: str | None = None) -> int:
    """One login; ``via`` is sent as X-Forwarded-For. Returns the status."""
    headers = {"X-Forwarded-For": via} if via else {}
    status, body = await api.post(
        "/auth/login", {"identifier": identifier, "password": password}, headers=headers
    )
    if status == 429:
        assert body["error"]["code"] == "too_many_attempts"
        assert int(api.last_headers["Retry-After"]) >= 1
        assert body["error"]["details"]["retry_after"] == int(api.last_headers["Retry-After"])
    return status


async def test_one_users_typos_do_not_lock_out_another_user_at_the_same_address(
    start: Start,
) -> None:
    api = await start()
    for _ in range(5):
        assert await attempt(api, "agent", "typo-typo") == 401
    assert await attempt(api, "agent", "agent123") == 429  # the account is locked...
    assert await attempt(api, "admin", "admin123") == 200  # ...not the office's address


async def test_the_account_locks_after_its_limit_even_across_addresses(start: Start) -> None:
    api = await start(trusted_proxies=["127.0.0.1/32"])
    for n in range(5):
        assert await attempt(api, "agent", "guess-123", via=f"203.0.113.{n}") == 401
    assert await attempt(api, "agent", "agent123", via="198.51.100.77") == 429
    # Its email names the same account: no second allowance by switching names.
    assert await attempt(api, "agent@example.com", "agent123", via="198.51.100.78") == 429
    assert await attempt(api, "admin", "admin123", via="203.0.113.1") == 200


async def test_unknown_names_lock_like_real_ones(start: Start) -> None:
    """Same answers for a name that exists and one that does not: no user enumeration."""
    api = await start()
    answers = {}
    for name in ("agent", "nobody-here"):
        answers[name] = [await attempt(api, name, "wrong-one") for _ in range(6)]
    assert answers["agent"] == answers["nobody-here"] == [401] * 5 + [429]


async def test_a_successful_login_clears_the_accounts_failures(start: Start) -> None:
    api = await start()
    for _ in range(4):
        assert await attempt(api, "agent", "typo-typo") == 401
    assert await attempt(api, "agent", "agent123") == 200
    for _ in range(4):
        assert await attempt(api, "agent", "typo-typo") == 401
    assert await attempt(api, "agent", "agent123") == 200


async def test_a_password_sprayer_is_locked_out_by_address(start: Start) -> None:
    api = await start({"login_max_failures_per_address": 6})
    for n in range(6):  # one try per name: no account reaches its limit
        assert await attempt(api, f"user{n}", "Summer2026!") == 401
    assert await attempt(api, "admin", "admin123") == 429  # this address is locked


async def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(start: Start) -> None:
    api = await start({"login_max_failures_per_address": 3})  # trusted_proxies: none
    for n in range(3):
        assert await attempt(api, f"user{n}", "wrong-one", via=f"203.0.113.{n}") == 401
    # Every claimed address was the test client's own: it is locked, whatever it claims.
    assert await attempt(api, "admin", "admin123", via="198.51.100.1") == 429


async def test_x_forwarded_for_is_honoured_from_a_trusted_proxy(start: Start) -> None:
    api = await start({"login_max_failures_per_address": 3}, trusted_proxies=["127.0.0.0/8"])
    # The client claims 192.0.2.66 itself; the proxy appends the address it saw (203.0.113.5),
    # then a second trusted proxy hop: the right-most untrusted address counts.
    spoofed = "192.0.2.66, 203.0.113.5, 127.0.0.2"
    for n in range(3):
        assert await attempt(api, f"user{n}", "wrong-one", via=spoofed) == 401
    assert await attempt(api, "admin", "admin123", via="203.0.113.5") == 429
    assert await attempt(api, "admin", "admin123", via="192.0.2.66") == 200  # not locked
    assert await attempt(api, "admin", "admin123", via="198.51.100.1") == 200
    assert await attempt(api, "admin", "admin123") == 200  # the proxy's own requests


async def test_forwarded_addresses_are_read_in_their_usual_forms(start: Start) -> None:
    api = await start({"login_max_failures_per_address": 3}, trusted_proxies=["127.0.0.1"])
    # The same IPv6 client three ways (with a port, bracketed, expanded): one address.
    for hop in ("[2001:db8::7]:51234", "2001:db8::7", "2001:0db8:0:0:0:0:0:7"):
        assert await attempt(api, f"user-{len(hop)}", "wrong-one", via=hop) == 401
    assert await attempt(api, "admin", "admin123", via="2001:db8::7") == 429
    # A hop that is no address ends the walk: the last good one (here the proxy) counts.
    assert await attempt(api, "admin", "admin123", via="2001:db8::7, unknown") == 200


async def test_the_lock_expires(start: Start) -> None:
    api = await start({"login_lockout_seconds": 1})
    for _ in range(5):
        assert await attempt(api, "agent", "typo-typo") == 401
    assert await attempt(api, "agent", "agent123") == 429
    assert api.last_headers["Retry-After"] == "1"
    await asyncio.sleep(1.1)
    assert await attempt(api, "agent", "agent123") == 200


def test_trusted_proxies_must_be_networks(tmp_path: Path) -> None:
    make_settings("sqlite://x.db", tmp_path, server={"trusted_proxies": ["10.0.0.0/8", "::1"]})
    with pytest.raises(SettingsError, match=r"server\.trusted_proxies"):
        make_settings("sqlite://x.db", tmp_path, server={"trusted_proxies": ["nginx"]})


async def login_status(api: Api, identifier: str, password: str) -> tuple[int, int | None]:
    """One login on its own (safe to run many at once): (status, Retry-After or None)."""
    body = {"identifier": identifier, "password": password}
    async with api.client.post("/auth/login", json=body) as response:
        await response.read()
        retry_after = response.headers.get("Retry-After")
        return response.status, None if retry_after is None else int(retry_after)


async def test_a_burst_of_concurrent_guesses_gets_at_most_the_limit_verified(
    start: Start,
) -> None:
    """Each attempt is counted before its password is verified: 100 guesses at once are not
    100 verifications (they all were, and all got 401)."""
    api = await start({"login_lockout_seconds": 600})
    answers = await asyncio.gather(
        *(login_status(api, "agent", f"wrong-guess-{n}") for n in range(100))
    )
    statuses = [status for status, _ in answers]
    assert statuses.count(401) == 5 and statuses.count(429) == 95, statuses
    waits = [wait for status, wait in answers if status == 429]
    assert len(waits) == 95 and all(wait is not None and 1 <= wait <= 600 for wait in waits), waits
    status, wait = await login_status(api, "agent", "agent123")
    assert status == 429 and wait is not None and 598 <= wait <= 600  # the lock, as it is


async def test_the_right_password_inside_a_burst_does_not_get_through_or_unlock(
    start: Start,
) -> None:
    # Real argon2 costs: each verification takes a while, as in production.
    api = await start({"argon2_time_cost": 3, "argon2_memory_kib": 65536})
    throttle = api.client.app[CONTEXT].throttle
    user = await User.get(username="agent")
    account = throttle.keys(f"user:{user.id}", "")[0]
    guesses = [
        asyncio.ensure_future(login_status(api, "agent", f"wrong-guess-{n}")) for n in range(20)
    ]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while throttle.counted(account) < 5:  # the guesses being verified fill the account's limit
        assert loop.time() < deadline
        await asyncio.sleep(0.005)
    right, _ = await login_status(api, "agent", "agent123")  # among them: not verified
    statuses = [status for status, _ in await asyncio.gather(*guesses)]
    assert right == 429
    assert statuses.count(401) == 5 and statuses.count(429) == 15
    # The guesses locked the account; the right password does not open it now either.
    assert (await login_status(api, "agent", "agent123"))[0] == 429


def test_a_success_keeps_the_failures_of_overlapping_attempts() -> None:
    """A success forgets the account's earlier typos, not failures that overlapped it."""
    throttle = LoginThrottle(max_failures=3, window_seconds=900)
    account, address = throttle.keys("user:7", "192.0.2.1")
    typo = throttle.reserve(account, address)
    throttle.failed(typo)  # ended before the success began: a typo
    guess = throttle.reserve(account, address)
    good = throttle.reserve(account, address)
    throttle.failed(guess)  # overlapped the success: stays counted
    throttle.succeeded(good)
    assert throttle.counted(account) == 1
    assert throttle.counted(address) == 2  # the address keeps every failure
    throttle.failed(throttle.reserve(account, address))
    throttle.failed(throttle.reserve(account, address))
    with pytest.raises(ApiError) as locked:
        throttle.reserve(account, address)
    assert locked.value.status == 429
