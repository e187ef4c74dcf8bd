"""The copilot in the console, with the demo's model pointed at the OpenAI-compatible mock
(a real server on its own socket): Suggest reply fills the box with an editable draft and
its sources, Translate shows a customer's message in the agent's language under it,
Translate draft puts the box's text in the customer's language, Summarize adds a note; a
model error is said in words; without a model the buttons are not there."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.mock.openai import MockOpenAI
from tests.console.support import (
    NARROW,
    WIDE,
    Console,
    Demo,
    expect,
    http,
    open_chat,
    screenshot,
    start_demo,
    stop_demo,
)


class ModelThread:
    """The mock model on an event loop of its own (the demo runs in another process)."""

    def __init__(self) -> None:
        self.server = MockOpenAI()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def script(self, *steps: dict[str, Any]) -> None:
        root = self.server.url.removesuffix("/v1")
        assert http("POST", f"{root}/_mock/script", list(steps))[0] == 200

    def requests(self) -> list[dict[str, Any]]:
        root = self.server.url.removesuffix("/v1")
        status, seen = http("GET", f"{root}/_mock/requests")
        assert status == 200
        return list(seen)


@pytest.fixture(scope="module")
def model() -> Iterator[ModelThread]:
    running = ModelThread()
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, model: ModelThread) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("copilot-demo")
    settings = {"BOT__LLM__BASE_URL": model.server.url, "BOT__LLM__MODEL": "mock-model"}
    running = start_demo(folder / "data", folder / "demo.log", **settings)
    yield running
    stop_demo(running)


SUMMARY = "- Issue: order INV-2041 has not arrived\n- Done: asked the number\n- Pending: tracking"


def test_suggest_translate_and_summarize_in_the_chat(console: Console, model: ModelThread) -> None:
    page = console.login("agent", "agent123")
    open_chat(page, "John Doe")
    bar = page.locator(".copilot-bar")
    expect(bar).to_be_visible()
    box = page.locator("#composer-input")

    # Suggest reply: the draft in the box, editable, with the articles it rests on (the
    # demo's knowledge base; the unscripted mock answers from the passage it is given).
    page.click("[data-copilot=suggest]")
    expect(page.locator(".copilot-status")).to_have_text(
        "A draft from the copilot: check it, edit it, then send it."
    )
    sources = page.locator(".copilot-sources .copilot-source")
    expect(sources.first).to_be_visible()
    expect(page.locator(".copilot-sources")).to_contain_text("Sources:")
    draft = box.input_value()
    assert draft and "cannot help" not in draft, draft
    [asked] = model.requests()[-1:]
    system = asked["body"]["messages"][0]["content"]
    assert system.startswith("[task:suggest]")
    for title in sources.all_text_contents():  # what it names is what the model was given
        assert f'title="{title}"' in system, title
    box.press("End")
    box.press_sequentially(" Thanks!")
    expect(box).to_have_value(draft + " Thanks!")
    screenshot(page, "copilot-suggest-1280")  # docs/screenshots/copilot.png is this one

    # The citation marks are taken out of the draft (one naming no article given counts for
    # none: the draft rests on every article it was given).
    model.script({"text": "I am checking INV-2041 with the courier now. [#999]"})
    page.click("[data-copilot=suggest]")
    expect(box).to_have_value("I am checking INV-2041 with the courier now.")
    expect(sources.first).to_be_visible()

    # Translate a customer's message (the unscripted mock only tags it with the language).
    message = page.locator(".msg-customer", has_text="It hasn't arrived yet")
    message.locator(".translate-message").click()
    translation = message.locator(".translation")
    expect(translation).to_contain_text("Translation (English)")
    expect(translation).to_contain_text("[en] It hasn't arrived yet")

    # Translate the draft into the customer's language (John writes English).
    box.fill("Pesanan Anda sudah dikirim hari ini")
    page.click("[data-copilot=translateDraft]")
    expect(box).to_have_value("[en] Pesanan Anda sudah dikirim hari ini")
    expect(page.locator(".copilot-status")).to_have_text(
        "Translated into English: check it before sending."
    )
    screenshot(page, "copilot-1280")

    # Summarize: a private note by the agent, live in the thread.
    model.script({"text": SUMMARY})
    page.click("[data-copilot=summarize]")
    note = page.locator(".msg-note", has_text="Issue: order INV-2041 has not arrived")
    expect(note).to_be_visible()
    expect(note.locator(".note-author")).to_have_text("Agent Smith")
    expect(page.locator(".copilot-status")).to_have_text("The summary was added as a private note.")
    screenshot(page, "copilot-summary-1280")

    # A model that fails is said in words; the box keeps what was there.
    model.script({"status": 500, "body": "{}"})
    page.click("[data-copilot=suggest]")
    expect(page.locator(".copilot-status")).to_have_text("The AI model failed: HTTP 500")
    expect(box).to_have_value("[en] Pesanan Anda sudah dikirim hari ini")


def test_on_a_phone_and_in_indonesian(console: Console, model: ModelThread) -> None:
    page = console.login("agent", "agent123", NARROW, locale="id-ID")
    page.locator(".chat-row", has_text="John Doe").click()
    expect(page.locator("#chat-name")).to_have_text("John Doe")
    expect(page.locator("[data-copilot=suggest]")).to_have_text("Sarankan balasan")
    model.script({"text": "Mohon maaf, pesanan Anda sedang kami cek ke kurir."})
    page.click("[data-copilot=suggest]")
    expect(page.locator("#composer-input")).to_have_value(
        "Mohon maaf, pesanan Anda sedang kami cek ke kurir."
    )
    expect(page.locator(".copilot-status")).to_have_text(
        "Draf dari kopilot: periksa, sunting, lalu kirim."
    )
    message = page.locator(".msg-customer", has_text="It's INV-2041")
    message.locator(".translate-message").click()
    expect(message.locator(".translation")).to_contain_text("It's INV-2041")
    screenshot(page, "copilot-390")
    # The page fits the phone: nothing wider than the screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], width


def test_writing_a_note_leaves_summarize_only(console: Console, demo: Demo) -> None:
    # An admin may reply in any chat: every button; in note mode only Summarize.
    page = console.login("admin", "admin123", WIDE)
    open_chat(page, "Ahmed Hassan")
    expect(page.locator("[data-copilot=summarize]")).to_be_visible()
    expect(page.locator("[data-copilot=suggest]")).to_be_visible()
    page.click("#note-toggle")  # writing a note: the reply's helpers step aside
    expect(page.locator("[data-copilot=suggest]")).to_be_hidden()
    expect(page.locator("[data-copilot=summarize]")).to_be_visible()


def test_without_a_model_there_are_no_copilot_buttons(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("no-model-demo")
    plain = start_demo(folder / "data", folder / "demo.log")
    try:
        console = Console(browser, plain)
        page = console.login("agent", "agent123")
        open_chat(page, "John Doe")
        expect(page.locator("#composer-input")).to_be_visible()
        expect(page.locator(".copilot-bar")).to_be_hidden()
        expect(page.locator(".translate-message")).to_have_count(0)
        console.close()
        assert not console.problems, console.problems
    finally:
        stop_demo(plain)
