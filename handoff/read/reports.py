"""The reports (docs/api.md "Reports"): ranges, groups, percentiles, distributions and the CSV
rows, built from a fixed number of statements each (``storage.reports``), whatever the
number of facts or groups.

Who sees what: admins the whole desk, or one person with ``agent_id``; an agent their own
facts only (another's ``agent_id`` is Forbidden); the bot's report is admins' (the route).
"""

from __future__ import annotations

import asyncio
import csv
import io
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from handoff.domain import report_metrics as metrics
from handoff.domain.contact_csv import cell
from handoff.domain.errors import Forbidden
from handoff.domain.modes import Actor
from handoff.read import llm_reports
from handoff.read.names import AgentNames, LabelNames
from storage import reports as store
from storage.models import Channel, User

# Fact names counted per group, and the durations: fact name -> the report's field.
COUNTED = ("reopened", "handed_off", "resolved")
DURATIONS = {
    "first_response": "first_response_seconds",
    "resolved": "resolution_seconds",
    "reply": "reply_seconds",
    "assigned": "queue_seconds",
}
DISTRIBUTED = ("first_response_seconds", "resolution_seconds")
AGENT_DURATIONS = {k: v for k, v in DURATIONS.items() if k != "assigned"}
BOT_FACTS = ("reopened", "handed_off", "resolved", "bot_answer", "bot_fallback")
BOT_COUNTED = BOT_FACTS[:3]  # counted apart where the answers' own read counts the rest
BOUNDS = metrics.BOUNDS
UNMATCHED = 20  # the bot's most frequent questions it did not understand
COMMENTS = 100  # the newest CSAT comments
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

Stats = dict[str, Any]  # {"median", "p90", "average", "count"}


@dataclass(frozen=True, slots=True)
class ReportQuery:
    start: str | None = None  # ``from``
    end: str | None = None  # ``to``
    group_by: str = "day"
    agent_id: int | None = None
    business_hours: bool = False


def empty_stats() -> Stats:
    return {"median": None, "p90": None, "average": None, "count": 0}


def stats_of(ordered: Sequence[float]) -> Stats:
    """The durations' shape from the values, sorted."""
    if not ordered:
        return empty_stats()
    return {
        "median": metrics.rounded(metrics.percentile_cont(ordered, 0.5)),
        "p90": metrics.rounded(metrics.percentile_cont(ordered, 0.9)),
        "average": metrics.rounded(sum(ordered) / len(ordered)),
        "count": len(ordered),
    }


@dataclass(slots=True)
class _Durations:
    groups: dict[tuple[Any, str], Stats]
    totals: dict[str, Stats]
    buckets: dict[str, list[int]]


def _from_values(found: store.Durations) -> _Durations:
    """The shapes from the sorted values (SQLite); the distributions from the totals'."""
    result = _Durations({}, {}, {})
    for group, ordered in found.groups.items():
        result.groups[group] = stats_of(ordered)
    for kind, ordered in found.totals.items():
        result.totals[kind] = stats_of(ordered)
        below = [0, *(bisect_right(ordered, bound) for bound in metrics.BOUNDS), len(ordered)]
        result.buckets[kind] = [b - a for a, b in pairwise(below)]
    return result


def _shape(stat: store.Stat) -> Stats:
    return {
        "median": metrics.rounded(stat.median),
        "p90": metrics.rounded(stat.p90),
        "average": metrics.rounded(stat.sum / stat.count) if stat.count else None,
        "count": stat.count,
    }


def _from_stats(stats: Iterable[store.Stat]) -> _Durations:
    result = _Durations({}, {}, {})
    for stat in stats:
        if not stat.total:
            result.groups[(stat.key, stat.kind)] = _shape(stat)
            continue
        result.totals[stat.kind] = _shape(stat)
        below = [0, *stat.le]
        counts = [below[i + 1] - below[i] for i in range(len(stat.le))]
        result.buckets[stat.kind] = [*counts, stat.count - (stat.le[-1] if stat.le else 0)]
    return result


