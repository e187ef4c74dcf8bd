"""Outgoing webhooks (docs/api.md, "Outgoing webhooks"): admins register the URLs msgcenter
posts events to, read each one's delivery log and redeliver."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import AfterValidator, Field, StringConstraints

from dashboard_api import schemas as s
from dashboard_api.routing import Call, Route, json_response
from handoff.domain.webhooks import TYPES

TAG = "integrations"
PATH = "/integrations/webhooks"
SCOPE = "webhooks:write"

EventType = Literal[
    "message.created", "chat.created", "chat.mode_changed", "chat.assigned", "chat.closed",
    "csat.created", "contact.updated",
]  # fmt: skip
assert set(EventType.__args__) == set(TYPES)  # type: ignore[attr-defined]


def _no_repeats(events: list[str]) -> list[str]:
    if len(set(events)) != len(events):
        raise ValueError("an event type is listed twice")
    return events


Url = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Secret = Annotated[str, StringConstraints(min_length=16, max_length=255)]
Events = Annotated[list[EventType], Field(min_length=1, max_length=7), AfterValidator(_no_repeats)]
Description = Annotated[str, StringConstraints(max_length=255)]


class CreateWebhook(s.Strict):
    url: Url
    secret: Secret
    events: Events
    description: Description = ""


class UpdateWebhook(s.Strict):
    url: Url | None = None
    secret: Secret | None = None
    events: Events | None = None
    description: Description | None = None
    active: bool | None = None


class DeliveriesQuery(s.Query):
    status: Literal["pending", "delivered", "failed"] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    cursor: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,16}$")] | None = None


class WebhookOut(s.Open):
    id: int
    url: str
    events: list[str]
    description: str
    active: bool
    disabled_at: str | None
    disabled_reason: str | None
    created_at: str
    updated_at: str


class WebhookList(s.Open):
    items: list[WebhookOut]


class DeliveryOut(s.Open):
    id: int
    delivery_id: str
    event_type: str
    chat_id: int | None
    status: str
    attempts: int
    response_status: int | None
    error: str | None
    duration_ms: int | None
    created_at: str
    last_attempt_at: str | None
    next_attempt_at: str | None
    delivered_at: str | None


class DeliveryPage(s.Open):
    items: list[DeliveryOut]
    next_cursor: str | None


async def list_webhooks(call: Call) -> web.Response:
    return json_response({"items": await call.context.core.webhooks.listed()})


async def create_webhook(call: Call) -> web.Response:
    body = call.body_as(CreateWebhook)
    row = await call.context.core.webhooks.create(
        call.actor, body.url, body.secret, list(body.events), body.description
    )
    return json_response(row, status=201)


async def get_webhook(call: Call) -> web.Response:
    return json_response(await call.context.core.webhooks.get(call.int_param("webhook_id")))


async def update_webhook(call: Call) -> web.Response:
    body = call.body_as(UpdateWebhook)
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if "events" in changes:
        changes["events"] = list(changes["events"])
    row = await call.context.core.webhooks.update(call.actor, call.int_param("webhook_id"), changes)
    return json_response(row)


async def delete_webhook(call: Call) -> web.Response:
    await call.context.core.webhooks.delete(call.actor, call.int_param("webhook_id"))
    return web.Response(status=204)


async def list_deliveries(call: Call) -> web.Response:
    query = call.query_as(DeliveriesQuery)
    page = await call.context.core.webhooks.deliveries(
        call.int_param("webhook_id"),
        status=query.status,
        limit=query.limit,
        cursor=int(query.cursor) if query.cursor else None,
    )
    return json_response(page)


async def redeliver(call: Call) -> web.Response:
    row = await call.context.core.webhooks.redeliver(
        call.actor, call.int_param("webhook_id"), call.int_param("delivery_id")
    )
    return json_response(row, status=202)


URL_ERRORS = {
    422: "validation_error: a URL over 2,048 characters, a secret of fewer than 16 or more "
         "than 255 characters, no event type, an unknown or repeated one; "
         "destination_refused: not http(s) with a host, or a host that is or resolves to a "
         "loopback, private or other non-public address (integrations."
         "allow_private_destinations)",
}  # fmt: skip

ROUTES = [
    Route(
        "GET", PATH, list_webhooks,
        "The webhook endpoints (admins), oldest first; secrets are never shown.", TAG,
        response=WebhookList, access="admin", scope=SCOPE,
    ),
    Route(
        "POST", PATH, create_webhook,
        "Register an endpoint (admins): msgcenter posts the events of its types to url, "
        "signed with secret (X-Msgcenter-Signature: sha256=HMAC-SHA256 of "
        "'<X-Msgcenter-Timestamp>.<body>').", TAG,
        body=CreateWebhook, response=WebhookOut, status=201, access="admin", scope=SCOPE,
        responses={409: "endpoint_limit: 50 endpoints exist", **URL_ERRORS},
    ),
    Route(
        "GET", PATH + "/{webhook_id}", get_webhook,
        "One endpoint (admins).", TAG,
        response=WebhookOut, access="admin", scope=SCOPE, responses={404: "not_found"},
    ),
    Route(
        "PATCH", PATH + "/{webhook_id}", update_webhook,
        "Change an endpoint (admins): url, secret, events, description, active. Enabled "
        "again (active true), what it has pending is posted now.", TAG,
        body=UpdateWebhook, response=WebhookOut, access="admin", scope=SCOPE,
        responses={404: "not_found", **URL_ERRORS},
    ),
    Route(
        "DELETE", PATH + "/{webhook_id}", delete_webhook,
        "Delete an endpoint and its deliveries, pending ones included (admins): 204.", TAG,
        status=204, access="admin", scope=SCOPE, responses={404: "not_found"},
    ),
    Route(
        "GET", PATH + "/{webhook_id}/deliveries", list_deliveries,
        "The endpoint's delivery log, newest first (admins): status, attempts, the last "
        "attempt's response code, error and time; next_cursor for the next page.", TAG,
        query=DeliveriesQuery, response=DeliveryPage, access="admin", scope=SCOPE,
        responses={404: "not_found"},
    ),
    Route(
        "POST", PATH + "/{webhook_id}/deliveries/{delivery_id}/redeliver", redeliver,
        "Queue a delivery (its id in the log) again (admins): the same X-Msgcenter-Delivery "
        "and body, posted now and retried as a new one: 202.", TAG,
        response=DeliveryOut, status=202, access="admin", scope=SCOPE,
        responses={404: "not_found"},
    ),
]  # fmt: skip
