"""schemathesis against /openapi.json with a valid token (bounded; bench/schema.py runs
longer): no 5xx, no response that breaks the schema it declares."""

from __future__ import annotations

from bench.schema import run


async def test_the_api_keeps_its_openapi_contract() -> None:
    assert await run(max_examples=8, seed=7, extra=["--no-shrink"]) == 0
