"""What the language model costs: each call recorded, and the day's token budget.

Every call of the model (the LLM engine's answers, the copilot's drafts, notes and
translations, embeddings) is an ``llm_calls`` row written in the operation that uses its
result, so the record and the answer commit together. ``bot.llm.daily_tokens`` bounds the
tokens of a UTC day, answers and copilot together: once spent, the engine hands chats to a
human and the copilot answers 429 ``budget_spent``.

The day's total is read from the table at the first question of a day and every
:data:`REFRESH` seconds after (other processes spend too), and this process's calls are
added as they are recorded: a budget is a bound, not an exact meter, and several processes
may overshoot it by what they spend within one refresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise import timezone
from tortoise.functions import Sum

from bot import Usage
from handoff.hooks import Hook
from storage.models import LlmCall

REFRESH = 60.0  # seconds between readings of the day's total from the table

# LlmCall.purpose
ANSWER = "answer"
SUGGEST = "suggest"
SUMMARIZE = "summarize"
TRANSLATE = "translate"
EMBED = "embed"


@dataclass(frozen=True, slots=True)
class Recorded:
    """What ``LlmUsage.recorded`` carries (``/metrics`` counts it)."""

    purpose: str
    usage: Usage


class LlmUsage:
    def __init__(
        self,
        daily_tokens: int = 0,
        *,
        clock: Callable[[], datetime] = timezone.now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``daily_tokens``: the day's budget (0: none); ``clock``: the time calls are
        stamped with and days begin by; ``monotonic``: when to read the total again."""
        self.daily_tokens = daily_tokens
        self.clock = clock
        self.monotonic = monotonic
        self._day: datetime | None = None  # the UTC midnight the total counts from
        self._spent = 0
        self._read_at = float("-inf")
        # After a call was recorded (inside the operation: counters only).
        self.recorded: Hook[Recorded] = Hook("llm_usage.recorded")

    async def record(
        self,
        purpose: str,
        usage: Usage,
        *,
        chat_id: int | None = None,
        agent_id: int | None = None,
    ) -> None:
        """One ``llm_calls`` row for ``usage``. Call inside a writer operation (or alone,
        for a call whose result is not written, such as a draft)."""
        await LlmCall.create(
            at=self.clock(),
            purpose=purpose,
            chat_id=chat_id,
            agent_id=agent_id,
            model=usage.model[:128],
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            seconds=usage.seconds,
            outcome=usage.outcome[:16],
            error=usage.error[:255] if usage.error else None,
        )
        self._spent += usage.prompt_tokens + usage.completion_tokens
        self.recorded.fire(Recorded(purpose, usage))

    async def exhausted(self) -> bool:
        """Whether today's tokens are spent (never, without a budget)."""
        if self.daily_tokens <= 0:
            return False
        return await self.spent_today() >= self.daily_tokens

    async def spent_today(self) -> int:
        """Tokens spent since UTC midnight, by every process (as of the last reading)."""
        now = self.clock()
        day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        stale = self.monotonic() - self._read_at >= REFRESH
        if day != self._day or stale:
            rows = (
                await LlmCall.filter(at__gte=day, at__lt=day + timedelta(days=1))
                .annotate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
                .values("prompt", "completion")
            )
            row = rows[0] if rows else {}
            self._spent = int(row.get("prompt") or 0) + int(row.get("completion") or 0)
            self._day = day
            self._read_at = self.monotonic()
        return self._spent
