"""Every SQL statement of the reports (docs/api.md "Reports"; ``handoff.read.reports`` builds
the answers from them).

The facts (``report_events``) and the chats created are counted in the database, grouped by
what the report asks for, one statement per kind of fact, not per group: a range is found
through the indexes on ``(name, at, ...)`` and ``(agent_id, name, at, ...)``, which hold
every column the statements read, so the facts are read from the index alone
(``storage.models.ReportEvent``; ``chats.created_at``, ``csat_surveys.rated_at``/``sent_at``).
A fact's local day, week, hour or weekday is computed in the statement from its UTC time
plus the account's offset (a ``CASE`` over the stretches of one offset when the range
crosses a daylight saving change), so no row leaves the database to be grouped. By label
on SQLite, with at most ``LABEL_COLUMNS`` labels, the facts and chats are counted in one
pass with a column of each label (``FILTER``), in the index's order, where grouping the
joined rows would sort every one of them first (PostgreSQL groups by hash).

Durations: PostgreSQL computes the medians and 90th percentiles itself
(``percentile_cont``), with the totals in the same statement (``GROUPING SETS``; by label,
where a fact with several labels is in several groups, a second statement). SQLite has no
percentile function: the durations alone (group, kind number, seconds) are read as plain
tuples and sorted per group and kind in the thread that read them (``storage.sql.shaped``),
beside the report's other statements; by label each row is ``(label * kinds + kind,
seconds, fact id)`` (a column less to read of 77,000 rows in the bench's 30 days), so the
totals come from the same statement, each fact once. The bot's answers are read once on
SQLite: their seconds sorted through how often each value comes (a few thousand values for
100,000 answers), their intents and the facts of each name counted from the same rows, so
the bot report's count of facts by name leaves out these two (``answers_counted``).

Every statement runs through ``storage.sql.shaped``: on SQLite through a read-only
connection of its own in a worker thread (``SqliteClient.reader``: a few kept open between
statements; WAL: the committed rows, while the writer's connection goes on undisturbed), on
PostgreSQL through the pool (a report's statements run side by side).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, TypeVar

from storage import columns
from storage.models import Chat, ChatLabel, CsatSurvey, Label, ReportEvent
from storage.sql import is_postgres, shaped, time_param

EVENTS = columns.table(ReportEvent)
CHATS = columns.table(Chat)
LABELS = columns.table(ChatLabel)
LABEL_NAMES = columns.table(Label)
SURVEYS = columns.table(CsatSurvey)
NONE = "none"  # no grouping: the totals
# SQLite, by label: with up to this many labels, facts and chats are counted per label in
# one pass (a column of each label) rather than grouped through a sort of every row.
LABEL_COLUMNS = 12
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Scope:
    """Which facts: ``[start, end)`` (UTC), one person's (``agent_id``) or everyone's, and
    whether durations count business seconds only (``business_value``)."""

    start: datetime
    end: datetime
    agent_id: int | None = None
    business: bool = False


@dataclass(frozen=True, slots=True)
class Grouping:
    """How facts are grouped: ``kind`` one of none, day, week, hour, weekday, channel, agent,
    label. For the times: ``zone`` the account's time zone (PostgreSQL converts with it) and
    ``first`` the first day (day) or Monday (week) of the range: a day's or week's key is its
    number from there; for SQLite, which knows no zones, ``offsets`` the zone's ``[(until,
    seconds)]`` over the range (the last ``until`` None)."""

    kind: str = NONE
    zone: str = "UTC"
    first: date = date(1970, 1, 1)
    offsets: tuple[tuple[datetime | None, int], ...] = ((None, 0),)


@dataclass(frozen=True, slots=True)
class Stat:
    """One group's durations of one kind, as PostgreSQL computed them; ``le`` the count of
    values up to each bound (cumulative), asked for the totals."""

    key: Any
    kind: str
    total: bool
    count: int
    sum: float
    median: float | None
    p90: float | None
    le: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Durations:
    """Either the database's statistics (PostgreSQL) or the values to compute them from
    (SQLite), each list sorted: ``groups`` per (key, kind), ``totals`` per kind (asked
    for: every fact once, also where a fact is in several groups, as with labels)."""

    stats: list[Stat] | None = None
    groups: dict[tuple[Any, str], list[float]] = field(default_factory=dict)
    totals: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answers:
    """The bot's answers (``bot_answer`` and ``bot_fallback``): their seconds as
    ``Durations`` of one group and kind (key 0, ``kind``), ``bot_answer`` facts per intent
    (``detail``, None for an answer without one) and, where the same rows counted them
    (SQLite: :data:`ANSWERS_COUNTED`), the facts of each name."""

    seconds: Durations
    intents: dict[str | None, int]
    counts: dict[str, int] | None = None


# -- running ------------------------------------------------------------------------------


async def rows(sql: str, values: Sequence[Any]) -> list[Sequence[Any]]:
    """``sql`` run outside any transaction, its times given as the database takes them;
    rows as plain tuples, as ``storage.sql.tuples`` reads them."""
    return await shaped_rows(sql, values, _as_read)


async def shaped_rows(sql: str, values: Sequence[Any], shape: Callable[[list[Any]], T]) -> T:
    """``shape`` of the rows of ``sql`` (``storage.sql.shaped``: on SQLite in the thread
    that read them)."""
    params = [time_param(v) if isinstance(v, datetime) else v for v in values]
    return await shaped(sql, params, shape)


def _as_read(found: list[Any]) -> list[Any]:
    return found


def when(value: Any) -> datetime | None:
    """A time read back (SQLite: text) as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- the pieces of a statement ------------------------------------------------------------


