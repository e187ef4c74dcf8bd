"""Contacts (docs/api.md "Contacts"): the list and detail, changes, custom attributes, CSV
export and import."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from dashboard_api.chats import _paged
from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, Route, json_response
from dashboard_api.schemas import ChatRow, Open, Query, Strict
from handoff.domain import contact_csv
from handoff.domain.contact_attributes import MAX_DEFINITIONS, MAX_OPTIONS

TAG = "contacts"
ATTRIBUTE = "attribute."
MAX_FILTERS = 20

Key = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Option = Annotated[str, StringConstraints(min_length=1, max_length=128)]
PointText = Annotated[str, StringConstraints(max_length=254)]


# -- requests -----------------------------------------------------------------------------


class ContactListQuery(Query):
    """``q`` and paging; ``attribute.KEY=VALUE`` filters (any number up to 20) are read
    beside these (documented in docs/api.md)."""

    model_config = ConfigDict(extra="allow")
    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None

    @model_validator(mode="after")
    def _only_attributes(self) -> ContactListQuery:
        extra = self.model_extra or {}
        unknown = [k for k in extra if not k.startswith(ATTRIBUTE) or len(k) > 128]
        if unknown:
            raise ValueError(f"unknown parameter: {unknown[0][:64]!r}")
        if len(extra) > MAX_FILTERS:
            raise ValueError(f"at most {MAX_FILTERS} attribute filters")
        if any(not isinstance(v, str) or len(v) > 1000 for v in extra.values()):
            raise ValueError("an attribute filter's value is at most 1000 characters")
        return self


class ImportQuery(Query):
    dry_run: bool = False  # check and report, write nothing


class UpdateContact(Strict):
    """Any of these; ``attributes``: the keys given change (null removes a value);
    ``phones``/``emails`` replace the unverified ones (verified ones stay)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    notes: Annotated[str, StringConstraints(max_length=contact_csv.MAX_NOTES)] | None = None
    avatar_url: Annotated[str, StringConstraints(max_length=1024)] | None = None
    attributes: Annotated[dict[Key, Any], Field(max_length=MAX_DEFINITIONS)] | None = None
    phones: Annotated[list[PointText], Field(max_length=contact_csv.MAX_POINTS)] | None = None
    emails: Annotated[list[PointText], Field(max_length=contact_csv.MAX_POINTS)] | None = None


AttributeType = Literal["text", "number", "date", "boolean", "list"]


class CreateAttribute(Strict):
    key: Key  # ^[a-z][a-z0-9_]{0,63}$
    label: Label
    type: AttributeType
    options: Annotated[list[Option], Field(max_length=MAX_OPTIONS)] | None = None


class UpdateAttribute(Strict):
    label: Label | None = None
    options: Annotated[list[Option], Field(max_length=MAX_OPTIONS)] | None = None


# -- responses (documentation) ------------------------------------------------------------


class PointOut(BaseModel):
    value: str
    verified: bool


class IdentityOut(BaseModel):
    channel: str
    external_id: str


class ContactRow(Open):
    id: int
    name: str
    avatar_url: str | None
    notes: str | None
    phones: list[PointOut]
    emails: list[PointOut]
    identities: list[IdentityOut]
    attributes: dict[str, Any]
    first_seen_at: str | None
    last_seen_at: str | None
    created_at: str
    updated_at: str


class Suggestion(Open):
    id: int
    name: str
    shared: list[dict[str, str]]


class ContactDetail(ContactRow):
    conversations: list[ChatRow]
    suggestions: list[Suggestion]


class AttributeOut(Open):
    key: str
    label: str
    type: AttributeType
    options: list[str]


class AttributeDeleted(Open):
    deleted: bool
    key: str
    contacts: int  # how many contacts held a value (removed)


class ImportResult(Open):
    created: int
    updated: int
    dry_run: bool


# -- handlers -----------------------------------------------------------------------------


async def list_contacts(call: Call) -> web.Response:
    query = call.query_as(ContactListQuery)
    filters = [
        (key[len(ATTRIBUTE) :], value)
        for key, value in call.request.query.items()
        if key.startswith(ATTRIBUTE)
    ]
    page = await call.context.core.contacts.page(
        call.actor, q=query.q, attributes=filters, limit=query.limit, cursor=query.cursor
    )
    return _paged(call, page)


async def contact_detail(call: Call) -> web.Response:
    contact_id = call.int_param("contact_id")
    return json_response(await call.context.core.contacts.detail(call.actor, contact_id))


async def update_contact(call: Call) -> web.Response:
    body = call.body_as(UpdateContact)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name", "") is None:
        raise ApiError(
            422, "validation_error", "name: a contact keeps a name",
            {"fields": [{"field": "name", "message": "cannot be null"}]},
        )  # fmt: skip
    row = await call.context.core.contacts.update(call.actor, call.int_param("contact_id"), changes)
    return json_response(row)


async def list_attributes(call: Call) -> web.Response:
    return json_response(await call.context.core.contacts.attributes())


async def create_attribute(call: Call) -> web.Response:
    body = call.body_as(CreateAttribute)
    row = await call.context.core.contacts.create_attribute(
        call.actor, body.key, body.label, body.type, body.options
    )
    return json_response(row, status=201)


async def update_attribute(call: Call) -> web.Response:
    body = call.body_as(UpdateAttribute)
    row = await call.context.core.contacts.update_attribute(
        call.actor, _key(call), body.model_dump(exclude_unset=True)
    )
    return json_response(row)


