"""Errors the domain raises; the API turns each kind into its HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request the domain refuses; ``code`` is stable, ``message`` is for people."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class NotFound(DomainError):
    """The thing does not exist, or the actor may not know that it does."""

    code = "not_found"


class Forbidden(DomainError):
    code = "forbidden"


class Conflict(DomainError):
    """The request is well formed but the current state does not allow it."""

    code = "conflict"


class Invalid(DomainError):
    """A value is well typed but not acceptable (e.g. an inactive agent)."""

    code = "invalid"


class Exhausted(DomainError):
    """A limit of a period is reached (the day's tokens of the language model)."""

    code = "exhausted"


class Upstream(DomainError):
    """A service msgcenter relies on (the language model) answered with an error, or with an
    answer that cannot be used."""

    code = "upstream_error"


class UpstreamTimeout(Upstream):
    """A service msgcenter relies on gave no answer in time."""

    code = "upstream_timeout"