def _names(names: Sequence[str]) -> str:
    """An ``IN`` list of fact names (the read side's constants, checked: letters and _)."""
    for name in names:
        if not name.replace("_", "").isalpha():
            raise ValueError(f"not a fact name: {name!r}")
    return ", ".join(f"'{name}'" for name in names)


def _key(
    grouping: Grouping, at: str, channel: str, agent: str, postgres: bool
) -> tuple[str, list[Any]]:
    """The SQL of a row's group key, and its parameters."""
    kind = grouping.kind
    if kind == NONE:
        return "0", []
    if kind == "channel":
        return channel, []
    if kind == "agent":
        return agent, []
    if kind == "label":
        return 'l."label_id"', []
    if kind not in ("day", "week", "hour", "weekday"):
        raise ValueError(f"no such grouping: {kind!r}")
    if postgres:
        return _pg_key(grouping, at)
    return _sqlite_key(grouping, at)


def _pg_key(grouping: Grouping, at: str) -> tuple[str, list[Any]]:
    """PostgreSQL: the local time from the zone itself (its daylight saving rules)."""
    local = f"({at} AT TIME ZONE ?)"
    if grouping.kind == "hour":
        return f"CAST(date_part('hour', {local}) AS integer)", [grouping.zone]
    if grouping.kind == "weekday":
        return f"CAST(date_part('isodow', {local}) AS integer)", [grouping.zone]
    days = f"(CAST({local} AS date) - CAST(? AS date))"
    if grouping.kind == "week":
        return f"({days} / 7)", [grouping.zone, grouping.first]
    return days, [grouping.zone, grouping.first]


def _sqlite_key(grouping: Grouping, at: str) -> tuple[str, list[Any]]:
    """SQLite: the UTC seconds plus the offset of the stretch the time is in, as local
    seconds since 1970 (a CASE when the range crosses an offset change)."""
    params: list[Any] = []
    if len(grouping.offsets) == 1:
        offset = str(int(grouping.offsets[0][1]))
    else:
        branches = []
        for until, seconds in grouping.offsets:
            if until is None:
                branches.append(f"ELSE {int(seconds)}")
            else:
                branches.append(f"WHEN {at} < ? THEN {int(seconds)}")
                params.append(until)
        offset = f"(CASE {' '.join(branches)} END)"
    local = f"({_epoch(at)} + {offset})"
    base = (grouping.first - date(1970, 1, 1)).days * 86400
    kind = grouping.kind
    if kind == "day":
        return f"(({local} - {base}) / 86400)", params
    if kind == "week":
        return f"(({local} - {base}) / 604800)", params
    if kind == "hour":
        return f"(({local} / 3600) % 24)", params
    return f"((({local} / 86400) + 3) % 7 + 1)", params