def _durations(found: store.Durations) -> _Durations:
    if found.stats is not None:
        return _from_stats(found.stats)
    return _from_values(found)


@dataclass(frozen=True, slots=True)
class _Group:
    key: Any
    label: Any


class Reports:
    def __init__(
        self,
        names: AgentNames,
        labels: LabelNames,
        timezone: str = "UTC",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.names = names
        self.labels = labels
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.clock = clock

    # -- the reports -----------------------------------------------------------------------

    async def summary(self, actor: Actor, query: ReportQuery) -> dict[str, Any]:
        window = self._range(query)
        scope = self._scope(actor, query, window)
        grouping = self._grouping(query.group_by, window)
        # Every fact is in one group but with labels (a chat may have several): then the
        # counts' totals are statements of their own (the durations' come with the groups').
        # On PostgreSQL the statements run at once; on SQLite each in a thread of its own.
        partition = grouping.kind != "label"
        everything = store.Grouping()
        counts, created, found, overall_counts, overall_created = await asyncio.gather(
            store.counts(scope, grouping, COUNTED),
            _created(scope, grouping),
            store.durations(scope, grouping, DURATIONS, BOUNDS),
            _nothing() if partition else store.counts(scope, everything, COUNTED),
            _nothing() if partition else _created(scope, everything),
        )
        durations = _durations(found)
        if partition:
            overall_counts = [(0, n, c, b) for _, n, c, b in counts]
            overall_created = [(0, n) for _, n in created]

        key_of = self._keys(grouping, window)
        rows: dict[Any, dict[str, Any]] = defaultdict(_counted)
        for key, name, number, bot in counts:
            _count(rows[key_of(key)], name, number, bot)
        for key, number in created:
            rows[key_of(key)]["opened"] += number
        for (key, field), shape in durations.groups.items():
            rows[key_of(key)][field] = shape
        totals = _counted()
        for _, name, number, bot in overall_counts:
            _count(totals, name, number, bot)
        totals["opened"] += sum(number for _, number in overall_created)
        for field, shape in durations.totals.items():
            totals[field] = shape
        groups = []
        for group in await self._groups(grouping, window, scope, rows):
            row = rows[group.key] if group.key in rows else _counted()
            groups.append({"key": group.key, "label": group.label, **row})
        return {
            **self._head(window),
            "group_by": grouping.kind,
            "business_hours": scope.business,
            "totals": totals,
            "distributions": {
                field: metrics.distribution(
                    durations.buckets.get(field, [0] * (len(metrics.BOUNDS) + 1))
                )
                for field in DISTRIBUTED
            },
            "groups": groups,
        }

    async def agents(self, actor: Actor, query: ReportQuery) -> dict[str, Any]:
        window = self._range(query)
        scope = self._scope(actor, query, window)
        by_agent = store.Grouping("agent")
        counts, found, handled, ratings = await asyncio.gather(
            store.counts(scope, by_agent, ("reply", "resolved")),
            store.durations(scope, by_agent, AGENT_DURATIONS, totals=False),
            store.handled(scope),
            store.ratings_by_agent(scope),
        )
        durations = _durations(found)
        people: set[int] = {k for k, *_ in counts if k is not None}
        people |= set(handled) | {k for k in ratings if k is not None}
        people |= {k for k, _ in durations.groups if k is not None}
        if scope.agent_id is not None:
            people = {scope.agent_id}
        else:
            people |= await _active_people()
        names = await self.names.names(people) if people else {}
        rows = []
        for person in people:
            replies = sum(n for k, name, n, _ in counts if k == person and name == "reply")
            resolved = sum(n for k, name, n, _ in counts if k == person and name == "resolved")
            responses, total = ratings.get(person, (0, 0))
            row: dict[str, Any] = {
                "agent_id": person,
                "name": names.get(person, ""),
                "handled": handled.get(person, 0),
                "replies": replies,
                "resolved": resolved,
            }
            for field in AGENT_DURATIONS.values():
                row[field] = durations.groups.get((person, field), empty_stats())
            row["csat"] = {
                "responses": responses,
                "average": round(total / responses, 1) if responses else None,
            }
            rows.append(row)
        rows.sort(key=lambda r: (str(r["name"]).casefold(), r["agent_id"]))
        return {**self._head(window), "business_hours": scope.business, "agents": rows}

    async def bot(self, actor: Actor, query: ReportQuery) -> dict[str, Any]:
        """The bot's report (the route lets admins only)."""
        window = self._range(query)
        scope = store.Scope(window.start, window.end, business=query.business_hours)
        everything = store.Grouping()
        # SQLite counts the answers and fallbacks from the rows ``answers`` reads anyway.
        counted_names = BOT_COUNTED if store.answers_counted() else BOT_FACTS
        counts, created, handoffs, found, unmatched, llm = await asyncio.gather(
            store.counts(scope, everything, counted_names),
            store.created(scope, everything),
            store.details(scope, ("handed_off",)),
            store.answers(scope, "answer"),
            store.unmatched(scope, UNMATCHED),
            llm_reports.answers(window.start, window.end),
        )
        counted: dict[str, int] = defaultdict(int, found.counts or {})
        bot_resolved = 0
        for _, name, number, bot in counts:
            counted[name] += number
            if name == "resolved":
                bot_resolved += bot
        opened = counted["reopened"] + sum(n for _, n in created)
        reasons: dict[str | None, int] = defaultdict(int)
        for _, detail, number in handoffs:
            reasons[detail] += number
        answer = _durations(found.seconds).groups.get((0, "answer"), empty_stats())
        answers, fallbacks = counted["bot_answer"], counted["bot_fallback"]
        resolved, handed_off = counted["resolved"], counted["handed_off"]
        return {
            **self._head(window),
            "business_hours": scope.business,
            "conversations": resolved,
            "opened": opened,
            "resolved": resolved,
            "bot_resolved": bot_resolved,
            "containment": metrics.ratio(bot_resolved, resolved),
            "handed_off": handed_off,
            "handoff_rate": metrics.ratio(handed_off, opened),
            "handoff_reasons": [{"reason": k, "count": n} for k, n in _ranked(reasons)],
            "answers": answers,
            "fallbacks": fallbacks,
            "fallback_rate": metrics.ratio(fallbacks, answers + fallbacks),
            "intents": [{"intent": k, "count": n} for k, n in _ranked(found.intents)],
            "unmatched": [
                {"text": text, "count": n, "last_at": self._when(last)}
                for text, n, last in unmatched
            ],
            "answer_seconds": answer,
            "llm": llm,
        }

    async def csat(self, actor: Actor, query: ReportQuery) -> dict[str, Any]:
        window = self._range(query)
        scope = self._scope(actor, query, window)
        by_day = self._grouping("day", window)
        found_sent, ratings, comments = await asyncio.gather(
            store.sent(scope, by_day), store.ratings(scope, by_day), store.comments(scope, COMMENTS)
        )
        sent: dict[Any, tuple[int, int]] = {k: (n, r) for k, n, r in found_sent}
        histogram = {str(n): 0 for n in range(1, 6)}
        daily: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
        for key, rating, number in ratings:
            histogram[str(rating)] = histogram.get(str(rating), 0) + number
            daily[key][0] += number
            daily[key][1] += rating * number
        responses = sum(n for n, _ in daily.values())
        total = sum(t for _, t in daily.values())
        sent_total = sum(n for n, _ in sent.values())
        rated_of_sent = sum(r for _, r in sent.values())
        days = []
        for index, day in enumerate(window.days()):
            count, summed = daily.get(index, [0, 0])
            days.append(
                {
                    "date": day.isoformat(),
                    "sent": sent.get(index, (0, 0))[0],
                    "responses": count,
                    "average": round(summed / count, 1) if count else None,
                }
            )
        for comment in comments:
            comment["rated_at"] = self._when(comment["rated_at"])
        return {
            **self._head(window),
            "agent_id": scope.agent_id,
            "sent": sent_total,
            "responses": responses,
            "response_rate": metrics.ratio(rated_of_sent, sent_total),
            "average": round(total / responses, 1) if responses else None,
            "ratings": histogram,
            "by_day": days,
            "comments": comments,
        }

    # -- ranges, scopes, groups -------------------------------------------------------------

    def _range(self, query: ReportQuery) -> metrics.Range:
        return metrics.parse_range(query.start, query.end, self.timezone, self.clock())

    def _scope(self, actor: Actor, query: ReportQuery, window: metrics.Range) -> store.Scope:
        agent_id = query.agent_id
        if not actor.is_admin:
            if agent_id is not None and agent_id != actor.user_id:
                raise Forbidden("agents see their own numbers only", field="agent_id")
            agent_id = actor.user_id
        return store.Scope(window.start, window.end, agent_id, query.business_hours)

    def _grouping(self, kind: str, window: metrics.Range) -> store.Grouping:
        if kind not in metrics.TIME_GROUPS:
            return store.Grouping(kind)
        first = window.weeks()[0] if kind == "week" else window.days()[0]
        return store.Grouping(kind, self.timezone, first, tuple(metrics.offsets(window)))

    def _keys(self, grouping: store.Grouping, window: metrics.Range) -> Callable[[Any], Any]:
        """A group's key as the report shows it, from the statement's (a day's or week's
        number from the first: its date)."""
        if grouping.kind in ("day", "week"):
            dates = window.days() if grouping.kind == "day" else window.weeks()

            def to_date(key: Any) -> Any:
                index = int(key)
                return dates[index].isoformat() if 0 <= index < len(dates) else str(key)

            return to_date
        if grouping.kind in ("hour", "weekday", "agent", "label"):
            return lambda key: None if key is None else int(key)
        return lambda key: key

    def _head(self, window: metrics.Range) -> dict[str, Any]:
        return {
            "from": self._when(window.start),
            "to": self._when(window.end),
            "timezone": self.timezone,
        }

    def _when(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        return value.astimezone(self.zone).isoformat()

    async def _groups(
        self,
        grouping: store.Grouping,
        window: metrics.Range,
        scope: store.Scope,
        rows: Mapping[Any, Any],
    ) -> list[_Group]:
        kind = grouping.kind
        if kind in ("day", "week"):
            dates = window.days() if kind == "day" else window.weeks()
            return [_Group(d.isoformat(), d.isoformat()) for d in dates]
        if kind == "hour":
            return [_Group(h, f"{h:02d}:00") for h in range(24)]
        if kind == "weekday":
            return [_Group(n, WEEKDAYS[n - 1]) for n in range(1, 8)]
        if kind == "channel":
            known = [str(c) for c in Channel]
            more = sorted(str(k) for k in rows if k is not None and str(k) not in known)
            return [_Group(c, c) for c in [*known, *more]]
        if kind == "agent":
            people = {int(k) for k in rows if k is not None}
            if scope.agent_id is not None:
                people.add(scope.agent_id)
            else:
                people |= await _active_people()
            names = await self.names.names(people) if people else {}
            found = sorted(people, key=lambda p: (names.get(p, "").casefold(), p))
            return [_Group(p, names.get(p, "")) for p in found] + [_Group(None, None)]
        if kind == "label":
            labels = await self.labels.names({int(k) for k in rows if k is not None})
            wanted = set(labels) | {int(k) for k in rows if k is not None}
            found = sorted(wanted, key=lambda i: (labels.get(i, "").casefold(), i))
            return [_Group(i, labels.get(i, "")) for i in found] + [_Group(None, None)]
        return []


async def _created(scope: store.Scope, grouping: store.Grouping) -> list[tuple[Any, int]]:
    """Chats created, per group; none with a person (a new chat is nobody's)."""
    return [] if scope.agent_id is not None else await store.created(scope, grouping)


async def _nothing() -> Any:
    return None


async def _active_people() -> set[int]:
    return {int(row[0]) for row in await User.filter(active=True).values_list("id")}


def _counted() -> dict[str, Any]:
    row: dict[str, Any] = {
        "opened": 0,
        "reopened": 0,
        "handed_off": 0,
        "resolved": 0,
        "bot_resolved": 0,
    }
    for field in DURATIONS.values():
        row[field] = empty_stats()
    return row


def _count(row: dict[str, Any], name: str, number: int, bot: int) -> None:
    row[name] += number
    if name == "reopened":
        row["opened"] += number
    if name == "resolved":
        row["bot_resolved"] += bot


def _ranked(counts: Mapping[str | None, int]) -> list[tuple[str | None, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0] is None, item[0] or ""))


# -- CSV ------------------------------------------------------------------------------------

STAT_PARTS = ("median", "p90", "average", "count")


def _stat_columns(fields: Iterable[str]) -> list[str]:
    return [f"{f.removesuffix('_seconds')}_{part}" for f in fields for part in STAT_PARTS]


def _stat_cells(row: Mapping[str, Any], fields: Iterable[str]) -> list[Any]:
    return [row[f][part] for f in fields for part in STAT_PARTS]


SUMMARY_COLUMNS = [
    "key", "label", "opened", "reopened", "handed_off", "resolved", "bot_resolved",
    *_stat_columns(DURATIONS.values()),
]  # fmt: skip
AGENT_COLUMNS = [
    "agent_id", "name", "handled", "replies", "resolved",
    *_stat_columns(AGENT_DURATIONS.values()), "csat_responses", "csat_average",
]  # fmt: skip
BOT_COLUMNS = ["kind", "key", "value", "last_at"]
BOT_TOTALS = (
    "conversations", "opened", "resolved", "bot_resolved", "containment", "handed_off",
    "handoff_rate", "answers", "fallbacks", "fallback_rate",
)  # fmt: skip
CSAT_COLUMNS = ["date", "sent", "responses", "average"]


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue()


def summary_csv(report: Mapping[str, Any]) -> str:
    """One row per group (docs/api.md "Reports": the CSV columns)."""
    fields = list(DURATIONS.values())
    return _csv(
        SUMMARY_COLUMNS,
        ([g[c] for c in SUMMARY_COLUMNS[:7]] + _stat_cells(g, fields) for g in report["groups"]),
    )


def agents_csv(report: Mapping[str, Any]) -> str:
    fields = list(AGENT_DURATIONS.values())
    return _csv(
        AGENT_COLUMNS,
        (
            [a[c] for c in AGENT_COLUMNS[:5]]
            + _stat_cells(a, fields)
            + [a["csat"]["responses"], a["csat"]["average"]]
            for a in report["agents"]
        ),
    )


def bot_csv(report: Mapping[str, Any]) -> str:
    rows: list[list[Any]] = [["total", name, report[name], None] for name in BOT_TOTALS]
    rows += [["handoff_reason", r["reason"], r["count"], None] for r in report["handoff_reasons"]]
    rows += [["intent", i["intent"], i["count"], None] for i in report["intents"]]
    rows += [["unmatched", u["text"], u["count"], u["last_at"]] for u in report["unmatched"]]
    answer = report["answer_seconds"]
    rows += [["answer_seconds", part, answer[part], None] for part in STAT_PARTS]
    rows += llm_reports.csv_rows(report)
    return _csv(BOT_COLUMNS, rows)


def csat_csv(report: Mapping[str, Any]) -> str:
    return _csv(
        CSAT_COLUMNS,
        ([d["date"], d["sent"], d["responses"], d["average"]] for d in report["by_day"]),
    )
