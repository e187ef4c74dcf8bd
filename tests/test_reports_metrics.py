"""The reports' arithmetic (handoff/domain/report_metrics.py): percentiles as PostgreSQL's
percentile_cont, ranges in a time zone, the UTC offsets a range crosses."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from handoff.domain.errors import Invalid
from handoff.domain.report_metrics import distribution, offsets, parse_range, percentile_cont
from storage import reports

NOW = datetime(2026, 12, 6, 18, 30, tzinfo=UTC)


def test_percentile_cont_interpolates_between_ranks() -> None:
    assert percentile_cont([], 0.5) is None
    assert percentile_cont([7.0], 0.9) == 7.0
    assert percentile_cont([1.0, 2.0], 0.5) == 1.5
    # Rank (4 - 1) * 0.9 = 2.7: 600 + 0.7 * (4000 - 600).
    assert percentile_cont([30.0, 180.0, 600.0, 4000.0], 0.9) == pytest.approx(2980.0)
    assert percentile_cont([30.0, 180.0, 600.0, 4000.0], 0.5) == 390.0
    assert percentile_cont([1.0, 2.0, 3.0], 0.5) == 2.0


def test_ranges_in_the_zone() -> None:
    window = parse_range("2026-12-01", "2026-12-07", "Asia/Jakarta", NOW)
    assert (window.start, window.end) == (
        datetime(2026, 11, 30, 17, tzinfo=UTC), datetime(2026, 12, 7, 17, tzinfo=UTC),
    )  # fmt: skip
    assert window.days()[0] == date(2026, 12, 1) and len(window.days()) == 7
    assert window.weeks() == [date(2026, 11, 30), date(2026, 12, 7)]
    # Neither: today (the 7th in Jakarta at 01:30) and the 29 days before, up to now.
    default = parse_range(None, None, "Asia/Jakarta", NOW)
    assert default.end == NOW and default.days()[0] == date(2026, 11, 8)
    assert len(default.days()) == 30
    for start, end in (("2026-12-07", "2026-12-01"), ("nope", None), ("2025-01-01", "2026-12-01"),
                       ("2026-12-01T10:00", "2026-12-01T10:00")):  # fmt: skip
        with pytest.raises(Invalid):
            parse_range(start, end, "Asia/Jakarta", NOW)


def test_offsets_over_a_daylight_saving_change() -> None:
    """New York moves from -05:00 to -04:00 at 2026-03-08 07:00 UTC."""
    window = parse_range("2026-03-07", "2026-03-09", "America/New_York", NOW)
    assert offsets(window) == [(datetime(2026, 3, 8, 7, tzinfo=UTC), -18000), (None, -14400)]
    assert offsets(parse_range("2026-12-01", "2026-12-07", "Asia/Jakarta", NOW)) == [(None, 25200)]


def test_distribution_shape() -> None:
    assert distribution([1, 0, 0, 0, 0, 0, 0, 2])[::7] == [
        {"le": 60, "count": 1}, {"le": None, "count": 2},
    ]  # fmt: skip


def test_sqlite_answers_sorted_through_their_counts() -> None:
    """SQLite's bot answers (``storage.reports._answers``): the seconds sorted as a plain
    sort would (repeats kept, none left out), the intents and each name counted."""
    rows = [(2.5, "hours"), (None, "hours"), (1.0, 0), (2.5, None), (0.25, "hours"), (1.0, 0)]
    rows += [(7.0, "price"), (2.5, 0), (None, 0)]
    found = reports._answers(rows, kind="answer")
    assert found.seconds.groups == {(0, "answer"): [0.25, 1.0, 1.0, 2.5, 2.5, 2.5, 7.0]}
    assert found.intents == {"hours": 3, None: 1, "price": 1}
    assert found.counts == {"bot_answer": 5, "bot_fallback": 4}
    empty = reports._answers([], kind="answer")
    assert (empty.seconds.groups, empty.intents) == ({}, {})
    assert empty.counts == {"bot_answer": 0, "bot_fallback": 0}


def test_sqlite_durations_by_label_count_each_fact_once_in_the_totals() -> None:
    """SQLite's durations by label (``storage.reports._sorted_by_label``): rows of ``label *
    kinds + kind`` (label -1: none), seconds and fact id; a fact comes once per label of its
    chat. Against the same lists built the plain way, on random rows."""
    order = ["first_response", "resolution", "reply"]
    rng = random.Random(21)
    rows = []
    for fact in range(2000):
        kind, value = rng.randrange(3), round(rng.uniform(0, 5000), 3)
        labels = rng.choice([[-1], [4], [9], [4, 9], [2, 4, 9]])
        rows += [(label * 3 + kind, value, fact) for label in labels]
    rng.shuffle(rows)
    found = reports._sorted_by_label(rows, order=order)
    groups: dict[tuple[int | None, str], list[float]] = {}
    totals: dict[str, dict[int, float]] = {}
    for number, value, fact in rows:
        label, kind = divmod(number, 3)
        groups.setdefault((None if label < 0 else label, order[kind]), []).append(value)
        totals.setdefault(order[kind], {})[fact] = value
    assert found.groups == {key: sorted(values) for key, values in groups.items()}
    assert found.totals == {kind: sorted(f.values()) for kind, f in totals.items()}
    assert sum(len(v) for v in found.totals.values()) == 2000