def _epoch(at: str) -> str:
    """SQLite: a UTC time's whole seconds since 1970: ``unixepoch`` (SQLite 3.38 and later)
    computes the integer itself, a quarter cheaper a row than formatting it with
    ``strftime('%s')`` and reading the text back (the same value)."""
    if sqlite3.sqlite_version_info >= (3, 38, 0):
        return f"unixepoch({at})"
    return f"CAST(strftime('%s', {at}) AS INTEGER)"


def _label_join(grouping: Grouping, alias: str) -> str:
    if grouping.kind != "label":
        return ""
    return f' LEFT JOIN "{LABELS}" l ON l."chat_id" = {alias}."chat_id"'


def _where(scope: Scope, names: Sequence[str]) -> tuple[str, list[Any]]:
    sql = f'e."name" IN ({_names(names)}) AND e."at" >= ? AND e."at" < ?'
    params: list[Any] = [scope.start, scope.end]
    if scope.agent_id is not None:
        sql += ' AND e."agent_id" = ?'
        params.append(scope.agent_id)
    return sql, params


def _events_key(grouping: Grouping, postgres: bool) -> tuple[str, list[Any]]:
    return _key(grouping, 'e."at"', 'e."channel"', 'e."agent_id"', postgres)


# -- the statements -----------------------------------------------------------------------


def counts_sql(
    scope: Scope, grouping: Grouping, names: Sequence[str], postgres: bool
) -> tuple[str, list[Any]]:
    key, params = _events_key(grouping, postgres)
    where, more = _where(scope, names)
    # Without groups, by the name alone: the index's own order, where SQLite would sort
    # every fact by (0, name) first (three times the time of 150,000 facts).
    by = 'e."name"' if grouping.kind == NONE else "1, 2"
    sql = (
        f'SELECT {key} AS k, e."name", COUNT(*), '  # noqa: S608
        "SUM(CASE WHEN e.\"detail\" = 'bot' THEN 1 ELSE 0 END) "
        f'FROM "{EVENTS}" e{_label_join(grouping, "e")} WHERE {where} GROUP BY {by}'
    )
    return sql, params + more


async def counts(
    scope: Scope, grouping: Grouping, names: Sequence[str]
) -> list[tuple[Any, str, int, int]]:
    """``(key, name, facts, of them with detail "bot")`` per group and fact name."""
    postgres = is_postgres()
    labels = await _few_labels() if grouping.kind == "label" and not postgres else None
    if labels is not None:
        return [
            (label, str(name), int(n), int(bot or 0))
            for name, *numbers in await rows(*counts_by_labels_sql(scope, names, labels))
            for label, (n, bot) in zip(
                [*labels, None], zip(numbers[::2], numbers[1::2], strict=True), strict=True
            )
            if n
        ]
    found = await rows(*counts_sql(scope, grouping, names, postgres))
    return [(k, str(name), int(n), int(bot or 0)) for k, name, n, bot in found]


def label_ids_sql() -> str:
    return f'SELECT "id" FROM "{LABEL_NAMES}" ORDER BY "id" LIMIT {LABEL_COLUMNS + 1}'  # noqa: S608


async def _few_labels() -> list[int] | None:
    """Every label's id when there are at most ``LABEL_COLUMNS`` (None: more)."""
    found = [int(i) for (i,) in await rows(label_ids_sql(), [])]
    return found if len(found) <= LABEL_COLUMNS else None


def _label_tests(labels: Sequence[int]) -> list[str]:
    """A chat_labels row of each label, then none (a fact or chat without labels)."""
    return [f'l."label_id" = {int(label)}' for label in labels] + ['l."label_id" IS NULL']


