"""Email ingest: customers' mails through msgcenter's SMTP server, emails/s and latency.

    .venv/bin/python -m bench.smtp [--n 1000] [--concurrency 8] [--customers 100]
        [--attachment-kb 20]

msgcenter serve runs with the email channel on (SQLite, fresh file) and relays its replies to
the mock SMTP relay (``msgcenter mock``, its own process). Each mail is what a mail client
sends (connectors/mock/smtp.py compose_customer_mail: text and HTML alternatives) plus a
PDF-like attachment, so the server parses MIME, saves the attachment and stores the message
before it answers 250; the bot answers each mail through the relay. Every client keeps its
SMTP connection open and sends mail after mail (as an MTA does). Afterwards the database is
checked: every accepted mail stored exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib

from bench.common import PYTHON, ROOT, Msgcenter, cpu_seconds, free_port, machine, pct, stop
from connectors.mock.smtp import compose_customer_mail

DOMAIN = "support.example.com"


async def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


def mails(n: int, customers: int, attachment_kb: int) -> list[tuple[str, bytes]]:
    blob = os.urandom(attachment_kb * 1024)
    out = []
    for i in range(n):
        who = i % customers
        mail = compose_customer_mail(
            f"Customer {who}",
            f"customer{who}@example.org",
            f"Hello,\n\nmy order INV-{1000 + i} has not arrived yet. Where is my package?\n\n"
            f"Regards,\nCustomer {who}",
            to=f"support@{DOMAIN}",
            subject=f"Order INV-{1000 + i}",
        )
        if attachment_kb:
            mail.add_attachment(blob, maintype="application", subtype="pdf",
                                filename=f"invoice-{i}.pdf")  # fmt: skip
        out.append((str(mail["Message-ID"]), mail.as_bytes()))
    return out


async def send_all(
    port: int, items: list[tuple[str, bytes]], concurrency: int
) -> tuple[float, list[float], int, set[int]]:
    latencies: list[float] = []
    accepted: set[int] = set()
    errors = 0
    next_idx = 0

    async def client() -> None:
        nonlocal next_idx, errors
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await smtp.connect()
        try:
            while next_idx < len(items):
                idx = next_idx
                next_idx += 1
                who = f"customer{idx % 10_000}@example.org"
                t0 = time.perf_counter()
                try:
                    await smtp.sendmail(who, [f"support@{DOMAIN}"], items[idx][1])
                    accepted.add(idx)
                except aiosmtplib.SMTPException:
                    errors += 1
                latencies.append(time.perf_counter() - t0)
        finally:
            await smtp.quit()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    return wall, latencies, errors, accepted


async def main_async(a: argparse.Namespace) -> int:
    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="msgcenter-smtp-"))
    smtp_port, relay_port = free_port(), free_port()
    mock_ports = {
        "MSGCENTER_MOCK__TELEGRAM_PORT": str(free_port()),
        "MSGCENTER_MOCK__WHATSAPP_PORT": str(free_port()),
        "MSGCENTER_MOCK__SMTP_PORT": str(relay_port),
        "MSGCENTER_MOCK__SMTP_CONTROL_PORT": str(free_port()),
        "MSGCENTER_MOCK__OPENAI_PORT": str(free_port()),
        "MSGCENTER_MOCK__API_PORT": str(free_port()),
    }
    mc = Msgcenter(
        work,
        extra_env={
            "MSGCENTER_CHANNELS__EMAIL__ENABLED": "true",
            "MSGCENTER_CHANNELS__EMAIL__PORT": str(smtp_port),
            "MSGCENTER_CHANNELS__EMAIL__DOMAINS": f'["{DOMAIN}"]',
            "MSGCENTER_CHANNELS__EMAIL__ADDRESS": f"support@{DOMAIN}",
            "MSGCENTER_CHANNELS__EMAIL__RELAY_HOST": "127.0.0.1",
            "MSGCENTER_CHANNELS__EMAIL__RELAY_PORT": str(relay_port),
            "MSGCENTER_CHANNELS__EMAIL__RELAY_SECURITY": "none",
            # The load's mail is unsigned, from made-up domains, many per address: measured
            # without sender authentication (DNS) and without the per-address answer limit.
            "MSGCENTER_CHANNELS__EMAIL__SENDER_AUTH": "off",
            "MSGCENTER_CHANNELS__EMAIL__AUTO_REPLIES_PER_HOUR": "0",
            **mock_ports,
        },
    )
    relay = subprocess.Popen([PYTHON, "-m", "msgcenter.cli", "mock"], cwd=ROOT, env=mc.env(),
                             stdout=subprocess.DEVNULL)  # fmt: skip
    items = mails(a.n, a.customers, a.attachment_kb)
    size = sum(len(b) for _, b in items) / len(items) / 1024
    print(f"load: {a.n} mails ({size:.0f} KiB each: text + HTML + a {a.attachment_kb} KiB "
          f"attachment), {a.customers} customers, {a.concurrency} SMTP connections")  # fmt: skip
    try:
        await wait_port(relay_port)
        await mc.start()
        await wait_port(smtp_port)
        await send_all(smtp_port, mails(20, 5, a.attachment_kb), 2)  # warm up
        spy = None
        if a.profile:
            spy = subprocess.Popen(
                [str(Path(PYTHON).parent / "py-spy"), "record", "--format", "raw", "--rate",
                 "250", "--pid", str(mc.pid), "--output", a.profile],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(1.0)
        cpu0 = cpu_seconds(mc.pid)
        wall, lat, errors, accepted = await send_all(smtp_port, items, a.concurrency)
        cpu = cpu_seconds(mc.pid) - cpu0
        if spy is not None:
            stop(spy, 2)
        print(f"smtp: {a.n} mails in {wall:.2f} s = {a.n / wall:.1f} emails/s, "
              f"p50 {pct(lat, 50) * 1000:.1f} ms, p99 {pct(lat, 99) * 1000:.1f} ms "
              f"(MAIL FROM to 250 after DATA), errors {errors}; server CPU "
              f"{cpu * 1000 / a.n:.2f} ms/mail")  # fmt: skip
        ids = {items[i][0].strip("<>") for i in accepted}
        with mc.db() as db:
            rows = db.execute(
                "SELECT external_id, COUNT(*) FROM messages WHERE sender = 'customer' "
                "GROUP BY external_id"
            ).fetchall()
        counts = {ext.strip("<>"): c for ext, c in rows if ext}
        missing = [i for i in ids if counts.get(i, 0) == 0]
        doubled = [e for e, c in counts.items() if c > 1]
        print(
            f"  db check: {'OK' if not missing and not doubled else 'FAILED'}: "
            f"{len(ids)} accepted mails, {len(missing)} missing, {len(doubled)} doubled"
        )
        return 1 if errors or missing or doubled else 0
    finally:
        mc.stop_all()
        stop(relay)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--customers", type=int, default=100)
    ap.add_argument("--attachment-kb", type=int, default=20)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--profile", help="py-spy raw profile of the server to this file")
    a = ap.parse_args()
    if not (1 <= a.n <= 50_000 and 1 <= a.concurrency <= 64 and 0 <= a.attachment_kb <= 5000):
        sys.exit("out of bounds")
    sys.exit(asyncio.run(main_async(a)))


if __name__ == "__main__":
    main()
