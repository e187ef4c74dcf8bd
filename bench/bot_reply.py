"""How fast the bot answers: from a customer's WhatsApp webhook to the bot's reply at Meta.

Starts msgcenter (SQLite in a temporary folder, the shipped FAQ bot, open around
the clock) with its WhatsApp channel pointed at the mock Graph API, then has N
customers write one FAQ question each, one after another, and measures the time
from posting the signed webhook to the bot's answer arriving at the mock Graph
API (the real send path: inbox, bot, outbox, HTTP). Prints the median and p90/p99.

    .venv/bin/python bench/bot_reply.py --customers 200
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.mock.whatsapp import MockWhatsApp  # noqa: E402
from msgcenter.logs import setup_logging  # noqa: E402
from msgcenter.service import build_app  # noqa: E402
from msgcenter.settings import build_settings  # noqa: E402

QUESTIONS = [
    "where is my order",
    "berapa ongkir ke surabaya",
    "what payment methods do you accept",
    "bisa retur barang?",
    "are you open on sunday",
]


def _settings(data_dir: Path, mock: MockWhatsApp, port: int) -> Any:
    bot = copy.deepcopy(tomllib.loads((ROOT / "config.toml").read_text())["bot"])
    bot.pop("business_hours", None)
    return build_settings(
        {
            "server": {"port": port, "public_url": f"http://127.0.0.1:{port}"},
            "storage": {"url": f"sqlite://{data_dir / 'bench.db'}", "data_dir": str(data_dir)},
            "auth": {"jwt_secret": "bench-" + "k" * 40},
            "logging": {"level": "WARNING"},
            "bot": bot,
            "channels": {
                "whatsapp": {
                    "enabled": True,
                    "graph_base": mock.url,
                    "phone_number_id": mock.phone_number_id,
                    "access_token": mock.access_token,
                    "app_secret": mock.app_secret,
                    "verify_token": "bench-verify",
                }
            },
        },
        environ={},
    )


async def main(customers: int) -> None:
    setup_logging("WARNING")
    mock = MockWhatsApp("bench-app-secret", "bench-access-token", auto_statuses=False)
    await mock.start("127.0.0.1", 0)
    with tempfile.TemporaryDirectory() as folder:
        runner = web.AppRunner(build_app(_settings(Path(folder), mock, 0)), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        mock.webhook_url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
        times: list[float] = []
        for number in range(customers):
            phone = f"62850{number:07d}"
            seen = len(mock.sent)
            started = time.perf_counter()
            status, _ = await mock.customer_says(
                f"Customer {number}", QUESTIONS[number % len(QUESTIONS)], phone=phone
            )
            assert status == 200, status
            while not any(s["request"].get("to") == phone for s in mock.sent[seen:]):  # noqa: ASYNC110 - the mock has no event to wait on
                await asyncio.sleep(0.0005)
            times.append((time.perf_counter() - started) * 1000)
        await runner.cleanup()
    await mock.stop()
    times.sort()
    print(f"bot replies through the WhatsApp mock: {customers} customers, one question each")
    print(
        f"  median {statistics.median(times):.1f} ms, p90 {times[int(len(times) * 0.9)]:.1f} ms, "
        f"p99 {times[min(int(len(times) * 0.99), len(times) - 1)]:.1f} ms, "
        f"max {times[-1]:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    asyncio.run(main(parser.parse_args().customers))