def counts_by_labels_sql(
    scope: Scope, names: Sequence[str], labels: Sequence[int]
) -> tuple[str, list[Any]]:
    """SQLite, by label with few labels: per fact name (the index's order: no sort), the facts
    and those with detail "bot" of each label's chats, then of the chats without one."""
    where, params = _where(scope, names)
    bot = "SUM(CASE WHEN e.\"detail\" = 'bot' THEN 1 ELSE 0 END)"
    numbers = ", ".join(
        f"COUNT(*) FILTER (WHERE {test}), {bot} FILTER (WHERE {test})"
        for test in _label_tests(labels)
    )
    sql = (
        f'SELECT e."name", {numbers} FROM "{EVENTS}" e'  # noqa: S608
        f'{_label_join(Grouping("label"), "e")} WHERE {where} GROUP BY e."name"'
    )
    return sql, params


def created_sql(scope: Scope, grouping: Grouping, postgres: bool) -> tuple[str, list[Any]]:
    key, params = _key(grouping, 'c."created_at"', 'c."channel"', "NULL", postgres)
    join = ""
    if grouping.kind == "label":
        join = f' LEFT JOIN "{LABELS}" l ON l."chat_id" = c."id"'
    # Without groups, one count (SQLite would sort every chat by a constant first); it is
    # 0 for an empty range, where a group would have no row: ``created`` drops it.
    by = "" if grouping.kind == NONE else " GROUP BY 1"
    sql = (
        f'SELECT {key} AS k, COUNT(*) FROM "{CHATS}" c{join} '  # noqa: S608
        f'WHERE c."created_at" >= ? AND c."created_at" < ?{by}'
    )
    return sql, [*params, scope.start, scope.end]


def created_by_labels_sql(scope: Scope, labels: Sequence[int]) -> tuple[str, list[Any]]:
    """SQLite, by label with few labels: the chats created of each label, then without one,
    in one pass (no sort)."""
    numbers = ", ".join(f"COUNT(*) FILTER (WHERE {test})" for test in _label_tests(labels))
    sql = (
        f'SELECT {numbers} FROM "{CHATS}" c LEFT JOIN "{LABELS}" l ON l."chat_id" = c."id" '  # noqa: S608
        'WHERE c."created_at" >= ? AND c."created_at" < ?'
    )
    return sql, [scope.start, scope.end]


async def created(scope: Scope, grouping: Grouping) -> list[tuple[Any, int]]:
    """Chats created in the range, ``(key, count)`` per group (by agent: all the queue's,
    None: a new chat has nobody's)."""
    if grouping.kind == "agent":
        found = await rows(*created_sql(scope, Grouping(), False))
        return [(None, int(n)) for _, n in found if n]
    postgres = is_postgres()
    labels = await _few_labels() if grouping.kind == "label" and not postgres else None
    if labels is not None:
        (numbers,) = await rows(*created_by_labels_sql(scope, labels))
        return [(k, int(n)) for k, n in zip([*labels, None], numbers, strict=True) if n]
    found = await rows(*created_sql(scope, grouping, postgres))
    return [(k, int(n)) for k, n in found if n]


def _kind(kinds: Mapping[str, str]) -> str:
    """The kind a fact counts as, by its number in ``list(kinds.values())`` (a small integer
    sorts faster than a name: PostgreSQL sorts text by its collation)."""
    _names(list(kinds))
    order = list(dict.fromkeys(kinds.values()))
    whens = " ".join(f"WHEN '{name}' THEN {order.index(kind)}" for name, kind in kinds.items())
    return f'CASE e."name" {whens} END'


