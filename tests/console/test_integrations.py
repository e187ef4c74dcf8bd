"""The Integrations page in the browser (admins): an endpoint registered and its signed
deliveries seen at a real receiver and in the page's delivery log; an API key shown once,
working, then revoked; an API channel and a website widget made, the widget's snippet shown;
the page on a 390 px phone in Indonesian; agents have no such page. The demo allows private
destinations (its own receiver is on 127.0.0.1), so the test's receiver is taken too."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectors.callbacks import verify
from tests.console.support import (
    NARROW,
    Console,
    Demo,
    expect,
    http,
    open_chat,
    screenshot,
    wait_for,
)

SECRET = "console-test-secret-0123"


class Receiver:
    """An HTTP server on 127.0.0.1 keeping every post it gets (204 to each)."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        seen = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                seen.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def open_integrations(page: Any) -> None:
    page.click("button.view-button[data-view=integrations]")
    expect(page.locator(".integrations-view h2")).to_be_visible()


def test_an_admin_connects_a_webhook_a_key_a_channel_and_a_widget(
    console: Console, demo: Demo, receiver: Receiver
) -> None:
    page = console.login("admin", "admin123")
    open_integrations(page)
    for key in ("webhooks", "keys", "channels", "widgets"):
        expect(page.locator(f"#integrations-{key} h3")).to_be_visible()

    # An endpoint: a customer's message reaches the receiver, signed, and shows in the log.
    form = page.locator("form[data-section=webhooks]")
    form.locator("#webhook-url").fill(receiver.url)
    form.locator("#webhook-secret").fill(SECRET)
    form.locator("input[name=events][value='message.created']").check()
    form.locator("button[type=submit]").click()
    endpoint = page.locator("table[data-section=webhooks] tbody tr", has_text=receiver.url)
    expect(endpoint).to_be_visible()
    expect(endpoint.locator("code.event-type")).to_have_text(["message.created"])
    demo.simulate("whatsapp", "Rina Webhook", "Hello, is my order on its way?")
    headers, body = wait_for(
        lambda: next((post for post in receiver.posts if b"Hello, is my order" in post[1]), None),
        timeout=20,
    )
    assert verify(SECRET, headers, body)
    delivery = json.loads(body)
    assert delivery["type"] == "message.created"
    assert headers["X-Msgcenter-Delivery"] == delivery["id"]
    endpoint.locator("button.deliveries").click()
    log = page.locator(".integrations-deliveries tbody tr").first
    expect(log).to_have_attribute("data-status", "delivered")
    expect(log).to_contain_text("204")

    # A key: shown once, works on the API within its scope, then revoked.
    form = page.locator("form[data-section=keys]")
    form.locator("#key-name").fill("CRM sync")
    form.locator("input[name=scopes][value='chats:read']").check()
    form.locator("button[type=submit]").click()
    shown = page.locator("#integrations-keys .integrations-secret")
    expect(shown).to_be_visible()
    key = shown.input_value()
    assert key and "CRM sync" not in key
    assert http("GET", demo.base + "/chats/", token=key)[0] == 200
    assert http("GET", demo.base + "/users", token=key)[0] == 403
    row = page.locator("table[data-section=keys] tbody tr", has_text="CRM sync")
    expect(row).to_be_visible()
    assert key not in page.locator("table[data-section=keys]").inner_text()  # the list hides it
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.danger").click()
    expect(row).to_contain_text("Revoked")
    assert http("GET", demo.base + "/chats/", token=key)[0] == 401

    # An API channel and a widget.
    form = page.locator("form[data-section=channels]")
    form.locator("#channel-name").fill("Mobile app")
    form.locator("#channel-callback").fill(receiver.url)
    form.locator("#channel-secret").fill(SECRET)
    form.locator("button[type=submit]").click()
    expect(
        page.locator("table[data-section=channels] tbody tr", has_text="Mobile app")
    ).to_be_visible()
    messages_url = page.locator("#integrations-channels .integrations-secret").input_value()
    assert re.fullmatch(re.escape(demo.base) + r"/channels/api/\d+/messages", messages_url)
    form = page.locator("form[data-section=widgets]")
    form.locator("#widget-name").fill("Shop")
    form.locator("#widget-origins").fill("https://shop.example")
    form.locator("#widget-greeting").fill("Hi! How can we help?")
    form.locator("button[type=submit]").click()
    expect(page.locator("table[data-section=widgets] tbody tr", has_text="Shop")).to_be_visible()
    snippet = page.locator("#integrations-widgets .integrations-secret").input_value()
    assert "/widget.js" in snippet and "<script" in snippet
    screenshot(page, "integrations-1280")


def test_the_page_on_a_phone_in_indonesian_and_none_for_agents(console: Console) -> None:
    phone = console.login("admin", "admin123", NARROW)
    phone.locator("#lang-switch").select_option("id")
    open_integrations(phone)
    expect(phone.locator(".integrations-view h2")).to_have_text("Integrasi")
    expect(phone.locator("#integrations-keys h3")).to_have_text("Kunci API")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the page scrolls sideways ({width}px)"
    screenshot(phone, "integrations-390")

    agent = console.login("agent", "agent123")
    expect(agent.locator("button.view-button[data-view=kb]")).to_be_visible()
    expect(agent.locator("button.view-button[data-view=integrations]")).to_have_count(0)


def test_a_keys_reply_shows_under_the_keys_name(console: Console, demo: Demo) -> None:
    """An integration's reply has no agent: the thread names its key, in either language."""
    token = demo.login("admin", "admin123")
    body = {"name": "Order system", "scopes": ["chats:read", "messages:write"]}
    status, made = demo.call("POST", "/api-keys", body, token=token)
    assert status == 201, made
    status, chats = demo.call("GET", "/chats/?q=Maria", token=made["key"])
    assert status == 200 and chats, chats
    reply = {"chat_id": chats[0]["id"], "text": "Your order 1042 has shipped: JNE 8842113."}
    status, sent = demo.call("POST", "/chats/messages", reply, token=made["key"])
    assert status == 201 and sent["author"] == "Order system", sent

    page = console.login("admin", "admin123")
    open_chat(page, "Maria Lopez")
    shown = page.locator(f".msg[data-message-id='{sent['id']}']")
    expect(shown.locator(".who")).to_have_text("Order system (API)")
    screenshot(page, "integration-reply-1280")
    phone = console.login("admin", "admin123", NARROW)
    phone.locator("#lang-switch").select_option("id")
    open_chat(phone, "Maria Lopez")
    shown = phone.locator(f".msg[data-message-id='{sent['id']}']")
    expect(shown.locator(".who")).to_have_text("Order system (API)")
    shown.scroll_into_view_if_needed()
    screenshot(phone, "integration-reply-390")
