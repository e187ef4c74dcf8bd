"""Canned responses (docs/api.md, "Canned responses"): the shared ones (admins) and each
person's own, with their variables filled for a chat."""

from __future__ import annotations

from aiohttp import web

from dashboard_api import schemas as s
from dashboard_api.routing import Call, Route, json_response

TAG = "canned responses"
PATH = "/canned-responses"


async def list_canned(call: Call) -> web.Response:
    query = call.query_as(s.CannedQuery)
    rows = await call.context.core.canned.list(call.actor, q=query.q or "", chat_id=query.chat_id)
    return json_response(rows)


async def create_canned(call: Call) -> web.Response:
    body = call.body_as(s.CreateCanned)
    given = body.model_dump(exclude={"scope"})
    row = await call.context.core.canned.create(call.actor, body.scope, given)
    return json_response(row, status=201)


async def update_canned(call: Call) -> web.Response:
    body = call.body_as(s.UpdateCanned)
    changes = body.model_dump(exclude_unset=True)
    for name in ("short_code", "title", "text"):  # null is "unchanged" for these
        if changes.get(name, "") is None:
            del changes[name]
    row = await call.context.core.canned.update(call.actor, call.int_param("canned_id"), changes)
    return json_response(row)


async def delete_canned(call: Call) -> web.Response:
    canned_id = call.int_param("canned_id")
    await call.context.core.canned.delete(call.actor, canned_id)
    return json_response({"deleted": True, "id": canned_id})


WRITE_ERRORS = {
    409: "short_code_taken: another response of the same owner (or another shared one) "
         "has that short code; canned_limit: 500 responses of that owner exist",
    422: "unknown_variable: a {{...}} that is not one of {{customer.name}}, "
         "{{customer.first_name}}, {{agent.name}}, {{chat.id}} or a brace left open "
         "(details: field, variable); validation_error: short code not 1-64 letters, "
         "digits, - and _; title over 128 or text over 4096 characters; invalid_text: "
         "a text of only spaces",
}  # fmt: skip

ROUTES = [
    Route(
        "GET", PATH, list_canned,
        "The shared canned responses and your own, best matches first with ?q= (short "
        "code or title starting with it, then containing it, then the text containing "
        "it); with ?chat_id= each also has rendered (and rendered_id, the Indonesian "
        "text) with the variables filled for that chat.", TAG,
        query=s.CannedQuery, response=list[s.CannedOut],
        responses={404: "chat_id: no such chat (or not one you may read)"},
    ),
    Route(
        "POST", PATH, create_canned,
        "Save a canned response: scope shared (admins) or personal (your own). Text "
        "variables: {{customer.name}}, {{customer.first_name}}, {{agent.name}}, "
        "{{chat.id}}.", TAG,
        body=s.CreateCanned, response=s.CannedOut, status=201,
        responses={403: "scope shared without being an admin", **WRITE_ERRORS},
    ),
    Route(
        "PATCH", PATH + "/{canned_id}", update_canned,
        "Change a canned response (short_code, title, text, text_id; text_id null "
        "removes it): a shared one admins, a personal one its owner.", TAG,
        body=s.UpdateCanned, response=s.CannedOut,
        responses={403: "a shared response, and you are not an admin",
                   404: "no such response (or another person's own)", **WRITE_ERRORS},
    ),
    Route(
        "DELETE", PATH + "/{canned_id}", delete_canned,
        "Delete a canned response: a shared one admins, a personal one its owner.", TAG,
        response=s.Deleted,
        responses={403: "a shared response, and you are not an admin",
                   404: "no such response (or another person's own)"},
    ),
]  # fmt: skip