def durations_sql(
    scope: Scope,
    grouping: Grouping,
    kinds: Mapping[str, str],
    bounds: Sequence[int],
    *,
    postgres: bool,
    totals: bool,
) -> tuple[str, list[Any]]:
    """PostgreSQL: the statistics per group and kind (and per kind with ``totals``, where
    each fact is in one group); SQLite: the values, with each fact's id when grouped by label
    with ``totals`` (a fact comes once per label of its chat: the totals take it once)."""
    if postgres and totals and grouping.kind == "label":
        raise ValueError("PostgreSQL's totals by label are a statement of their own")
    key, params = _events_key(grouping, postgres)
    where, more = _where(scope, list(kinds))
    value = 'e."business_value"' if scope.business else 'e."value"'
    columns = f"{key} AS k, {_kind(kinds)} AS kind, {value} AS v"
    if totals and grouping.kind == "label":
        # SQLite: the label and the kind as one number (a column less to read of each
        # row: ``_sorted_by_label``), and the fact's id.
        kinds_number = len(dict.fromkeys(kinds.values()))
        columns = (
            f'COALESCE(l."label_id", -1) * {kinds_number} + {_kind(kinds)} AS g, '
            f'{value} AS v, e."id" AS f'
        )
    inner = (
        f"SELECT {columns} "  # noqa: S608
        f'FROM "{EVENTS}" e{_label_join(grouping, "e")} WHERE {where} AND {value} IS NOT NULL'
    )
    if not postgres:
        return inner, params + more
    buckets = "".join(f", COUNT(*) FILTER (WHERE v <= {int(b)})" for b in bounds)
    sets = "GROUPING SETS ((k, kind), (kind))" if totals else "k, kind"
    sql = (
        "SELECT k, kind, GROUPING(k), COUNT(v), SUM(v), "  # noqa: S608
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY v), "
        f"percentile_cont(0.9) WITHIN GROUP (ORDER BY v){buckets} "
        f"FROM ({inner}) s GROUP BY {sets}"
    )
    return sql, params + more


async def durations(
    scope: Scope,
    grouping: Grouping,
    kinds: Mapping[str, str],
    bounds: Sequence[int] = (),
    *,
    totals: bool = True,
) -> Durations:
    """The durations of the facts named in ``kinds`` (fact name -> the kind it counts as),
    per group and kind, and over all facts when ``totals`` (each fact once, also by label):
    on PostgreSQL as ``Stat`` rows (``total`` True for the totals; by label the totals are a
    second statement, run beside the first), on SQLite as the values, sorted in the thread
    that read them, in one statement (by label each fact's id tells its rows apart)."""
    order = list(dict.fromkeys(kinds.values()))
    if not is_postgres():
        sql, params = durations_sql(scope, grouping, kinds, bounds, postgres=False, totals=totals)
        if totals and grouping.kind == "label":
            return await shaped_rows(sql, params, partial(_sorted_by_label, order=order))
        return await shaped_rows(sql, params, partial(_sorted_values, order=order, totals=totals))
    if totals and grouping.kind == "label":
        grouped, overall = await asyncio.gather(
            durations(scope, grouping, kinds, bounds, totals=False),
            durations(scope, Grouping(), kinds, bounds, totals=True),
        )
        found = (grouped.stats or []) + [s for s in overall.stats or [] if s.total]
        return Durations(stats=found)
    sql, params = durations_sql(scope, grouping, kinds, bounds, postgres=True, totals=totals)
    return Durations(stats=[_stat(row, order) for row in await rows(sql, params)])


def _sorted_values(found: list[Any], *, order: Sequence[str], totals: bool) -> Durations:
    """SQLite's ``(key, kind number, seconds)`` rows as sorted lists: per group and kind,
    and with ``totals`` per kind, from the groups' lists together (each fact in one group)."""
    grouped: defaultdict[tuple[Any, int], list[float]] = defaultdict(list)
    for key, kind, value in found:
        grouped[key, kind].append(value)
    overall: defaultdict[int, list[float]] = defaultdict(list)
    result = Durations()
    for (key, kind), values in grouped.items():
        values.sort()
        result.groups[(key, order[kind])] = values
        if totals:
            overall[kind].extend(values)  # sorted runs: the sort below merges them
    for kind, values in overall.items():
        values.sort()
        result.totals[order[kind]] = values
    return result


