"""The ``llm`` object of the bot report (docs/api.md "GET /reports/bot"): what the LLM
engine's calls of a range came to, from ``storage.llm_reports``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from handoff.domain import report_metrics as metrics
from storage import llm_reports as store

ANSWER = "answer"  # LlmCall.purpose of the engine's answers (handoff.usecases.llm_usage)

FAILURES = ("error", "timeout", "invalid")
TOTALS = ("answers", "handoffs", "failures", "no_match", "budget", "prompt_tokens",
          "completion_tokens")  # fmt: skip


async def answers(start: datetime, end: datetime) -> dict[str, Any]:
    """``{answers, handoffs, failures, no_match, budget, prompt_tokens, completion_tokens,
    seconds: {median, p90, average, count}}`` of the engine's calls in ``[start, end)``."""
    return shape(await store.calls(start, end, ANSWER))


def shape(calls: store.Calls) -> dict[str, Any]:
    outcomes = calls.outcomes

    def count(*names: str) -> int:
        return sum(outcomes.get(name, (0, 0, 0))[0] for name in names)

    if calls.stats is not None:
        number, average, median, p90 = calls.stats
        seconds = {
            "median": metrics.rounded(median, 2), "p90": metrics.rounded(p90, 2),
            "average": metrics.rounded(average, 2), "count": number,
        }  # fmt: skip
    else:
        ordered = calls.seconds or []
        seconds = {
            "median": metrics.rounded(metrics.percentile_cont(ordered, 0.5), 2),
            "p90": metrics.rounded(metrics.percentile_cont(ordered, 0.9), 2),
            "average": metrics.rounded(sum(ordered) / len(ordered), 2) if ordered else None,
            "count": len(ordered),
        }
    return {
        "answers": count("answered"),
        "handoffs": count("handoff"),
        "failures": count(*FAILURES),
        "no_match": count("no_match"),
        "budget": count("budget"),
        "prompt_tokens": sum(prompt for _, prompt, _ in outcomes.values()),
        "completion_tokens": sum(completion for _, _, completion in outcomes.values()),
        "seconds": seconds,
    }


def csv_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    """The ``llm`` object as rows of the bot report's CSV (kind ``llm``)."""
    llm = report["llm"]
    rows = [["llm", name, llm[name], None] for name in TOTALS]
    return rows + [["llm_seconds", part, llm["seconds"][part], None] for part in llm["seconds"]]
