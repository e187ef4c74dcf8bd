"""The reports' arithmetic, no I/O (docs/api.md "Reports"): a range from ``from``/``to`` in the
account's time zone, the groups of a range, the stretches of one UTC offset the range crosses
(so the database can tell a fact's local day and hour), percentiles interpolated between
ranks as PostgreSQL's ``percentile_cont``, and the summary's distributions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handoff.domain.errors import Invalid

MAX_DAYS = 366  # the longest range
DEFAULT_DAYS = 30  # no range given: today and the 29 days before it
# The distributions' upper bounds in seconds (the last bucket, None, holds the longer ones).
BOUNDS: tuple[int, ...] = (60, 300, 900, 1800, 3600, 14400, 86400)
TIME_GROUPS = ("day", "week", "hour", "weekday")
GROUPS = (*TIME_GROUPS, "channel", "agent", "label")


@dataclass(frozen=True, slots=True)
class Range:
    """``[start, end)`` as UTC instants, and the zone its days are counted in."""

    start: datetime
    end: datetime
    zone: ZoneInfo

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone)

    def days(self) -> list[date]:
        """Every local day the range touches, in order."""
        first = self.local(self.start).date()
        last = self.local(self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def weeks(self) -> list[date]:
        """The Monday of every week the range touches, in order."""
        days = self.days()
        first = days[0] - timedelta(days=days[0].weekday())
        return [first + timedelta(weeks=n) for n in range((days[-1] - first).days // 7 + 1)]


def parse_range(
    start_text: str | None, end_text: str | None, zone_name: str, now: datetime
) -> Range:
    """The range ``from``-``to`` (docs/api.md "Reports"): a date is its whole day in the zone
    (``to`` a date: up to the end of that day), a time without offset is in the zone. Without
    ``to``: up to ``now``; without ``from``: the 30 days ending with ``to``'s day (today and
    the 29 before it). Invalid (422): unparsable, ``from`` not before ``to``, over 366 days."""
    zone = ZoneInfo(zone_name)
    end = _instant(end_text, zone, "to", end_of_day=True) if end_text else now.astimezone(UTC)
    if start_text:
        start = _instant(start_text, zone, "from", end_of_day=False)
    else:
        last_day = (end - timedelta(microseconds=1)).astimezone(zone).date()
        start = _midnight(last_day - timedelta(days=DEFAULT_DAYS - 1), zone)
    if start >= end:
        raise Invalid("from must be before to", field="from")
    if end - start > timedelta(days=MAX_DAYS):
        raise Invalid(f"a range is at most {MAX_DAYS} days", field="to", max_days=MAX_DAYS)
    return Range(start, end, zone)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)


def _instant(text: str, zone: ZoneInfo, field: str, *, end_of_day: bool) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:  # YYYY-MM-DD
            day = date.fromisoformat(text)
            return _midnight(day + timedelta(days=1) if end_of_day else day, zone)
        when = datetime.fromisoformat(text)
    except (ValueError, OverflowError) as exc:
        raise Invalid(f"{field} is not an ISO date or time: {text[:40]!r}", field=field) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    try:
        return when.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise Invalid(f"{field} is out of range", field=field) from exc


def offsets(window: Range) -> list[tuple[datetime | None, int]]:
    """The zone's UTC offsets over the range as ``[(until, seconds), ...]``: ``seconds`` holds
    before ``until`` (UTC), the last one (``until`` None) to the end. One entry without
    daylight saving time changes in the range."""
    zone = window.zone

    def offset(instant: datetime) -> int:
        delta = instant.astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    found: list[tuple[datetime | None, int]] = []
    current = offset(window.start)
    probe = window.start
    while probe < window.end:
        step = min(probe + timedelta(hours=6), window.end)
        if offset(step) != current:
            low, high = probe, step  # the change is in (low, high]: halve down to a second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            changed = high.replace(microsecond=0)
            found.append((changed, current))
            current = offset(changed)
        probe = step
    found.append((None, current))
    return found


def percentile_cont(ordered: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` percentile of ``ordered`` (sorted), interpolated between the two
    nearest ranks as PostgreSQL's ``percentile_cont``; None for no values."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def rounded(value: float | None, places: int = 1) -> float | None:
    return None if value is None else round(value, places)


def ratio(part: int, whole: int) -> float | None:
    """``part / whole`` to four places; None when ``whole`` is 0."""
    return round(part / whole, 4) if whole else None


def distribution(counts: Sequence[int]) -> list[dict[str, int | None]]:
    """``[{"le": bound, "count": n}, ..., {"le": None, "count": n}]`` from the counts per
    bucket (``len(BOUNDS) + 1`` of them)."""
    bounds: list[int | None] = [*BOUNDS, None]
    return [{"le": le, "count": int(n)} for le, n in zip(bounds, counts, strict=True)]