def _sorted_by_label(found: list[Any], *, order: Sequence[str]) -> Durations:
    """SQLite's ``(label * kinds + kind number, seconds, fact id)`` rows by label (label -1:
    none; a fact once per label of its chat) as sorted lists: per label and kind, and per
    kind over the facts, each once."""
    kinds = len(order)
    grouped: defaultdict[int, list[float]] = defaultdict(list)
    for number, value, _ in found:
        grouped[number].append(value)
    overall: defaultdict[int, list[float]] = defaultdict(list)
    # Each fact once: the last of its rows by its id (a dict built in C).
    for number, value, _ in dict(zip(map(itemgetter(2), found), found, strict=True)).values():
        overall[number % kinds].append(value)
    result = Durations()
    for number, values in grouped.items():
        label, kind = divmod(number, kinds)
        values.sort()
        result.groups[(None if label < 0 else label, order[kind])] = values
    for kind, values in overall.items():
        values.sort()
        result.totals[order[kind]] = values
    return result


def _stat(row: Sequence[Any], order: Sequence[str]) -> Stat:
    key, kind, total, count, summed, median, p90, *le = row
    return Stat(
        key, order[kind], bool(total), int(count), float(summed or 0), _float(median),
        _float(p90), tuple(int(n) for n in le),
    )  # fmt: skip


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def details_sql(scope: Scope, names: Sequence[str]) -> tuple[str, list[Any]]:
    where, params = _where(scope, names)
    sql = (
        f'SELECT e."name", e."detail", COUNT(*) FROM "{EVENTS}" e '  # noqa: S608
        f"WHERE {where} GROUP BY 1, 2"
    )
    return sql, params


async def details(scope: Scope, names: Sequence[str]) -> list[tuple[str, str | None, int]]:
    """``(name, detail, count)``: the handoff reasons, the intents answered."""
    found = await rows(*details_sql(scope, names))
    return [(str(name), None if d is None else str(d), int(n)) for name, d, n in found]


def answers_sql(scope: Scope) -> tuple[str, list[Any]]:
    """SQLite: the seconds of the bot's answers and fallbacks (None without), each answer's
    intent (``detail``, None without one) and 0 for a fallback (its detail, the question, is
    not read)."""
    where, params = _where(scope, ("bot_answer", "bot_fallback"))
    value = 'e."business_value"' if scope.business else 'e."value"'
    sql = (
        f'SELECT {value}, CASE WHEN e."name" = \'bot_answer\' THEN e."detail" ELSE 0 END '  # noqa: S608
        f'FROM "{EVENTS}" e WHERE {where}'
    )
    return sql, params


async def answers(scope: Scope, kind: str = "answer") -> Answers:
    """The bot's answers in ``scope``: their seconds (one group, key 0, ``kind``) and the
    answers per intent. SQLite reads them once (counted and sorted in the thread that read
    them: a sorter in SQLite for the intents cost more than the rows); PostgreSQL groups the
    intents and computes the percentiles itself, two statements side by side."""
    if not is_postgres():
        return await shaped_rows(*answers_sql(scope), partial(_answers, kind=kind))
    kinds = {"bot_answer": kind, "bot_fallback": kind}
    found, intents = await asyncio.gather(
        durations(scope, Grouping(), kinds, totals=False), details(scope, ("bot_answer",))
    )
    return Answers(found, {detail: n for _, detail, n in intents})


def answers_counted() -> bool:
    """Whether :func:`answers` also counts the ``bot_answer`` and ``bot_fallback`` facts
    (SQLite: from the rows it reads anyway), so a count of facts by name can leave them out."""
    return not is_postgres()


def _answers(found: list[Any], *, kind: str) -> Answers:
    """SQLite's ``(seconds, intent or 0)`` rows: the seconds sorted, through how often each
    value comes (a 30-day range has about 100,000 answers of a few thousand values: counting
    them and sorting the values once costs half a sort of them all; the list is the same),
    and the facts per intent and name."""
    times = Counter(map(itemgetter(0), found))
    times.pop(None, None)
    ordered = sorted(times)
    values = list(chain.from_iterable(map(repeat, ordered, map(times.__getitem__, ordered))))
    intents = Counter(map(itemgetter(1), found))
    fallbacks = intents.pop(0, 0)
    seconds = Durations(groups={(0, kind): values} if values else {})
    counts = {"bot_answer": len(found) - fallbacks, "bot_fallback": fallbacks}
    return Answers(seconds, {None if d is None else str(d): n for d, n in intents.items()}, counts)


