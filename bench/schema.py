"""schemathesis against /openapi.json with a valid admin token: no 5xx, no response that
breaks the schema it declares.

    .venv/bin/python -m bench.schema [--max-examples 100] [--seed N] [--phases ...]

msgcenter serve runs on a fresh SQLite file with the seed's demo users and chats; the
WhatsApp channel points at the mock. ``tests/test_schema.py`` runs a bounded version in
``make test``. The exit code is schemathesis's.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import PYTHON, ROOT, Msgcenter

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
# /ws upgrades; logout/password changes would end the token the run itself uses.
EXCLUDE = "^/ws$"


def seed_demo(mc: Msgcenter) -> None:
    code = (
        "import asyncio\n"
        "from msgcenter.settings import load_settings\n"
        "from storage.db import Database\n"
        "from handoff.usecases.staff import Passwords, Staff\n"
        "from msgcenter import demo\n"
        "async def main():\n"
        "    s = load_settings(None)\n"
        "    db = Database(s.storage.url)\n"
        "    await db.open()\n"
        "    users = await demo.seed_users(Staff(Passwords(time_cost=1, memory_kib=1024)))\n"
        "    await demo.seed_chats(users[1], s.bot)\n"
        "    await db.close()\n"
        "asyncio.run(main())\n"
    )
    subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=mc.env(), check=True)


async def run(max_examples: int, seed: int | None, extra: list[str]) -> int:
    work = Path(tempfile.mkdtemp(prefix="msgcenter-schema-"))
    mc = Msgcenter(work)
    try:
        seed_demo(mc)
        await mc.start()
        token = await mc.token("admin", "admin123")
        args = [
            str(Path(PYTHON).parent / "st"), "run", f"{mc.base}/openapi.json",
            "--checks", CHECKS, "-H", f"Authorization: Bearer {token}",
            "--max-examples", str(max_examples), "--exclude-path-regex", EXCLUDE,
            "--workers", "1", "--request-timeout", "10", "--continue-on-failure",
            *(["--seed", str(seed)] if seed is not None else []), *extra,
        ]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(*args, cwd=work)
        return await proc.wait()
    finally:
        mc.stop_all()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--max-examples", type=int, default=100)
    ap.add_argument("--seed", type=int)
    a, extra = ap.parse_known_args()
    sys.exit(asyncio.run(run(a.max_examples, a.seed, extra)))


if __name__ == "__main__":
    main()
