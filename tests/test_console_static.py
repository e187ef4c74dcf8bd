"""The web console as files: served at / with a strict policy, and kept honest without a browser.

The browser tests (tests/console/) drive it; these check what needs no browser: the
headers, the paths, that the JS mirror of the mode table matches handoff/modes.py, and
that no file builds HTML from strings or reaches outside the origin.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dashboard_api.console import STATIC_DIR
from handoff.domain.modes import TABLE
from tests.support import Api

VENDOR = STATIC_DIR / "vendor"  # third-party files, unchanged (tests/test_api_docs.py)
JS_FILES = sorted(p for p in STATIC_DIR.rglob("*.js") if not p.is_relative_to(VENDOR))


async def test_the_console_page_is_served_at_the_root_with_a_strict_policy(anon: Api) -> None:
    async with anon.client.get("/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Frame-Options"] == "DENY"
    assert '<script type="module" src="/static/js/main.js">' in page
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert re.search(r"connect-src 'self' ws://127\.0\.0\.1:\d+ wss://127\.0\.0\.1:\d+", policy)
    assert "frame-ancestors 'none'" in policy
    # Files are fetched with the token and shown through blob: URLs (images, players).
    assert "img-src 'self' data: blob:" in policy and "media-src 'self' blob:" in policy


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/js/main.js", "text/javascript"),
        ("/static/js/views/chat.js", "text/javascript"),
        ("/static/console.css", "text/css"),
        ("/static/favicon.svg", "image/svg+xml"),
    ],
)
async def test_static_files_have_their_types_and_revalidate(
    anon: Api, path: str, content_type: str
) -> None:
    async with anon.client.get(path) as response:
        assert response.status == 200
        assert response.content_type == content_type
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        etag = response.headers["ETag"]
    async with anon.client.get(path, headers={"If-None-Match": etag}) as response:
        assert response.status == 304


@pytest.mark.parametrize(
    "path",
    ["/static/../console.py", "/static/%2e%2e/console.py", "/static/js/", "/static/nope.js"],
)
async def test_nothing_outside_the_static_folder_is_served(anon: Api, path: str) -> None:
    async with anon.client.get(path) as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"


async def test_the_console_routes_stay_out_of_the_api_description(admin: Api) -> None:
    status, spec = await admin.get("/openapi.json")
    assert status == 200
    assert "/" not in spec["paths"]
    assert not any(path.startswith("/static") for path in spec["paths"])


def test_the_js_mode_table_mirrors_handoff_modes() -> None:
    source = (STATIC_DIR / "js" / "modes.js").read_text("utf-8")
    literal = re.search(r"export const TABLE = (\{.*?\n\});", source, re.DOTALL)
    assert literal, "modes.js must define TABLE as a JSON literal"
    mirrored = json.loads(literal.group(1))
    expected = {
        str(source_mode): {str(to): sorted(map(str, actions)) for to, actions in moves.items()}
        for source_mode, moves in TABLE.items()
    }
    assert {k: {t: sorted(a) for t, a in v.items()} for k, v in mirrored.items()} == expected


@pytest.mark.parametrize("path", JS_FILES, ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_no_module_builds_html_from_strings(path: Path) -> None:
    source = path.read_text("utf-8")
    for dangerous in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert dangerous not in source, f"{path.name} uses {dangerous}"


def test_no_file_points_outside_the_origin() -> None:
    # The one absolute URL allowed is the SVG namespace name (an identifier, never fetched).
    for path in STATIC_DIR.rglob("*"):
        if path.is_file() and not path.is_relative_to(VENDOR):
            text = path.read_text("utf-8").replace("http://www.w3.org/2000/svg", "")
            assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text), path.name


def test_uplot_is_vendored_with_its_licence_and_origin() -> None:
    """The Reports page's charts: uPlot's files as the npm registry gave them, nothing more."""
    folder = VENDOR / "uplot"
    names = {path.name for path in folder.iterdir()}
    assert names == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE", "README.md"}
    assert "The MIT License" in (folder / "LICENSE").read_text("utf-8")
    readme = (folder / "README.md").read_text("utf-8")
    version = re.search(r"uplot \*\*(\d+\.\d+\.\d+)\*\*", readme)
    assert version, "the README names the version"
    assert f"uplot-{version.group(1)}.tgz" in readme
    script = (folder / "uPlot.iife.min.js").read_text("utf-8")
    assert script.startswith("/*! https://github.com/leeoniya/uPlot (v" + version.group(1))
