"""Files customers sent, for the dashboards: the ones msgcenter keeps (email attachments).

Telegram and WhatsApp files stay with the provider (the attachment's ``ref`` is their
file id); asking for one is a 404 that says so. A served file never runs in our origin:
images are sent inline with their type, everything else as a download, all under a
sandboxing Content-Security-Policy.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, Route

INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def stored_file(files_dir: Path | None, ref: object) -> Path | None:
    """The file ``ref`` names inside ``files_dir``, or None (a provider's id, or outside)."""
    if files_dir is None or not isinstance(ref, str) or not ref:
        return None
    root = files_dir.resolve()
    path = (root / ref).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


async def download(call: Call) -> web.StreamResponse:
    item = await call.context.core.queries.attachment(
        call.actor,
        call.int_param("chat_id"),
        call.int_param("message_id"),
        call.int_param("index"),
    )
    path = stored_file(call.context.files_dir, item.get("ref"))
    if path is None:
        raise ApiError(404, "not_stored", "the provider keeps this file; msgcenter has no copy")
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
        responses={404: "no such attachment, or the provider keeps the file"},
    ),
]  # fmt: skip
