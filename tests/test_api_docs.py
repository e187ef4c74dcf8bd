"""The interactive API docs at /docs: a public page, vendored Swagger UI, local assets only.

The browser test (tests/console/test_api_docs_browser.py) logs in on the page and uses it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from dashboard_api.console import STATIC_DIR
from tests.support import Api

VENDOR = STATIC_DIR / "vendor" / "swagger-ui"


class _Assets(HTMLParser):
    """Every URL a page loads: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not values.get("src"):
            self.inline_scripts += 1
        for name in ("src", "href"):
            if tag in ("script", "link", "img") and values.get(name):
                self.urls.append(str(values[name]))
        if values.get("style") is not None or any(n.startswith("on") for n in values):
            self.inline_scripts += 1  # inline styles and handlers break the policy too


async def test_docs_is_a_public_page_that_loads_only_local_assets(anon: Api) -> None:
    async with anon.client.get("/docs") as response:  # no token
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
    parser = _Assets()
    parser.feed(page)
    assert parser.inline_scripts == 0
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in parser.urls
    assert "/static/vendor/swagger-ui/swagger-ui.css" in parser.urls
    assert "/static/docs/docs.js" in parser.urls
    for url in parser.urls:
        assert url.startswith("/static/"), url
        async with anon.client.get(url) as asset:
            assert asset.status == 200, url
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page)
    # The console's policy: nothing inline, nothing from elsewhere, no eval.
    assert "script-src 'self';" in policy and "style-src 'self';" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/vendor/swagger-ui/swagger-ui-bundle.js", "text/javascript"),
        ("/static/vendor/swagger-ui/swagger-ui.css", "text/css"),
        ("/static/docs/docs.js", "text/javascript"),
        ("/static/docs/docs.css", "text/css"),
    ],
)
async def test_the_docs_assets_are_served_with_their_types(
    anon: Api, path: str, content_type: str
) -> None:
    async with anon.client.get(path) as response:
        assert response.status == 200
        assert response.content_type == content_type
        assert response.charset == "utf-8"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        body = await response.read()
    assert body == (STATIC_DIR / path.removeprefix("/static/")).read_bytes()


def test_swagger_ui_is_vendored_with_its_licence_and_origin() -> None:
    names = {path.name for path in VENDOR.iterdir()}
    assert names == {
        "swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE",
        "swagger-ui-bundle.js.LICENSE.txt", "README.md",
    }  # fmt: skip
    assert "Apache License" in (VENDOR / "LICENSE").read_text("utf-8")
    readme = (VENDOR / "README.md").read_text("utf-8")
    version = re.search(r"swagger-ui-dist \*\*(\d+\.\d+\.\d+)\*\*", readme)
    assert version, "the README names the version"
    assert f"swagger-ui-dist-{version.group(1)}.tgz" in readme


def test_the_docs_page_reads_the_login_where_the_console_keeps_it() -> None:
    """Same key as the console (the browser tests check the two share a login both ways)."""
    console = (STATIC_DIR / "js" / "api.js").read_text("utf-8")
    key = re.search(r'const SESSION_KEY = "([^"]+)"', console)
    assert key, "api.js keeps the login under SESSION_KEY"
    docs = (STATIC_DIR / "docs" / "docs.js").read_text("utf-8")
    assert f'const SESSION_KEY = "{key.group(1)}"' in docs


def test_the_docs_script_never_sends_the_description_elsewhere() -> None:
    """Swagger UI's default validator badge posts the description to validator.swagger.io."""
    source = (STATIC_DIR / "docs" / "docs.js").read_text("utf-8")
    assert "validatorUrl: null" in source


async def test_the_description_needs_a_token_and_declares_the_bearer_scheme(
    anon: Api, admin: Api
) -> None:
    status, body = await anon.get("/openapi.json")
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    status, spec = await admin.get("/openapi.json")
    assert status == 200
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
    }  # fmt: skip
    # A person's token, or an API key of the route's scope (tests/test_api_keys.py).
    assert spec["paths"]["/chats/"]["get"]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert spec["paths"]["/users"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/auth/login"]["post"]
    assert "/docs" not in spec["paths"]
