"""A local stand-in for a system behind an API channel (docs/api.md, "API channel"): it takes
the replies msgcenter posts to the channel's callback URL and checks their signature.

``POST /callback``        a reply, as msgcenter posts it (signed with the secret given);
                          answered 200, or the status ``/_mock/fail`` asked for
``GET  /_mock/received``  every reply taken, oldest first: ``{"verified", "delivery",
                          "body"}`` (``verified``: the signature holds, within 5 minutes)
``POST /_mock/fail``      ``{"status": 503, "count": N}``: answer the next N posts so
``POST /_mock/reset``     forget the replies and pending failures

For demos and tests only: it listens on 127.0.0.1 and keeps everything in memory.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from connectors.callbacks import DELIVERY_HEADER, verify

MAX_KEPT = 1000


class MockApiReceiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[dict[str, Any]] = []
        self._failures: list[int] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/callback", self._callback)
        app.router.add_get("/_mock/received", self._received)
        app.router.add_post("/_mock/fail", self._fail)
        app.router.add_post("/_mock/reset", self._reset)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = port or self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def callback_url(self) -> str:
        return self.url + "/callback"

    async def _callback(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self._failures:
            return web.json_response({"error": "mock failure"}, status=self._failures.pop(0))
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.received.append(
            {
                "verified": verify(self.secret, request.headers, raw),
                "delivery": request.headers.get(DELIVERY_HEADER),
                "body": body,
            }
        )
        del self.received[:-MAX_KEPT]
        return web.json_response({"ok": True})

    async def _received(self, request: web.Request) -> web.Response:
        return web.json_response(self.received)

    async def _fail(self, request: web.Request) -> web.Response:
        data = await request.json()
        status, count = int(data.get("status", 503)), int(data.get("count", 1))
        if not 400 <= status <= 599 or not 0 <= count <= 1000:
            return web.json_response({"error": "status 400-599, count 0-1000"}, status=422)
        self._failures = [status] * count
        return web.json_response({"failing": count})

    async def _reset(self, request: web.Request) -> web.Response:
        self.received.clear()
        self._failures.clear()
        return web.json_response({"reset": True})
