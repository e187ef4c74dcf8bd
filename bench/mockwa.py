"""The mock WhatsApp Graph API as its own process, for the benchmarks.

    python -m bench.mockwa --port P --secret APP_SECRET --token ACCESS_TOKEN --webhook URL

Adds ``GET /_mock/count`` -> {"sent": N, "attempts": N} (cheap, unlike /_mock/sent).
With ``--statuses`` it posts signed sent/delivered/read webhooks back, as Meta does.
With ``--media`` it serves customer media as the Graph API does (``GET /{version}/{media-id}``
for the URL, then the URL with the token): media id ``bench-<seed>-<size>`` is a JPEG of
``size`` bytes made from ``seed`` (distinct seeds, distinct files; made, not stored).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import random
import signal

import aiohttp
from aiohttp import web

from connectors.mock.whatsapp import MockWhatsApp


def bench_jpeg(seed: int, size: int) -> bytes:
    """A JPEG-typed file of ``size`` bytes, the same for the same ``seed``."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
    return head + random.Random(seed).randbytes(max(0, size - len(head)))


class BenchMock(MockWhatsApp):
    media = False

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/{version}/{phone_number_id}/messages", self._messages)
        app.router.add_get("/_mock/count", self._count)
        app.router.add_get("/_mock/sent", self._sent)
        if self.media:  # after /_mock/...: the first route that matches answers
            app.router.add_get("/_media/{media_id}", self._media_bytes)
            app.router.add_get("/{version}/{media_id}", self._media_url)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.host, self.port = host, runner.addresses[0][1]

    async def _count(self, request: web.Request) -> web.Response:
        return web.json_response({"sent": len(self.sent), "attempts": len(self.attempts)})

    def _bench_media(self, request: web.Request) -> bytes:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            raise web.HTTPUnauthorized()
        try:
            _, seed, size = request.match_info["media_id"].split("-")
            return bench_jpeg(int(seed), int(size))
        except ValueError:
            raise web.HTTPNotFound() from None

    async def _media_url(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        data = self._bench_media(request)
        return web.json_response({
            "url": f"http://{self.host}:{self.port}/_media/{media_id}", "mime_type": "image/jpeg",
            "sha256": hashlib.sha256(data).hexdigest(), "file_size": len(data), "id": media_id,
            "messaging_product": "whatsapp",
        })  # fmt: skip

    async def _media_bytes(self, request: web.Request) -> web.Response:
        return web.Response(body=self._bench_media(request), content_type="image/jpeg")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--webhook", required=True)
    ap.add_argument("--statuses", action="store_true")
    ap.add_argument("--media", action="store_true")
    a = ap.parse_args()
    mock = BenchMock(a.secret, a.token, a.webhook, auto_statuses=a.statuses)
    mock.media = a.media
    await mock.start("127.0.0.1", a.port)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await mock.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
