"""Every regular expression of the product runs in linear time (issue 16, item 1).

One pattern that backtracked quadratically (``am\\b.*\\bschrieb\\b.*``) froze the whole
service for 52 s on one small mail. This test finds every compiled pattern at module level
in the product's packages, so a new one is checked without being listed, and runs it the
way the product does (search covers match and sub/findall) on 20,000-character runs of
the characters and words patterns trip on. Linear code takes milliseconds per run; a
quadratic pattern takes seconds, so the bound below is generous.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time

import pytest

PACKAGES = ["bot", "connectors", "dashboard_api", "handoff", "msgcenter", "storage"]
# Patterns the product only ever fullmatches (search would try them at every position).
FULLMATCH_ONLY = {
    "bot.settings._PYTHON_ENGINE",
    "bot.hours._SPAN",
    "storage.files._LEGACY_REF",
    "storage.files._ID",
}
PIECES = [
    " ", "a", "1", ".", "@", ":", "<", ">", "[", "]", "/", "-", "_", "\n", "'", '"', "&", "#",
    "\ud800", "\x00", "é", "am ", "schrieb ", "on ", "wrote ", "re ", "<a", "<![", "a@", "1:",
]  # fmt: skip
RUNS = (
    [piece * (20_000 // len(piece)) for piece in PIECES]
    + [
        first * 5_000 + second * 5_000 + "!@ "
        for first in ("a", " ", ".", "<", ":", "am ", "a@")
        for second in PIECES
    ]
    + [
        start + piece * 10_000 + "!@ "
        for start in ("a@", "am ", "on ", "re", "<a ")
        for piece in PIECES
    ]
)
SLOW = 1.0  # seconds for one run: ~100x what a linear pattern needs on a loaded machine


def product_patterns() -> dict[str, re.Pattern[str]]:
    found: dict[str, re.Pattern[str]] = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        modules = [package] + [
            info.name
            for info in pkgutil.walk_packages(root.__path__, f"{package}.")
            if ".migrations" not in info.name
        ]
        for name in modules:
            module = importlib.import_module(name)
            for attr, value in vars(module).items():
                if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                    found.setdefault(f"{name}.{attr}", value)
    return found


PATTERNS = product_patterns()


def test_the_audit_finds_the_patterns_it_is_about() -> None:
    assert "connectors.email_parse._ATTRIBUTION" in PATTERNS
    assert "handoff.usecases.staff.EMAIL" in PATTERNS
    assert len(PATTERNS) >= 15


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_no_pattern_backtracks_on_long_runs(name: str) -> None:
    pattern = PATTERNS[name]
    run = pattern.fullmatch if name in FULLMATCH_ONLY else pattern.search
    slowest, worst = 0.0, ""
    for text in RUNS:
        started = time.perf_counter()
        run(text)
        pattern.fullmatch(text)
        took = time.perf_counter() - started
        if took > slowest:
            slowest, worst = took, text[:12]
    assert slowest < SLOW, f"{name} took {slowest:.2f} s on a run starting {worst!r}"
