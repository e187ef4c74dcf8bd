"""The API and website-widget channels in the console: their icons and names in the chat
list, the channel filter, the chat header and the details panel; in English and
Indonesian, wide and narrow."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest

from tests.console.support import (
    NARROW,
    Console,
    Demo,
    expect,
    free_port,
    open_chat,
    row,
    screenshot,
    start_demo,
    stop_demo,
)

API_CUSTOMER = "Budi Santoso"
WIDGET_VISITOR = "Web Visitor"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo, with an API chat (its callback on a closed local port: replies are retried,
    nothing leaves the machine) and a website chat (a visitor's first message)."""
    folder = tmp_path_factory.mktemp("console-channels")
    running = start_demo(
        folder / "data", folder / "demo.log", INTEGRATIONS__ALLOW_PRIVATE_DESTINATIONS="true"
    )
    token = running.login("admin", "admin123")
    status, channel = running.call(
        "POST", "/channels/api",
        {"name": "Mobile app", "callback_url": f"http://127.0.0.1:{free_port()}/hook",
         "secret": "console-test-secret-0123"},
        token=token,
    )  # fmt: skip
    assert status == 201, channel
    status, key = running.call(
        "POST", "/api-keys", {"name": "App", "scopes": ["messages:write"]}, token=token
    )
    assert status == 201, key
    status, posted = running.call(
        "POST", f"/channels/api/{channel['id']}/messages",
        {"external_id": "a-1", "customer": {"id": "u-7", "name": API_CUSTOMER},
         "text": "Halo, pesanan saya belum sampai"},
        token=key["key"],
    )  # fmt: skip
    assert status == 200, posted
    with ThreadPoolExecutor(1) as thread:  # (Playwright's loop runs in this one)
        thread.submit(lambda: asyncio.run(visitor_writes(running, token))).result()
    yield running
    stop_demo(running)


async def visitor_writes(demo: Demo, token: str) -> None:
    """A website visitor's first message, as the widget sends it: a session on the site's
    origin, then the message over the visitor's socket, until its acknowledgement."""
    origin = "https://shop.example"
    status, widget = demo.call(
        "POST", "/channels/widget", {"name": "Shop", "allowed_origins": [origin]}, token=token
    )
    assert status == 201, widget
    async with aiohttp.ClientSession(demo.base, headers={"Origin": origin}) as http:
        body = {"name": WIDGET_VISITOR}
        async with http.post(f"/widget/{widget['id']}/session", json=body) as answer:
            assert answer.status == 200, await answer.text()
            visitor = await answer.json()
        async with http.ws_connect(f"/widget/ws?token={visitor['token']}&after=0") as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "hello"
            await ws.send_json(
                {"type": "message", "ref": "first-message", "text": "Halo dari situs"}
            )
            for _ in range(20):
                frame = await ws.receive_json(timeout=10)
                assert frame["type"] != "error", frame
                if frame["type"] == "ack":
                    return
    raise AssertionError("the visitor's message was not acknowledged")


def test_api_and_website_chats_show_their_channel(console: Console) -> None:
    page = console.login("admin", "admin123")
    api = row(page, API_CUSTOMER)
    expect(api.locator(".channel-api svg")).to_have_attribute("aria-label", "API")
    widget = row(page, WIDGET_VISITOR)
    expect(widget.locator(".channel-widget svg")).to_have_attribute("aria-label", "Website chat")

    options = page.locator("#filter-channel option")
    expect(options).to_have_text(["All", "WhatsApp", "Telegram", "Email", "API", "Website chat"])
    page.select_option("#filter-channel", "API")
    expect(page.locator(".chat-row")).to_have_count(1)
    expect(page.locator(".chat-row .name")).to_have_text([API_CUSTOMER])
    page.select_option("#filter-channel", "Widget")
    expect(page.locator(".chat-row .name")).to_have_text([WIDGET_VISITOR])
    page.select_option("#filter-channel", "")

    open_chat(page, API_CUSTOMER)
    expect(page.locator(".chat-head .chat-sub")).to_contain_text("API")
    expect(page.locator(".chat-head .chat-sub .channel-api")).to_be_visible()
    screenshot(page, "channels-api-wide")
    open_chat(page, WIDGET_VISITOR)
    expect(page.locator(".chat-head .chat-sub")).to_contain_text("Website chat")
    screenshot(page, "channels-widget-wide")


def test_the_channels_in_indonesian_on_a_phone(console: Console) -> None:
    page = console.login("admin", "admin123", viewport=NARROW, locale="id-ID")
    widget = row(page, WIDGET_VISITOR)
    expect(widget.locator(".channel-widget svg")).to_have_attribute("aria-label", "Chat situs web")
    expect(row(page, API_CUSTOMER).locator(".channel-api")).to_be_visible()
    screenshot(page, "channels-list-narrow-id")
    expect(page.locator("#filter-channel option[value=Widget]")).to_have_text("Chat situs web")
    open_chat(page, WIDGET_VISITOR)
    expect(page.locator(".chat-head .chat-sub")).to_contain_text("Chat situs web")
    screenshot(page, "channels-widget-narrow-id")
