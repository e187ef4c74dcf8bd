"""Bad input on every route: a clear JSON error, and nothing written."""

from __future__ import annotations

import base64
import io
import re
import time
from typing import Any

import jwt
import pytest

from dashboard_api.app import ROUTES
from storage.models import Chat, ChatTransition, Message, User
from tests.support import TEST_SECRET, Api

PROTECTED = [route for route in ROUTES if route.access != "public"]
WITH_BODY = [route for route in ROUTES if route.body is not None and not route.body_optional]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _path(path: str, chat_id: int = 1, user_id: int = 1) -> str:
    path = path.replace("{chat_id}", str(chat_id)).replace("{user_id}", str(user_id))
    return re.sub(r"\{\w+\}", "1", path)  # any other id (message_id, index)


async def _counts() -> tuple[int, int, int, int]:
    return (
        await Chat.all().count(),
        await Message.all().count(),
        await User.all().count(),
        await ChatTransition.all().count(),
    )


def _assert_error(status: int, body: Any, expected_status: int, code: str | None = None) -> None:
    assert status == expected_status, body
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code


async def _caller(admin: Api, route: Any) -> Api:
    """Who may call ``route``: the admin, or for a route of API keys only, a key of its
    scope (made by the admin)."""
    if route.access != "key":
        return admin
    status, made = await admin.post("/api-keys", {"name": "errors", "scopes": [route.scope]})
    assert status == 201, made
    return Api(admin.client, made["key"])


def _token(**claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": "1", "role": "admin", "ver": 0, "iat": now, "exp": now + 600, **claims}
    return jwt.encode(payload, claims.pop("key", TEST_SECRET), algorithm="HS256")


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: f"{r.method} {r.path}")
async def test_no_token_is_401(anon: Api, route: Any) -> None:
    before = await _counts()
    status, body = await anon.call(route.method, _path(route.path), {})
    _assert_error(status, body, 401, "unauthorized")
    assert anon.last_headers["WWW-Authenticate"] == "Bearer"
    assert await _counts() == before


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        _token(exp=int(time.time()) - 10, iat=int(time.time()) - 100),
        _token() + "x",
        jwt.encode({"sub": "1", "iat": 1, "exp": 2**31}, "another-key-" + "y" * 40, "HS256"),
        _token(sub="999"),
        _token(ver=5),
    ],
    ids=["garbage", "expired", "tampered", "other-key", "unknown-user", "old-version"],
)
async def test_bad_tokens_are_401(anon: Api, token: str) -> None:
    status, body = await Api(anon.client, token).get("/chats/")
    _assert_error(status, body, 401)
    assert body["error"]["code"] in {"invalid_token", "token_expired"}


async def test_unsigned_alg_none_token_is_refused(anon: Api) -> None:
    header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
    unsigned = jwt.encode({"sub": "1", "iat": 1, "exp": 2**31}, key="", algorithm="none")
    assert unsigned.startswith(header)
    status, body = await Api(anon.client, unsigned).get("/chats/")
    _assert_error(status, body, 401, "invalid_token")


async def test_expired_token_says_so(anon: Api) -> None:
    expired = _token(exp=int(time.time()) - 10, iat=int(time.time()) - 100)
    status, body = await Api(anon.client, expired).get("/auth/me")
    _assert_error(status, body, 401, "token_expired")


@pytest.mark.parametrize("route", WITH_BODY, ids=lambda r: f"{r.method} {r.path}")
async def test_malformed_json_is_400(admin: Api, route: Any) -> None:
    caller = await _caller(admin, route)
    before = await _counts()
    for raw in (b'{"chat_id": 1,', b"\xff\xfe", b"not json"):
        status, body = await caller.call(route.method, _path(route.path), data=raw)
        _assert_error(status, body, 400, "malformed_json")
    status, body = await caller.call(route.method, _path(route.path), data=b"")
    _assert_error(status, body, 400, "empty_body")
    status, body = await caller.call(route.method, _path(route.path), data=b"[1, 2]")
    _assert_error(status, body, 422, "validation_error")
    assert await _counts() == before


