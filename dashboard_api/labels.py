"""Labels and priority (docs/api.md "Labels and priority"), the chat audit, bulk actions."""

from __future__ import annotations

from aiohttp import web

from dashboard_api import schemas as s
from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, Route, json_response
from handoff.usecases.bulk import BulkAction

TAG = "labels"


async def list_labels(call: Call) -> web.Response:
    return json_response(await call.context.core.tags.labels())


async def create_label(call: Call) -> web.Response:
    body = call.body_as(s.CreateLabel)
    label = await call.context.core.tags.create_label(
        call.actor, body.name, body.colour, body.description
    )
    return json_response(label, status=201)


async def update_label(call: Call) -> web.Response:
    body = call.body_as(s.UpdateLabel)
    label = await call.context.core.tags.update_label(
        call.actor, call.int_param("label_id"), body.model_dump(exclude_unset=True)
    )
    return json_response(label)


async def delete_label(call: Call) -> web.Response:
    chats = await call.context.core.tags.delete_label(call.actor, call.int_param("label_id"))
    return json_response({"deleted": True, "chats": chats})


async def add_chat_label(call: Call) -> web.Response:
    body = call.body_as(s.ChatLabelRequest)
    row = await call.context.core.tags.add_label(call.actor, call.int_param("chat_id"), body.label)
    return json_response(row)


async def remove_chat_label(call: Call) -> web.Response:
    name = call.request.match_info["label"]
    if not 1 <= len(name) <= 64:
        raise ApiError(404, "unknown_label", f"no such label: {name[:64]!r}")
    row = await call.context.core.tags.remove_label(call.actor, call.int_param("chat_id"), name)
    return json_response(row)


async def chat_audit(call: Call) -> web.Response:
    rows = await call.context.core.queries.audit(call.actor, call.int_param("chat_id"))
    return json_response(rows)


async def bulk(call: Call) -> web.Response:
    body = call.body_as(s.BulkRequest)
    action = BulkAction(
        action=body.action,
        agent_id=body.agent_id,
        force=body.force,
        label=body.label,
        remove=body.remove,
        priority=body.priority,
        until=body.until if body.action == "snooze" else None,
    )
    return json_response(await call.context.core.bulk.run(call.actor, body.chat_ids, action))


ROUTES = [
    Route("GET", "/labels", list_labels, "Every label, by name (any user).", TAG,
          response=list[s.LabelOut]),
    Route("POST", "/labels", create_label, "Create a label (admins).", TAG, body=s.CreateLabel,
          response=s.LabelOut, status=201, access="admin",
          responses={409: "label_exists: a label has this name (in any case)",
                     422: "a name with other characters than letters, digits, spaces, - _ .; "
                          "a colour that is not #rrggbb"}),
    Route("PATCH", "/labels/{label_id}", update_label,
          "Rename, recolour or describe a label (admins); chats show the new name.", TAG,
          body=s.UpdateLabel, response=s.LabelOut, access="admin",
          responses={404: "unknown_label", 409: "label_exists", 422: "invalid name or colour"}),
    Route("DELETE", "/labels/{label_id}", delete_label,
          "Delete a label (admins): it leaves every chat in the same transaction (each pushed "
          "as chat.updated, audited); answers {\"deleted\": true, \"chats\": [ids]}.", TAG,
          access="admin", responses={404: "unknown_label"}),
    Route("POST", "/chats/{chat_id}/labels", add_chat_label,
          "Put a label on a chat (whoever may act on the chat); adding it twice is fine. "
          "Answers the chat row.", TAG, body=s.ChatLabelRequest, response=s.ChatRow,
          responses={404: "no such chat (or not yours: claim_first for a queued one); "
                          "unknown_label"}),
    Route("DELETE", "/chats/{chat_id}/labels/{label}", remove_chat_label,
          "Take a label (its name, any case) off a chat; answers the chat row.", TAG,
          response=s.ChatRow, responses={404: "no such chat (or not yours); unknown_label"}),
    Route("GET", "/chats/{chat_id}/audit", chat_audit,
          "The chat's audit record (labels, priority, snooze, notes), newest first, with who "
          "did it (whoever may read the chat).", TAG, response=list[s.AuditEntryOut],
          responses={404: "no such chat (or not yours)"}),
    Route("POST", "/chats/bulk", bulk,
          "Assign, label, set the priority of, snooze or close up to 100 chats, each as if "
          "done on its own (checks, audit, events). 200 with {\"done\": [ids], \"failed\": "
          "[{chat_id, code, message}]} even when some failed.", "chats",
          body=s.BulkRequest, response=s.BulkResult,
          responses={403: "force without being an admin",
                     404: "unknown_label (label)",
                     422: "a malformed request: chat_ids not 1-100 distinct ids, an unknown "
                          "action or priority, a missing field of the action"}),
]  # fmt: skip
