"""For the browser tests: `msgcenter demo` on free ports, Chromium pages on it, and helpers.

The demo is the real thing `make run` starts: the service, its mock providers, the demo
users and chats. Tests act through the browser and check what the API and the mock
providers see; `simulate` plays customers exactly as a person would from a terminal.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("MSGCENTER_TEST_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium tries to reach Google at start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
]
ARTIFACTS = ROOT / "tests" / "artifacts"
DEMO_NAMES = {"John Doe", "Sarah Williams", "Maria Lopez", "Ahmed Hassan"}
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}


def require_browser() -> ModuleType:
    """Playwright's sync API, or skip (the test asking, through its fixture) saying what is
    missing. A skip at run time, not at collection, so CI's no-skips rule sees it."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not installed at {CHROMIUM}: `make test` installs Debian's chromium "
            "where apt-get works (or set MSGCENTER_TEST_CHROMIUM)"
        )
    module = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
    module.expect.set_options(timeout=5000)
    return module


def expect(target: Any) -> Any:
    """Playwright's expect (imported late: this module loads without Playwright)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Demo:
    """A running `msgcenter demo` and the ports of its mock providers."""

    base: str
    env: dict[str, str]
    mock_ports: dict[str, int]
    process: subprocess.Popen[bytes]

    def call(self, method: str, path: str, body: Any = None, token: str = "") -> tuple[int, Any]:
        return http(method, self.base + path, body, token)

    def login(self, username: str, password: str) -> str:
        status, data = self.call(
            "POST", "/auth/login", {"identifier": username, "password": password}
        )
        assert status == 200, data
        return str(data["access_token"])

    def simulate(self, channel: str, name: str, text: str, *options: str) -> str:
        """`msgcenter simulate CHANNEL --name NAME TEXT`, as typed in a terminal."""
        result = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "msgcenter.cli", "simulate", channel, "--name", name,
             *options, text],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    def mail(self, message: EmailMessage) -> None:
        """A customer's mail straight to msgcenter's SMTP server (simulate sends no files)."""
        port = int(self.env["MSGCENTER_CHANNELS__EMAIL__PORT"])
        with smtplib.SMTP("127.0.0.1", port, timeout=15) as smtp:
            smtp.send_message(message)

    def mock(self, channel: str, method: str, path: str, body: Any = None) -> Any:
        """The control API of a mock provider (``/_mock/...``)."""
        status, data = http(method, f"http://127.0.0.1:{self.mock_ports[channel]}{path}", body)
        assert status < 400, data
        return data


def http(method: str, url: str, body: Any = None, token: str = "") -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - localhost
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def start_demo(data_dir: Path, log_path: Path, **settings: str) -> Demo:
    """Start the demo with cheap password hashing and manual claiming (no auto-assignment);
    ``settings`` adds MSGCENTER_<KEY> variables (``MOCK__SENDER_AUTH="verify"``)."""
    port = free_port()
    mock_ports = {
        "telegram": free_port(),
        "whatsapp": free_port(),
        "smtp": free_port(),
        "email": free_port(),
        "openai": free_port(),
        "api": free_port(),
    }
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MSGCENTER_")},
        "MSGCENTER_STORAGE__DATA_DIR": str(data_dir),
        "MSGCENTER_STORAGE__URL": f"sqlite://{data_dir / 'msgcenter.db'}",
        "MSGCENTER_AUTH__ARGON2_TIME_COST": "1",
        "MSGCENTER_AUTH__ARGON2_MEMORY_KIB": "64",
        "MSGCENTER_HANDOFF__AUTO_ASSIGN": "false",
        "MSGCENTER_CHANNELS__EMAIL__PORT": str(free_port()),
        "MSGCENTER_MOCK__TELEGRAM_PORT": str(mock_ports["telegram"]),
        "MSGCENTER_MOCK__WHATSAPP_PORT": str(mock_ports["whatsapp"]),
        "MSGCENTER_MOCK__SMTP_PORT": str(mock_ports["smtp"]),
        "MSGCENTER_MOCK__SMTP_CONTROL_PORT": str(mock_ports["email"]),
        "MSGCENTER_MOCK__OPENAI_PORT": str(mock_ports["openai"]),
        "MSGCENTER_MOCK__API_PORT": str(mock_ports["api"]),
        **{f"MSGCENTER_{key}": value for key, value in settings.items()},
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "msgcenter.cli", "demo", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    demo = Demo(f"http://127.0.0.1:{port}", env, mock_ports, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the demo stopped: {log_path.read_text()[-2000:]}")
        try:
            if demo.call("GET", "/healthz")[0] == 200 and b"web console" in log_path.read_bytes():
                return demo
        except OSError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"the demo did not start: {log_path.read_text()[-2000:]}")


def stop_demo(demo: Demo) -> None:
    demo.process.terminate()
    try:
        demo.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        demo.process.kill()
        demo.process.wait()


class Console:
    """Opens browser pages on the demo and checks that none of them broke or left the origin."""

    def __init__(self, browser: Any, demo: Demo) -> None:
        self.browser = browser
        self.demo = demo
        self.contexts: list[Any] = []
        self.problems: list[str] = []

    def page(self, viewport: dict[str, int] = WIDE, **options: Any) -> Any:
        options.setdefault("locale", "en-US")
        options.setdefault("timezone_id", "UTC")
        context = self.browser.new_context(viewport=viewport, **options)
        self.contexts.append(context)
        page = context.new_page()
        origin = self.demo.base.removeprefix("http://")
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                message.type == "error"
                and not message.text.startswith("Failed to load resource")  # a refused request
                and self.problems.append(f"console error: {message.text}")
            ),
        )
        page.on(
            "request",
            lambda request: (
                re.match(rf"(blob:)?(http|ws)://{re.escape(origin)}/", request.url)
                or self.problems.append(f"request outside the origin: {request.url}")
            ),
        )
        page.goto(self.demo.base + "/")
        return page

    def login(
        self, username: str, password: str, viewport: dict[str, int] = WIDE, **kw: Any
    ) -> Any:
        page = self.page(viewport, **kw)
        sign_in(page, username, password)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def sign_in(page: Any, username: str, password: str) -> None:
    page.fill("#login-identifier", username)
    page.fill("#login-password", password)
    page.click("form.login-card button[type=submit]")
    expect(page.locator(".conn")).to_have_attribute("data-state", "live")


def row(page: Any, name: str) -> Any:
    return page.locator(".chat-row", has_text=name)


def open_chat(page: Any, name: str) -> None:
    row(page, name).click()
    expect(page.locator("#chat-name")).to_have_text(name)
    expect(page.locator(".messages")).to_have_attribute("aria-busy", "false")


def names(page: Any) -> set[str]:
    return set(page.locator(".chat-row .name").all_text_contents())


def actions(page: Any) -> list[str]:
    return [b.get_attribute("data-action") for b in page.locator(".actions [data-action]").all()]


def act(page: Any, action: str) -> None:
    """Click an action of the open chat: a button, or an item of the "More" menu."""
    target = page.locator(f".actions [data-action={action}]")
    if not target.is_visible():
        page.click(".actions .more-actions")
    target.click()


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll something outside the browser (the API, a mock provider) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def chat_id(demo: Demo, token: str, name: str) -> int:
    status, rows = demo.call("GET", "/chats/?q=" + name.replace(" ", "+"), token=token)
    assert status == 200
    return int(next(r["id"] for r in rows if r["name"] == name))