def unmatched_sql(scope: Scope, limit: int) -> tuple[str, list[Any]]:
    where, params = _where(scope, ("bot_fallback",))
    sql = (
        f'SELECT lower(e."detail"), COUNT(*), MAX(e."detail"), MAX(e."at") FROM "{EVENTS}" e '  # noqa: S608
        f'WHERE {where} AND e."detail" IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 4 DESC, 1 '
        f"LIMIT {int(limit)}"
    )
    return sql, params


async def unmatched(scope: Scope, limit: int = 20) -> list[tuple[str, int, datetime | None]]:
    """The most frequent questions the bot did not understand (case folded), with how often
    and when last: ``(text, count, last_at)``."""
    found = await rows(*unmatched_sql(scope, limit))
    return [(str(text), int(n), when(last)) for _, n, text, last in found]


def handled_sql(scope: Scope) -> tuple[str, list[Any]]:
    where, params = _where(scope, ("reply", "resolved"))
    sql = (
        f'SELECT e."agent_id", COUNT(DISTINCT e."chat_id") FROM "{EVENTS}" e '  # noqa: S608
        f'WHERE {where} AND e."agent_id" IS NOT NULL GROUP BY 1'
    )
    return sql, params


async def handled(scope: Scope) -> dict[int, int]:
    """Per person: the chats they replied in or resolved a conversation of."""
    return {int(agent): int(n) for agent, n in await rows(*handled_sql(scope))}


def _survey_scope(scope: Scope, column: str) -> tuple[str, list[Any]]:
    sql = f's."{column}" >= ? AND s."{column}" < ?'
    params: list[Any] = [scope.start, scope.end]
    if scope.agent_id is not None:
        sql += ' AND s."agent_id" = ?'
        params.append(scope.agent_id)
    return sql, params


def ratings_by_agent_sql(scope: Scope) -> tuple[str, list[Any]]:
    where, params = _survey_scope(scope, "rated_at")
    sql = (
        f'SELECT s."agent_id", COUNT(*), SUM(s."rating") FROM "{SURVEYS}" s '  # noqa: S608
        f'WHERE {where} AND s."rating" IS NOT NULL GROUP BY 1'
    )
    return sql, params


async def ratings_by_agent(scope: Scope) -> dict[int | None, tuple[int, int]]:
    """Per agent: ``(ratings given in the range, their sum)``."""
    found = await rows(*ratings_by_agent_sql(scope))
    return {None if a is None else int(a): (int(n), int(total)) for a, n, total in found}


def ratings_sql(scope: Scope, grouping: Grouping, postgres: bool) -> tuple[str, list[Any]]:
    key, params = _key(grouping, 's."rated_at"', 's."channel"', 's."agent_id"', postgres)
    where, more = _survey_scope(scope, "rated_at")
    sql = (
        f'SELECT {key} AS k, s."rating", COUNT(*) FROM "{SURVEYS}" s '  # noqa: S608
        f'WHERE {where} AND s."rating" IS NOT NULL GROUP BY 1, 2'
    )
    return sql, params + more


async def ratings(scope: Scope, grouping: Grouping) -> list[tuple[Any, int, int]]:
    """``(key, rating, count)``: the ratings given in the range, per group (by day)."""
    found = await rows(*ratings_sql(scope, grouping, is_postgres()))
    return [(k, int(rating), int(n)) for k, rating, n in found]


