"""Snooze (docs/api.md "Snooze"): put a chat you hold aside until a time or until the
customer replies, and wake it by hand."""

from __future__ import annotations

from aiohttp import web

from dashboard_api import schemas as s
from dashboard_api.routing import Call, Route, json_response

TAG = "chats"


async def snooze(call: Call) -> web.Response:
    body = call.body_as(s.SnoozeRequest)
    row = await call.context.core.snoozer.snooze(
        call.actor, call.int_param("chat_id"), until=body.until
    )
    return json_response(row)


async def unsnooze(call: Call) -> web.Response:
    row = await call.context.core.snoozer.wake(call.actor, call.int_param("chat_id"))
    return json_response(row)


ROUTES = [
    Route(
        "POST", "/chats/{chat_id}/snooze", snooze,
        "Snooze a chat someone holds (agent or paused mode, with an agent) until a time or "
        "until the customer replies: it leaves Mine for Snoozed (GET /chats/?snoozed=true) and "
        "wakes then, or when the customer writes, whichever comes first, with a note and a "
        "snooze_ended notification to its agent. Snoozing again replaces the time.", TAG,
        body=s.SnoozeRequest, response=s.ChatRow,
        responses={404: "no such chat (or not yours)",
                   409: "not_snoozable: snooze is for a chat someone holds",
                   422: "not exactly one of until and until_customer_replies; until without "
                        "an offset, in the past, or more than 90 days ahead"},
    ),
    Route(
        "POST", "/chats/{chat_id}/unsnooze", unsnooze,
        "Wake a snoozed chat now (a note in the chat; its agent is notified when someone "
        "else woke it).", TAG, response=s.ChatRow,
        responses={404: "no such chat (or not yours)", 409: "not_snoozed: the chat is awake"},
    ),
]  # fmt: skip
