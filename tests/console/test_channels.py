"""The API and website-widget channels in the console: their icons and names in the chat
list, the channel filter, the chat header and the details panel; in English and
Indonesian, wide and narrow."""

from __future__ import annotations

from collections.abc import Iterator

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
    nothing leaves the machine) and a website chat."""
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
    status, chat = running.call(
        "POST", "/chats/", {"channel": "Widget", "customer_name": WIDGET_VISITOR}, token=token
    )
    assert status == 201, chat
    yield running
    stop_demo(running)


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
