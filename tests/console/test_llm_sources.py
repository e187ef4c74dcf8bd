"""The console shows under an answer of the AI assistant the knowledge-base articles it used
(issue 22): the demo runs with ``bot.engine = "llm"`` on its offline OpenAI-compatible mock,
the demo knowledge base imported into its database first; customers write through the
Telegram mock, the engine answers from the knowledge base."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiohttp import web

from msgcenter.service import SERVICE, build_app
from msgcenter.settings import build_settings
from tests.console.support import (
    NARROW,
    Console,
    Demo,
    expect,
    free_port,
    open_chat,
    screenshot,
    start_demo,
    stop_demo,
)

DEMO_KB = Path(__file__).resolve().parents[2] / "msgcenter" / "demo_kb"


def import_demo_kb(data_dir: Path) -> None:
    """The demo knowledge base into the demo's database (``<data_dir>/demo``), through the
    knowledge base's own import, before the demo starts."""

    async def run() -> None:
        folder = data_dir / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        settings = build_settings(
            {
                "storage": {"url": f"sqlite://{folder / 'msgcenter.db'}", "data_dir": str(folder)},
                "auth": {"jwt_secret": "console-kb-" + "x" * 40},
            },
            environ={},
        )
        runner = web.AppRunner(build_app(settings))
        await runner.setup()
        try:
            report = await runner.app[SERVICE].core.kb.import_folder(DEMO_KB)
            assert len(report.created) == 24, report
        finally:
            await runner.cleanup()

    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API runs a loop in this one
        thread.submit(asyncio.run, run()).result()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("console-llm")
    import_demo_kb(folder / "data")
    model = free_port()
    running = start_demo(
        folder / "data",
        folder / "demo.log",
        MOCK__OPENAI_PORT=str(model),
        BOT__ENGINE="llm",
        BOT__LLM__BASE_URL=f"http://127.0.0.1:{model}/v1",
        BOT__LLM__MODEL="mock-extractive",
    )
    try:
        yield running
    finally:
        stop_demo(running)


def test_an_answer_shows_its_sources_in_english_and_indonesian(
    console: Console, demo: Demo
) -> None:
    demo.simulate("telegram", "Rina Wati", "Does the warranty cover my grinder?")
    demo.simulate("telegram", "Dewi Lestari", "Bagaimana cara klaim garansi?")
    page = console.login("admin", "admin123")
    open_chat(page, "Rina Wati")
    answer = page.locator(".msg-bot").last
    expect(answer.locator(".sources")).to_have_text("Sources: Warranty")
    expect(answer.locator(".text")).to_contain_text("grinder burrs")
    # The customer's message has none.
    expect(page.locator(".msg-customer .sources")).to_have_count(0)
    screenshot(page, "llm-sources-1280")

    phone = console.login("admin", "admin123", viewport=NARROW, locale="id-ID")
    open_chat(phone, "Dewi Lestari")
    answer = phone.locator(".msg-bot").last
    expect(answer.locator(".sources")).to_have_text("Sumber: Garansi")
    assert phone.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    screenshot(phone, "llm-sources-390-id")
