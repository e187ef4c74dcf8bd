"""handoff/usecases/llm_usage.py: calls recorded, the day's token budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import Usage
from handoff.usecases.llm_usage import REFRESH, LlmUsage, Recorded
from storage.models import LlmCall
from tests.support import Api


async def test_calls_are_recorded_and_the_budget_counts_the_utc_day(admin: Api) -> None:
    now = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    ticks = [0.0]
    usage = LlmUsage(1000, clock=lambda: now, monotonic=lambda: ticks[0])
    heard: list[Recorded] = []
    usage.recorded.register(heard.append)
    # Spent yesterday: not today's.
    await LlmCall.create(
        at=now - timedelta(days=1), purpose="answer", model="m", prompt_tokens=5000,
        completion_tokens=0, seconds=1.0, outcome="answered",
    )  # fmt: skip
    assert not await usage.exhausted()
    spent = Usage("m", 600, 300, 1.5, "answered")
    await usage.record("answer", spent)
    await usage.record(
        "suggest", Usage("m", 50, 0, 20.0, "timeout", "no answer within 20 s"), agent_id=1
    )
    assert await usage.spent_today() == 950
    assert not await usage.exhausted()
    # Another process spends too: seen at the next reading.
    await LlmCall.create(
        at=now, purpose="answer", model="m", prompt_tokens=60, completion_tokens=0,
        seconds=1.0, outcome="answered",
    )  # fmt: skip
    assert await usage.spent_today() == 950
    ticks[0] += REFRESH
    assert await usage.spent_today() == 1010
    assert await usage.exhausted()
    row = await LlmCall.get(purpose="suggest")
    assert (row.outcome, row.error, row.agent_id, row.chat_id) == (
        "timeout", "no answer within 20 s", 1, None,
    )  # fmt: skip
    assert [(r.purpose, r.usage.outcome) for r in heard] == [
        ("answer", "answered"), ("suggest", "timeout"),
    ]  # fmt: skip


async def test_without_a_budget_nothing_is_ever_spent(admin: Api) -> None:
    usage = LlmUsage(0)
    await usage.record("answer", Usage("m", 10**9, 10**9, 1.0))
    assert not await usage.exhausted()
