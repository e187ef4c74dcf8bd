"""The mock WhatsApp Graph API as its own process, for the benchmarks.

    python -m bench.mockwa --port P --secret APP_SECRET --token ACCESS_TOKEN --webhook URL

Adds ``GET /_mock/count`` -> {"sent": N, "attempts": N} (cheap, unlike /_mock/sent).
With ``--statuses`` it posts signed sent/delivered/read webhooks back, as Meta does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import aiohttp
from aiohttp import web

from connectors.mock.whatsapp import MockWhatsApp


class BenchMock(MockWhatsApp):
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/{version}/{phone_number_id}/messages", self._messages)
        app.router.add_get("/_mock/count", self._count)
        app.router.add_get("/_mock/sent", self._sent)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.host, self.port = host, runner.addresses[0][1]

    async def _count(self, request: web.Request) -> web.Response:
        return web.json_response({"sent": len(self.sent), "attempts": len(self.attempts)})


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--webhook", required=True)
    ap.add_argument("--statuses", action="store_true")
    a = ap.parse_args()
    mock = BenchMock(a.secret, a.token, a.webhook, auto_statuses=a.statuses)
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