async def delete_attribute(call: Call) -> web.Response:
    key = _key(call)
    count = await call.context.core.contacts.delete_attribute(call.actor, key)
    return json_response({"deleted": True, "key": key, "contacts": count})


def _key(call: Call) -> str:
    key = call.request.match_info["key"]
    if len(key) > 64:
        raise ApiError(404, "unknown_attribute", f"no such attribute: {key[:64]!r}")
    return key


async def export_contacts(call: Call) -> web.StreamResponse:
    rows = call.context.core.contacts.export(call.actor)
    first = await anext(rows)  # the header: an agent's 403 comes before the response starts
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="contacts.csv"',
        }
    )
    await response.prepare(call.request)
    await response.write(first.encode())
    async for chunk in rows:
        await response.write(chunk.encode())
    await response.write_eof()
    return response


async def import_contacts(call: Call) -> web.Response:
    query = call.query_as(ImportQuery)
    if not call.request.content_type.startswith("text/"):
        raise ApiError(
            415, "unsupported_media_type", "send the file as text/csv (UTF-8)",
            {"content_type": call.request.content_type},
        )  # fmt: skip
    raw = await _read_limited(call.request, contact_csv.MAX_BYTES)
    result = await call.context.core.contacts.import_csv(call.actor, raw, dry_run=query.dry_run)
    return json_response(result)


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """The body, read as a stream up to ``limit`` bytes (413 past it): the file may be
    larger than ``server.client_max_size``, which holds for JSON bodies."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "payload_too_large", f"a CSV file is at most {limit // (1024 * 1024)} MB",
        {"max_bytes": limit},
    )  # fmt: skip


ATTRIBUTE_ERRORS = {
    422: "validation_error: a key not ^[a-z][a-z0-9_]{0,63}$, a label not 1-128 "
         "characters, options missing for a list (or given for another type), empty or "
         "repeated",
}  # fmt: skip

ROUTES = [
    Route(
        "GET", "/contacts", list_contacts,
        "The contacts you may see (admins all; agents those with a chat they may read), "
        "newest first, paged like chats (Link, X-Next-Cursor). q: the name contains it, or a "
        "phone number, an address or an identity starts with it; attribute.KEY=VALUE: the "
        "custom attribute equals VALUE (several: all hold).", TAG,
        query=ContactListQuery, response=list[ContactRow],
        responses={422: "unknown_attribute (a key not defined), validation_error (a value "
                        "its attribute's type refuses), invalid (a cursor not ours)"},
    ),
    Route(
        "GET", "/contacts/export", export_contacts,
        "Every contact as CSV (admins): id, name, phones, emails, identities, notes, "
        "first_seen_at, last_seen_at, attribute.KEY per attribute; cells a spreadsheet would "
        "run as formulas start with '.", TAG, access="admin", response=str,
        media_type="text/csv",
    ),
    Route(
        "POST", "/contacts/import", import_contacts,
        "Import contacts from a CSV file (admins; the body text/csv, UTF-8, at most 5 MB and "
        "10 000 rows): name required; phones, emails, notes, attribute.KEY; id updates that "
        "contact. Every row is checked first: one refused row refuses the file and nothing "
        "is written. ?dry_run=true checks only.", TAG,
        query=ImportQuery, access="admin", response=ImportResult, body_media_type="text/csv",
        responses={413: "payload_too_large: over 5 MB",
                   415: "unsupported_media_type: not text/csv",
                   422: "import_refused: details.rows [{row, field, message}]"},
    ),
    Route(
        "GET", "/contacts/{contact_id}", contact_detail,
        "A contact with its conversations (the chats you may see; with "
        "[contacts] history_for_agents, all of a contact you may see) and merge "
        "suggestions.", TAG,
        response=ContactDetail, responses={404: "contact_not_found (or not one you may see)"},
    ),
    Route(
        "PATCH", "/contacts/{contact_id}", update_contact,
        "Change a contact's name, notes, avatar_url, attributes (null removes one), phones "
        "and emails (replace the unverified ones): admins, and agents holding one of its "
        "chats. Pushed as contact.updated.", TAG,
        body=UpdateContact, response=ContactRow,
        responses={403: "an agent who holds none of its chats",
                   404: "contact_not_found",
                   422: "unknown_attribute; validation_error (details.field): a value its "
                        "attribute's type refuses, a phone number without its country code, "
                        "an address that is not one"},
    ),
    Route(
        "GET", "/contact-attributes", list_attributes,
        "The custom attributes of contacts, by key (any user).", TAG,
        response=list[AttributeOut],
    ),
    Route(
        "POST", "/contact-attributes", create_attribute,
        "Define a custom attribute (admins): key, label, type (text, number, date, boolean, "
        "list) and, for a list, its options. At most 100.", TAG,
        body=CreateAttribute, response=AttributeOut, status=201, access="admin",
        responses={409: "attribute_exists; attribute_limit (100 defined)", **ATTRIBUTE_ERRORS},
    ),
    Route(
        "PATCH", "/contact-attributes/{key}", update_attribute,
        "Change an attribute's label or a list's options (admins); an option a contact holds "
        "cannot be removed.", TAG,
        body=UpdateAttribute, response=AttributeOut, access="admin",
        responses={404: "unknown_attribute",
                   409: "option_in_use: details.option, details.contacts",
                   **ATTRIBUTE_ERRORS},
    ),
    Route(
        "DELETE", "/contact-attributes/{key}", delete_attribute,
        "Delete an attribute and its values on every contact, at once (admins).", TAG,
        response=AttributeDeleted, access="admin", responses={404: "unknown_attribute"},
    ),
]  # fmt: skip
