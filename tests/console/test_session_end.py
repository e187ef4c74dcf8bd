"""A console whose user is deactivated goes to the login screen with a notice at once (the
socket closes with 4001) and does not try to reconnect with the old token."""

from __future__ import annotations

from typing import Any

from tests.console.support import Console, Demo, expect, sign_in


def test_a_deactivated_users_console_returns_to_the_login_screen(
    console: Console, demo: Demo
) -> None:
    admin = demo.login("admin", "admin123")
    body = {"username": "sesi", "password": "sesi-pass-123", "display_name": "Sesi"}
    status, user = demo.call("POST", "/users", body, token=admin)
    assert status == 201, user
    page = console.page()
    sockets: list[Any] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    sign_in(page, "sesi", "sesi-pass-123")
    assert len(sockets) == 1
    assert demo.call("PATCH", f"/users/{user['id']}", {"active": False}, token=admin)[0] == 200
    expect(page.locator("#login-identifier")).to_be_visible()
    expect(page.locator(".notice")).to_have_text("Your session has expired. Please sign in again.")
    page.wait_for_timeout(1500)  # a reconnection would have started by now (backoff 0.5 s)
    assert len(sockets) == 1, [s.url for s in sockets]
