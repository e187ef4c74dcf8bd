"""Dashboard cost: chat list and detail latency with 10,000 chats and 200,000 messages, RSS with
500 WebSocket clients, and what ten dashboards need to stay current (WebSocket vs the seed's
polling).

    .venv/bin/python -m bench.dashboard [--chats 10000] [--messages 200000] [--requests 300]
        [--sockets 500] [--window 60] [--rate 5] [--seed-chats 200] [--latency-only]

1. A fresh SQLite file is migrated, then filled with bulk SQL (stdlib sqlite3, one
   transaction) before the server starts: chats over the three channels and four modes, some
   assigned, each with its messages and its list columns (last message, activity) set. The
   messages are made by one ``INSERT ... SELECT`` in SQLite (1,000,000 in well under a
   minute, the search index's triggers included), their indexes built after.
2. ``msgcenter serve`` on it; sequential GETs (one client, keep-alive) of the first page of
   /chats/, filtered by mode and by channel, searched with q (a customer's name, a rare
   invoice number, a word in one message of seven, a phrase, a word being typed, a word
   nowhere), and /chats/{id} (last 50 messages) of random chats: p50/p99. The query plans
   of those queries are printed. ``--latency-only`` stops there.
3. RSS of the server, then with ``--sockets`` WebSocket clients connected.
4. Ten dashboards stay current for ``--window`` seconds while customers write ``--rate``
   messages/s (each answered by the bot): each loads the first page once and then follows
   /ws; requests, frames and bytes are counted. The seed's pattern (every 5 s: GET /chats/ and
   GET /chats/{id} for every chat, 6 connections per dashboard) is run for one refresh of ten
   dashboards against the seed reference with ``--seed-chats`` chats, and extrapolated to the
   window and to ``--chats``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    PYTHON,
    ROOT,
    Msgcenter,
    machine,
    phone_for,
    post_load,
    rss_mb,
    start_seed,
    stats_line,
    wa_body,
)

CHANNELS = ("WhatsApp", "Telegram", "Email")
MODES = ("bot", "bot", "agent", "agent", "paused", "closed")
FIRST = ("Budi", "Sari", "Rina", "Agus", "Dewi", "Joko", "Maria", "Ahmed", "John", "Putri")
LAST = ("Santoso", "Wijaya", "Hassan", "Lopez", "Doe", "Saputra", "Lestari", "Kusuma")
TEXTS = (
    "Halo, apakah produk ini masih tersedia?",
    "Berapa ongkir ke Surabaya?",
    "Pesanan saya INV-{n} belum sampai",
    "Thanks! 👍",
    "Can I pay with GoPay?",
    "We ship from Bandung with JNE, J&T and SiCepat.",
    "Mohon maaf atas keterlambatannya, Kak.",
)


def stamp(when: datetime) -> str:
    """A datetime as tortoise stores it in SQLite."""
    return str(when)


def _texts_sql() -> str:
    """TEXTS as an SQL CASE on ``(chat + k) % len(TEXTS)``, ``{n}`` replaced by 1000 + chat."""
    cases = " ".join(
        f"WHEN {n} THEN '{text.replace(chr(39), chr(39) * 2)}'" for n, text in enumerate(TEXTS)
    )
    return f"replace(CASE (p.chat + k.n) % {len(TEXTS)} {cases} END, '{{n}}', 1000 + p.chat)"


# The messages of every chat in one statement (a recursive counter joined with each chat's
# plan): 1,000,000 rows are built in SQLite's C code, not in Python tuples.
MESSAGES_SQL = f"""
WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n < ? - 1)
INSERT INTO messages (id, chat_id, text, sender, status, internal, external_id, agent_id,
    attachments, attempts, created_at, updated_at)
SELECT p.first_id + k.n, p.chat, {_texts_sql()},
    CASE WHEN k.n % 2 = 0 THEN 'customer' WHEN p.mode = 'bot' THEN 'bot' ELSE 'agent' END,
    CASE WHEN k.n % 2 = 0 AND k.n >= p.count - 2 THEN 'sent' ELSE 'read' END,
    0, 'ext-' || p.chat || '-' || k.n,
    CASE WHEN k.n % 2 = 1 AND p.mode != 'bot' THEN p.agent END, '[]', 0,
    strftime('%Y-%m-%d %H:%M:%S', p.start + k.n * 7, 'unixepoch') || '+00:00',
    strftime('%Y-%m-%d %H:%M:%S', p.start + k.n * 7, 'unixepoch') || '+00:00'
FROM plan p JOIN k ON k.n < p.count
"""  # noqa: S608 (constants only)


def load(db_path: Path, chats: int, messages: int, agent_ids: list[int]) -> float:
    """Bulk-insert chats and messages; seconds taken. The chats' rows (and their list
    columns: the last message, activity) are made in Python, their messages by one
    ``INSERT ... SELECT``; the messages' indexes are dropped for the load and built after,
    the search index's triggers stay (what the service would have)."""
    started = time.perf_counter()
    rng = random.Random(7)
    per_chat = max(1, messages // chats)
    extra = max(0, messages - per_chat * chats)
    base = (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=0)
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")
    chat_rows, plan_rows = [], []
    msg_id = 0
    for i in range(1, chats + 1):
        channel = CHANNELS[i % 3]
        mode = MODES[i % len(MODES)]
        agent = rng.choice(agent_ids) if mode in ("agent", "paused") and i % 4 else None
        name = f"{FIRST[i % len(FIRST)]} {LAST[(i // 10) % len(LAST)]} {i}"
        phone = f"+62812{i:07d}" if channel == "WhatsApp" else None
        email = f"customer{i}@example.com" if channel == "Email" else None
        external = {"WhatsApp": f"62812{i:07d}", "Telegram": str(100000 + i)}.get(channel, email)
        count = per_chat + (1 if i <= extra else 0)
        start = base + timedelta(seconds=i * 200)
        plan_rows.append((i, msg_id + 1, count, int(start.timestamp()), mode, agent))
        msg_id += count
        k = count - 1  # the last message (the same rules as MESSAGES_SQL)
        last_text = TEXTS[(i + k) % len(TEXTS)].replace("{n}", str(1000 + i))
        last_sender = "customer" if k % 2 == 0 else ("bot" if mode == "bot" else "agent")
        last_at = start + timedelta(seconds=k * 7)
        last_customer = start + timedelta(seconds=(k if k % 2 == 0 else k - 1) * 7)
        chat_rows.append(
            (i, channel, external, name, phone, email, None, None,
             "Order question" if channel == "Email" else None, mode, i % 7 == 0,
             1 if last_sender == "customer" else 0, agent,
             stamp(last_at) if mode == "agent" and agent is None else None,
             stamp(last_at), stamp(last_customer), last_text[:200], last_sender, stamp(last_at),
             0, "customer asked for a human" if mode == "agent" else None, stamp(start),
             stamp(last_at))
        )  # fmt: skip
    db.execute("BEGIN")
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'messages' AND type = 'index' "
        "AND sql IS NOT NULL"
    ).fetchall()
    for index, _ in indexes:
        db.execute(f'DROP INDEX "{index}"')
    db.executemany(
        "INSERT INTO chats (id, channel, external_id, customer_name, customer_phone, "
        "customer_email, customer_address, customer_username, subject, mode, online, "
        "unread_count, assigned_agent_id, queued_at, last_message_at, "
        "last_customer_message_at, last_message_text, last_message_sender, activity_at, "
        "bot_fallbacks, handoff_reason, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        chat_rows,
    )
    db.execute(
        "CREATE TEMP TABLE plan (chat INTEGER PRIMARY KEY, first_id INTEGER, count INTEGER, "
        "start INTEGER, mode TEXT, agent INTEGER)"
    )
    db.executemany("INSERT INTO plan VALUES (?,?,?,?,?,?)", plan_rows)
    db.execute(MESSAGES_SQL, (per_chat + (1 if extra else 0),))
    for _, sql in indexes:
        db.execute(sql)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.perf_counter() - started


PLANS: dict[str, tuple[str, list[Any]]] = {
    "list, first page": (
        "SELECT * FROM chats ORDER BY activity_at DESC, id DESC LIMIT 51", []),
    "list, mode=agent": (
        "SELECT * FROM chats WHERE mode = ? ORDER BY activity_at DESC, id DESC LIMIT 51",
        ["agent"]),
    "list, channel=Telegram": (
        "SELECT * FROM chats WHERE channel = ? ORDER BY activity_at DESC, id DESC LIMIT 51",
        ["Telegram"]),
    "list, agent's own": (
        "SELECT * FROM chats WHERE assigned_agent_id = ? ORDER BY activity_at DESC, id DESC "
        "LIMIT 51", [2]),
    "list, q=": (
        "SELECT * FROM chats WHERE id IN (SELECT rowid / 2147483648 FROM messages_fts WHERE "
        "messages_fts MATCH ?) OR customer_name LIKE ? OR customer_phone LIKE ? OR "
        "customer_email LIKE ? ORDER BY activity_at DESC, id DESC LIMIT 51",
        ['"surabaya"*'] + ["%x%"] * 3),
    "list, q=, found": (  # (a rare search of 3 characters or more: storage.search)
        "SELECT rowid / 2147483648 AS id FROM messages_fts WHERE messages_fts MATCH ? UNION "
        "SELECT rowid AS id FROM chats_fts WHERE chats_fts MATCH ? LIMIT 1001",
        ['"xyzzy"*', '"xyzzy"']),
    "list, q=, found ids": (
        "SELECT * FROM chats WHERE id IN (17, 4711) ORDER BY activity_at DESC, id DESC "
        "LIMIT 51", []),
    "list, q=, window": (  # (a common search: the list's next 204 chats first)
        "SELECT * FROM chats WHERE id IN (9998, 9999, 10000) AND (CASE WHEN id IN (SELECT "
        "rowid / 2147483648 FROM messages_fts WHERE messages_fts MATCH ? AND rowid >= "
        "21470541512704 AND rowid < 21476983963648) THEN 1 ELSE 0 END = 1 OR customer_name "
        "LIKE ? OR customer_phone LIKE ? OR customer_email LIKE ?) ORDER BY activity_at DESC, "
        "id DESC LIMIT 51",
        ['"belum sampai"'] + ["%x%"] * 3),
    "list, q=, probed": (  # (a common word: storage.search.plan)
        "SELECT * FROM chats WHERE CASE WHEN EXISTS (SELECT 1 FROM messages_fts WHERE "
        "messages_fts MATCH ? AND rowid >= chats.id * 2147483648 AND rowid < (chats.id + 1) "
        "* 2147483648) THEN 1 ELSE 0 END = 1 OR customer_name LIKE ? OR customer_phone LIKE ? "
        "OR customer_email LIKE ? ORDER BY activity_at DESC, id DESC LIMIT 51",
        ['("surabaya")'] + ["%x%"] * 3),
    "list, mode=agent, q=, probed": (
        "SELECT * FROM chats WHERE mode = ? AND (CASE WHEN EXISTS (SELECT 1 FROM messages_fts "
        "WHERE messages_fts MATCH ? AND rowid >= chats.id * 2147483648 AND rowid < (chats.id "
        "+ 1) * 2147483648) THEN 1 ELSE 0 END = 1 OR customer_name LIKE ?) "
        "ORDER BY activity_at DESC, id DESC LIMIT 51",
        ["agent", '("surabaya")', "%x%"]),
    "detail, last 50 messages": (
        "SELECT * FROM messages WHERE chat_id = ? ORDER BY id DESC LIMIT 51", [5]),
}  # fmt: skip


def plans(db_path: Path) -> None:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    for label, (sql, args) in PLANS.items():
        steps = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args)]
        print(f"  plan {label:<26} {' | '.join(steps)}")
    db.close()


async def timed_gets(
    session: aiohttp.ClientSession, base: str, paths: list[str], token: str
) -> tuple[list[float], int, int]:
    headers = {"Authorization": f"Bearer {token}"}
    lat, nbytes, errors = [], 0, 0
    for path in paths:
        t0 = time.perf_counter()
        async with session.get(base + path, headers=headers) as r:
            raw = await r.read()
            if r.status != 200:
                errors += 1
        lat.append(time.perf_counter() - t0)
        nbytes += len(raw)
    return lat, nbytes, errors


async def latencies(mc: Msgcenter, a: argparse.Namespace, token: str) -> bool:
    rng = random.Random(11)
    named = rng.randint(1, a.chats)  # a customer's last name and number, as in their name
    cases = {
        "GET /chats/ (first page, 50)": ["/chats/"],
        "GET /chats/?mode=agent": ["/chats/?mode=agent"],
        "GET /chats/?channel=Telegram": ["/chats/?channel=Telegram"],
        "GET /chats/?q=<name> (search)": [f"/chats/?q={LAST[(named // 10) % len(LAST)]}%20{named}"],
        "GET /chats/?q=<text> (search)": ["/chats/?q=INV-1234"],
        "GET /chats/?q=<common word> (search)": ["/chats/?q=Surabaya"],
        "GET /chats/?q=<phrase> (search)": ["/chats/?q=%22belum%20sampai%22"],
        "GET /chats/?q=<word typed> (search)": ["/chats/?q=keterlamb"],
        "GET /chats/?q=<no match> (search)": ["/chats/?q=xyzzy"],
        "GET /chats/?limit=200": ["/chats/?limit=200"],
        "GET /chats/{id} (last 50 messages)": [
            f"/chats/{rng.randint(1, a.chats)}" for _ in range(a.requests)
        ],
    }
    ok = True
    async with aiohttp.ClientSession() as session:
        await timed_gets(session, mc.base, ["/chats/"] * 20, token)  # warm up
        for label, paths in cases.items():
            n = a.requests if len(paths) == 1 else len(paths)
            if "search" in label:
                n = max(20, a.requests // 5)
            lat, nbytes, errors = await timed_gets(session, mc.base, (paths * n)[:n], token)
            ok = ok and not errors
            print(f"  {stats_line(label, lat)}  {nbytes / len(lat) / 1024:5.1f} KiB/resp"
                  + (f"  errors {errors}" if errors else ""))  # fmt: skip
    return ok


async def sockets(mc: Msgcenter, token: str, count: int, compress: int = 0) -> list[Any]:
    """Open ``count`` WebSockets (each waits for its hello frame); keep them open."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    opened: list[Any] = [session]
    sem = asyncio.Semaphore(50)

    async def one() -> None:
        async with sem:
            ws = await session.ws_connect(
                f"{mc.base}/ws?token={token}", heartbeat=None, compress=compress
            )
            await ws.receive(timeout=30)  # hello
            opened.append(ws)

    await asyncio.gather(*(one() for _ in range(count)))
    return opened


async def close_sockets(opened: list[Any]) -> None:
    for ws in opened[1:]:
        await ws.close()
    await opened[0].close()


async def stay_current(mc: Msgcenter, a: argparse.Namespace, token: str) -> dict[str, float]:
    """Ten dashboards: one list each, then /ws for the window while customers write."""
    requests = frames = 0
    nbytes = 0
    stop_at = time.monotonic() + a.window
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {token}"}

        async def dashboard() -> None:
            nonlocal requests, frames, nbytes
            async with session.get(f"{mc.base}/chats/", headers=headers) as r:
                nbytes += len(await r.read()) + sum(len(k) + len(v) for k, v in r.headers.items())
            requests += 1
            ws = await session.ws_connect(f"{mc.base}/ws?token={token}", compress=a.compress)
            requests += 1
            while True:
                left = stop_at - time.monotonic()
                if left <= 0:
                    break
                try:
                    msg = await ws.receive(timeout=left)
                except TimeoutError:
                    break
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frames += 1
                nbytes += len(msg.data.encode())
            await ws.close()

        async def customers() -> tuple[int, int]:
            n = int(a.window * a.rate)
            bodies = []
            for i in range(n):
                body, _ = wa_body(900_000 + i, phone_for(1 + i % a.chats), "D")
                bodies.append(body)
            await asyncio.sleep(1.0)
            result = await post_load(mc.webhook, bodies, 4, mc.app_secret, rate=a.rate)
            return n, result.errors

        results = await asyncio.gather(*(dashboard() for _ in range(10)), customers())
    posted, errors = results[-1]  # type: ignore[misc]
    return {"requests": requests, "frames": frames, "bytes": nbytes, "posted": posted,
            "errors": errors}  # fmt: skip


async def seed_polling(a: argparse.Namespace) -> dict[str, float] | None:
    """One refresh of ten dashboards with the seed's pattern, against the seed reference."""
    seed = await start_seed()
    if seed is None:
        return None
    base = seed.base
    try:
        bodies = [wa_body(i, phone_for(i, "62857"), "S")[0] for i in range(a.seed_chats - 4)]
        await post_load(f"{base}/webhooks/whatsapp", bodies, 16, None)
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{base}/auth/login", json={"identifier": "admin", "password": "admin123"}) as r,
        ):
            token = (await r.json())["access_token"]  # fmt: skip
        sessions = [
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=6)) for _ in range(10)
        ]
        headers = {"Authorization": f"Bearer {token}"}
        totals = {"requests": 0, "bytes": 0, "errors": 0}

        async def refresh(session: aiohttp.ClientSession) -> None:
            async def get(path: str) -> bytes:
                totals["requests"] += 1
                try:
                    async with session.get(base + path, headers=headers) as r:
                        raw = await r.read()
                        size = sum(len(k) + len(v) for k, v in r.headers.items())
                        totals["bytes"] += len(raw) + size
                        totals["errors"] += r.status != 200
                        return raw if r.status == 200 else b"[]"
                except (aiohttp.ClientError, TimeoutError):
                    totals["errors"] += 1
                    return b"[]"

            chats = json.loads(await get("/chats/"))
            await asyncio.gather(*(get(f"/chats/{c['id']}") for c in chats))

        t0 = time.perf_counter()
        try:
            await asyncio.gather(*(refresh(s) for s in sessions))
        finally:
            wall = time.perf_counter() - t0
            for s in sessions:
                await s.close()
        return {**totals, "wall": wall, "rss": rss_mb(seed.proc.pid)}
    finally:
        seed.stop()