@pytest.mark.parametrize(
    ("method", "path", "payload", "field"),
    [
        ("POST", "/chats/messages", {"chat_id": 1}, "text"),
        ("POST", "/chats/messages", {"text": "hi"}, "chat_id"),
        ("POST", "/chats/messages", {"chat_id": "1", "text": "hi"}, "chat_id"),
        ("POST", "/chats/messages", {"chat_id": 1, "text": 5}, "text"),
        ("POST", "/chats/messages", {"chat_id": 1, "text": "   "}, "text"),
        ("POST", "/chats/messages", {"chat_id": 1, "text": "hi", "sender": "customer"}, "sender"),
        ("POST", "/chats/messages", {"chat_id": 1, "text": "hi", "extra": 1}, "extra"),
        ("PATCH", "/chats/1", {"mode": "sleeping"}, "mode"),
        ("PATCH", "/chats/1", {"online": "yes"}, "online"),
        ("PATCH", "/chats/1", {"assigned_agent_id": -1}, "assigned_agent_id"),
        ("POST", "/chats/", {"customer_name": "A", "channel": "Fax"}, "channel"),
        # Made by their customers' first message (its address): a chat made here could
        # never be answered.
        ("POST", "/chats/", {"customer_name": "A", "channel": "API"}, "channel"),
        ("POST", "/chats/", {"customer_name": "A", "channel": "Widget"}, "channel"),
        ("POST", "/chats/", {"channel": "Email"}, "customer_name"),
        ("POST", "/auth/login", {"identifier": "admin"}, "password"),
        ("POST", "/auth/login", {"identifier": 1, "password": "x"}, "identifier"),
        ("POST", "/users", {"username": "x1", "password": "short"}, "password"),
        ("POST", "/users", {"username": "bob", "password": "longenough", "role": "boss"}, "role"),
        ("PATCH", "/users/1", {"capacity": -1}, "capacity"),
        ("POST", "/chats/1/assign", {"agent_id": "two"}, "agent_id"),
    ],
)
async def test_missing_and_wrong_fields_are_422_naming_the_field(
    admin: Api, method: str, path: str, payload: dict[str, Any], field: str
) -> None:
    before = await _counts()
    status, body = await admin.call(method, path, payload)
    _assert_error(status, body, 422, "validation_error")
    assert field in body["error"]["message"]
    assert field in {f["field"] for f in body["error"]["details"]["fields"]}
    assert await _counts() == before


@pytest.mark.parametrize(
    ("path", "query"),
    [("/chats/", "limit=0"), ("/chats/", "limit=abc"), ("/chats/", "mode=x"),
     ("/chats/", "cursor=@@@"), ("/chats/", "updated_since=yesterday"), ("/chats/", "foo=1"),
     ("/chats/1", "before=-3"), ("/chats/queue", "limit=1000"),
     # found by schemathesis: larger than SQLite's integers, it was a 500
     ("/chats/1", "before=6161081537858583396352"),
     # the same for numbers inside cursors and for assigned=<agent id>
     ("/chats/", "cursor=" + _b64('["2026-01-01T00:00:00+00:00", 1e30]')),
     ("/chats/queue", "cursor=" + _b64('{"offset": 1e30}')),
     ("/chats/", "assigned=" + "9" * 30)],
)  # fmt: skip
async def test_bad_query_parameters_are_422(admin: Api, path: str, query: str) -> None:
    status, body = await admin.get(f"{path}?{query}")
    _assert_error(status, body, 422)


async def test_huge_bodies_are_413(admin: Api) -> None:
    before = await _counts()
    huge = b'{"chat_id": 1, "text": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    status, body = await admin.call("POST", "/chats/messages", data=io.BytesIO(huge))
    _assert_error(status, body, 413, "payload_too_large")
    assert await _counts() == before


async def test_overlong_message_text_is_422(admin: Api) -> None:
    status, body = await admin.post("/chats/messages", {"chat_id": 1, "text": "x" * 20000})
    _assert_error(status, body, 422)


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("GET", "/chats/999", None),
        ("GET", "/chats/abc", None),
        ("GET", "/chats/99999999999999999999999", None),
        ("GET", "/chats/2147483648", None),  # past the largest id a table holds
        ("POST", "/chats/2147483648/close", None),
        ("PATCH", "/users/4294967296", {"capacity": 3}),
        ("PATCH", "/chats/999", {"mode": "agent"}),
        ("POST", "/chats/999/read", None),
        ("POST", "/chats/999/close", None),
        ("POST", "/chats/messages", {"chat_id": 999, "text": "hi"}),
        ("GET", "/users/999", None),
        ("PATCH", "/users/999", {"capacity": 3}),
        ("GET", "/no/such/route", None),
    ],
)
async def test_unknown_ids_are_404(
    admin: Api, method: str, path: str, payload: dict[str, Any] | None
) -> None:
    before = await _counts()
    status, body = await admin.call(method, path, payload)
    _assert_error(status, body, 404, "not_found")
    assert await _counts() == before


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/chats/messages", {"chat_id": 2**31, "text": "hi"}),
        ("/chats/1/assign", {"agent_id": 2**40}),
    ],
)
async def test_ids_past_the_largest_one_are_422(
    admin: Api, path: str, payload: dict[str, Any]
) -> None:
    before = await _counts()
    status, body = await admin.call("POST", path, payload)
    _assert_error(status, body, 422)
    assert await _counts() == before


