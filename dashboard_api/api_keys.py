"""API keys (docs/api.md, "API keys"): admins make, list and revoke them; the routes' own
``scope`` says which keys may call them (``dashboard_api.routing.key_for``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from dashboard_api.routing import Call, Route, json_response
from dashboard_api.schemas import Open, Strict

TAG = "integrations"

# The routes of other modules that API keys may call, by scope (docs/api.md, "API keys").
# Routes added with their own ``scope`` (the API channel's, the webhooks') need no entry.
# Never here: users, keys, channels, widgets, labels' and attributes' definitions, a
# contact's erasure, the WebSocket: those are for people.
SCOPED: dict[tuple[str, str], str] = {
    ("GET", "/chats/"): "chats:read",
    ("GET", "/chats/queue"): "chats:read",
    ("GET", "/chats/{chat_id}"): "chats:read",
    ("GET", "/chats/{chat_id}/messages/{message_id}/attachments/{index}"): "chats:read",
    ("POST", "/chats/messages"): "messages:write",
    ("GET", "/contacts"): "contacts:write",
    ("GET", "/contacts/export"): "contacts:write",
    ("POST", "/contacts/import"): "contacts:write",
    ("GET", "/contacts/{contact_id}"): "contacts:write",
    ("PATCH", "/contacts/{contact_id}"): "contacts:write",
    ("GET", "/contact-attributes"): "contacts:write",
    ("GET", "/contacts/suggestions"): "contacts:write",
    ("GET", "/contacts/{contact_id}/merge-preview"): "contacts:write",
    ("POST", "/contacts/{contact_id}/merge"): "contacts:write",
    ("GET", "/contacts/{contact_id}/merges"): "contacts:write",
    ("POST", "/contacts/merges/{merge_id}/undo"): "contacts:write",
    ("GET", "/contacts/{contact_id}/export"): "contacts:write",
    ("GET", "/reports/summary"): "reports:read",
    ("GET", "/reports/agents"): "reports:read",
    ("GET", "/reports/bot"): "reports:read",
    ("GET", "/reports/csat"): "reports:read",
}


def scoped(routes: Iterable[Route]) -> list[Route]:
    """``routes`` with the scopes of :data:`SCOPED` (KeyError: an entry names no route)."""
    routes = list(routes)
    found = {(route.method, route.path) for route in routes}
    missing = set(SCOPED) - found
    if missing:
        raise KeyError(f"SCOPED names routes that do not exist: {sorted(missing)}")
    return [
        replace(route, scope=SCOPED[route.method, route.path])
        if (route.method, route.path) in SCOPED
        else route
        for route in routes
    ]


Scope = Literal["chats:read", "messages:write", "contacts:write", "reports:read", "webhooks:write"]


class CreateApiKey(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=5)]


class CreatedBy(Open):
    id: int
    username: str


class ApiKeyOut(Open):
    id: int
    name: str
    prefix: str  # "mck_" and the key's next 8 characters: enough to tell keys apart
    scopes: list[Scope]
    created_at: str | None
    created_by: CreatedBy | None
    last_used_at: str | None  # written at most once a minute per key
    revoked_at: str | None


class CreatedApiKey(ApiKeyOut):
    key: str  # shown this once; msgcenter keeps only its SHA-256


class ApiKeyList(Open):
    items: list[ApiKeyOut]


async def create_key(call: Call) -> web.Response:
    body = call.body_as(CreateApiKey)
    key = await call.context.core.api_keys.create(call.actor, body.name, body.scopes)
    return json_response(key, status=201)


async def list_keys(call: Call) -> web.Response:
    return json_response({"items": await call.context.core.api_keys.list()})


async def revoke_key(call: Call) -> web.Response:
    await call.context.core.api_keys.revoke(call.actor, call.int_param("key_id"))
    return web.Response(status=204)


ROUTES = [
    Route(
        "POST", "/api-keys", create_key,
        "Make an API key (admins): the answer's key is shown this once. Scopes: chats:read, "
        "messages:write, contacts:write, reports:read, webhooks:write.",
        TAG, body=CreateApiKey, response=CreatedApiKey, status=201, access="admin",
    ),
    Route(
        "GET", "/api-keys", list_keys,
        "The API keys (admins), newest first, revoked ones too; never the keys themselves.",
        TAG, response=ApiKeyList, access="admin",
    ),
    Route(
        "DELETE", "/api-keys/{key_id}", revoke_key,
        "Revoke an API key (admins): it stops working at once, in every process.",
        TAG, status=204, access="admin", responses={404: "no such key"},
    ),
]  # fmt: skip
