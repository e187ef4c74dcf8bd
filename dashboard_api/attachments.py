"""Files customers sent, for the dashboards: the ones msgcenter keeps (email attachments).

Telegram and WhatsApp files stay with the provider (the attachment's ``ref`` is their
file id); asking for one is a 404 that says so. Only files the file store wrote are served,
by the store's id (``storage.files``): no ``ref`` ever becomes a path. A served file never
runs in our origin: images are sent inline with their type, everything else as a download,
all under a sandboxing Content-Security-Policy.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, Route
from storage.files import legacy_id
from storage.models import Channel, Chat

INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def file_id(item: dict[str, Any], channel: str) -> object:
    """The file store's id of an attachment record, or None (the provider keeps the file).

    Only the store's id (``file``) leads to a file, and the store resolves it itself. Email
    attachments written before the store had ids recorded ``ref`` as the file's path
    (``attachments/<id>/<name>``), which names the id; a provider's ``ref`` (Telegram,
    WhatsApp: the customer's side chooses it) never leads anywhere.
    """
    if "file" in item:
        return item["file"]
    if channel == Channel.EMAIL.value:
        return legacy_id(item.get("ref"))
    return None


async def download(call: Call) -> web.StreamResponse:
    chat_id = call.int_param("chat_id")
    item = await call.context.core.queries.attachment(
        call.actor, chat_id, call.int_param("message_id"), call.int_param("index")
    )
    channel = ""
    if "file" not in item and item.get("ref"):  # maybe an email attachment of before ids
        found = await Chat.filter(id=chat_id).first().values_list("channel", flat=True)
        channel = str(found or "")
    stored = file_id(item, channel)
    files = call.context.files
    if stored is None or files is None:
        raise ApiError(404, "not_stored", "the provider keeps this file; msgcenter has no copy")
    path = files.path(stored)
    if path is None:
        raise ApiError(404, "file_missing", "msgcenter kept this file, but it is no longer there")
    mime = str(item.get("mime_type") or "")
    inline = mime in INLINE_TYPES
    name = quote(str(item.get("name") or path.name), safe="")
    disposition = "inline" if inline else "attachment"
    return web.FileResponse(
        path,
        headers={
            "Content-Type": mime if inline else "application/octet-stream",
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{name}",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )


ROUTES = [
    Route(
        "GET", "/chats/{chat_id}/messages/{message_id}/attachments/{index}", download,
        "A file a customer sent (kept by msgcenter: email attachments). Images come inline, "
        "anything else as a download.", "chats",
        responses={404: "no such attachment (not_found), the provider keeps the file (not_stored), "
                        "or the kept file is gone (file_missing)"},
    ),
]  # fmt: skip
