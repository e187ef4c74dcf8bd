"""The language model in /reports/bot (``llm``, storage/llm_reports.py) and in /metrics, from
the llm_calls rows LlmUsage records (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from bot import Usage
from tests.support import Api
from tests.test_operations import _metrics, _value

# 2026-03-02 and 03 in the account's zone (UTC in tests).
INSIDE = datetime(2026, 3, 2, 9, tzinfo=UTC)
OUTSIDE = datetime(2026, 3, 4, 9, tzinfo=UTC)


async def test_the_bot_report_counts_the_models_answers_and_metrics_see_them(admin: Api) -> None:
    usage = admin.service.core.llm_usage
    clock = [INSIDE]
    usage.clock = lambda: clock[0]
    for seconds in (1.0, 2.0, 4.0):
        await usage.record("answer", Usage("m", 300, 40, seconds, "answered"))
    await usage.record("answer", Usage("m", 250, 10, 1.5, "handoff"))
    await usage.record("answer", Usage("m", 0, 0, 20.0, "timeout", "no answer within 20 s"))
    await usage.record("answer", Usage("m", 0, 0, 0.3, "invalid", "empty answer"))
    await usage.record("answer", Usage("m", 0, 0, 0.0, "no_match"))  # the model not asked
    await usage.record("answer", Usage("m", 0, 0, 0.0, "budget"))
    await usage.record("suggest", Usage("m", 999, 99, 3.0, "answered"), agent_id=1)  # copilot
    clock[0] = OUTSIDE
    await usage.record("answer", Usage("m", 5000, 500, 9.0, "answered"))  # another day
    status, report = await admin.get("/reports/bot?from=2026-03-02&to=2026-03-03")
    assert status == 200
    # Asked: 1, 2, 4, 1.5, 20, 0.3 s -> sorted 0.3 1 1.5 2 4 20: median 1.75; p90 at rank 4.5:
    # 4 + 0.5 * 16 = 12; average 28.8 / 6 = 4.8.
    assert report["llm"] == {
        "answers": 3, "handoffs": 1, "failures": 2, "no_match": 1, "budget": 1,
        "prompt_tokens": 1150, "completion_tokens": 130,
        "seconds": {"median": 1.75, "p90": 12.0, "average": 4.8, "count": 6},
    }  # fmt: skip
    status, empty = await admin.get("/reports/bot?from=2026-02-01&to=2026-02-02")
    assert empty["llm"]["seconds"] == {"median": None, "p90": None, "average": None, "count": 0}
    assert empty["llm"]["answers"] == empty["llm"]["prompt_tokens"] == 0
    async with admin.client.get(
        "/reports/bot?from=2026-03-02&to=2026-03-03&format=csv", headers=admin.headers()
    ) as response:
        rows = list(csv.reader(io.StringIO(await response.text())))
    assert ["llm", "answers", "3", ""] in rows
    assert ["llm_seconds", "p90", "12.0", ""] in rows
    _, text = await _metrics(admin)
    assert _value(text, "msgcenter_llm_calls_total", purpose="answer", outcome="answered") == 4
    assert _value(text, "msgcenter_llm_calls_total", purpose="answer", outcome="timeout") == 1
    assert _value(text, "msgcenter_llm_calls_total", purpose="suggest", outcome="answered") == 1
    assert _value(text, "msgcenter_llm_tokens_total", purpose="answer", kind="prompt") == 6150
    assert _value(text, "msgcenter_llm_tokens_total", purpose="answer", kind="completion") == 630
    assert _value(text, "msgcenter_llm_seconds_count", purpose="answer") == 7
    assert _value(text, "msgcenter_llm_seconds_sum", purpose="answer") == 37.8
