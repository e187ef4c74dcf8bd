"""The website widget's routes (docs/api.md, "Website widget").

Admins: ``/channels/widget`` (make, list, change, delete widgets). Public: ``/widget.js``
(the script a site embeds), and the visitor protocol under ``/widget/``: a session (a
signed visitor token), the WebSocket (``dashboard_api.widget_hub``), uploads and file
links. Every visitor request names its widget and must come from one of its allowed
origins (the ``Origin`` header); CORS is answered for those alone.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ConfigDict, Field

from connectors.base import Attachment
from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, Route, json_response
from dashboard_api.typedefs import CONTEXT
from dashboard_api.widget_hub import HUB, VISITORS, VisitorHub, visitor_socket
from handoff.domain import media
from handoff.domain import widget as rules
from handoff.usecases.widget import Visitors, Widgets
from storage.blobs import HEAD_BYTES, Spool, TooLarge
from storage.models import Message, Widget

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "widget_static"
WIDGETS = web.AppKey("msgcenter.widgets", Widgets)
# Types a visitor may send: pictures, PDF, plain text, office documents, sound and video.
FILE_TYPES = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf", "text/plain",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/msword", "application/vnd.ms-excel", "audio/mpeg", "audio/ogg", "audio/mp4",
    "video/mp4", "video/webm",
})  # fmt: skip
CORS_MAX_AGE = "600"


Name = Annotated[str, Field(min_length=1, max_length=100)]
Origins = Annotated[list[Annotated[str, Field(max_length=255)]], Field(min_length=1, max_length=20)]
Color = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]


class WidgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    allowed_origins: Origins
    color: Color = "#2563eb"
    greeting: Annotated[str, Field(max_length=500)] = ""
    position: Literal["right", "left"] = "right"
    language: Literal["en", "id"] = "en"
    pre_chat_form: bool = False


class WidgetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    allowed_origins: Origins | None = None
    color: Color | None = None
    greeting: Annotated[str, Field(max_length=500)] | None = None
    position: Literal["right", "left"] | None = None
    language: Literal["en", "id"] | None = None
    pre_chat_form: bool | None = None
    active: bool | None = None


class WidgetOut(BaseModel):
    id: int
    name: str
    allowed_origins: list[str]
    color: str
    greeting: str
    position: str
    language: str
    pre_chat_form: bool
    active: bool
    identity_secret: str
    snippet: str
    created_at: str
    updated_at: str


class WidgetList(BaseModel):
    items: list[WidgetOut]


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Annotated[str, Field(max_length=rules.MAX_TOKEN_CHARS)] | None = None
    user_id: Annotated[str, Field(max_length=128)] | None = None
    user_hash: Annotated[str, Field(max_length=128)] | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None


class SessionOut(BaseModel):
    token: str
    visitor_id: str
    expires_at: str
    identified: bool
    name: str
    email: str | None
    agents_online: bool
    widget: dict[str, Any]
    limits: dict[str, int]


async def create(call: Call) -> web.Response:
    body = call.body_as(WidgetIn)
    user = call.user
    view = await call.request.app[WIDGETS].create(body.model_dump(), user.id if user else None)
    return json_response(view, status=201)


async def list_widgets(call: Call) -> web.Response:
    return json_response({"items": await call.request.app[WIDGETS].list()})


async def get_widget(call: Call) -> web.Response:
    return json_response(await call.request.app[WIDGETS].get(call.int_param("widget_id")))


async def patch_widget(call: Call) -> web.Response:
    changes = call.body_as(WidgetPatch).model_dump(exclude_unset=True)
    if any(value is None for value in changes.values()):
        raise ApiError(422, "validation_error", "a field may not be null")
    widgets = call.request.app[WIDGETS]
    return json_response(await widgets.update(call.int_param("widget_id"), changes))


async def delete_widget(call: Call) -> web.Response:
    await call.request.app[WIDGETS].delete(call.int_param("widget_id"))
    return web.Response(status=204)


async def session(call: Call) -> web.Response:
    """A visitor's session: a new or renewed token, and what the widget shows."""
    body = call.body_as(SessionIn)
    visitors = call.request.app[VISITORS]
    address = call.context.throttle.client_address(call.request)
    found = await visitors.session(
        call.int_param("widget_id"), call.request.headers.get("Origin"), address,
        token=body.token, user_id=body.user_id, user_hash=body.user_hash, name=body.name,
        email=body.email,
    )  # fmt: skip
    widget, options = found.widget, visitors.options
    return json_response(
        {
            "token": found.token,
            "visitor_id": found.visitor.visitor_id,
            "expires_at": visitors.expires_at(found.visitor),
            "identified": found.visitor.identified,
            "name": found.name,
            "email": found.email,
            "agents_online": found.agents_online,
            "widget": {
                "id": widget.id, "name": widget.name, "color": widget.color,
                "greeting": widget.greeting, "position": widget.position,
                "language": widget.language, "pre_chat_form": widget.pre_chat_form,
            },
            "limits": {
                "max_message_chars": options.max_message_chars,
                "messages_per_minute": options.messages_per_minute,
                "max_file_bytes": options.max_file_bytes,
            },
        }
    )  # fmt: skip


