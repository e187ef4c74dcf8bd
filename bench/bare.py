"""A bare aiohttp handler: reads the body, answers {"status": "ok"}. The ceiling of the load
generator and aiohttp on this machine, run beside msgcenter in the same benchmark.

    python -m bench.bare --port P
"""

from __future__ import annotations

import argparse

from aiohttp import web


async def handler(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"status": "ok"})


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    app = web.Application()
    app.router.add_post("/webhooks/whatsapp", handler)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=a.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
