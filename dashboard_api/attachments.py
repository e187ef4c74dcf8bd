"""Files in messages, for the dashboards: ``GET /chats/{id}/messages/{id}/attachments/{n}``.

A file msgcenter keeps is read from the blob store by its sha256 (``storage.blobs``); email
attachments of before the blob store by the old file store's id (``storage.files``). No
``ref`` (a provider's file id, chosen on the customer's side) ever leads to a file.

A served file never runs in our origin: images, audio and video come inline with their
type; everything else, and above all the active types (HTML, SVG, scripts, PDF), as a
download; all with ``nosniff`` and a sandboxing Content-Security-Policy. Range requests
(one range) are answered with 206, so players can seek.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, Route
from handoff.domain import media
from handoff.read.views import NOT_KEPT
from storage import blobs as blob_store
from storage.files import legacy_id
from storage.models import Channel, Chat

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True, slots=True)
class _Source:
    """Where a download's bytes come from: the blob store (``sha256``) or a legacy file."""

    size: int
    sha256: str | None = None
    path: Path | None = None


async def download(call: Call) -> web.StreamResponse:
    chat_id = call.int_param("chat_id")
    item = await call.context.core.queries.attachment(
        call.actor, chat_id, call.int_param("message_id"), call.int_param("index")
    )
    source = await _source(call, chat_id, item)
    mime = str(item.get("mime_type") or "") or media.OCTET
    if source.path is not None:  # an old email attachment: its type was the sender's word
        mime = media.sniff(_head(source.path), mime)
    headers = _headers(item, mime, source)
    if source.sha256 and source.sha256 in call.request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    start, end = _range(call.request, source)
    status = 200
    if (start, end) != (0, source.size):
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{source.size}"
    headers["Content-Length"] = str(end - start)
    response = web.StreamResponse(status=status, headers=headers)
    await response.prepare(call.request)
    async for chunk in _chunks(call, source, start, end):
        await response.write(chunk)
    await response.write_eof()
    return response


async def _source(call: Call, chat_id: int, item: dict[str, Any]) -> _Source:
    """The stored bytes of attachment record ``item``, or the API error that says why not."""
    status = item.get("status")
    if status == media.PENDING:
        raise ApiError(409, "file_pending", "msgcenter is still fetching this file; try shortly")
    if status == media.FAILED:
        reason = str(item.get("error") or "the file could not be fetched")
        raise ApiError(404, "file_failed", f"msgcenter has no copy of this file: {reason}")
    sha256 = item.get("sha256")
    if sha256 is not None:
        blobs = call.context.blobs
        try:
            size = await blobs.size(sha256) if blobs and blob_store.valid(sha256) else None
        except blob_store.StoreUnavailable as exc:
            raise ApiError(
                503, "files_unavailable", f"the file store does not answer ({exc}); try again"
            ) from exc
        if size is None:
            raise ApiError(404, "file_missing", "msgcenter kept this file, but it is not there")
        return _Source(size, sha256=sha256)
    stored = await _legacy_id(chat_id, item)
    if stored is None:
        if item.get("ref"):
            raise ApiError(404, "not_stored", NOT_KEPT)
        raise ApiError(404, "not_a_file", "this attachment is a place or a contact, not a file")
    path = call.context.files.path(stored) if call.context.files else None
    if path is None:
        raise ApiError(404, "file_missing", "msgcenter kept this file, but it is not there")
    return _Source(path.stat().st_size, path=path)


async def _legacy_id(chat_id: int, item: dict[str, Any]) -> object:
    """The old file store's id of an email attachment of before the blob store: ``file``,
    or a ``ref`` recorded as the file's path (``attachments/<id>/<name>``) on an email chat
    only (a provider's ``ref`` could take that shape too)."""
    if "file" in item:
        return item["file"]
    if not item.get("ref"):
        return None
    found = await Chat.filter(id=chat_id).first().values_list("channel", flat=True)
    return legacy_id(item.get("ref")) if str(found or "") == Channel.EMAIL.value else None


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(blob_store.HEAD_BYTES)


def _headers(item: dict[str, Any], mime: str, source: _Source) -> dict[str, str]:
    inline = media.inline(mime)
    name = media.safe_filename(item.get("name"), mime, fallback=str(item.get("kind") or "file"))
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    disposition = "inline" if inline else "attachment"
    headers = {
        # An active type is never labelled as itself: no browser renders it, saved or not.
        "Content-Type": mime if mime not in media.ACTIVE else media.OCTET,
        "Content-Disposition": (
            f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
        ),
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600",
        "Accept-Ranges": "bytes",
    }
    if source.sha256:
        headers["ETag"] = f'"{source.sha256}"'
    return headers


def _range(request: web.Request, source: _Source) -> tuple[int, int]:
    """The bytes asked for, ``[start, end)``: all of them without a Range header (or with one
    this route does not serve by parts: several ranges, other units, a stale If-Range)."""
    size = source.size
    header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if not header or (if_range is not None and if_range.strip('"') != source.sha256):
        return 0, size
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return 0, size
    first, last = match[1], match[2]
    if not first:
        if not last:
            return 0, size
        start, end = max(0, size - int(last)), size  # the last N bytes
    else:
        start = int(first)
        end = min(size, int(last) + 1) if last else size
    if start >= size or start >= end:
        raise ApiError(
            416, "range_not_satisfiable", f"the file has {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )  # fmt: skip
    return start, end


async def _chunks(call: Call, source: _Source, start: int, end: int) -> AsyncIterator[bytes]:
    if source.sha256 is not None and call.context.blobs is not None:
        async for chunk in call.context.blobs.read(source.sha256, start, end):
            yield chunk
        return
    if source.path is not None:
        async for chunk in blob_store.read_file(source.path, start, end):
            yield chunk


ROUTES = [
    Route(
        "GET", "/chats/{chat_id}/messages/{message_id}/attachments/{index}", download,
        "A file in a message (a customer's, fetched from the provider, or an agent's). Images, "
        "audio and video come inline with their type, anything else as a download (HTML, SVG, "
        "scripts and PDF always so, as application/octet-stream); `Range: bytes=a-b` is "
        "answered with 206 so players can seek; the ETag is the file's sha256.", "chats",
        responses={
            206: "the range asked for",
            304: "not modified (If-None-Match)",
            404: "no such attachment (not_found), a failed fetch with its reason (file_failed), "
                 "a place or a contact (not_a_file), a file received before msgcenter kept "
                 "copies (not_stored), or the kept file is gone (file_missing)",
            409: "the file is still being fetched from the provider (file_pending)",
            416: "a range outside the file (range_not_satisfiable)",
            503: "the file store (a bucket) does not answer (files_unavailable)",
        },
        media_type="*/*",  # the file's own type
    ),
]  # fmt: skip
