"""Builds the OpenAPI 3.1 document from the route table (so it cannot drift from the routes)."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from dashboard_api import schemas as s
from dashboard_api.routing import Route
from storage.models import MAX_ID

REF = "#/components/schemas/{model}"
DESCRIPTION = """\
The dashboard API of msgcenter: chats, messages, modes, users. Try it at `/docs`.

Log in with `POST /auth/login` (`{"identifier": "<username or email>", "password": "..."}`)
and send the `access_token` it returns as `Authorization: Bearer <token>` on the calls
marked with a lock (on `/docs`, *Authorize* is already set when you logged in there).
Errors are JSON: `{"error": {"code", "message", "details"}}`. Live events arrive on the
WebSocket `GET /ws?token=<token>`.

Systems of your own call it with an API key (`POST /api-keys`, admins), also as
`Authorization: Bearer <key>`, on the routes of the key's scopes: each such route names
its scope in `x-scope` and in its description. A key sees what an admin sees within its
scopes; it may not call the other routes (403 `forbidden`), nor those of scopes it lacks
(403 `insufficient_scope`), and makes at most `api_keys.requests_per_minute` requests a
minute (429 `rate_limited`).
"""
KEY_SCHEME = (
    "An API key (mck_...) made by an admin (POST /api-keys), on the routes of its scopes (x-scope)."
)
FORM = "multipart/form-data"
ERROR_STATUSES = {
    400: "malformed JSON or an empty body",
    401: "missing, invalid or expired token",
    413: "body too large",
    422: "a field is missing or has the wrong type",
}


def _models(route: Route) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for candidate in (route.body, route.query, route.form, _inner(route.response)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            found.append(candidate)
    return found


def _inner(response: Any) -> Any:
    args = typing.get_args(response)
    return args[0] if args else response


def _schema_ref(response: Any) -> dict[str, Any]:
    if response is str:
        return {"type": "string"}
    if response is None:
        return {"type": "object"}
    if typing.get_origin(response) is list:
        return {"type": "array", "items": {"$ref": REF.format(model=_inner(response).__name__)}}
    return {"$ref": REF.format(model=response.__name__)}


def _parameters(route: Route) -> list[dict[str, Any]]:
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}
            if name.endswith("_id") or name == "index"
            else {"type": "string", "maxLength": 64},
        }
        for name in re.findall(r"{(\w+)}", route.path)
    ]
    if route.query is not None:
        schema = route.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    return params


def _operation(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(route.status): {
            "description": "OK",
            "content": {
                route.media_type: {"schema": _schema_ref(route.response)},
                **{other: {"schema": {"type": "string"}} for other in route.also_media_types},
            },
        }
    }
    if route.status == 204:  # no content
        responses = {"204": {"description": "No content"}}
    statuses = dict(route.responses)
    if route.access != "public":
        statuses.setdefault(401, ERROR_STATUSES[401])
    if route.access == "admin":
        statuses.setdefault(403, "only admins")
    if route.scope is not None:
        statuses.setdefault(403, f"an API key without the scope {route.scope}")
        statuses.setdefault(429, "rate_limited: the API key's requests a minute (Retry-After)")
    if route.body is not None:
        for status in (400, 413):
            statuses.setdefault(status, ERROR_STATUSES[status])
    if route.body is not None or route.query is not None:
        statuses.setdefault(422, ERROR_STATUSES[422])
    error_schema = {"$ref": REF.format(model="ErrorBody")}
    for status, description in sorted(statuses.items()):
        responses[str(status)] = {
            "description": description,
            "content": {"application/json": {"schema": error_schema}},
        }
    operation: dict[str, Any] = {
        "summary": route.summary,
        "tags": [route.tag],
        "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', route.path.lower())}",
        "parameters": _parameters(route),
        "responses": responses,
    }
    if route.access == "key":
        operation["security"] = [{"apiKey": []}]
    elif route.access != "public":
        operation["security"] = [{"bearer": []}]
        if route.scope is not None:
            operation["security"].append({"apiKey": []})
    if route.scope is not None:
        operation["x-scope"] = route.scope
        operation["description"] = f"API keys: scope `{route.scope}`."
    if route.body is not None:
        operation["requestBody"] = {
            "required": not route.body_optional,
            "content": {"application/json": {"schema": _schema_ref(route.body)}},
        }
    if route.body_media_type is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {route.body_media_type: {"schema": {"type": "string"}}},
        }
    if route.form is not None:
        content = operation["requestBody"]["content"] if route.body is not None else {}
        content[FORM] = {"schema": _schema_ref(route.form)}
        operation["requestBody"] = {"required": True, "content": content}
    return operation


def build_openapi(routes: Iterable[Route], title: str = "msgcenter") -> dict[str, Any]:
    routes = list(routes)
    models: set[type[BaseModel]] = {s.ErrorBody}
    for route in routes:
        models.update(_models(route))
    _, schemas = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template=REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0", "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "http", "scheme": "bearer", "description": KEY_SCHEME},
            },
        },
    }
