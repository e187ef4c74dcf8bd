"""WhatsApp Cloud API: webhooks in (GET handshake, X-Hub-Signature-256), Graph API messages out.

Meta delivers webhooks at least once and retries until it gets a 2xx, so a
POST is answered only after its messages are committed (one ``sink.receive``
call for the whole batch: one commit), and the inbox drops repeats by wamid.
The signature is checked over the raw body before anything is parsed.

Free-form replies are allowed only within 24 hours of the customer's last
message: :meth:`WhatsAppConnector.reply_refusal` refuses them at our API, and
error 131047 from Meta (the window passed while the reply waited) fails the
message with the same reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from connectors import media_fetch
from connectors.base import (
    DeliveryError,
    MediaDownload,
    MediaError,
    MessageTemplate,
    OutboundFile,
    OutboundMessage,
    Sink,
    StorageUnavailable,
    TemplatesUnavailable,
)
from connectors.whatsapp_templates import list_templates, template_object
from connectors.whatsapp_webhook import CHANNEL, PayloadError, parse_webhook

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096  # characters in one text message body
CAPTION_LIMIT = 1024  # characters in a media message's caption
WINDOW = timedelta(hours=24)
WINDOW_RULE = (
    "WhatsApp allows free-form replies only within 24 hours of the customer's last message"
)
# Said to the agent with a refused or failed free-form reply: what to do instead.
NO_TEMPLATES = "(send an approved template instead: GET /channels/whatsapp/templates lists them)"
WINDOW_PASSED = (
    f"{WINDOW_RULE}; the window had passed when the reply reached WhatsApp {NO_TEMPLATES}"
)
WINDOW_CODE = 131047
# Throughput and pair rate limits (and Graph's application limits): try again later.
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131056})
# Graph errors about a media id that no longer leads anywhere: invalid parameter (an id that
# does not exist, subcode 33), media download error, media expired.
MEDIA_GONE_CODES = frozenset({100, 131052, 131053})
MEDIA_GONE = "WhatsApp no longer has this file (the media id expired or is unknown)"


@dataclass(frozen=True, slots=True)
class WhatsAppConfig:
    """One business phone number on the Cloud API, and the app that receives its webhooks."""

    phone_number_id: str
    access_token: str = field(repr=False)
    app_secret: str = field(repr=False)
    verify_token: str = field(repr=False)
    graph_base: str = "https://graph.facebook.com"
    api_version: str = "v21.0"
    webhook_path: str = "/webhooks/whatsapp"
    timeout_seconds: float = 30.0
    # The WhatsApp Business Account whose message templates are listed ("": none).
    business_account_id: str = ""
    templates_max_pages: int = 100
    templates_timeout_seconds: float = 60.0

    @property
    def messages_url(self) -> str:
        return f"{self.graph_base.rstrip('/')}/{self.api_version}/{self.phone_number_id}/messages"

    @property
    def templates_url(self) -> str:
        base = f"{self.graph_base.rstrip('/')}/{self.api_version}"
        return f"{base}/{self.business_account_id}/message_templates"

    @property
    def media_url(self) -> str:
        return f"{self.graph_base.rstrip('/')}/{self.api_version}/{self.phone_number_id}/media"


class WhatsAppConnector:
    """The WhatsApp channel: webhook routes, the 24-hour rule and Graph API sends."""

    channel = CHANNEL

    def __init__(self, config: WhatsAppConfig, sink: Sink) -> None:
        self.config = config
        self.sink = sink
        self._session: aiohttp.ClientSession | None = None
        # Wamids of the parts of a long reply already sent, so a retry sends only the rest.
        self._sent_parts: OrderedDict[int, list[str]] = OrderedDict()

    async def start(self, *, inbound: bool = True) -> None:
        """Open the Graph API session; webhooks come in through ``web_routes`` either way."""
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.config.timeout_seconds)
            self._session = aiohttp.ClientSession(timeout=timeout)

    async def stop(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def health(self) -> str:
        return "ok" if self._session is not None else "not started"

    def web_routes(self) -> list[web.RouteDef]:
        path = self.config.webhook_path
        return [web.get(path, self.handshake), web.post(path, self.webhook)]

    # -- the 24-hour customer-service window ----------------------------------------------

    def reply_refusal(self, last_customer_message_at: datetime | None, now: datetime) -> str | None:
        """Why a free-form reply may not be sent now, or None when it may."""
        if last_customer_message_at is None:
            return f"{WINDOW_RULE}, and this customer has not written yet {NO_TEMPLATES}"
        last = _aware(last_customer_message_at)
        if _aware(now) - last <= WINDOW:
            return None
        when = last.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"{WINDOW_RULE}; the customer last wrote at {when} {NO_TEMPLATES}"

    # -- webhooks ---------------------------------------------------------------------

    async def handshake(self, request: web.Request) -> web.Response:
        """Meta's subscription check: echo ``hub.challenge`` when the verify token matches."""
        query = request.query
        token = query.get("hub.verify_token", "")
        if query.get("hub.mode") == "subscribe" and _same(token, self.config.verify_token):
            return web.Response(text=query.get("hub.challenge", ""), content_type="text/plain")
        log.warning("WhatsApp webhook verification refused (wrong mode or verify token)")
        reason = "webhook verification failed: wrong hub.mode or hub.verify_token"
        return _error(403, "forbidden", reason)

    async def webhook(self, request: web.Request) -> web.Response:
        """Store the batch's messages (one commit), apply its statuses, then answer 200."""
        body = await request.read()
        if not self._signed(body, request.headers.get("X-Hub-Signature-256")):
            log.warning("WhatsApp webhook with a missing or wrong signature refused")
            return _error(401, "invalid_signature", "missing or wrong X-Hub-Signature-256")
        try:
            data = json.loads(body)
        except ValueError as exc:
            return _error(400, "malformed_json", f"the body is not JSON: {exc}")
        try:
            batch = parse_webhook(data, {WINDOW_CODE: WINDOW_PASSED})
        except PayloadError as exc:
            return _error(400, "invalid_payload", f"not a WhatsApp webhook body: {exc}")
        try:
            if batch.messages:
                await self.sink.receive(batch.messages)
            if batch.statuses:
                await self.sink.status(batch.statuses)
        except StorageUnavailable as exc:  # Meta delivers again later
            log.warning("WhatsApp webhook not stored (503): %s", exc)
            return _error(503, "database_unavailable", "cannot store now; deliver again later")
        counts = {"messages": len(batch.messages), "statuses": len(batch.statuses)}
        log.debug("WhatsApp webhook: %(messages)d messages, %(statuses)d statuses", counts)
        return web.json_response(counts)

    def _signed(self, body: bytes, header: str | None) -> bool:
        if not header or not header.startswith("sha256="):
            return False
        expected = hmac.new(self.config.app_secret.encode(), body, hashlib.sha256).hexdigest()
        return _same(header[len("sha256=") :].lower(), expected)

    # -- sending ----------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> str:
        """Send the reply as text (in parts when longer than 4096); the last part's wamid.
        A template message: :meth:`_send_template`; a reply with files: :meth:`send_files`."""
        if message.template is not None:
            return await self._send_template(message)
        if message.interactive is not None and list_rows(message.interactive):
            return await self._send_list(message)
        if message.files:
            return await self.send_files(message)
        if not message.text.strip():
            raise DeliveryError("nothing to send: WhatsApp needs text", retryable=False)
        return await self._send_steps(message, [(part, None) for part in split_text(message.text)])

    def _body(self, message: OutboundMessage, text: str, first: bool) -> dict[str, Any]:
        to = message.chat_external_id
        body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
        # A phone number goes in "to"; a business-scoped user id (e.g. "US.1349...") in "recipient".
        body["to" if to.isdigit() else "recipient"] = to
        body["type"] = "text"
        body["text"] = {"body": text, "preview_url": False}
        reply_to = message.reply_to_external_id
        if first and reply_to and reply_to.startswith("wamid."):
            body["context"] = {"message_id": reply_to}
        return body

    async def _send_list(self, message: OutboundMessage) -> str:
        """The text with its choices as an interactive list message (a survey's five ratings:
        reply buttons hold three); the customer's choice comes back as a ``list_reply``."""
        assert message.interactive is not None
        body = self._body(message, "", first=False)
        del body["text"]
        body["type"] = "interactive"
        button = str(message.interactive.get("button") or LIST_BUTTON)[:LIST_BUTTON_LIMIT]
        body["interactive"] = {
            "type": "list",
            "body": {"text": message.text[:TEXT_LIMIT] or "-"},
            "action": {"button": button, "sections": [{"rows": list_rows(message.interactive)}]},
        }
        return await self._post(body)

    async def _post(self, body: dict[str, Any]) -> str:
        status, data, retry_after = await self._graph_post(self.config.messages_url, json=body)
        if 200 <= status < 300:
            messages = data.get("messages")
            if isinstance(messages, list) and messages and isinstance(messages[0], dict):
                wamid = messages[0].get("id")
                if isinstance(wamid, str) and wamid:
                    return wamid
            raise DeliveryError("WhatsApp API answered without a message id", retryable=False)
        raise delivery_error(status, data, retry_after)

    # -- templates ----------------------------------------------------------------------

    async def templates(self) -> list[MessageTemplate]:
        """Every message template of the business account (all pages); raises
        TemplatesUnavailable."""
        if not self.config.business_account_id:
            raise TemplatesUnavailable(
                "channels.whatsapp.business_account_id is not set: no templates to list"
            )
        if self._session is None:
            raise TemplatesUnavailable("the WhatsApp connector is not started")
        return await list_templates(
            self._session,
            self.config.templates_url,
            self.config.access_token,
            max_pages=self.config.templates_max_pages,
            seconds=self.config.templates_timeout_seconds,
        )

    async def _send_template(self, message: OutboundMessage) -> str:
        """A template message (allowed outside the 24-hour window); its wamid."""
        assert message.template is not None
        body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
        to = message.chat_external_id
        body["to" if to.isdigit() else "recipient"] = to
        body["type"] = "template"
        body["template"] = template_object(message.template)
        return await self._post(body)

    # -- sending files ----------------------------------------------------------------

    async def send_files(self, message: OutboundMessage) -> str:
        """Each file uploaded (``POST .../media``), then sent as an image, audio, video or
        document message with its media id; the text is the first file's caption, or a text
        message of its own first when it cannot be one (too long, or an audio). A retry
        after a later step failed sends only the steps not yet sent. The last wamid."""
        return await self._send_steps(message, _file_steps(message))

    async def _send_steps(
        self, message: OutboundMessage, steps: Sequence[tuple[str, OutboundFile | None]]
    ) -> str:
        """Send each step (a text, or a file with its caption) in order; the last wamid. The
        steps sent before a retryable failure are remembered and skipped by the retry."""
        done = self._sent_parts.get(message.message_id, [])
        try:
            for index in range(len(done), len(steps)):
                text, file = steps[index]
                if file is None:
                    body = self._body(message, text, index == 0)
                else:
                    media_id = await self._upload(file)
                    body = self._media_body(message, file, media_id, text)
                done.append(await self._post(body))
                self._remember(message.message_id, done)
        except DeliveryError as exc:
            if not exc.retryable:
                self._sent_parts.pop(message.message_id, None)
            raise
        self._sent_parts.pop(message.message_id, None)
        return done[-1]

    def _media_body(
        self, message: OutboundMessage, file: OutboundFile, media_id: str, caption: str
    ) -> dict[str, Any]:
        to = message.chat_external_id
        kind = media_kind(file.mime_type)
        item: dict[str, Any] = {"id": media_id}
        if caption and kind != "audio":
            item["caption"] = caption
        if kind == "document":
            item["filename"] = file.name
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to" if to.isdigit() else "recipient": to,
            "type": kind,
            kind: item,
        }

    async def _upload(self, file: OutboundFile) -> str:
        """Upload the file to Meta; its media id (kept by Meta for 30 days)."""
        # A large file takes longer than a message: no total limit, but a stalled one fails.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.config.timeout_seconds,
            sock_read=self.config.timeout_seconds,
        )  # fmt: skip
        try:
            handle = open(file.path, "rb")  # noqa: ASYNC230, SIM115 (aiohttp reads it in a thread)
        except OSError as exc:
            reason = f"cannot read the file {file.name!r}: {exc.strerror or exc}"
            raise DeliveryError(reason, retryable=False, code="file_gone") from exc
        with handle:
            form = aiohttp.FormData()
            form.add_field("messaging_product", "whatsapp")
            form.add_field("type", file.mime_type)
            form.add_field("file", handle, filename=file.name, content_type=file.mime_type)
            status, data, retry_after = await self._graph_post(
                self.config.media_url, data=form, timeout=timeout
            )
        if 200 <= status < 300:
            media_id = data.get("id")
            if isinstance(media_id, str) and media_id:
                return media_id
            reason = "WhatsApp API answered an upload without a media id"
            raise DeliveryError(reason, retryable=False)
        raise delivery_error(status, data, retry_after)

    async def _graph_post(
        self, url: str, **request: Any
    ) -> tuple[int, dict[str, Any], float | None]:
        """POST to the Graph API with the token: (status, the JSON answer, Retry-After);
        raises a retryable DeliveryError when it cannot be reached."""
        if self._session is None:
            raise DeliveryError("the WhatsApp connector is not started", retryable=True)
        headers = {"Authorization": f"Bearer {self.config.access_token}"}
        try:
            async with self._session.post(url, headers=headers, **request) as response:
                raw = await response.read()
                status, retry_after = response.status, response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = f"WhatsApp API unreachable: {str(exc) or type(exc).__name__}"
            raise DeliveryError(reason, retryable=True, code="network") from exc
        return status, _json(raw), _seconds(retry_after)

    def _remember(self, message_id: int, wamids: list[str]) -> None:
        self._sent_parts[message_id] = wamids
        self._sent_parts.move_to_end(message_id)
        while len(self._sent_parts) > 10_000:
            self._sent_parts.popitem(last=False)

    # -- fetching the files customers send (FetchesMedia) --------------------------------

    @contextlib.asynccontextmanager
    async def fetch_media(self, ref: str, max_bytes: int) -> AsyncIterator[MediaDownload]:
        """``GET /{version}/{media-id}`` for the file's URL, type and size, then that URL
        (the access token again), streamed. Raises MediaError: permanent when Meta says
        the media is gone or the file is larger than ``max_bytes``, else retryable."""
        session = self._session
        if session is None:
            raise MediaError("the WhatsApp connector is not started", permanent=False)
        if not ref or not ref.isascii() or not ref.replace("_", "").replace("-", "").isalnum():
            raise MediaError(f"not a WhatsApp media id: {ref[:40]!r}", permanent=True)
        headers = {"Authorization": f"Bearer {self.config.access_token}"}
        info = await self._media_info(session, ref, headers)
        url = info.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise MediaError("WhatsApp answered without a download URL", permanent=False)
        size = media_fetch.declared_size(info.get("file_size"))
        if size is not None and size > max_bytes:
            raise media_fetch.too_large(size, max_bytes)
        async with contextlib.AsyncExitStack() as stack:
            try:
                response = await stack.enter_async_context(
                    session.get(url, headers=headers, timeout=media_fetch.DOWNLOAD_TIMEOUT)
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise media_fetch.unreachable("WhatsApp media download", exc) from exc
            if response.status != 200:
                raise _download_error(response.status)
            length = response.content_length
            if length is not None and length > max_bytes:
                raise media_fetch.too_large(length, max_bytes)
            mime = info.get("mime_type")
            yield MediaDownload(
                media_fetch.chunks(response, "WhatsApp media download"),
                mime_type=mime if isinstance(mime, str) else response.content_type,
                size=size if size is not None else length,
            )

    async def _media_info(
        self, session: aiohttp.ClientSession, ref: str, headers: dict[str, str]
    ) -> dict[str, Any]:
        """The Graph API's description of media ``ref``: url, mime_type, sha256, file_size."""
        url = f"{self.config.graph_base.rstrip('/')}/{self.config.api_version}/{ref}"
        try:
            async with session.get(url, headers=headers) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise media_fetch.unreachable("WhatsApp API", exc) from exc
        data = _json(raw)
        if 200 <= status < 300:
            return data
        raise media_error(status, data)


LIST_BUTTON = "Choose"  # the list's button when the choices name none
LIST_BUTTON_LIMIT = 20  # characters of the list's button
LIST_ROWS = 10  # rows of a list message, all sections together
ROW_ID_LIMIT = 200
ROW_TITLE_LIMIT = 24


def list_rows(interactive: dict[str, Any]) -> list[dict[str, str]]:
    """The choices as list rows ``{"id", "title"}`` (at most 10; titles cut to 24 characters,
    as WhatsApp allows); none when there are no usable choices."""
    rows = []
    for option in interactive.get("options") or []:
        if not isinstance(option, dict):
            continue
        row_id, title = str(option.get("id") or ""), str(option.get("title") or "").strip()
        if row_id and title and len(row_id) <= ROW_ID_LIMIT:
            rows.append({"id": row_id, "title": title[:ROW_TITLE_LIMIT]})
    return rows[:LIST_ROWS]


def media_kind(mime: str) -> str:
    """The message type WhatsApp sends a file of this type as."""
    if mime in ("image/jpeg", "image/png"):
        return "image"
    if mime.startswith("audio/"):
        return "audio"
    if mime in ("video/mp4", "video/3gpp"):
        return "video"
    return "document"


def _file_steps(message: OutboundMessage) -> list[tuple[str, OutboundFile | None]]:
    """What a reply with files sends, in order: (text, None) for a text message, (caption,
    file) for a file."""
    text = message.text.strip()
    files: list[tuple[str, OutboundFile | None]] = [("", file) for file in message.files]
    if not text:
        return files
    if len(text) <= CAPTION_LIMIT and media_kind(message.files[0].mime_type) != "audio":
        return [(text, message.files[0]), *files[1:]]
    return [*((part, None) for part in split_text(text)), *files]


def delivery_error(status: int, data: dict[str, Any], retry_after: float | None) -> DeliveryError:
    """Map a Graph API error answer to what the outbox should do with the message."""
    error = _part(data, "error")
    code = error.get("code") if isinstance(error.get("code"), int) else None
    message = error.get("message") if isinstance(error.get("message"), str) else f"HTTP {status}"
    details = _part(error, "error_data").get("details")
    details = details if isinstance(details, str) else None
    reason = f"WhatsApp API error {code if code is not None else status}: {message}"
    if details and details != message:
        reason += f" ({details})"
    tag = str(code) if code is not None else f"http_{status}"
    if code == WINDOW_CODE:
        return DeliveryError(WINDOW_PASSED, retryable=False, code=tag)
    if status == 429 or code in RATE_LIMIT_CODES:
        return DeliveryError(reason, retryable=True, retry_after=retry_after, code=tag)
    if status >= 500:
        return DeliveryError(reason, retryable=True, retry_after=retry_after, code=tag)
    return DeliveryError(reason, retryable=False, code=tag)


def media_error(status: int, data: dict[str, Any]) -> MediaError:
    """A Graph API error answer to a media lookup: gone for good, or worth another try."""
    error = _part(data, "error")
    code = error.get("code") if isinstance(error.get("code"), int) else None
    message = error.get("message") if isinstance(error.get("message"), str) else f"HTTP {status}"
    if status == 429 or code in RATE_LIMIT_CODES or status >= 500:
        return MediaError(f"WhatsApp API busy: {message}", permanent=False)
    if status == 404 or code in MEDIA_GONE_CODES:
        return MediaError(f"{MEDIA_GONE}: {message}", permanent=True)
    if status in (401, 403):  # the access token: an operator can fix it; try again later
        return MediaError(f"WhatsApp API refused the access token: {message}", permanent=False)
    return MediaError(f"WhatsApp API error {code or status}: {message}", permanent=True)


def _download_error(status: int) -> MediaError:
    """A failed download of a media URL Graph just gave out."""
    if status in (404, 410):
        return MediaError(f"{MEDIA_GONE} (download HTTP {status})", permanent=True)
    if status in (401, 403, 408, 429) or status >= 500:  # an expired link, busy: again later
        return MediaError(f"WhatsApp media download failed: HTTP {status}", permanent=False)
    return MediaError(f"WhatsApp media download refused: HTTP {status}", permanent=True)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut ``text`` into parts of at most ``limit`` characters, at a line or word end if one
    is in the second half of the part; the parts joined give ``text`` back."""
    parts = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit)) + 1
        if cut <= limit // 2:
            cut = limit
        parts.append(text[:cut])
        text = text[cut:]
    parts.append(text)
    return parts


def _error(status: int, code: str, message: str) -> web.Response:
    """Our API's JSON error shape (the connector speaks it without importing the API)."""
    return web.json_response(
        {"error": {"code": code, "message": message, "details": {}}}, status=status
    )


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def _part(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare; the outbox's own backoff applies
    return seconds if seconds is not None and seconds >= 0 else None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
