"""The agent web console: static ES modules and CSS served beside the API.

``GET /`` is the console's page, ``GET /docs`` the interactive API docs (Swagger
UI, vendored) and ``GET /static/<path>`` their files; all are outside the route
table (they are not API) and so not in ``/openapi.json``.
The console talks to the public dashboard API and ``/ws`` only. Its pages carry
a strict Content-Security-Policy: every script and style comes from this
origin, nothing inline, and the only other connection is this host's WebSocket.
Files are revalidated on every load (``no-cache`` with ETag/Last-Modified), so
an upgraded msgcenter never runs against stale modules.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent / "static"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


def content_security_policy(host: str) -> str:
    """Same-origin only; the WebSocket is allowed on this host (``ws:``/``wss:``)."""
    sockets = f" ws://{host} wss://{host}" if _safe_host(host) else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            "font-src 'self'",
            f"connect-src 'self'{sockets}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _safe_host(host: str) -> bool:
    """A Host header fit to echo into the policy (letters, digits, dots, colons, brackets)."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")
    return 0 < len(host) <= 255 and set(host) <= allowed


def _headers(request: web.Request, path: Path) -> dict[str, str]:
    headers = {
        "Cache-Control": "no-cache",
        "Content-Type": CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
    }
    if path.suffix == ".html":
        headers["Content-Security-Policy"] = content_security_policy(request.host)
        headers["X-Frame-Options"] = "DENY"
    return headers


async def index(request: web.Request) -> web.StreamResponse:
    path = STATIC_DIR / "index.html"
    return web.FileResponse(path, headers=_headers(request, path))


async def docs(request: web.Request) -> web.StreamResponse:
    """The interactive API docs: Swagger UI (vendored under static/vendor/) on /openapi.json."""
    path = STATIC_DIR / "docs" / "index.html"
    return web.FileResponse(path, headers=_headers(request, path))


async def static_file(request: web.Request) -> web.StreamResponse:
    relative = request.match_info["path"]
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in relative):  # a NUL makes the OS raise
        raise web.HTTPNotFound()
    try:
        path = (STATIC_DIR / relative).resolve()
        found = path.is_relative_to(STATIC_DIR) and path.is_file()
    except (OSError, ValueError):  # a name the file system refuses (too long, invalid)
        raise web.HTTPNotFound() from None
    if not found or path.name.startswith("."):
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers=_headers(request, path))


def setup_console(app: web.Application) -> None:
    """Serve the console at ``/``, the API docs at ``/docs`` and their files at ``/static/``."""
    app.router.add_get("/", index)
    app.router.add_get("/docs", docs)
    app.router.add_get("/static/{path:.+}", static_file)