def sent_sql(scope: Scope, grouping: Grouping, postgres: bool) -> tuple[str, list[Any]]:
    key, params = _key(grouping, 's."sent_at"', 's."channel"', 's."agent_id"', postgres)
    where, more = _survey_scope(scope, "sent_at")
    sql = (
        f'SELECT {key} AS k, COUNT(*), COUNT(s."rating") FROM "{SURVEYS}" s '  # noqa: S608
        f"WHERE {where} AND s.\"status\" <> 'not_sent' GROUP BY 1"
    )
    return sql, params + more


async def sent(scope: Scope, grouping: Grouping) -> list[tuple[Any, int, int]]:
    """``(key, surveys sent in the range, of them rated)`` per group."""
    found = await rows(*sent_sql(scope, grouping, is_postgres()))
    return [(k, int(n), int(r)) for k, n, r in found]


def comments_sql(scope: Scope, limit: int) -> tuple[str, list[Any]]:
    where, params = _survey_scope(scope, "rated_at")
    sql = (
        f'SELECT s."chat_id", s."agent_id", s."rating", s."comment", s."rated_at" '  # noqa: S608
        f'FROM "{SURVEYS}" s WHERE {where} AND s."comment" IS NOT NULL '
        f'ORDER BY s."rated_at" DESC, s."id" DESC LIMIT {int(limit)}'
    )
    return sql, params


async def comments(scope: Scope, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` ratings of the range that have a comment."""
    return [
        {
            "chat_id": int(chat_id),
            "agent_id": None if agent is None else int(agent),
            "rating": int(rating),
            "comment": str(comment),
            "rated_at": when(rated_at),
        }
        for chat_id, agent, rating, comment, rated_at in await rows(*comments_sql(scope, limit))
    ]


def _examples() -> tuple[list[str], list[str], list[str]]:
    """One instance of every statement (``tests/test_statements.py`` compiles them): those
    alike on both databases, PostgreSQL's own (its time arithmetic and percentiles) and
    SQLite's own (the bot's answers read once, the counts by label in one pass)."""
    day = datetime(2026, 12, 1, tzinfo=UTC)
    scope = Scope(day, day.replace(day=8), agent_id=1, business=True)
    plain = [Grouping(k) for k in (NONE, "channel", "agent", "label")]
    timed = [Grouping(k, "Asia/Jakarta") for k in ("day", "week", "hour", "weekday")]
    kinds = {"first_response": "first_response", "reply": "reply"}
    merged = {"bot_answer": "answer", "bot_fallback": "answer"}
    both: list[str] = []
    postgres: list[str] = []
    for grouping in plain:
        both.append(counts_sql(scope, grouping, ("resolved",), False)[0])
        both.append(created_sql(scope, grouping, False)[0])
        both.append(durations_sql(scope, grouping, kinds, (60,), postgres=False, totals=True)[0])
    for grouping in plain + timed:
        totals = grouping.kind != "label"  # by label: the totals are a statement of their own
        found = durations_sql(scope, grouping, kinds, (60,), postgres=True, totals=totals)
        postgres.append(found[0])
    postgres.append(durations_sql(scope, Grouping(), merged, (), postgres=True, totals=False)[0])
    for grouping in timed:
        postgres.append(counts_sql(scope, grouping, ("resolved",), True)[0])
        postgres.append(created_sql(scope, grouping, True)[0])
    day_key = timed[0]
    postgres += [ratings_sql(scope, day_key, True)[0], sent_sql(scope, day_key, True)[0]]
    both += [details_sql(scope, ("handed_off",))[0], unmatched_sql(scope, 20)[0]]
    both += [handled_sql(scope)[0], ratings_by_agent_sql(scope)[0]]
    both += [ratings_sql(scope, Grouping(), False)[0], sent_sql(scope, Grouping(), False)[0]]
    both.append(comments_sql(scope, 100)[0])
    sqlite = [answers_sql(scope)[0], label_ids_sql()]
    sqlite += [counts_by_labels_sql(scope, ("resolved",), [1, 2])[0]]
    sqlite += [created_by_labels_sql(scope, [1, 2])[0]]
    return both, postgres, sqlite


STATEMENTS, PG_STATEMENTS, SQLITE_STATEMENTS = _examples()
