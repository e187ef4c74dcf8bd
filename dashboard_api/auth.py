"""Bearer tokens (JWT HS256), the signing key, and slowing down password guessing."""

from __future__ import annotations

import os
import secrets
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from dashboard_api.errors import ApiError
from handoff.modes import Actor
from storage.models import Role, User

ALGORITHM = "HS256"
SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name, not a secret


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
    """Refuses logins from an address (or for a name) after repeated failures, for a while."""

    def __init__(self, max_failures: int, window_seconds: int) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) >= self.max_failures:
                wait = int(failures[0] + self.window - now) + 1
                raise ApiError(
                    429,
                    "too_many_attempts",
                    f"too many failed logins; try again in {wait} s",
                    {"retry_after": wait},
                    headers={"Retry-After": str(wait)},
                )

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._recent(key, now).append(now)
        if len(self._failures) > 10_000:  # bound memory under a spray of addresses
            for key in [k for k, v in self._failures.items() if not v]:
                del self._failures[key]

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures
