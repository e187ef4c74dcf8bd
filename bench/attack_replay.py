"""The replay attack (issue 16, item 8): many sockets of one agent resume with ``after_seq``
far back, on a log of many events none of which is the agent's.

    .venv/bin/python -m bench.attack_replay [--messages 20000] [--sockets 20]

Before the fix the server rebuilt every message for every socket before filtering (20
sockets from 0 on 22,000 events: RSS 104 -> 1187 MB, /healthz stalled 4.3 s, 47 s of CPU).
Now: a replay longer than 10,000 events gets ``resync``; a user replays on two sockets at a
time (the others get ``resync``), four replays run at once in all; pages of 200 events,
filtered by the viewer before anything is rebuilt.

Three rounds: the agent from seq 0, the agent from 9,000 events back, an admin (who sees
everything) from 9,000 back. Each prints the server's RSS before and at its peak, the
slowest /healthz meanwhile, the server's CPU until it is idle again, frames and resyncs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import Msgcenter, cpu_seconds, phone_for, post_load, rss_mb, wa_body


async def _replayer(
    base: str, token: str, after: int, out: dict[str, Any], stop: asyncio.Event
) -> None:
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"{base}/ws?token={token}&after_seq={after}", heartbeat=None, max_msg_size=0
        ) as ws,
    ):
        while not stop.is_set():  # connected until the server is idle again
            try:
                msg = await ws.receive(timeout=0.2)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                out["closed"].append(msg.data)
                break
            frame = json.loads(msg.data)
            out["frames"] += 1
            out["bytes"] += len(msg.data)
            if frame["type"] == "resync":
                out["resync"] += 1
                out["reasons"].add(frame["data"].get("reason"))
            out["last"] = max(out["last"], time.perf_counter() - started)


async def replay_waves(base: str, token: str, sockets: int = 20) -> str:
    """For ``bench.attack``: ``sockets`` sockets of one user resume from seq 0, then from
    9,000 events back; what they were sent (each socket is left once quiet for 2 s)."""
    answers = []
    for label, back in (("from 0", None), ("9000 back", 9000)):
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{base}/ws?token={token}") as ws:
            last = int(json.loads((await ws.receive(timeout=10)).data)["seq"])
        after = 0 if back is None else max(last - back, 0)
        out: dict[str, Any] = {
            "frames": 0, "bytes": 0, "resync": 0, "reasons": set(), "closed": [], "last": 0.0
        }  # fmt: skip
        quiet = asyncio.Event()
        waves = asyncio.gather(*(_replayer(base, token, after, out, quiet) for _ in range(sockets)))
        seen = -1
        while seen != out["frames"]:  # until no socket got anything for 2 s
            seen = out["frames"]
            await asyncio.sleep(2.0)
        quiet.set()
        await waves
        answers.append(
            f"{label} ({last - after} events): {out['resync']} resync, "
            f"{out['frames'] - out['resync'] - sockets} other frames (replayed or live)"
        )
    return "; ".join(answers)


async def _round(mc: Msgcenter, token: str, after: int, sockets: int) -> str:
    """``sockets`` sockets resume after ``after`` at once; what it cost the server."""
    pid = mc.server_pid()
    before = rss_mb(pid)
    peak = before
    health: list[float] = []
    stop, done = asyncio.Event(), asyncio.Event()

    async def probe() -> None:
        nonlocal peak
        async with aiohttp.ClientSession() as s:
            while not stop.is_set():
                t0 = time.perf_counter()
                async with s.get(f"{mc.base}/healthz") as r:
                    await r.read()
                health.append(time.perf_counter() - t0)
                peak = max(peak, rss_mb(pid))
                await asyncio.sleep(0.1)

    out: dict[str, Any] = {
        "frames": 0, "bytes": 0, "resync": 0, "reasons": set(), "closed": [], "last": 0.0
    }  # fmt: skip
    prober = asyncio.create_task(probe())
    t0, cpu0 = time.perf_counter(), cpu_seconds(pid)
    replayers = asyncio.gather(
        *(_replayer(mc.base, token, after, out, done) for _ in range(sockets))
    )
    await asyncio.sleep(0.5)
    cpu = cpu_seconds(pid)
    while True:  # until the server is idle again (the probes cost ~0.01 s a second)
        await asyncio.sleep(0.5)
        now = cpu_seconds(pid)
        if now - cpu < 0.05:
            break
        cpu = now
    wall = time.perf_counter() - t0 - 0.5
    done.set()
    await replayers
    stop.set()
    await prober
    return (
        f"{sockets} sockets after_seq={after}: RSS {before:.0f} -> peak {peak:.0f} MB, "
        f"/healthz max {max(health) * 1000:.0f} ms ({len(health)} probes), server busy "
        f"{cpu - cpu0:.1f} s CPU, idle again after {wall:.1f} s, frames {out['frames']} "
        f"({out['bytes'] / 1e6:.1f} MB), resync {out['resync']} {sorted(out['reasons'])}, "
        f"closed {out['closed']}"
    )


async def replay_attack(workdir: Path, messages: int = 20_000, sockets: int = 20) -> dict[str, Any]:
    """Issue 16, item 8: see the module docstring. Returns a line per round."""
    mc = Msgcenter(workdir, extra_env={"MSGCENTER_BOT__ENGINE": "bench.silentbot:SilentBot"})
    results: dict[str, Any] = {}
    try:
        mc.add_user()
        mc.add_user("agent", "agent-bench-pw", "agent")
        await mc.start()
        bodies = [wa_body(i, phone_for(i % 2000), "replay")[0] for i in range(messages)]
        load = await post_load(mc.webhook, bodies, 16, mc.app_secret, timeout=120)
        results["ingest"] = load.line("ingest")
        agent = await mc.token("agent", "agent-bench-pw")
        admin = await mc.token()
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(f"{mc.base}/ws?token={admin}") as ws,
        ):
            last = int(json.loads((await ws.receive(timeout=10)).data)["seq"])
        results["log"] = f"{last} events"
        back = max(last - 9000, 0)
        for label, token, after in (
            ("agent from 0", agent, 0), ("agent 9000 back", agent, back),
            ("admin 9000 back", admin, back),
        ):  # fmt: skip
            await asyncio.sleep(2)
            results[label] = await _round(mc, token, after, sockets)
    finally:
        mc.stop_all()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--sockets", type=int, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="replay-") as tmp:
        for key, value in asyncio.run(replay_attack(Path(tmp), a.messages, a.sockets)).items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
