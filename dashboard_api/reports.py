"""Reports (docs/api.md "Reports"): the summary, agents, the bot and customer satisfaction,
as JSON or, with ``?format=csv``, as a CSV file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from dashboard_api import schemas as s
from dashboard_api.routing import Call, Route, json_response
from handoff.read import reports
from handoff.read.reports import ReportQuery

TAG = "reports"


async def summary(call: Call) -> web.Response:
    query = call.query_as(s.ReportSummaryQuery)
    asked = ReportQuery(
        query.start, query.end, query.group_by, query.agent_id, query.business_hours
    )
    report = await call.context.core.reports.summary(call.actor, asked)
    return _answer(query.format, report, reports.summary_csv, "summary")


async def agents(call: Call) -> web.Response:
    query = call.query_as(s.ReportAgentQuery)
    asked = ReportQuery(
        query.start, query.end, agent_id=query.agent_id, business_hours=query.business_hours
    )
    report = await call.context.core.reports.agents(call.actor, asked)
    return _answer(query.format, report, reports.agents_csv, "agents")


async def bot(call: Call) -> web.Response:
    query = call.query_as(s.ReportBotQuery)
    asked = ReportQuery(query.start, query.end, business_hours=query.business_hours)
    report = await call.context.core.reports.bot(call.actor, asked)
    return _answer(query.format, report, reports.bot_csv, "bot")


async def csat(call: Call) -> web.Response:
    query = call.query_as(s.ReportCsatQuery)
    asked = ReportQuery(query.start, query.end, agent_id=query.agent_id)
    report = await call.context.core.reports.csat(call.actor, asked)
    return _answer(query.format, report, reports.csat_csv, "csat")


def _answer(
    fmt: str,
    report: dict[str, Any],
    to_csv: Callable[[Mapping[str, Any]], str],
    name: str,
) -> web.Response:
    if fmt != "csv":
        return json_response(report)
    start = str(report["from"])[:10]
    end = (datetime.fromisoformat(str(report["to"])) - timedelta(microseconds=1)).date()
    return web.Response(
        text=to_csv(report),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="report-{name}-{start}-{end}.csv"'},
    )


CSV = ("text/csv",)
RANGE = "from, to: ISO dates or times in reports.timezone (default: the last 30 days)"
ERRORS = {
    403: "forbidden: an agent asking for another person's agent_id",
    422: "invalid: from or to unparsable, from not before to, a range over 366 days; "
         "validation_error: an unknown parameter or value",
}  # fmt: skip

ROUTES = [
    Route(
        "GET", "/reports/summary", summary,
        "Conversations opened, reopened, handed off, resolved (and by the bot alone); first "
        "response, resolution, reply and queue times (median, p90, average, count) in total "
        f"and per group (group_by), with the distributions. {RANGE}. Admins: everyone, or "
        "agent_id; agents: their own. format=csv: one row per group.", TAG,
        query=s.ReportSummaryQuery, response=s.ReportSummary, responses=ERRORS,
        also_media_types=CSV,
    ),
    Route(
        "GET", "/reports/agents", agents,
        "One row per person: conversations handled, replies, resolved, first response, "
        f"resolution and reply times, CSAT. {RANGE}. Admins: every active person (or "
        "agent_id); agents: their own row. format=csv: one row per person.", TAG,
        query=s.ReportAgentQuery, response=s.AgentsReport, responses=ERRORS, also_media_types=CSV,
    ),
    Route(
        "GET", "/reports/bot", bot,
        "The bot (admins): containment, handoff rate and reasons, answers per intent, "
        f"fallback rate, the most frequent questions it did not understand. {RANGE}. "
        "format=csv: kind, key, value, last_at rows.", TAG,
        query=s.ReportBotQuery, response=s.BotReport, access="admin",
        responses={422: ERRORS[422]}, also_media_types=CSV,
    ),
    Route(
        "GET", "/reports/csat", csat,
        "Customer satisfaction: surveys sent, ratings, response rate, average, per day, the "
        f"newest comments. {RANGE}. Admins: everyone or agent_id; agents: their own. "
        "format=csv: one row per day.", TAG,
        query=s.ReportCsatQuery, response=s.CsatReport, responses=ERRORS, also_media_types=CSV,
    ),
]  # fmt: skip