async def upload(call: Call) -> web.Response:
    """One file (and a caption) from a visitor: ``multipart/form-data`` with ``ref``,
    ``text`` (optional) and ``file``; the token as ``?token=`` or ``Authorization``."""
    request = call.request
    visitors = call.request.app[VISITORS]
    blobs = call.context.blobs
    if blobs is None:
        raise ApiError(503, "files_not_kept", "this server keeps no files")
    token = request.query.get("token") or request.headers.get("Authorization") or ""
    widget, visitor = await visitors.visitor_for(
        token.removeprefix("Bearer ").strip(), request.headers.get("Origin")
    )
    if widget.id != call.int_param("widget_id"):
        raise ApiError(403, "invalid_token", "the token is another widget's")
    if request.content_type != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "send multipart/form-data")
    fields: dict[str, str] = {}
    limit = visitors.options.max_file_bytes
    async with contextlib.AsyncExitStack() as stack:
        try:
            reader = await request.multipart()
        except (ValueError, AssertionError, KeyError) as exc:
            raise ApiError(400, "malformed_form", "not a multipart form") from exc
        spool: Spool | None = None
        filename = ""
        for _ in range(4):
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise ApiError(400, "malformed_form", "nested multipart is not taken")
            if part.name == "file" and spool is None:
                filename = part.filename or ""
                spool = await stack.enter_async_context(Spool(blobs.spool_dir, limit))
                try:
                    while chunk := await part.read_chunk(64 * 1024):
                        await spool.write(chunk)
                except TooLarge as exc:
                    raise ApiError(
                        413, "file_too_large", f"a file holds at most {limit} bytes",
                        {"max_bytes": limit},
                    ) from exc  # fmt: skip
            elif part.name in ("ref", "text"):
                fields[part.name] = await _field(part, visitors.options.max_message_chars * 4)
            else:
                raise ApiError(422, "validation_error", f"unexpected form part {part.name!r}")
        if spool is None or spool.size == 0:
            raise ApiError(422, "validation_error", "a non-empty file part is required")
        if not rules.REF.fullmatch(fields.get("ref", "")):  # before the file is kept
            raise ApiError(422, "validation_error", "ref: 8 to 64 of A-Z a-z 0-9 _ -")
        mime = media.sniff(spool.head[:HEAD_BYTES], None)
        if mime not in FILE_TYPES:
            raise ApiError(
                415, "file_type_refused", f"files of type {mime} are not taken",
                {"allowed": sorted(FILE_TYPES)},
            )  # fmt: skip
        try:
            await blobs.keep(spool)
        except Exception as exc:
            log.warning("keeping a visitor's file failed: %s: %s", type(exc).__name__, exc)
            raise ApiError(503, "files_unavailable", "the file store does not answer") from exc
        item = Attachment(
            media.kind_of(mime), name=media.safe_filename(filename, mime), mime_type=mime,
            size=spool.size, sha256=spool.sha256, status=media.STORED,
        )  # fmt: skip
    chat_id, message_id = await visitors.send(
        visitor, fields.get("ref", ""), fields.get("text", ""), [item]
    )
    hub = call.request.app[HUB]
    hub.attach(visitor.chat_key, chat_id)
    return json_response({"chat_id": chat_id, "message_id": message_id}, status=201)


async def _field(part: BodyPartReader, limit: int) -> str:
    """A text field of the form, read a chunk at a time: 413 past ``limit`` bytes."""
    raw = bytearray()
    while chunk := await part.read_chunk(8192):
        raw += chunk
        if len(raw) > limit:
            raise ApiError(413, "message_too_long", "the text is too long")
    return raw.decode("utf-8", "replace")


