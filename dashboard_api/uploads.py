"""An agent's reply with files: ``POST /chats/messages`` as ``multipart/form-data``.

The parts are read as a stream: ``chat_id`` first (then the reply is checked: rights, the
channel's reply rules, before any file is read), ``text`` (the caption) and ``sender``
anywhere, and up to :data:`MAX_FILES` ``file`` parts after ``chat_id``. Each file is
streamed into a :class:`~storage.blobs.Spool` (never whole in memory), its type sniffed
from its first bytes (the declared type only where the content cannot tell) and its size
checked against the channel's rules (``handoff.domain.outbound_files``) while it arrives;
the server's ``client_max_size`` does not apply here, these limits do. Only when every
file passed are they kept in the blob store and the messages queued: a refused request
leaves nothing behind (its spools are removed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import BodyPartReader, web
from aiohttp.hdrs import CONTENT_ENCODING, CONTENT_TRANSFER_ENCODING, CONTENT_TYPE
from aiohttp.http_exceptions import HttpProcessingError

from connectors.base import Attachment
from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, json_response
from handoff.domain import media
from handoff.domain.outbound_files import (
    MAX_FILES,
    FileRefused,
    FileRules,
    plan_parts,
    rules_for,
    too_large,
    total_too_large,
)
from storage.blobs import CHUNK, HEAD_BYTES, Blobs, Spool, TooLarge
from storage.models import MAX_ID

log = logging.getLogger(__name__)

FORM = "multipart/form-data"
MAX_PARTS = MAX_FILES + 6  # files and the few fields; more is not a reply
MAX_TEXT_CHARS = 4096 * 4  # as the JSON body's text
MAX_FIELD_BYTES = MAX_TEXT_CHARS * 4  # UTF-8: at most 4 bytes a character
STALL_SECONDS = 60.0  # the client sends nothing for this long: the upload is dropped
FIELDS = ("chat_id", "text", "sender", "internal")
T = TypeVar("T")


def is_form(request: web.Request) -> bool:
    return request.content_type == FORM


@dataclass(slots=True)
class Upload:
    """A file received (in its spool, not yet kept)."""

    name: str  # safe to offer for saving
    mime_type: str  # sniffed
    spool: Spool


@dataclass(slots=True)
class Form:
    chat_id: int | None = None
    channel: str = ""
    rules: FileRules | None = None
    text: str | None = None
    total: int = 0  # bytes of every file so far


async def send_files(call: Call) -> web.Response:
    """Read the form, check every file, keep them, queue the messages: 201 the first
    message (``messages``: all of them, when the files make several)."""
    blobs = call.context.blobs
    if blobs is None:
        raise ApiError(503, "files_not_kept", "this server keeps no files: send text only")
    async with contextlib.AsyncExitStack() as spools:  # every spool removed on the way out
        form, uploads = await _read(call, blobs, spools)
        if form.chat_id is None:
            raise _invalid("chat_id", "chat_id is required")
        text = (form.text or "").strip()
        if not uploads:
            if not text:
                raise _invalid("text", "text or at least one file is required")
            message = await call.context.core.desk.reply(call.actor, form.chat_id, text)
            return json_response(message, status=201)
        assert form.rules is not None
        attachments = []
        for upload in uploads:  # every check passed: now they are kept
            try:
                await blobs.keep(upload.spool)
            except Exception as exc:  # a bucket that does not answer
                log.warning("keeping an uploaded file failed: %s: %s", type(exc).__name__, exc)
                raise ApiError(
                    503, "files_unavailable", "the file store does not answer; try again later"
                ) from exc
            attachments.append(
                Attachment(
                    media.kind_of(upload.mime_type),
                    name=upload.name,
                    mime_type=upload.mime_type,
                    size=upload.spool.size,
                    sha256=upload.spool.sha256,
                    status=media.STORED,
                )
            )
    parts = plan_parts(form.rules, text, [upload.mime_type for upload in uploads])
    views = await call.context.core.desk.reply_parts(
        call.actor,
        form.chat_id,
        [(part.text, [attachments[index] for index in part.files]) for part in parts],
        channel=form.channel,
    )
    body: dict[str, Any] = dict(views[0])
    if len(views) > 1:
        body["messages"] = views
    return json_response(body, status=201)


async def _read(
    call: Call, blobs: Blobs, spools: contextlib.AsyncExitStack
) -> tuple[Form, list[Upload]]:
    form = Form()
    uploads: list[Upload] = []
    try:
        reader = await call.request.multipart()
    except (ValueError, AssertionError, KeyError) as exc:
        raise _malformed(str(exc) or "no boundary") from exc
    for count in range(MAX_PARTS + 1):
        part = await _stalling(reader.next())
        if part is None:
            return form, uploads
        if count == MAX_PARTS:
            raise ApiError(
                422, "too_many_parts", f"at most {MAX_PARTS} form parts ({MAX_FILES} files)",
                {"max_files": MAX_FILES},
            )  # fmt: skip
        if not isinstance(part, BodyPartReader):
            raise _malformed("a nested multipart part")
        if part.headers.get(CONTENT_TRANSFER_ENCODING) or part.headers.get(CONTENT_ENCODING):
            raise _malformed("parts must not be encoded (Content-Transfer-Encoding)")
        name = part.name
        if not name:
            raise _malformed("a part without a name (Content-Disposition: form-data; name=...)")
        if name == "file":
            if form.rules is None:
                raise _invalid("chat_id", "chat_id must come before the file parts")
            if len(uploads) == MAX_FILES:
                raise ApiError(
                    422, "too_many_files", f"at most {MAX_FILES} files in one reply",
                    {"max_files": MAX_FILES},
                )  # fmt: skip
            spool = await spools.enter_async_context(Spool(blobs.spool_dir, 0))
            uploads.append(await _receive(part, form, form.rules, spool))
        elif name in FIELDS:
            await _field(call, form, name, await _value(part, name))
        else:
            raise _invalid(name, f"unknown form field {name!r} (chat_id, text, file)")
    raise AssertionError("unreachable")  # pragma: no cover


async def _field(call: Call, form: Form, name: str, value: str) -> None:
    if name == "internal":
        if value.strip().lower() not in ("", "false", "0"):
            raise ApiError(
                422, "note_without_files", "a private note carries no files: send it as JSON "
                "{\"chat_id\", \"text\", \"internal\": true}",
                {"fields": [{"field": "internal", "message": "notes are text only"}]},
            )  # fmt: skip
    elif name == "sender":
        if value != "agent":
            raise _invalid("sender", "sender may only be 'agent'")
    elif name == "text":
        if form.text is not None:
            raise _invalid("text", "text given twice")
        if len(value) > MAX_TEXT_CHARS:
            raise _invalid("text", f"text is longer than {MAX_TEXT_CHARS} characters")
        form.text = value
    else:
        if form.chat_id is not None:
            raise _invalid("chat_id", "chat_id given twice")
        raw = value.strip()
        if not raw.isdigit() or len(raw) > 18 or not 1 <= int(raw) <= MAX_ID:
            raise _invalid("chat_id", "chat_id must be a chat's id (a positive integer)")
        form.chat_id = int(raw)
        # The rights and the channel's reply rules, before a byte of a file is read.
        form.channel = await call.context.core.desk.check_reply(call.actor, form.chat_id)
        form.rules = rules_for(form.channel)
        if form.rules is None:
            raise ApiError(
                422, "unsupported_file_type", f"{form.channel} chats cannot be sent files"
            )


async def _value(part: BodyPartReader, name: str) -> str:
    data = bytearray()
    while chunk := await _stalling(part.read_chunk(8192)):
        data.extend(chunk)
        if len(data) > MAX_FIELD_BYTES:
            raise _invalid(name, f"{name} is too long")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(name, f"{name} is not UTF-8") from exc


async def _receive(part: BodyPartReader, form: Form, rules: FileRules, spool: Spool) -> Upload:
    """Stream one file into ``spool``: its type known from its first bytes, its limit then
    the type's; refused as soon as it passes it."""
    declared = part.headers.get(CONTENT_TYPE)
    given = part.filename
    left = None if rules.max_total is None else rules.max_total - form.total
    spool.limit = rules.largest if left is None else min(rules.largest, left)
    mime = None
    try:
        while chunk := await _stalling(part.read_chunk(CHUNK)):
            await spool.write(chunk)
            if mime is None and len(spool.head) >= HEAD_BYTES:
                mime = media.sniff(spool.head, declared)
                spool.limit = min(spool.limit, rules.limit(_label(given), mime))
                rules.check_content(_label(given), mime, spool.head)
    except TooLarge as exc:
        raise _refused(_over(rules, given, mime or media.OCTET, exc.limit, left)) from exc
    except FileRefused as exc:
        raise _refused(exc) from exc
    if mime is None:
        mime = media.sniff(spool.head, declared)
    if spool.size == 0:
        raise _invalid("file", f"the file {_label(given)!r} is empty")
    try:
        rules.check(_label(given), mime, spool.size)
        rules.check_content(_label(given), mime, spool.head)
    except FileRefused as exc:
        raise _refused(exc) from exc
    form.total += spool.size
    return Upload(media.safe_filename(given, mime), mime, spool)


