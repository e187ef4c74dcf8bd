"""The language model's part of the bot report (docs/api.md "GET /reports/bot", ``llm``):
the ``llm_calls`` of one purpose in a range, counted by outcome with their tokens, and the
seconds the model took.

Two statements, both through the ``(at, purpose)`` index and run like the other reports'
(``storage.sql.tuples``: SQLite's own read-only connection in a worker thread, PostgreSQL's
pool). PostgreSQL computes the median and 90th percentile itself (``percentile_cont``);
SQLite reads the seconds alone, sorted, and the read side computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage import columns
from storage.models import LlmCall
from storage.sql import is_postgres, time_param, tuples

CALLS = columns.table(LlmCall)
# The outcomes of calls that asked the model (no_match and budget did not): their seconds.
ASKED = ("answered", "handoff", "error", "timeout", "invalid")
_RANGE = '"at" >= ? AND "at" < ? AND "purpose" = ?'
_ASKED = f'"outcome" IN ({", ".join("?" for _ in ASKED)})'
BY_OUTCOME = (  # the table's name is the model's, not input
    'SELECT "outcome", COUNT(*), COALESCE(SUM("prompt_tokens"), 0), '  # noqa: S608
    f'COALESCE(SUM("completion_tokens"), 0) FROM "{CALLS}" WHERE {_RANGE} GROUP BY "outcome"'
)
SECONDS = (  # SQLite: the values, sorted
    f'SELECT "seconds" FROM "{CALLS}" WHERE {_RANGE} AND {_ASKED} '  # noqa: S608
    'ORDER BY "seconds"'
)
SECONDS_PG = (  # PostgreSQL: count, average, median, 90th percentile
    'SELECT COUNT(*), AVG("seconds"), '  # noqa: S608
    'percentile_cont(0.5) WITHIN GROUP (ORDER BY "seconds"), '
    'percentile_cont(0.9) WITHIN GROUP (ORDER BY "seconds") '
    f'FROM "{CALLS}" WHERE {_RANGE} AND {_ASKED}'
)
STATEMENTS = (BY_OUTCOME, SECONDS)
PG_STATEMENTS = (SECONDS_PG,)


@dataclass(frozen=True, slots=True)
class Calls:
    """What the calls of a range came to.

    Attributes:
        outcomes: outcome -> (calls, prompt tokens, completion tokens).
        seconds: SQLite: every asked call's seconds, sorted; PostgreSQL: None.
        stats: PostgreSQL: (count, average, median, p90) of those; SQLite: None.
    """

    outcomes: dict[str, tuple[int, int, int]]
    seconds: list[float] | None = None
    stats: tuple[int, float | None, float | None, float | None] | None = None


async def calls(start: datetime, end: datetime, purpose: str) -> Calls:
    """The calls for ``purpose`` in ``[start, end)`` (UTC)."""
    window: list[Any] = [time_param(start), time_param(end), purpose]
    counted = await tuples(BY_OUTCOME, window)
    outcomes = {str(row[0]): (int(row[1]), int(row[2]), int(row[3])) for row in counted}
    if is_postgres():
        (row,) = await tuples(SECONDS_PG, [*window, *ASKED])
        return Calls(outcomes, stats=(int(row[0]), _float(row[1]), _float(row[2]),
                                      _float(row[3])))  # fmt: skip
    found: Sequence[Sequence[Any]] = await tuples(SECONDS, [*window, *ASKED])
    return Calls(outcomes, seconds=[float(row[0]) for row in found])


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