async def download(request: web.Request) -> web.StreamResponse:
    """A file of the visitor's chat, by its signed link (no Origin: an image or a link)."""
    visitors = request.app[VISITORS]
    blobs = request.app[CONTEXT].blobs
    chat_id, message_id, index = visitors.file_link(request.match_info["token"])
    message = await Message.get_or_none(id=message_id, chat_id=chat_id, internal=False)
    items = list(message.attachments or []) if message is not None else []
    if blobs is None or index >= len(items) or items[index].get("status") != media.STORED:
        raise ApiError(404, "not_found", "no such file")
    item = items[index]
    sha = str(item.get("sha256") or "")
    size = await blobs.size(sha)
    if size is None:
        raise ApiError(404, "not_found", "the file is gone")
    mime = str(item.get("mime_type") or media.OCTET)
    name = media.safe_filename(item.get("name"), mime)
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    disposition = "inline" if media.inline(mime) else "attachment"
    headers = {
        "Content-Type": mime if mime not in media.ACTIVE else media.OCTET,
        "Content-Disposition": (
            f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
        ),
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600",
        "Content-Length": str(size),
        # Shown in the widget on the site's page (an <img> of another origin).
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    async for chunk in blobs.read(sha):
        await response.write(chunk)
    await response.write_eof()
    return response


_SCRIPT: bytes | None = None


async def script(request: web.Request) -> web.StreamResponse:
    """``/widget.js``: one file, no build step, nothing fetched from elsewhere."""
    global _SCRIPT
    if _SCRIPT is None:
        _SCRIPT = (STATIC / "widget.js").read_bytes()
    response = web.Response(
        body=_SCRIPT,
        headers={
            "Content-Type": "text/javascript; charset=utf-8",
            "Cache-Control": "public, max-age=300",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )
    response.enable_compression()
    return response


async def _unreachable(call: Call) -> web.StreamResponse:
    raise ApiError(500, "internal_error", "not reachable")


def cors_middleware() -> Any:
    """CORS for the visitor routes (``/widget/{id}/...``): answered only for the widget's
    allowed origins; a preflight from another origin is 403."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith("/widget/"):
            return await handler(request)
        origin = request.headers.get("Origin")
        widget_part = path.split("/")[2]
        allowed = False
        if origin and widget_part.isdigit() and len(widget_part) <= 10:
            origins = await Widget.filter(id=int(widget_part), active=True).values_list(
                "allowed_origins", flat=True
            )
            allowed = bool(origins) and rules.allowed(origin, list(origins[0]))
        headers = {}
        if allowed and origin:
            headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            if not allowed:
                return web.json_response(
                    {"error": {"code": "origin_refused",
                               "message": "this site is not an allowed origin of the widget",
                               "details": {}}},
                    status=403,
                )  # fmt: skip
            headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            headers["Access-Control-Max-Age"] = CORS_MAX_AGE
            return web.Response(status=204, headers=headers)
        response = await handler(request)
        response.headers.update(headers)
        return response

    return middleware


def setup_widget(app: web.Application, widgets: Widgets, visitors: Visitors) -> None:
    """The widget's state on ``app`` (its routes are in :data:`ROUTES`), its CORS, the hub
    of visitor sockets (closed at shutdown)."""
    app[WIDGETS] = widgets
    app[VISITORS] = visitors
    hub = VisitorHub(visitors)
    app[HUB] = hub
    app.middlewares.insert(0, cors_middleware())
    app.on_shutdown.append(lambda _app: hub.close())
    for path in ("/widget/{widget_id}/session", "/widget/{widget_id}/uploads"):
        app.router.add_route("OPTIONS", path, _preflight)


async def _preflight(request: web.Request) -> web.Response:
    # The CORS middleware answers an allowed preflight; anything reaching here is not one.
    raise ApiError(403, "origin_refused", "not a preflight from an allowed origin")


ROUTES = [
    Route("POST", "/channels/widget", create,
          "Make a website widget: its snippet (one script tag) and identity secret.",
          "widget", body=WidgetIn, response=WidgetOut, status=201, access="admin",
          responses={422: "invalid fields (an origin that is not one)"}),
    Route("GET", "/channels/widget", list_widgets, "The website widgets.", "widget",
          response=WidgetList, access="admin"),
    Route("GET", "/channels/widget/{widget_id}", get_widget, "One website widget.", "widget",
          response=WidgetOut, access="admin", responses={404: "no such widget"}),
    Route("PATCH", "/channels/widget/{widget_id}", patch_widget,
          "Change a website widget.", "widget", body=WidgetPatch, response=WidgetOut,
          access="admin", responses={404: "no such widget", 422: "invalid fields"}),
    Route("DELETE", "/channels/widget/{widget_id}", delete_widget,
          "Delete a website widget (its chats stay; its visitors' tokens stop working).",
          "widget", status=204, access="admin", responses={404: "no such widget"}),
    Route("GET", "/widget.js", _unreachable,
          "The widget's script, for a site's page (one file, no external requests).",
          "widget", access="public", raw=script, response=str,
          media_type="text/javascript"),
    Route("POST", "/widget/{widget_id}/session", session,
          "A visitor's session: a new or renewed visitor token (from an allowed origin). "
          "A site's signed-in user: user_id with user_hash (hex HMAC-SHA256 of user_id "
          "keyed with the widget's identity_secret).",
          "widget", body=SessionIn, response=SessionOut, access="public",
          responses={403: "origin_refused, identity_refused", 404: "no such widget",
                     429: "too many new visitors from this address"}),
    Route("GET", "/widget/ws", _unreachable,
          "The visitor's WebSocket (?token=, ?after=<message id>); frames in docs/api.md.",
          "widget", access="public", raw=visitor_socket, status=101,
          responses={403: "invalid token or origin"}),
    Route("POST", "/widget/{widget_id}/uploads", upload,
          "A visitor's file (multipart: ref, text?, file); the token as ?token=.",
          "widget", access="public", status=201,
          responses={403: "invalid token or origin", 413: "file too large",
                     415: "file type refused", 429: "too many messages"}),
    Route("GET", "/widget/files/{token}", _unreachable,
          "A file of a visitor's chat by its signed link.", "widget", access="public",
          raw=download, response=str, media_type="application/octet-stream",
          responses={404: "no such file, or the link expired"}),
]  # fmt: skip