def _over(
    rules: FileRules, given: str | None, mime: str, limit: int, left: int | None
) -> FileRefused:
    if left is not None and limit == left and rules.max_total is not None:
        return total_too_large(rules.channel, rules.max_total)
    return too_large(rules.channel, _label(given), mime, limit)


def _label(given: str | None) -> str:
    """The file's name as the client gave it, for messages (quoted by the caller)."""
    return (given or "file")[:200]


def _refused(exc: FileRefused) -> ApiError:
    if exc.too_large:
        return ApiError(413, "file_too_large", exc.message, exc.details)
    return ApiError(422, "unsupported_file_type", exc.message, exc.details)


async def _stalling(read: Awaitable[T]) -> T:
    """Await a read of the body; an upload that stalls for STALL_SECONDS is dropped (408)
    and a body that is not a well-formed form is a 400."""
    try:
        async with asyncio.timeout(STALL_SECONDS):
            return await read
    except TimeoutError as exc:
        raise ApiError(408, "upload_stalled", "the upload stalled; send it again") from exc
    except (ValueError, HttpProcessingError) as exc:
        raise _malformed(str(exc)) from exc


def _malformed(why: str) -> ApiError:
    return ApiError(400, "malformed_multipart", f"the body is not a valid form: {why}"[:300])


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        422, "validation_error", message, {"fields": [{"field": field, "message": message}]}
    )
