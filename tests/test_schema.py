"""schemathesis against /openapi.json with a valid token (bounded; bench/schema.py runs
longer against ``msgcenter serve``): no 5xx, no response that breaks the schema it declares.

Here the service runs in the test's own event loop (with the demo users and chats and
the WhatsApp channel pointed at the mock) and schemathesis in a process of its own."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL
from tests.whatsapp_support import WhatsApp

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
EXCLUDE = "^/ws$"  # upgrades to a WebSocket
ST = Path(sys.executable).parent / "st"


@pytest.mark.parametrize(
    "db_url",
    [
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.skipif(
                    not POSTGRES_URL, reason="MSGCENTER_TEST_POSTGRES_URL is not set"
                ),
            ],
        ),
    ],
    indirect=True,
)
async def test_the_api_keeps_its_openapi_contract(wa: WhatsApp, tmp_path: Path) -> None:
    spec = str(wa.admin.client.make_url("/openapi.json"))
    proc = await asyncio.create_subprocess_exec(
        str(ST), "run", spec, "--checks", CHECKS, "-H", f"Authorization: Bearer {wa.admin.token}",
        "--max-examples", "8", "--seed", "7", "--no-shrink", "--exclude-path-regex", EXCLUDE,
        "--workers", "1", "--request-timeout", "10", "--continue-on-failure",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), 600)
    report = output.decode(errors="replace")
    assert proc.returncode == 0, report[-6000:]
    # It tested the API (not a schema it could not load, nor no operation at all).
    tested = re.search(r"Tested: (\d+)", report)
    assert tested is not None and int(tested.group(1)) >= 25, report[-6000:]
