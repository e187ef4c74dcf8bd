"""The live stream in the browser: a dropped socket resumes, a resync catches up, typing shows."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.console.support import (
    Console,
    Demo,
    chat_id,
    expect,
    open_chat,
    row,
    sign_in,
)


def test_a_dropped_socket_shows_reconnecting_and_resumes_after_the_last_seq(
    console: Console, demo: Demo
) -> None:
    page = console.page()
    urls: list[str] = []
    routes: list[Any] = []
    link = {"up": True}

    def route(socket: Any) -> None:
        urls.append(socket.url)
        routes.append(socket)
        server = socket.connect_to_server()
        if len(urls) == 1:  # the first connection: frames pass only while the link is "up"
            server.on_message(lambda message: link["up"] and socket.send(message))

    page.context.route_web_socket(re.compile(r"/ws(\?|$)"), route)
    page.reload()
    sign_in(page, "admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Sarah Williams")
    link["up"] = False  # frames from now on are lost, as on a dying connection
    token = demo.login("admin", "admin123")
    sarah = chat_id(demo, token, "Sarah Williams")
    body = {"chat_id": sarah, "text": "Sent while your link was down"}
    assert demo.call("POST", "/chats/messages", body, token=token)[0] == 201
    routes[0].close(code=4000, reason="test drop")
    expect(page.locator(".conn")).to_have_attribute("data-state", "reconnecting")
    expect(page.locator(".conn")).to_have_attribute("data-state", "live")
    assert len(urls) == 2 and re.search(r"after_seq=\d+", urls[1]), urls
    expect(page.locator(".msg-agent", has_text="Sent while your link was down")).to_be_visible()


def test_a_resync_frame_fetches_what_changed_since_the_newest_row(
    console: Console, demo: Demo
) -> None:
    page = console.page()
    sockets: list[Any] = []
    link = {"up": True}

    def route(socket: Any) -> None:
        sockets.append(socket)
        server = socket.connect_to_server()
        server.on_message(lambda message: link["up"] and socket.send(message))

    page.context.route_web_socket(re.compile(r"/ws(\?|$)"), route)
    page.reload()
    sign_in(page, "admin", "admin123")
    expect(row(page, "John Doe")).to_be_visible()
    link["up"] = False  # this change is never pushed: the server "forgot" it
    token = demo.login("admin", "admin123")
    created = {"customer_name": "Missed While Away", "channel": "Telegram"}
    assert demo.call("POST", "/chats/", created, token=token)[0] == 201
    resync = {"type": "resync", "seq": 10**6, "chat_id": None, "data": {"reason": "test"}}
    with page.expect_request(re.compile(r"/chats/\?.*updated_since=")):
        sockets[-1].send(json.dumps(resync))
    expect(row(page, "Missed While Away")).to_be_visible()


def test_the_agent_typing_shows_on_the_admins_screen(console: Console) -> None:
    admin = console.login("admin", "admin123")
    admin.click("#tab-all")
    open_chat(admin, "John Doe")
    agent = console.login("agent", "agent123")
    open_chat(agent, "John Doe")
    agent.locator("#composer-input").press_sequentially("Let me check")
    expect(admin.locator(".typing")).to_have_text("Agent Smith is typing…")
