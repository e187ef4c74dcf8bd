"""Business hours: whether a human is around now, and when one is next.

A week is seven tuples of spans (Monday first); a span is ``(start, end)`` in
minutes since midnight, end excluded, up to 24:00. Holidays are closed all day.
Wall times are read in the bot's time zone, so "08:00" means 08:00 there.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Span = tuple[int, int]
Week = tuple[tuple[Span, ...], ...]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "id": ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"),
}
_SHORT_NAMES = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "id": ("Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min"),
}
_TODAY_TOMORROW = {"en": ("today", "tomorrow"), "id": ("hari ini", "besok")}
_AT = {"en": "at", "id": "pukul"}
_ALWAYS = {"en": "every day, 24 hours", "id": "setiap hari, 24 jam"}
LANGUAGES = tuple(_DAY_NAMES)

_SPAN = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_DAY_MINUTES = 24 * 60


def parse_day(value: object) -> tuple[Span, ...]:
    """Parse one day's hours: ``"08:00-20:00"``, ``"08:00-12:00, 13:00-17:00"`` or ``"closed"``.

    Raises:
        ValueError: with a message saying what is wrong with the value.
    """
    if isinstance(value, tuple) and all(_is_span(item) for item in value):
        return value  # already parsed (a model built from another model)
    if not isinstance(value, str):
        raise ValueError('must be a string such as "08:00-20:00" or "closed"')
    text = value.strip().lower()
    if text in {"", "closed"}:
        return ()
    spans = sorted(_parse_span(part.strip()) for part in text.split(","))
    for (_, end), (start, _) in itertools.pairwise(spans):
        if start < end:
            raise ValueError(f"{value!r}: the time ranges overlap")
    return tuple(spans)


def _is_span(item: object) -> bool:
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and all(isinstance(minute, int) for minute in item)
        and 0 <= item[0] < item[1] <= _DAY_MINUTES
    )


def _parse_span(part: str) -> Span:
    match = _SPAN.fullmatch(part)
    if match is None:
        raise ValueError(f'{part!r} is not a range like "08:00-20:00"')
    start_h, start_m, end_h, end_m = (int(group) for group in match.groups())
    if start_h > 23 or start_m > 59 or end_m > 59 or end_h > 24 or (end_h == 24 and end_m):
        raise ValueError(f"{part!r}: not a time of day (00:00 to 24:00)")
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if end <= start:
        raise ValueError(
            f"{part!r}: the end must be after the start "
            '(split hours past midnight over two days, e.g. "22:00-24:00" and "00:00-02:00")'
        )
    return start, end


def clock(minutes: int) -> str:
    """``480`` -> ``"08:00"``."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class Schedule:
    """Opening hours in one time zone; ``week=None`` means always open."""

    def __init__(
        self, zone: ZoneInfo, week: Sequence[tuple[Span, ...]] | None, holidays: Collection[date]
    ) -> None:
        if week is not None and len(week) != 7:
            raise ValueError("a week has seven days")
        self.zone = zone
        self.week: Week | None = None if week is None else tuple(week)
        self.holidays = frozenset(holidays)

    def is_open(self, now: datetime) -> bool:
        """Whether ``now`` (aware) falls within business hours."""
        if self.week is None:
            return True
        local = now.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week[local.weekday()])

    def business_seconds(self, start: datetime, end: datetime) -> float:
        """The seconds from ``start`` to ``end`` (aware) that fall within business hours
        (holidays closed all day; every second when always open); 0 when ``end`` is not after
        ``start``. Hours are wall times of the schedule's zone, so a day that a clock change
        shortens or lengthens counts its real seconds."""
        if end <= start:
            return 0.0
        if self.week is None:
            return (end - start).total_seconds()
        total = 0.0
        day, last = start.astimezone(self.zone).date(), end.astimezone(self.zone).date()
        while day <= last:
            if day not in self.holidays:
                for open_minute, close_minute in self.week[day.weekday()]:
                    opens = max(self._instant(day, open_minute), start)
                    closes = min(self._instant(day, close_minute), end)
                    if closes > opens:
                        total += (closes - opens).total_seconds()
            day += timedelta(days=1)
        return total

    def _instant(self, day: date, minute: int) -> datetime:
        """The instant (UTC) of ``minute`` past midnight of ``day`` on the zone's wall clock
        (1440: the next midnight)."""
        if minute >= _DAY_MINUTES:
            day, minute = day + timedelta(days=1), minute - _DAY_MINUTES
        wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return wall.astimezone(UTC)

    def next_open(self, now: datetime) -> datetime | None:
        """When business hours next begin after ``now``; None when open now (or never)."""
        if self.week is None or self.is_open(now):
            return None
        local = now.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        # Holidays are finite, so a week past the last of them an open day has come.
        for offset in range(len(self.holidays) + 8):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            for start, _ in self.week[day.weekday()]:
                if offset == 0 and start <= minute:
                    continue
                return datetime.combine(day, time(start // 60, start % 60), tzinfo=self.zone)
        return None

    def describe_moment(self, moment: datetime, now: datetime, language: str) -> str:
        """``"tomorrow at 08:00 WIB"``, ``"Senin pukul 08:00 WIB"`` (``language``: "en" or "id")."""
        local_now = now.astimezone(self.zone)
        local = moment.astimezone(self.zone)
        days_ahead = (local.date() - local_now.date()).days
        if days_ahead in (0, 1):
            day = _TODAY_TOMORROW[language][days_ahead]
        else:
            day = _DAY_NAMES[language][local.weekday()]
            if days_ahead >= 7:
                day = f"{day} {local.date().isoformat()}"
        zone_name = local.tzname()
        return f"{day} {_AT[language]} {local:%H:%M}" + (f" {zone_name}" if zone_name else "")

    def describe(self, language: str) -> str:
        """The week in one line: ``"Mon-Fri 08:00-20:00, Sat 09:00-15:00"``."""
        if self.week is None:
            return _ALWAYS[language]
        names = _SHORT_NAMES[language]
        parts: list[str] = []
        day = 0
        while day < 7:
            last = day
            while last + 1 < 7 and self.week[last + 1] == self.week[day]:
                last += 1
            if self.week[day]:
                days = names[day] if last == day else f"{names[day]}-{names[last]}"
                spans = ", ".join(f"{clock(start)}-{clock(end)}" for start, end in self.week[day])
                parts.append(f"{days} {spans}")
            day = last + 1
        return ", ".join(parts)
