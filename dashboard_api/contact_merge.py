"""Merging contacts, with a preview and an undo, merge suggestions, and privacy on request:
a contact's data exported, a contact erased (docs/api.md "Merge, undo and suggestions",
"Privacy: export and erase")."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from dashboard_api.routing import Call, Route, json_response
from dashboard_api.schemas import Id, Open, Query, Strict
from handoff.read import suggestions as suggested

TAG = "contacts"


# -- bodies --------------------------------------------------------------------------------


class MergeRequest(Strict):
    other_id: Id  # the contact merged INTO the one in the path


class MergePreviewQuery(Query):
    other_id: Id


class SuggestionsQuery(Query):
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class ContactRef(Open):
    id: int
    name: str


class SharedPoint(Open):
    kind: str  # "phone" | "email"
    value: str


class DuplicatePair(Open):
    contact: ContactRef
    other: ContactRef
    shared: list[SharedPoint]


class MergeMoves(Open):
    identities: int
    conversations: int
    points: int


class MergeConflict(Open):
    attribute: str
    kept: Any
    dropped: Any


class MergePreview(Open):
    contact: dict[str, Any]  # name, avatar_url, notes, phones, emails, identities, attributes
    moves: MergeMoves
    conflicts: list[MergeConflict]


class MergeResult(Open):
    merge_id: int
    contact: dict[str, Any]  # the contact shape (docs/api.md "Contact shape")


class MergeOut(Open):
    id: int
    contact_id: int
    other_id: int
    other_name: str | None
    created_at: str | None
    undone_at: str | None
    actor_id: int | None


class ErasedOut(Open):
    contact_id: int
    chats: int
    messages: int
    files: int


# -- handlers ------------------------------------------------------------------------------


async def duplicates(call: Call) -> web.Response:
    query = call.query_as(SuggestionsQuery)
    return json_response(await suggested.duplicates(call.actor, query.limit))


async def merge_preview(call: Call) -> web.Response:
    query = call.query_as(MergePreviewQuery)
    merges = call.context.core.merges
    return json_response(
        await merges.preview(call.actor, call.int_param("contact_id"), query.other_id)
    )


async def merge(call: Call) -> web.Response:
    body = call.body_as(MergeRequest)
    contact_id = call.int_param("contact_id")
    core = call.context.core
    merge_id = await core.merges.merge(call.actor, contact_id, body.other_id)
    contact = await core.contacts.detail(call.actor, contact_id)
    return json_response({"merge_id": merge_id, "contact": contact})


async def merges(call: Call) -> web.Response:
    rows = await call.context.core.merges.merges(call.actor, call.int_param("contact_id"))
    return json_response(rows)


async def undo(call: Call) -> web.Response:
    row = await call.context.core.merges.undo(call.actor, call.int_param("merge_id"))
    return json_response(row)


async def export(call: Call) -> web.Response:
    contact_id = call.int_param("contact_id")
    data = await call.context.core.erasure.export(call.actor, contact_id)
    body = json.dumps(data, ensure_ascii=False, indent=1, default=str)
    return web.Response(
        text=body,
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="contact-{contact_id}.json"'},
    )


async def erase(call: Call) -> web.Response:
    counts = await call.context.core.erasure.erase(call.actor, call.int_param("contact_id"))
    return json_response(counts)


NOT_SEEN = "contact_not_found: no such contact, merged into another, or not one you may see"

ROUTES = [
    Route("GET", "/contacts/suggestions", duplicates,
          "Possible duplicates: pairs of contacts sharing a phone number or an address (one "
          "side verified), among the contacts you may see; ?limit= 1-100 (50).", TAG,
          query=SuggestionsQuery, response=list[DuplicatePair]),
    Route("GET", "/contacts/{contact_id}/merge-preview", merge_preview,
          "What merging ?other_id= into this contact would make, without writing: the "
          "resulting contact, what moves, the attributes whose other value is dropped.", TAG,
          query=MergePreviewQuery, response=MergePreview,
          responses={404: NOT_SEEN, 409: "already_merged: the other is merged into this one",
                     422: "same_contact"}),
    Route("POST", "/contacts/{contact_id}/merge", merge,
          "Merge other_id INTO this contact (admins; agents who may see both): its "
          "identities, numbers, addresses and conversations move here; this contact's "
          "attributes win. Answers {merge_id, contact}.", TAG,
          body=MergeRequest, response=MergeResult,
          responses={404: NOT_SEEN, 409: "already_merged: the other is merged into this one",
                     422: "same_contact"}),
    Route("GET", "/contacts/{contact_id}/merges", merges,
          "The contact's merges, newest first (the console's undo).", TAG,
          response=list[MergeOut], responses={404: NOT_SEEN}),
    Route("POST", "/contacts/merges/{merge_id}/undo", undo,
          "Undo a merge (admins; the agent who merged, while they may see the contact): both "
          "contacts, their identities, numbers, addresses and conversations as before.", TAG,
          response=MergeOut,
          responses={404: "merge_not_found (or not yours to undo)",
                     409: "merge_undone; merge_superseded: a later merge of either contact "
                          "stands (undo it first; details.merge_id)"}),
    Route("GET", "/contacts/{contact_id}/export", export,
          "Everything about the contact as a JSON download (admins): the contact, "
          "identities, numbers, addresses, attributes, notes, every conversation with every "
          "message and its audit record.", TAG,
          access="admin", responses={404: "contact_not_found"}),
    Route("DELETE", "/contacts/{contact_id}", erase,
          "Erase the contact (admins): it, the contacts merged into it, their conversations, "
          "messages, files and everything recorded about those conversations. Answers "
          "{contact_id, chats, messages, files}.", TAG,
          response=ErasedOut, access="admin", responses={404: "contact_not_found"}),
]  # fmt: skip