async def test_wrong_method_is_405_json(admin: Api) -> None:
    status, body = await admin.call("DELETE", "/chats/messages")
    _assert_error(status, body, 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("GET", "/users", None),
        ("GET", "/users/1", None),
        ("POST", "/users", {"username": "mallory", "password": "password123"}),
        ("PATCH", "/users/2", {"capacity": 100}),
    ],
)
async def test_agents_cannot_use_admin_routes(
    agent: Api, method: str, path: str, payload: dict[str, Any] | None
) -> None:
    before = await _counts()
    status, body = await agent.call(method, path, payload)
    _assert_error(status, body, 403, "forbidden")
    assert await _counts() == before


async def test_illegal_mode_change_is_409_listing_the_allowed_ones(admin: Api) -> None:
    _, chats = await admin.get("/chats/")
    sarah = next(c for c in chats if c["name"] == "Sarah Williams")
    assert (await admin.post(f"/chats/{sarah['id']}/close"))[0] == 200
    before = await _counts()
    status, body = await admin.patch(f"/chats/{sarah['id']}", {"mode": "paused"})
    _assert_error(status, body, 409, "illegal_transition")
    assert body["error"]["details"]["mode"] == "closed"
    assert {m["to"] for m in body["error"]["details"]["allowed"]} == {"bot", "agent"}
    assert await _counts() == before


LONG = "x" * 300


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/chats/1/pause", {"reason": LONG}, "reason"),
        ("POST", "/chats/1/close", {"reason": "r" * 256}, "reason"),
        ("POST", "/chats/1/assign", {"agent_id": 2, "reason": LONG}, "reason"),
        ("POST", "/chats/", {"channel": "Email", "customer_name": "A",
                             "customer_email": "a" * 250 + "@x.io"}, "customer_email"),
        ("POST", "/chats/", {"channel": "WhatsApp", "customer_name": "A",
                             "customer_phone": "6" * 65}, "customer_phone"),
        ("PATCH", "/users/1", {"display_name": "d" * 129}, "display_name"),
        ("PATCH", "/users/1", {"email": "e" * 250 + "@x.io"}, "email"),
        ("POST", "/users", {"username": "newbie", "password": "long-enough-1",
                            "display_name": "d" * 129}, "display_name"),
    ],
)  # fmt: skip
async def test_values_longer_than_their_columns_are_422_not_500(
    admin: Api, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    """Found by schemathesis: the API accepted longer text than the database column holds."""
    before = await _counts()
    status, answer = await admin.call(method, path, body)
    _assert_error(status, answer, 422, "validation_error")
    assert answer["error"]["details"]["fields"][0]["field"] == field
    assert await _counts() == before


@pytest.mark.parametrize("identifier", ["u" * 65, "u" * 254, "a" * 240 + "@example.com"])
async def test_a_login_name_longer_than_any_username_is_refused_not_500(
    anon: Api, identifier: str
) -> None:
    """Found by schemathesis: the username lookup failed on names longer than the column."""
    status, body = await anon.post("/auth/login", {"identifier": identifier, "password": "x"})
    _assert_error(status, body, 401, "invalid_credentials")


HOSTILE_JSON = {
    "deep": (b'{"identifier": ' + b"[" * 100_000 + b"]" * 100_000 + b', "password": "x"}',
             "json_too_deep"),
    "deep-but-parsable": (b'{"identifier": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}",
                          "json_too_deep"),
    "long-int": (b'{"identifier": "admin", "password": ' + b"9" * 5000 + b"}", "number_too_long"),
    "huge-float": (b'{"identifier": "admin", "password": 1e999}', "number_too_long"),
    "nan": (b'{"identifier": "admin", "password": NaN}', "malformed_json"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(HOSTILE_JSON))
async def test_hostile_json_to_login_is_400_never_500(anon: Api, kind: str) -> None:
    """Unauthenticated: a RecursionError or int_max_str_digits' ValueError was a 500."""
    raw, code = HOSTILE_JSON[kind]
    status, body = await anon.call("POST", "/auth/login", data=raw)
    _assert_error(status, body, 400, code)


@pytest.mark.parametrize("route", WITH_BODY, ids=lambda r: f"{r.method} {r.path}")
async def test_hostile_json_is_400_on_every_route(admin: Api, route: Any) -> None:
    caller = await _caller(admin, route)
    before = await _counts()
    for raw, code in HOSTILE_JSON.values():
        status, body = await caller.call(route.method, _path(route.path), data=raw)
        _assert_error(status, body, 400, code)
    assert await _counts() == before


@pytest.mark.parametrize(
    "path", ["/static/js%00.js", "/static/%00", "/static/js/%0a.js", "/static/" + "a" * 5000]
)
async def test_invalid_static_paths_are_404(anon: Api, path: str) -> None:
    async with anon.client.get(path) as response:
        assert response.status == 404
