"""Logging in, tokens, the signing key, and user management."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt

from dashboard_api.auth import load_or_create_secret
from storage.models import User
from tests.support import TEST_SECRET, Api


async def test_login_by_username_or_email_returns_a_bearer_token(anon: Api) -> None:
    for identifier in ("admin", "admin@example.com"):
        status, body = await anon.post(
            "/auth/login", {"identifier": identifier, "password": "admin123"}
        )
        assert status == 200
        assert body["token_type"] == "bearer"
        assert body["user"]["role"] == "admin"
        claims = jwt.decode(body["access_token"], TEST_SECRET, algorithms=["HS256"])
        assert claims["sub"] == str(body["user"]["id"])
        assert claims["role"] == "admin"
        assert claims["exp"] - claims["iat"] == body["expires_in"]


async def test_wrong_password_is_401_without_saying_which_part(anon: Api) -> None:
    for identifier, password in (("admin", "nope-nope"), ("nobody", "admin123")):
        status, body = await anon.post(
            "/auth/login", {"identifier": identifier, "password": password}
        )
        assert (status, body["error"]["code"]) == (401, "invalid_credentials")


async def test_repeated_failures_are_slowed_with_429(anon: Api) -> None:
    for _ in range(5):
        status, _ = await anon.post("/auth/login", {"identifier": "agent", "password": "guess123"})
        assert status == 401
    status, body = await anon.post("/auth/login", {"identifier": "agent", "password": "agent123"})
    assert (status, body["error"]["code"]) == (429, "too_many_attempts")
    assert int(anon.last_headers["Retry-After"]) > 0


async def test_me_describes_the_logged_in_user(agent: Api) -> None:
    status, me = await agent.get("/auth/me")
    assert status == 200
    assert (me["username"], me["role"], me["open_chats"]) == ("agent", "agent", 2)
    assert "password_hash" not in me


async def test_admins_manage_users(admin: Api) -> None:
    status, user = await admin.post(
        "/users",
        {"username": "siti", "password": "rahasia123", "email": "siti@example.com",
         "display_name": "Siti", "capacity": 3},
    )  # fmt: skip
    assert status == 201
    assert (user["role"], user["capacity"], user["active"]) == ("agent", 3, True)
    stored = await User.get(id=user["id"])
    assert stored.password_hash.startswith("$argon2id$")
    status, body = await admin.post("/users", {"username": "siti", "password": "another123"})
    assert (status, body["error"]["code"]) == (409, "username_taken")
    status, changed = await admin.patch(f"/users/{user['id']}", {"capacity": 8, "role": "admin"})
    assert (status, changed["capacity"], changed["role"]) == (200, 8, "admin")
    _, users = await admin.get("/users")
    assert [u["username"] for u in users] == ["admin", "agent", "siti"]
    _, agents = await admin.get("/agents")
    assert {a["display_name"] for a in agents} == {"Admin", "Agent Smith", "Siti"}


async def test_a_password_change_ends_old_tokens(admin: Api, agent: Api) -> None:
    _, me = await agent.get("/auth/me")
    assert (await admin.patch(f"/users/{me['id']}", {"password": "brand-new-1"}))[0] == 200
    assert (await agent.get("/chats/"))[0] == 401
    fresh = await admin.login("agent", "brand-new-1")
    assert (await fresh.get("/chats/"))[0] == 200


async def test_a_deleted_user_token_is_refused(admin: Api, agent: Api) -> None:
    await User.filter(username="agent").delete()
    status, body = await agent.get("/chats/")
    assert (status, body["error"]["code"]) == (401, "invalid_token")


async def test_admins_cannot_lock_themselves_out(admin: Api) -> None:
    _, me = await admin.get("/auth/me")
    status, _ = await admin.patch(f"/users/{me['id']}", {"active": False})
    assert status == 409


def test_the_signing_key_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    first = load_or_create_secret(None, tmp_path / "data")
    again = load_or_create_secret(None, tmp_path / "data")
    assert first == again and len(first) >= 32
    mode = stat.S_IMODE((tmp_path / "data" / "jwt_secret").stat().st_mode)
    assert mode == 0o600
    assert (
        load_or_create_secret("configured-" + "k" * 30, tmp_path / "x") == "configured-" + "k" * 30
    )
    assert not (tmp_path / "x").exists()


async def test_health_needs_no_token_and_openapi_describes_every_route(
    anon: Api, admin: Api
) -> None:
    status, health = await anon.get("/healthz")
    assert (status, health["status"], health["checks"]["database"]) == (200, "ok", "ok")
    assert (await anon.get("/openapi.json"))[0] == 401
    status, spec = await admin.get("/openapi.json")
    assert status == 200
    assert spec["openapi"].startswith("3.")
    expected = [
        ("/chats/", "get"), ("/chats/{chat_id}", "patch"), ("/chats/messages", "post"),
        ("/chats/{chat_id}/read", "post"), ("/auth/login", "post"), ("/users", "post"),
        ("/chats/queue", "get"),
    ]  # fmt: skip
    for path, method in expected:
        assert method in spec["paths"][path], (path, method)
    # A person's token on every route; an API key too on the routes of a scope (the chats).
    assert spec["paths"]["/chats/"]["get"]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert spec["paths"]["/users"]["post"]["security"] == [{"bearer": []}]
