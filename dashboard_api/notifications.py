"""A person's notifications (docs/api.md, "Notifications"): listed, marked read."""

from __future__ import annotations

from aiohttp import web

from dashboard_api import schemas as s
from dashboard_api.routing import Call, Route, json_response

TAG = "notifications"


async def list_notifications(call: Call) -> web.Response:
    query = call.query_as(s.NotificationsQuery)
    listed = await call.context.core.notifications.listed(
        call.actor, limit=query.limit, before=query.before, unread=query.unread
    )
    body = {"items": listed.items, "unread": listed.unread, "next_before": listed.next_before}
    return json_response(body, headers={"X-Unread-Count": str(listed.unread)})


async def read_one(call: Call) -> web.Response:
    result = await call.context.core.notifications.read(
        call.actor, call.int_param("notification_id")
    )
    return json_response(result)


async def read_all(call: Call) -> web.Response:
    return json_response(await call.context.core.notifications.read_all(call.actor))


ROUTES = [
    Route(
        "GET", "/notifications", list_notifications,
        "Your notifications, newest first, with your unread count (also in X-Unread-Count); "
        "older pages with before=<next_before>.", TAG,
        query=s.NotificationsQuery, response=s.NotificationList,
    ),
    Route(
        "POST", "/notifications/read-all", read_all,
        "Mark all your notifications read (pushed as notifications.read to your other tabs).",
        TAG, response=s.NotificationsAllRead,
    ),
    Route(
        "POST", "/notifications/{notification_id}/read", read_one,
        "Mark one of your notifications read (pushed as notifications.read).", TAG,
        response=s.NotificationRead,
        responses={404: "no such notification (or not yours)"},
    ),
]  # fmt: skip
