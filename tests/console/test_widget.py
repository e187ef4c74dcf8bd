"""The website widget in a browser: a shop's page on another origin embeds the snippet; a
visitor chats with the demo bot, is handed to a person, an agent answers from the console,
the visitor sees it live and, after a reload, the history. Another origin is refused."""

from __future__ import annotations

import json
import re
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.console.support import (
    ARTIFACTS,
    NARROW,
    ROOT,
    WIDE,
    Console,
    Demo,
    expect,
    open_chat,
    row,
)

SCREENSHOTS = ROOT / "docs" / "screenshots"


class Site:
    """A web site of its own (another port: another origin) serving one page."""

    def __init__(self) -> None:
        self.page = "<!doctype html><title>empty</title>"
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    running = Site()
    yield running
    running.close()


SHOP = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Toko Demo</title>
<style>body{{font:16px Georgia,serif;background:#fffbeb;margin:0}}header{{background:#78350f;
color:#fff;padding:18px 28px;font-size:22px}}main{{padding:24px 28px}}
button,input,textarea{{font-family:"Comic Sans MS"!important;color:red!important;
background:yellow!important}}</style></head>
<body><header>Toko Demo</header><main><h1>Sepatu lari</h1><p>Rp 450.000</p></main>
{snippet}</body></html>"""


def make_widget(demo: Demo, site: Site, **fields: Any) -> dict[str, Any]:
    token = demo.login("admin", "admin123")
    body = {
        "name": "Toko Demo", "allowed_origins": [site.origin], "color": "#0f766e",
        "greeting": "Hi! Ask us anything about your order.", **fields,
    }  # fmt: skip
    status, widget = demo.call("POST", "/channels/widget", body, token=token)
    assert status == 201, widget
    return dict(widget)


def visitor_page(console: Console, site: Site, viewport: dict[str, int] = WIDE) -> Any:
    """The shop's page in a browser of its own; it may reach the shop and msgcenter only."""
    context = console.browser.new_context(viewport=viewport, locale="en-US", timezone_id="UTC")
    console.contexts.append(context)
    page = context.new_page()
    allowed = (site.origin, console.demo.base, console.demo.base.replace("http", "ws"))
    page.on("pageerror", lambda error: console.problems.append(f"page error: {error}"))
    page.on(
        "request",
        lambda request: (
            request.url.startswith(allowed)
            or console.problems.append(f"request outside the site and msgcenter: {request.url}")
        ),
    )
    page.goto(site.origin + "/")
    return page


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_a_visitor_on_another_site_chats_with_the_bot_and_an_agent(
    console: Console, demo: Demo, site: Site
) -> None:
    widget = make_widget(demo, site)
    site.page = SHOP.format(snippet=widget["snippet"])
    visitor = visitor_page(console, site)
    visitor.click(".launch")
    panel = visitor.locator(".panel")
    expect(panel).to_be_visible()
    expect(panel.locator(".greet")).to_have_text("Hi! Ask us anything about your order.")
    visitor.fill(".bar textarea", "hello")
    visitor.keyboard.press("Enter")
    expect(panel.locator(".msg.visitor", has_text="hello")).to_be_visible()
    expect(panel.locator(".msg.bot").first).to_be_visible(timeout=10_000)  # the demo bot
    visitor.fill(".bar textarea", "agent")
    visitor.keyboard.press("Enter")
    expect(panel.locator(".msg.system").last).to_be_visible(timeout=10_000)  # handed over

    name = visitor_name(demo)
    agent = console.login("agent", "agent123")
    agent.click("#tab-queue")
    expect(row(agent, name)).to_be_visible()
    open_chat(agent, name)
    agent.click("[data-action=claim]")
    expect(agent.locator("#composer-input")).to_be_enabled()
    agent.fill("#composer-input", "Hi, Agent Smith here. Which order is it?")
    agent.keyboard.press("Enter")
    answer = panel.locator(".msg.agent", has_text="Agent Smith here")
    expect(answer).to_be_visible(timeout=10_000)  # live, no reload
    expect(answer.locator(".who")).to_have_text("Agent Smith")
    # The page's own CSS (red Comic Sans on yellow) does not reach the widget.
    color = visitor.eval_on_selector(".bar textarea", "e => getComputedStyle(e).color")
    assert color != "rgb(255, 0, 0)"
    shot(visitor, "widget-1280")
    shutil.copyfile(ARTIFACTS / "widget-1280.png", SCREENSHOTS / "widget.png")

    visitor.reload()
    visitor.click(".launch")
    history = visitor.locator(".panel .msg")
    expect(history.filter(has_text="Agent Smith here")).to_be_visible(timeout=10_000)
    expect(history.filter(has_text="hello").first).to_be_visible()
    assert history.count() >= 5  # hello, the bot, agent, the handoff message, the answer


def test_what_a_visitor_writes_before_the_connection_opens_is_sent_when_it_does(
    console: Console, demo: Demo, site: Site
) -> None:
    """The panel opens at once; the session and the socket follow. A message written
    meanwhile waits as "Sending…" and goes out at the socket's hello, once."""
    widget = make_widget(demo, site)
    site.page = SHOP.format(snippet=widget["snippet"])
    visitor = visitor_page(console, site)
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)

    visitor.route(f"{demo.base}/widget/{widget['id']}/session", hold)
    visitor.click(".launch")
    panel = visitor.locator(".panel")
    expect(panel).to_be_visible()
    for _ in range(250):  # Playwright calls its handler while the test waits in Playwright
        if held:
            break
        visitor.wait_for_timeout(20)
    assert len(held) == 1  # the session is on its way, and held: no socket yet
    visitor.fill(".bar textarea", "hello before the socket")
    visitor.keyboard.press("Enter")
    mine = panel.locator(".msg.visitor", has_text="hello before the socket")
    expect(mine.locator(".meta")).to_have_text("Sending…")
    expect(panel.locator(".msg.bot")).to_have_count(0)
    held[0].continue_()
    expect(panel.locator(".msg.bot").first).to_be_visible(timeout=10_000)  # the demo bot answered
    expect(mine).to_have_count(1)
    expect(mine.locator(".meta", has_text="Sending…")).to_have_count(0)
    token = demo.login("admin", "admin123")
    status, chats = demo.call("GET", "/chats/?channel=Widget&q=before%20the%20socket", token=token)
    assert status == 200 and len(chats) == 1, chats
    status, chat = demo.call("GET", f"/chats/{chats[0]['id']}", token=token)
    assert status == 200, chat
    stored = [m for m in chat["messages"] if m["text"] == "hello before the socket"]
    assert len(stored) == 1 and stored[0]["sender"] == "customer", chat["messages"]


def visitor_name(demo: Demo) -> str:
    token = demo.login("admin", "admin123")
    status, chats = demo.call("GET", "/chats/?channel=Widget", token=token)
    assert status == 200 and chats, chats
    return str(chats[0]["name"])


def test_at_390_pixels_the_window_fills_the_screen(
    console: Console, demo: Demo, site: Site
) -> None:
    widget = make_widget(demo, site, language="id", position="left", color="#7c3aed")
    site.page = SHOP.format(snippet=widget["snippet"])
    visitor = visitor_page(console, site, NARROW)
    visitor.click(".launch")
    panel = visitor.locator(".panel")
    expect(panel).to_be_visible()
    expect(panel.locator(".bar textarea")).to_have_attribute("placeholder", "Tulis pesan…")
    visitor.fill(".bar textarea", "halo, apakah sepatu ini ada ukuran 42?")
    visitor.keyboard.press("Enter")
    expect(panel.locator(".msg.bot").first).to_be_visible(timeout=10_000)
    box = panel.bounding_box()
    assert box is not None and box["width"] == NARROW["width"]
    shot(visitor, "widget-390")
    shutil.copyfile(ARTIFACTS / "widget-390.png", SCREENSHOTS / "widget-mobile.png")


def test_a_site_that_is_not_allowed_is_refused(console: Console, demo: Demo, site: Site) -> None:
    allowed = Site()
    try:
        widget = make_widget(demo, allowed)  # allowed there, embedded on ``site``
    finally:
        allowed.close()
    site.page = SHOP.format(snippet=widget["snippet"])
    visitor = visitor_page(console, site)
    visitor.click(".launch")
    expect(visitor.locator(".panel .err")).to_be_visible()  # the browser got no answer it may read
    expect(visitor.locator(".panel .msg")).to_have_count(0)
    expect(visitor.locator(".panel .bar textarea")).to_be_visible()
    # What the browser was told: 403, without CORS headers for this origin.
    status, error = http(
        "POST", f"{demo.base}/widget/{widget['id']}/session", {}, origin=site.origin
    )
    assert status == 403 and error["error"]["code"] == "origin_refused"
    assert error["cors"] is None


def http(method: str, url: str, body: Any, origin: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method=method)  # noqa: S310
    request.add_header("Content-Type", "application/json")
    request.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - localhost
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        cors = error.headers.get("Access-Control-Allow-Origin")
        return error.code, {**json.loads(error.read()), "cors": cors}


def test_the_demo_serves_a_shop_page_with_its_own_widget(console: Console, demo: Demo) -> None:
    page = console.page()
    page.goto(demo.base + "/widget/demo")
    expect(page.locator("#snippet")).to_contain_text("/widget.js")
    page.click(".launch")
    panel = page.locator(".panel")
    expect(panel.locator(".greet")).to_have_text("Hi! How can we help you today?")
    page.fill(".bar textarea", "what are your opening hours?")
    page.keyboard.press("Enter")
    expect(panel.locator(".msg.bot").first).to_be_visible(timeout=10_000)


def test_the_pre_chat_form_names_the_visitor_and_a_picture_goes_along(
    console: Console, demo: Demo, site: Site
) -> None:
    widget = make_widget(demo, site, pre_chat_form=True)
    site.page = SHOP.format(snippet=widget["snippet"])
    visitor = visitor_page(console, site)
    visitor.click(".launch")
    form = visitor.locator(".panel form.prechat")
    expect(form).to_be_visible()
    expect(visitor.locator(".panel .bar")).to_be_hidden()  # the form first
    form.locator("input[type=text]").fill("Rina Wijaya")
    form.locator("input[type=email]").fill("rina@example.com")
    form.locator("button").click()
    expect(visitor.locator(".panel .bar textarea")).to_be_visible()
    visitor.fill(".bar textarea", "is this in stock?")
    visitor.keyboard.press("Enter")
    panel = visitor.locator(".panel")
    expect(panel.locator(".msg.visitor", has_text="is this in stock?")).to_be_visible()
    png = (ROOT / "dashboard_api" / "static" / "favicon.svg").read_bytes()  # refused: SVG
    visitor.locator(".panel input[type=file]").set_input_files(
        files=[{"name": "shoe.svg", "mimeType": "image/svg+xml", "buffer": png}]
    )
    expect(panel.locator(".msg.visitor", has_text="Not sent")).to_be_visible()
    visitor.locator(".panel input[type=file]").set_input_files(
        files=[{"name": "shoe.png", "mimeType": "image/png", "buffer": PNG}]
    )
    expect(panel.locator(".msg.visitor img")).to_be_visible(timeout=10_000)
    token = demo.login("admin", "admin123")
    status, chats = demo.call("GET", "/chats/?channel=Widget", token=token)
    assert status == 200 and "Rina Wijaya" in [chat["name"] for chat in chats]


def test_a_dropped_connection_loses_neither_the_pre_chat_form_nor_a_message(
    console: Console, demo: Demo, site: Site
) -> None:
    """The socket is refused until the visitor has filled the form and written; then it
    comes back, and both reach msgcenter: the chat has the visitor's name and the message,
    once."""
    widget = make_widget(demo, site, pre_chat_form=True)
    site.page = SHOP.format(snippet=widget["snippet"])
    visitor = visitor_page(console, site, NARROW)
    down = [True]

    def socket(route: Any) -> None:
        if down[0]:
            route.close(code=1011, reason="down")
        else:
            route.connect_to_server()

    visitor.route_web_socket(re.compile(r"/widget/ws\?"), socket)
    visitor.click(".launch")
    panel = visitor.locator(".panel")
    form = panel.locator("form.prechat")
    expect(form).to_be_visible()
    expect(panel.locator(".head p")).to_have_text("Reconnecting…")
    form.locator("input[type=text]").fill("Dewi")
    visitor.wait_for_timeout(1500)  # the socket is refused again meanwhile: the panel redraws
    visitor.keyboard.type(" Lestari")  # in the same field, where the cursor was
    expect(form.locator("input[type=text]")).to_have_value("Dewi Lestari")
    form.locator("input[type=email]").fill("dewi@example.com")
    form.locator("button").click()
    visitor.fill(".bar textarea", "do you ship to Bali?")
    visitor.keyboard.press("Enter")
    mine = panel.locator(".msg.visitor", has_text="do you ship to Bali?")
    expect(mine.locator(".meta")).to_have_text("Sending…")
    visitor.wait_for_timeout(1500)  # a retry or two, refused
    expect(mine.locator(".meta")).to_have_text("Sending…")
    expect(panel.locator("form.offline")).to_have_count(0)  # the address is given already
    shot(visitor, "widget-reconnecting-390")
    down[0] = False
    expect(panel.locator(".head p")).not_to_have_text("Reconnecting…", timeout=10_000)
    expect(mine.locator(".meta", has_text="Sending…")).to_have_count(0, timeout=10_000)
    expect(panel.locator(".msg.bot").first).to_be_visible(timeout=10_000)
    expect(mine).to_have_count(1)
    token = demo.login("admin", "admin123")
    status, chats = demo.call("GET", "/chats/?channel=Widget&q=ship%20to%20Bali", token=token)
    assert status == 200 and len(chats) == 1, chats
    assert chats[0]["name"] == "Dewi Lestari" and chats[0]["email"] == "dewi@example.com"
    status, chat = demo.call("GET", f"/chats/{chats[0]['id']}", token=token)
    assert status == 200, chat
    stored = [m for m in chat["messages"] if m["text"] == "do you ship to Bali?"]
    assert len(stored) == 1, chat["messages"]


# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf0000000301010018dd8db00000000049454e44ae426082"
)
