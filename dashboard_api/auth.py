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
from handoff.domain.modes import Actor
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
    about which names exist.

    An attempt is counted *before* its password is verified (:meth:`reserve`), so a burst
    of concurrent guesses gets at most the limit's number verified and the rest 429. A
    successful login takes back its own attempt and forgets the account's failures that
    ended before it began (one's own typos), never those of overlapping attempts, nor a
    lock, nor the address's count (one good password must not reset a guesser's count).

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
        self._attempts: dict[str, deque[Attempt]] = {}  # recent attempts, failed or in flight
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

    def reserve(self, *keys: str) -> Attempt:
        """Count a login attempt against each of ``keys`` before its password is verified;
        429 (with Retry-After) when any key is locked or has no attempt left.

        Checking and counting happen together, with no ``await`` in between, so concurrent
        logins cannot all pass the check before any of them is counted: of a burst, at most
        the limit's number are verified. Settle the attempt with :meth:`failed` or
        :meth:`succeeded`."""
        now = time.monotonic()
        wait = 0.0
        for key in keys:
            until = self._locked.get(key)
            if until is not None and until <= now:
                del self._locked[key]
            elif until is not None:
                wait = max(wait, until - now)
            else:
                attempts = self._recent(key, now)
                if len(attempts) >= self._limit(key):  # taken by attempts still in flight
                    # They end in a second; if they all fail, the lock they set is the wait.
                    wait = max(wait, min(attempts[0].at + self.window - now, self.lockout))
        if wait:
            seconds = max(math.ceil(wait), 1)
            raise ApiError(
                429,
                "too_many_attempts",
                f"too many failed logins; try again in {seconds} s",
                {"retry_after": seconds},
                headers={"Retry-After": str(seconds)},
            )
        attempt = Attempt(keys, now)
        for key in keys:
            self._attempts.setdefault(key, deque()).append(attempt)
        if len(self._attempts) > 10_000 or len(self._locked) > 10_000:
            self._prune(now)  # bound memory under a spray of names and addresses
        return attempt

    def failed(self, attempt: Attempt) -> None:
        """The password was wrong: the attempt stays counted; a key that reaches its limit
        is locked for ``lockout_seconds`` from now."""
        now = time.monotonic()
        attempt.failed_at = now
        for key in attempt.keys:
            attempts = self._recent(key, now)
            failures = sum(1 for item in attempts if item.failed_at is not None)
            if failures >= self._limit(key) and self._locked.get(key, 0.0) <= now:
                self._locked[key] = now + self.lockout
                attempts.clear()
                log.warning(
                    "logins locked for %d s: %s (%d failures in %d s)",
                    self.lockout, key, failures, self.window,
                )  # fmt: skip

    def succeeded(self, attempt: Attempt) -> None:
        """A good password: its own attempt is taken back from every count, and the
        account's failures that had ended before it began are forgotten (one's own typos).
        Failures of attempts that overlapped it (a guesser's burst) stay counted, and a
        lock stays: a correct password never unlocks an account or an address."""
        for key in attempt.keys:
            attempts = self._attempts.get(key)
            if attempts is None:
                continue
            earlier_typos = key.startswith("account:")
            kept = [
                item for item in attempts
                if item is not attempt
                and not (earlier_typos and item.failed_at is not None
                         and item.failed_at <= attempt.at)
            ]  # fmt: skip
            attempts.clear()
            attempts.extend(kept)

    def counted(self, key: str) -> int:
        """Attempts counted against ``key`` now: failed or still being verified."""
        return len(self._recent(key, time.monotonic()))

    def _limit(self, key: str) -> int:
        return self.address_max_failures if key.startswith("address:") else self.max_failures

    def _recent(self, key: str, now: float) -> deque[Attempt]:
        attempts = self._attempts.setdefault(key, deque())
        while attempts and attempts[0].at <= now - self.window:
            attempts.popleft()
        return attempts

    def _prune(self, now: float) -> None:
        for key in [k for k in self._attempts if not self._recent(k, now)]:
            del self._attempts[key]
        for key in [k for k, until in self._locked.items() if until <= now]:
            del self._locked[key]


class Attempt:
    """One login attempt, counted from :meth:`LoginThrottle.reserve` until it is settled."""

    __slots__ = ("at", "failed_at", "keys")

    def __init__(self, keys: tuple[str, ...], at: float) -> None:
        self.keys = keys
        self.at = at  # when it was counted (monotonic)
        self.failed_at: float | None = None  # when its password proved wrong


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
