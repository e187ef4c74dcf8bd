"""Fixtures for the browser tests: one demo and one Chromium per test module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Console,
    Demo,
    require_browser,
    start_demo,
    stop_demo,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("console-demo")
    running = start_demo(folder / "data", folder / "demo.log")
    yield running
    stop_demo(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = require_browser()
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def console(browser: Any, demo: Demo) -> Iterator[Console]:
    pages = Console(browser, demo)
    yield pages
    pages.close()
    assert not pages.problems, pages.problems