async def main_async(a: argparse.Namespace) -> int:
    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="msgcenter-dashboard-"))
    mc = Msgcenter(work)
    ok = True
    try:
        env = mc.env()
        subprocess.run([PYTHON, "-m", "msgcenter.cli", "migrate"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        mc.add_user("admin", "admin-bench-pw", "admin")
        for k in range(1, 6):
            mc.add_user(f"agent{k}", "agent-bench-pw", "agent")
        seconds = load(mc.db_path, a.chats, a.messages, [2, 3, 4, 5, 6])
        size = mc.db_path.stat().st_size / 2**20
        print(f"loaded {a.chats} chats, {a.messages} messages in {seconds:.1f} s "
              f"(bulk SQL, one transaction); database {size:.0f} MB")  # fmt: skip
        plans(mc.db_path)
        await mc.start()
        token = await mc.token()
        print(f"server RSS after start: {rss_mb(mc.pid):.0f} MB")
        print(f"== latency, {a.requests} sequential requests each (one client, keep-alive)")
        ok = await latencies(mc, a, token) and ok
        print(f"server RSS after the queries: {rss_mb(mc.pid):.0f} MB")
        if a.latency_only:
            return 0 if ok else 1
        opened = await sockets(mc, token, a.sockets, a.compress)
        await asyncio.sleep(1)
        rss_ws = rss_mb(mc.pid)
        deflate = ", permessage-deflate" if a.compress else ""
        print(f"server RSS with {len(opened) - 1} WebSocket clients connected{deflate}: "
              f"{rss_ws:.0f} MB (target < 200 MB)")  # fmt: skip
        async with aiohttp.ClientSession() as s:
            lat, _, _ = await timed_gets(s, mc.base, ["/chats/"] * 100, token)
        print(f"  {stats_line('GET /chats/ with the sockets open', lat)}")
        print(f"== ten dashboards staying current for {a.window:g} s, customers writing "
              f"{a.rate:g} msg/s (each answered by the bot)")  # fmt: skip
        current = await stay_current(mc, a, token)
        ok = ok and not current["errors"]
        await close_sockets(opened)
        print(f"  msgcenter, WebSocket: {current['requests']:.0f} requests (10 first pages + 10 "
              f"upgrades), {current['frames']:.0f} frames, "
              f"{current['bytes'] / 1e6:.2f} MB for {current['posted']:.0f} customer messages; "
              f"errors {current['errors']:.0f}")  # fmt: skip
        print(f"server RSS at the end: {rss_mb(mc.pid):.0f} MB")
    finally:
        mc.stop_all()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    seed = await seed_polling(a)
    if seed is not None:
        per_req = seed["bytes"] / seed["requests"]
        refreshes = a.window / 5
        print(f"  seed, polling: one refresh of 10 dashboards x (1 list + {a.seed_chats} details) "
              f"= {seed['requests']:.0f} requests, {seed['bytes'] / 1e6:.2f} MB, wall "
              f"{seed['wall']:.1f} s (every 5 s), errors {seed['errors']:.0f}")  # fmt: skip
        for chats in (a.seed_chats, a.chats):
            reqs = 10 * (1 + chats) * refreshes
            print(
                f"  seed, polling for {a.window:g} s with {chats} chats: {reqs:,.0f} requests, "
                f"~{reqs * per_req / 1e6:,.0f} MB (at {per_req:.0f} B/request measured)"
            )
    return 0 if ok else 1


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--chats", type=int, default=10_000)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--requests", type=int, default=300, help="requests per measured case")
    ap.add_argument("--sockets", type=int, default=500)
    ap.add_argument("--window", type=float, default=60.0, help="seconds dashboards stay current")
    ap.add_argument("--rate", type=float, default=5.0, help="customer messages/s in the window")
    ap.add_argument("--seed-chats", type=int, default=200, help="chats for the seed's polling")
    ap.add_argument(
        "--compress",
        type=int,
        default=0,
        help="sockets offer permessage-deflate with this window (15: as browsers)",
    )
    ap.add_argument(
        "--latency-only",
        action="store_true",
        help="stop after the latencies (no sockets, no ten dashboards, no seed)",
    )
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not (1 <= a.chats <= 100_000 and a.messages <= 2_000_000 and a.sockets <= 2000
            and a.window <= 600 and a.rate <= 500 and 4 < a.seed_chats <= 5000):  # fmt: skip
        sys.exit("out of bounds")
    sys.exit(asyncio.run(main_async(a)))


if __name__ == "__main__":
    main()
