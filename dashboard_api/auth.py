"""Bearer tokens (JWT HS256), the signing key, and slowing down password guessing."""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import secrets
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web

from dashboard_api.errors import ApiError
from handoff.modes import Actor
from storage.models import Role, User

ALGORITHM = "HS256"
SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name, not a secret

log = logging.getLogger(__name__)


def load_or_create_secret(configured: str | None, data_dir: Path) -> str:
    """The configured key, or the one generated on first start into a 0600 file."""
    if configured:
        return configured
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text("utf-8").strip()
        if len(secret) < 32:
            raise RuntimeError(f"{path} holds a key shorter than 32 bytes") from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: int
    role: str
    version: int
    expires_at: int


class Tokens:
    def __init__(self, secret: str, ttl_minutes: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_minutes * 60

    def issue(self, user: User) -> tuple[str, int]:
        """A token for ``user`` and its lifetime in seconds."""
        now = int(time.time())
        claims = {
            "sub": str(user.id),
            "role": str(user.role),
            "ver": user.token_version,
            "iat": now,
            "exp": now + self.ttl_seconds,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), self.ttl_seconds

    def decode(self, token: str) -> Claims:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub"]},
            )
            return Claims(
                int(claims["sub"]), str(claims.get("role", "")), int(claims.get("ver", 0)),
                int(claims["exp"]),
            )  # fmt: skip
        except jwt.ExpiredSignatureError as exc:
            raise ApiError(401, "token_expired", "the token has expired; log in again") from exc
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise ApiError(401, "invalid_token", "the token is not valid") from exc


async def user_for_token(tokens: Tokens, token: str) -> tuple[User, Claims]:
    """The active user a token belongs to; 401 if the user is gone, inactive or the token old."""
    claims = tokens.decode(token)
    user = await User.get_or_none(id=claims.user_id)
    if user is None or not user.active or user.token_version != claims.version:
        raise ApiError(401, "invalid_token", "the token is no longer valid; log in again")
    return user, claims


def bearer_token(header: str | None) -> str:
    if not header:
        raise ApiError(
            401,
            "unauthorized",
            "a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "unauthorized",
            "the Authorization header must be 'Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def actor_for(user: User) -> Actor:
    return Actor.person(
        user.id, is_admin=user.role == Role.ADMIN, name=user.display_name or user.username
    )


class LoginThrottle:
    """Refuses logins for an account, and from an address, after repeated failures, for a while.

    Two limits with counters of their own: per account (``max_failures``, low: one person's
    typos, or a guesser aiming at one user from many addresses) and per address
    (``address_max_failures``, high: a whole office behind one NAT or the reverse proxy is
    not locked out by one person, but a password sprayer trying many names is). Failures
    older than ``window_seconds`` are forgotten; reaching a limit locks that account or
    address for ``lockout_seconds``. An account is keyed on the user when the name exists
    and on the name as typed when it does not: both lock alike, so the answer says nothing
    about which names exist. A successful login clears the account's failures, not the
    address's (one good password must not reset a sprayer's count).

    The counters live in this process, as they always have (not in Redis): with several
    processes each counts its own attempts.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window_seconds: int = 900,
        *,
        address_max_failures: int = 50,
        lockout_seconds: int | None = None,
        trusted_proxies: Sequence[str] = (),
    ) -> None:
        self.max_failures = max_failures
        self.address_max_failures = address_max_failures
        self.window = window_seconds
        self.lockout = window_seconds if lockout_seconds is None else lockout_seconds
        self.trusted_proxies = [
            ipaddress.ip_network(item, strict=False) for item in trusted_proxies
        ]
        self._failures: dict[str, deque[float]] = {}
        self._locked: dict[str, float] = {}  # key -> when its lock ends (monotonic)

    # -- who is asking ------------------------------------------------------------------

    def client_address(self, request: web.Request) -> str:
        """The address a login comes from: the socket peer, or, when the peer is a trusted
        proxy, the right-most ``X-Forwarded-For`` entry that is not a trusted proxy."""
        peer = request.remote or ""
        if not self._trusted(peer):
            return peer
        hops = [
            hop.strip()
            for header in request.headers.getall("X-Forwarded-For", [])
            for hop in header.split(",")
        ]
        client = peer
        for hop in reversed(hops):
            address = _parse_address(hop)
            if address is None:  # written by whoever is left of the last good hop: stop there
                break
            client = address
            if not self._trusted(address):
                break
        return client

    def _trusted(self, address: str) -> bool:
        if not self.trusted_proxies:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)

    # -- the limits -----------------------------------------------------------------------

    def keys(self, account: str, address: str) -> tuple[str, str]:
        """The counters of one login attempt: ``(account key, address key)``."""
        return f"account:{account}", f"address:{address}"

    def check(self, *keys: str) -> None:
        """429 (with Retry-After) when any of ``keys`` is locked."""
        now = time.monotonic()
        wait = 0.0
        for key in keys:
            until = self._locked.get(key)
            if until is None:
                continue
            if until <= now:
                del self._locked[key]
            else:
                wait = max(wait, until - now)
        if wait:
            seconds = math.ceil(wait)
            raise ApiError(
                429,
                "too_many_attempts",
                f"too many failed logins; try again in {seconds} s",
                {"retry_after": seconds},
                headers={"Retry-After": str(seconds)},
            )

    def failed(self, *keys: str) -> None:
        """Count a failure for each key; a key that reaches its limit is locked."""
        now = time.monotonic()
        for key in keys:
            failures = self._recent(key, now)
            failures.append(now)
            if len(failures) >= self._limit(key):
                self._locked[key] = now + self.lockout
                failures.clear()
                log.warning(
                    "logins locked for %d s: %s (%d failures in %d s)",
                    self.lockout, key, self._limit(key), self.window,
                )  # fmt: skip
        if len(self._failures) > 10_000 or len(self._locked) > 10_000:
            self._prune(now)  # bound memory under a spray of names and addresses

    def succeeded(self, account_key: str) -> None:
        """A good password: that account starts again from no failures."""
        self._failures.pop(account_key, None)

    def _limit(self, key: str) -> int:
        return self.address_max_failures if key.startswith("address:") else self.max_failures

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._failures.items() if not self._recent(k, now)]:
            del self._failures[key]
        for key in [k for k, until in self._locked.items() if until <= now]:
            del self._locked[key]


def _parse_address(hop: str) -> str | None:
    """An ``X-Forwarded-For`` entry as a plain address (ports and brackets dropped), or None."""
    candidate = hop.strip()
    if candidate.startswith("["):  # [2001:db8::1]:443
        candidate = candidate[1:].partition("]")[0]
    elif candidate.count(":") == 1:  # 192.0.2.1:443
        candidate = candidate.partition(":")[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


async def account_key(identifier: str) -> str:
    """What the per-account limit counts for a login name: the user it names, when there is
    one (its username and email count together), else the name itself, lower-cased."""
    name = identifier.strip()
    field = "email" if "@" in name else "username"
    if len(name) <= (254 if field == "email" else 64):  # longer: nobody (the ORM would raise)
        user_id = await User.filter(**{field: name}).first().values_list("id", flat=True)
        if user_id is not None:
            return f"user:{user_id}"
    return f"name:{name.lower()}"
