"""One route table drives both the aiohttp router and ``/openapi.json``.

A :class:`Route` says who may call it (public, any user, admins) and what it
takes (a pydantic body, a pydantic query); the wrapper checks the token, parses
and validates the input, and hands the handler a typed :class:`Call`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from dashboard_api.auth import actor_for, bearer_token, user_for_token
from dashboard_api.errors import ApiError, validation_details, validation_message
from dashboard_api.typedefs import CONTEXT, ApiContext
from handoff.domain.modes import Actor
from handoff.usecases.api_keys import KeyUse, RateLimited, is_key
from storage.models import MAX_ID, User

M = TypeVar("M", bound=BaseModel)


@dataclass(slots=True)
class Call:
    request: web.Request
    context: ApiContext
    user: User | None = None
    body: BaseModel | None = None
    query: BaseModel | None = None
    key: KeyUse | None = None  # the API key the call came with (then ``user`` is None)

    @property
    def actor(self) -> Actor:
        if self.key is not None:
            return self.key.actor
        if self.user is None:
            raise ApiError(401, "unauthorized", "a bearer token is required")
        return actor_for(self.user)

    def body_as(self, model: type[M]) -> M:
        assert isinstance(self.body, model)
        return self.body

    def query_as(self, model: type[M]) -> M:
        assert isinstance(self.query, model)
        return self.query

    def int_param(self, name: str) -> int:
        raw = self.request.match_info[name]
        if not raw.isdigit() or len(raw) > 18 or int(raw) > MAX_ID:  # nobody's
            raise ApiError(404, "not_found", f"no such {name.removesuffix('_id')}: {raw!r}")
        return int(raw)


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None  # a pydantic model, list[model], or None (see responses)
    body_optional: bool = False  # an empty body is fine (the handler gets None)
    status: int = 200
    # "public", "user", "admin" (people: a logged-in user, an admin) or "key" (API keys only).
    access: str = "user"
    # The API key scope that lets a key call this route (docs/api.md, "API keys"):
    # "chats:read", "messages:write", "contacts:write", "reports:read", "webhooks:write".
    # None: keys may not call it (users, keys and channels are managed by people only).
    # A key passes "admin" routes of its scopes: it has an admin's sight within them.
    scope: str | None = None
    responses: dict[int, str] = field(default_factory=dict)
    media_type: str = "application/json"  # of the success response
    # Other media types the success response may come as (e.g. "text/csv" with ?format=csv).
    also_media_types: tuple[str, ...] = ()
    # A plain aiohttp handler that does its own auth and parsing (the WebSocket); documented only.
    raw: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None
    # Also takes multipart/form-data with these fields (documented): the handler reads such
    # a body itself, as a stream (``call.body`` is None; client_max_size does not apply).
    form: type[BaseModel] | None = None
    # A body that is not JSON (e.g. "text/csv"), read by the handler itself; documented only.
    body_media_type: str | None = None


def to_aiohttp(route: Route) -> web.RouteDef:
    if route.raw is not None:
        return web.route(route.method, route.path, route.raw)

    async def endpoint(request: web.Request) -> web.StreamResponse:
        call = Call(request, request.app[CONTEXT])
        if route.access != "public":
            token = bearer_token(request.headers.get("Authorization"))
            if is_key(token):
                call.key = await key_for(call.context, route.scope, token)
            else:
                call.user, _ = await user_for_token(call.context.tokens, token)
                if route.access == "key":
                    raise ApiError(403, "forbidden", "only API keys may call this")
                if route.access == "admin" and not call.actor.is_admin:
                    raise ApiError(403, "forbidden", "only admins may do this")
        if route.query is not None:
            call.query = parse_query(request, route.query)
        streamed = route.form is not None and request.content_type == "multipart/form-data"
        if route.body is not None and not streamed:
            call.body = await parse_body(request, route.body, optional=route.body_optional)
        return await route.handler(call)

    return web.route(route.method, route.path, endpoint)


async def key_for(context: ApiContext, scope: str | None, key: str) -> KeyUse:
    """The API key ``key`` if it may call a route of ``scope`` now: 401 when it is unknown
    or revoked, 429 past its requests a minute, 403 when the route is not for keys
    (``forbidden``) or not of its scopes (``insufficient_scope``)."""
    keys = context.core.api_keys
    use = await keys.authenticate(key)
    if use is None:
        raise ApiError(
            401, "invalid_token", "the API key is not valid, or was revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )  # fmt: skip
    try:
        keys.rate.take(use.id)
    except RateLimited as exc:
        raise ApiError(
            429, "rate_limited",
            f"this key made more than {keys.rate.per_minute} requests a minute; "
            f"try again in {exc.retry_after} s",
            {"retry_after": exc.retry_after}, headers={"Retry-After": str(exc.retry_after)},
        ) from exc  # fmt: skip
    if scope is None:
        raise ApiError(403, "forbidden", "API keys may not call this; it is for people (log in)")
    if scope not in use.scopes:
        raise ApiError(
            403, "insufficient_scope", f"this key lacks the scope {scope}",
            {"required": scope, "scopes": sorted(use.scopes)},
        )  # fmt: skip
    keys.touch(use.id)
    return use


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ApiError(
            422, "validation_error", validation_message(exc), validation_details(exc)
        ) from exc


async def parse_body(request: web.Request, model: type[M], *, optional: bool = False) -> M | None:
    raw = await request.read()
    if not raw.strip():
        if optional:
            return None
        raise ApiError(400, "empty_body", "a JSON body is required")
    data = load_json(raw)
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "the body must be a JSON object")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ApiError(
            422, "validation_error", validation_message(exc), validation_details(exc)
        ) from exc


# No request body of ours nests deeper than a few levels or needs a number this long; a
# deeper or longer one is refused before it can cost a RecursionError or Python's
# int_max_str_digits ValueError (both were unhandled: a 500 with a traceback).
MAX_JSON_DEPTH = 32
MAX_NUMBER_CHARS = 64


class _NumberTooLong(ValueError):
    pass


def _parse_number(text: str, convert: Callable[[str], Any]) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(text[:20])
    return convert(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise _NumberTooLong(text[:20])
    return value


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


def load_json(raw: bytes) -> Any:
    """The body as JSON: 400 when it is not JSON, nests deeper than ``MAX_JSON_DEPTH`` or
    holds a number longer than ``MAX_NUMBER_CHARS`` characters (never a 500)."""
    try:
        data = json.loads(
            raw,
            parse_int=lambda text: _parse_number(text, int),
            parse_float=lambda text: _parse_number(text, _finite),
            parse_constant=_refuse_constant,  # NaN, Infinity
        )
    except _NumberTooLong as exc:
        raise ApiError(
            400, "number_too_long", "a number in the body is too long or too large (at most "
            f"{MAX_NUMBER_CHARS} characters, finite)", {"max_chars": MAX_NUMBER_CHARS},
        ) from exc  # fmt: skip
    except RecursionError as exc:
        raise _too_deep() from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc
    except ValueError as exc:  # anything else the decoder refuses
        raise ApiError(400, "malformed_json", "the body is not valid JSON") from exc
    if _depth(data) > MAX_JSON_DEPTH:
        raise _too_deep()
    return data


def _too_deep() -> ApiError:
    return ApiError(
        400, "json_too_deep", f"the body nests deeper than {MAX_JSON_DEPTH} levels",
        {"max_depth": MAX_JSON_DEPTH},
    )  # fmt: skip


def _depth(data: Any) -> int:
    """How deeply ``data`` nests (a scalar: 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            level += 1
            deepest = max(deepest, level)
            if level > MAX_JSON_DEPTH:
                return level
            stack.extend((child, level) for child in item)
    return deepest


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(data, status=status, headers=headers)
