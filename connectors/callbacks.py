"""Posting to the desk's own URLs: outgoing webhooks and the API channel's callbacks.

Every post is signed the same way (docs/api.md, "Outgoing webhooks"):

- ``X-Msgcenter-Timestamp``: the time of the attempt, in Unix seconds;
- ``X-Msgcenter-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with the endpoint's
  secret, of ``"<timestamp>.<raw body>"``;
- ``X-Msgcenter-Delivery``: the delivery's id, the same on every attempt (the receiver's key
  for deduplication).

Destinations must be public (an SSRF guard), unless ``allow_private``: a URL whose host is,
or resolves to, a loopback, private, link-local, shared (CGNAT), multicast, reserved or
unspecified address is refused. The check is made when a URL is registered
(:meth:`CallbackPoster.check`) and again at every delivery: names are resolved by
:class:`PublicResolver`, inside the connection itself, so the address connected to is the
address checked (a name that later resolves to a private address is refused then, and DNS
rebinding between a check and the connection cannot happen). Redirects are not followed:
a 3xx is a failed attempt like any other non-2xx answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

TIMESTAMP_HEADER = "X-Msgcenter-Timestamp"
SIGNATURE_HEADER = "X-Msgcenter-Signature"
DELIVERY_HEADER = "X-Msgcenter-Delivery"
USER_AGENT = "msgcenter-webhooks/1"
MAX_URL_CHARS = 2048
# What is read of a receiver's answer (it is recorded, never shown whole).
MAX_RESPONSE_BYTES = 64 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(Exception):
    """A URL msgcenter will not post to; the message says why (shown to the admin)."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` over ``"<timestamp>.<body>"``."""
    mac = hmac.new(secret.encode(), b"%d." % timestamp + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(
    secret: str, body: bytes, delivery_id: str, *, now: float | None = None
) -> dict[str, str]:
    """The headers of one attempt to post ``body``."""
    timestamp = int(time.time() if now is None else now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        DELIVERY_HEADER: delivery_id,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_seconds: int = 300,
) -> bool:
    """Whether ``headers`` sign ``body`` with ``secret`` within ``tolerance_seconds`` of now:
    what a receiver checks (the README's example does the same in a few lines)."""
    raw_timestamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not raw_timestamp.isdigit() or len(raw_timestamp) > 12:
        return False
    timestamp = int(raw_timestamp)
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, body))


def public(address: IPAddress) -> bool:
    """Whether ``address`` is one the open internet routes to (IPv4 in IPv6 judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return public(mapped)
    return address.is_global and not address.is_multicast


def check_url(url: str) -> URL:
    """``url`` parsed, or DestinationRefused: http or https, a host, no user or password."""
    if len(url) > MAX_URL_CHARS:
        raise DestinationRefused(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parsed = URL(url)
        port = parsed.port
    except (ValueError, TypeError) as exc:
        raise DestinationRefused("the URL is not valid") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise DestinationRefused("the URL must be http:// or https:// with a host")
    if parsed.user is not None or parsed.password is not None:
        raise DestinationRefused("the URL must not hold a user name or password")
    if port is None or not 0 < port < 65536:
        raise DestinationRefused("the URL's port is not valid")
    return parsed


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class PublicResolver(AbstractResolver):
    """aiohttp's threaded resolver, refusing a name with any non-public address."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._resolver = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        if not self.allow_private:
            for item in found:
                address = _literal(item["host"])
                if address is None or not public(address):
                    raise DestinationRefused(
                        f"{host} resolves to {item['host']}, which is not a public address"
                    )
        return found

    async def close(self) -> None:
        await self._resolver.close()


@dataclass(frozen=True, slots=True)
class PostResult:
    """One attempt: the receiver's status (None: no answer) or why there was none."""

    status: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class CallbackPoster:
    """Signed posts to public destinations (see the module's docstring). One per service;
    :meth:`close` when it stops."""

    def __init__(self, *, allow_private: bool, timeout_seconds: float) -> None:
        self.allow_private = allow_private
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=PublicResolver(allow_private=self.allow_private), limit=64
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _check_literal(self, url: URL) -> None:
        address = _literal(url.host or "")
        if address is not None and not self.allow_private and not public(address):
            raise DestinationRefused(f"{address} is not a public address")

    async def check(self, url: str) -> None:
        """DestinationRefused unless ``url`` may be posted to now (when it is registered)."""
        parsed = check_url(url)
        self._check_literal(parsed)
        if _literal(parsed.host or "") is not None:
            return
        resolver = PublicResolver(allow_private=self.allow_private)
        try:
            await asyncio.wait_for(
                resolver.resolve(parsed.host or "", parsed.port or 0, socket.AF_UNSPEC), 10
            )
        except (OSError, TimeoutError) as exc:
            raise DestinationRefused(f"{parsed.host} cannot be resolved") from exc
        finally:
            await resolver.close()

    async def post(
        self, url: str, body: bytes, *, secret: str, delivery_id: str, now: float | None = None
    ) -> PostResult:
        """Post ``body`` signed; never raises for the receiver's or the network's failures."""
        started = time.monotonic()

        def result(status: int | None, error: str | None) -> PostResult:
            return PostResult(status, error, int((time.monotonic() - started) * 1000))

        try:
            parsed = check_url(url)
            self._check_literal(parsed)
            headers = signed_headers(secret, body, delivery_id, now=now)
            async with self._client().post(
                parsed, data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.content.read(MAX_RESPONSE_BYTES)
                error = None if 200 <= response.status < 300 else f"HTTP {response.status}"
                if 300 <= response.status < 400:
                    error = f"HTTP {response.status}: redirects are not followed"
                return result(response.status, error)
        except DestinationRefused as exc:
            return result(None, f"destination refused: {exc}")
        except TimeoutError:
            return result(None, "timed out")
        except aiohttp.ClientError as exc:
            return result(None, f"{type(exc).__name__}: {exc}"[:500])
