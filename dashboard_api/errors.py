"""Every API error is JSON: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from handoff.domain.errors import (
    Conflict,
    DomainError,
    Exhausted,
    Forbidden,
    Invalid,
    NotFound,
    Upstream,
    UpstreamTimeout,
)
from handoff.domain.modes import IllegalTransition

log = logging.getLogger(__name__)

DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    Invalid: 422,
    Exhausted: 429,
    UpstreamTimeout: 504,  # before Upstream: the first kind that matches gives the status
    Upstream: 502,
}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    502: "bad_gateway",
    503: "unavailable",
    504: "gateway_timeout",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return web.json_response(body, status=status, headers=headers)


def validation_details(error: ValidationError) -> dict[str, Any]:
    fields = []
    for item in error.errors(include_url=False, include_input=False):
        fields.append(
            {
                "field": ".".join(str(part) for part in item["loc"]) or None,
                "message": item["msg"],
                "type": item["type"],
            }
        )
    return {"fields": fields}


def validation_message(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
    except IllegalTransition as exc:
        return error_response(
            409,
            "illegal_transition",
            str(exc),
            {"mode": str(exc.current), "allowed": exc.allowed},
        )
    except DomainError as exc:
        status = next((s for kind, s in DOMAIN_STATUS.items() if isinstance(exc, kind)), 400)
        return error_response(status, exc.code, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = HTTP_CODES.get(exc.status, "http_error")
        message = exc.reason if exc.status != 413 else "request body is too large"
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(exc.status, code, message, headers=headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "something went wrong on our side")
