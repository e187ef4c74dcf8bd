"""A fake WhatsApp Cloud API (Graph API) for the demo and the tests, on the real wire.

It takes ``POST /{version}/{phone_number_id}/messages`` like Meta (bearer token,
Meta-shaped error JSON), records each send, answers with a new wamid and then
posts signed ``sent``/``delivered``/``read`` status webhooks to msgcenter. The
control API writes as a customer and steers failures:

    POST /_mock/customer  {"name", "text", "phone"?, "wamid"?, "user_id"?}
                          -> {"status": <msgcenter's HTTP status>, "wamid", "phone"}
    POST /_mock/choose    {"name", "id", "phone"?}: the customer picks the row (or reply
                          button) ``id`` of the newest interactive message sent to them
                          -> {"status", "wamid"}; 400 when no such choice was sent
    GET  /_mock/sent      -> [{"id": wamid, "request": <the Graph API body>}, ...]
    GET  /{version}/{waba_id}/message_templates   the account's templates, paged like Meta's
                          (``templates``: the demo's; ``template_page_size`` a page)
    POST /_mock/fail      {"status": 429|500|400|200, "code"?, "count"?, "retry_after"?}
                          (status 200: accept, then post a ``failed`` status webhook)
    POST /_mock/templates {"templates": [<Meta's template JSON>, ...]}: the account's list now
    POST /_mock/reset     forget sends, uploads and pending failures; the demo's templates again
    POST /_mock/media     the raw bytes of a file a customer will send (Content-Type: its
                          type; ``?filename=``) -> {"id": <media id>}; then
                          ``POST /_mock/customer {"name", "media": {"id", "type"}, "text"?}``
                          sends it (``text`` is the caption)

Interactive sends are checked as Meta checks them: a ``list`` (body text, a button of at most
20 characters, 1-10 rows in all, each an id of at most 200 characters, unique, and a title of
at most 24) or ``button`` (1-3 reply buttons, titles of at most 20 characters).

Agents' files: ``POST /{version}/{phone_number_id}/media`` (multipart ``messaging_product``,
``type``, ``file``) answers a media id; an image, audio, video or document send naming it
is recorded with ``"media": {"sha256", "size", "filename", "content_type", "type"}`` (the
uploaded bytes' hash), so tests see what reached "Meta". ``fail_upload(status)`` fails the
next uploads only; ``fail`` fails uploads and sends alike.

Customer media is served like Meta's: ``GET /{version}/{media-id}`` (bearer token) gives
``{url, mime_type, sha256, file_size, id}``, the URL gives the bytes (bearer token again);
an unknown or expired id is a 404 with a Graph error.

The payload builders and :func:`sign` (``connectors.mock.whatsapp_payloads``,
re-exported here) are plain functions: tests and benchmarks build and sign
webhook bodies with them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import BodyPartReader, web

from connectors.mock import whatsapp_templates as templates
from connectors.mock.whatsapp_payloads import (
    DISPLAY_PHONE,
    ERRORS,
    PHONE_NUMBER_ID,
    WABA_ID,
    choice_payload,
    contact,
    customer_payload,
    encode,
    media_payload,
    message,
    meta_error,
    new_wamid,
    phone_for,
    sign,
    status_payload,
    webhook_body,
)

__all__ = [
    "DISPLAY_PHONE",
    "PHONE_NUMBER_ID",
    "WABA_ID",
    "Failure",
    "MockWhatsApp",
    "choice_payload",
    "contact",
    "customer_payload",
    "encode",
    "media_payload",
    "message",
    "meta_error",
    "new_wamid",
    "phone_for",
    "sign",
    "status_payload",
    "webhook_body",
]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Failure:
    """The next ``count`` sends fail with ``status`` and Meta error ``code``."""

    status: int
    code: int
    count: int = 1
    retry_after: float | None = None


@dataclass(slots=True)
class MockMedia:
    """A file a customer sent, as Meta keeps it."""

    data: bytes
    mime_type: str
    filename: str | None = None
    file_size: int | None = None  # what the lookup declares (default: the real size)


class MockWhatsApp:
    """The fake Graph API; ``webhook_url`` is msgcenter's ``.../webhooks/whatsapp``."""

    def __init__(
        self,
        app_secret: str,
        access_token: str,
        webhook_url: str = "",
        *,
        phone_number_id: str = PHONE_NUMBER_ID,
        auto_statuses: bool = True,
        status_delay: float = 0.05,
    ) -> None:
        self.app_secret = app_secret
        self.access_token = access_token
        self.webhook_url = webhook_url
        self.phone_number_id = phone_number_id
        self.auto_statuses = auto_statuses
        self.status_delay = status_delay
        # Post the receipts before answering the send, as a fast Meta sometimes does.
        self.receipts_before_answer = False
        self.sent: list[dict[str, Any]] = []  # accepted sends: {"id": wamid, "request": body}
        self.attempts: list[Any] = []  # the body of every authorised send, failed ones too
        self.failures: deque[Failure] = deque()
        # The business account's message templates (Meta's JSON), listed a page at a time;
        # each template send is checked against them as Meta does (132000, 132001).
        self.waba_id = WABA_ID
        self.templates: list[dict[str, Any]] = templates.demo_templates()
        self.template_page_size = 2  # Meta's default is 25; small, so the demo pages too
        self.template_requests: list[dict[str, str]] = []  # the query of every list request
        # Uploaded media by id: {"sha256", "size", "filename", "content_type", "type"}.
        self.uploads: dict[str, dict[str, Any]] = {}
        self.upload_failures: deque[Failure] = deque()  # for media uploads only
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.host, self.port = "127.0.0.1", 0
        self._init_media()

    @property
    def url(self) -> str:
        """The Graph API base URL to configure as ``channels.whatsapp.graph_base``."""
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/{version}/{phone_number_id}/messages", self._messages)
        app.router.add_get("/{version}/{waba_id}/message_templates", self._templates)
        app.router.add_post("/{version}/{phone_number_id}/media", self._upload_media)
        app.router.add_post("/_mock/customer", self._customer)
        app.router.add_post("/_mock/choose", self._choose)
        app.router.add_get("/_mock/sent", self._sent)
        app.router.add_post("/_mock/fail", self._fail)
        app.router.add_post("/_mock/reset", self._reset)
        app.router.add_post("/_mock/templates", self._set_templates)
        self._media_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.host, self.port = host, runner.addresses[0][1]
        log.info("mock WhatsApp Graph API on %s", self.url)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def fail(
        self, status: int, code: int | None = None, count: int = 1, retry_after: float | None = None
    ) -> None:
        """Make the next ``count`` sends fail (status 200: accepted, then a failed status)."""
        default = {429: 130429, 401: 190, 200: 131047}.get(status, 131000 if status >= 500 else 100)
        self.failures.append(Failure(status, code or default, count, retry_after))

    def fail_upload(self, status: int, code: int | None = None, count: int = 1) -> None:
        """Make the next ``count`` media uploads (only them) fail with ``status``."""
        default = 131053 if status < 500 else 131000  # media upload error / something wrong
        self.upload_failures.append(Failure(status, code or default, count))

    def reset(self) -> None:
        self.templates = templates.demo_templates()
        self.template_requests.clear()
        self.uploads.clear()
        self.upload_failures.clear()
        self.sent.clear()
        self.failures.clear()
        self.attempts.clear()

    async def customer_says(
        self,
        name: str,
        text: str,
        *,
        phone: str | None = None,
        wamid: str | None = None,
        user_id: str | None = None,
    ) -> tuple[int, str]:
        """Post a signed customer text message to msgcenter: (its HTTP status, the wamid)."""
        wamid = wamid or new_wamid()
        payload = customer_payload(name, text, phone=phone, wamid=wamid, user_id=user_id)
        return await self.post_webhook(payload), wamid

    async def customer_chooses(
        self, name: str, choice_id: str, *, phone: str | None = None
    ) -> tuple[int, str]:
        """The customer picks the choice ``choice_id`` (a list row or a reply button) of the
        newest interactive message sent to them: (msgcenter's HTTP status, the wamid).
        ValueError when no interactive message sent to them offers it."""
        phone = phone or phone_for(name)
        for sent in reversed(self.sent):
            request = sent["request"]
            if request.get("type") != "interactive" or request.get("to") != phone:
                continue
            choices = _choices(request["interactive"])
            if choice_id not in choices:
                continue
            kind = "list_reply" if request["interactive"]["type"] == "list" else "button_reply"
            wamid = new_wamid()
            payload = choice_payload(
                name, choice_id, choices[choice_id], kind=kind, phone=phone,
                context_wamid=sent["id"], wamid=wamid,
            )  # fmt: skip
            return await self.post_webhook(payload), wamid
        raise ValueError(f"no interactive message sent to {phone} offers {choice_id!r}")

    async def post_status(
        self, wamid: str, status: str, recipient: str, errors: list[dict[str, Any]] | None = None
    ) -> int:
        return await self.post_webhook(status_payload(wamid, status, recipient, errors))

    async def post_webhook(self, payload: dict[str, Any]) -> int:
        """Sign ``payload`` with the app secret and post it to msgcenter; its HTTP status."""
        if self._session is None:
            raise RuntimeError("the mock is not started")
        body = encode(payload)
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(body, self.app_secret),
        }
        async with self._session.post(self.webhook_url, data=body, headers=headers) as response:
            await response.read()
            return response.status

    # -- Graph API ----------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return web.json_response(meta_error(190), status=401)
        number = request.match_info["phone_number_id"]
        if number != self.phone_number_id:
            unknown = f"Unsupported post request. Object with ID '{number}' does not exist"
            return web.json_response(meta_error(100, unknown), status=400)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(meta_error(100, "The request body is not JSON"), status=400)
        self.attempts.append(body)
        refused = self._refused_template(body)
        if refused is not None:
            return refused
        media = body.get("type") in MEDIA_TYPES if isinstance(body, dict) else False
        if _is_template(body):
            problem = None
        else:
            problem = self._invalid_media(body) if media else _invalid_send(body)
        if problem:
            return web.json_response(meta_error(100, problem), status=400)
        failure = self._next_failure()
        if failure is not None and failure.status != 200:
            headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after else {}
            return web.json_response(
                meta_error(failure.code), status=failure.status, headers=headers
            )
        wamid = new_wamid()
        recipient = str(body.get("to") or body.get("recipient"))
        self.sent.append({"id": wamid, "request": body, **self._media_of(body)})
        if failure is not None:  # accepted, then failed asynchronously, as Meta does
            title, details = ERRORS.get(failure.code, ("Failed", "The mock was told to fail."))
            error = {
                "code": failure.code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
            }
            self._later(wamid, recipient, ["failed"], [error])
        elif self.receipts_before_answer:
            for status in ("sent", "delivered", "read"):
                await self.post_status(wamid, status, recipient)
        elif self.auto_statuses:
            self._later(wamid, recipient, ["sent", "delivered", "read"])
        key = "wa_id" if "to" in body else "user_id"
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": recipient, key: recipient}],
                "messages": [{"id": wamid}],
            }
        )

    def _refused_template(self, body: Any) -> web.Response | None:
        """Meta's answer to a template send it refuses (unknown or unapproved template, wrong
        number of parameters), or None."""
        if not _is_template(body):
            return None
        if not body.get("to") and not body.get("recipient"):
            return web.json_response(meta_error(100, "to or recipient is required"), status=400)
        problem = templates.send_problem(self.templates, body)
        if problem is None:
            return None
        code, details = problem
        error = meta_error(code)
        error["error"]["error_data"] = {"messaging_product": "whatsapp", "details": details}
        return web.json_response(error, status=400)

    async def _templates(self, request: web.Request) -> web.Response:
        """``GET /{version}/{waba_id}/message_templates?fields=&limit=&after=`` like Meta."""
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return web.json_response(meta_error(190), status=401)
        account = request.match_info["waba_id"]
        if account != self.waba_id:
            unknown = f"Unsupported get request. Object with ID '{account}' does not exist"
            return web.json_response(meta_error(100, unknown), status=400)
        query = dict(request.query)
        self.template_requests.append(query)
        asked = query.get("limit", "")
        limit = self.template_page_size
        if asked.isdigit() and len(asked) < 6:
            limit = min(int(asked), limit)
        offset = templates.offset_of(query["after"]) if query.get("after") else 0
        if offset is None or limit < 1:
            return web.json_response(meta_error(100, "Invalid cursor or limit"), status=400)
        fields = [f for f in query.get("fields", "").split(",") if f]
        next_url = str(request.url.update_query({"after": "{after}"})).replace("%7B", "{")
        next_url = next_url.replace("%7D", "}")
        return web.json_response(templates.page(self.templates, offset, limit, fields, next_url))

    # -- media uploads (agents' files) ---------------------------------------------------

    async def _upload_media(self, request: web.Request) -> web.Response:
        """``POST /{version}/{phone_number_id}/media`` (multipart: messaging_product, type,
        file): the file is hashed as it streams in (never kept); answers ``{"id"}``."""
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return web.json_response(meta_error(190), status=401)
        if request.match_info["phone_number_id"] != self.phone_number_id:
            return web.json_response(meta_error(100, "Unknown phone number id"), status=400)
        failure = None
        if self.upload_failures:
            failure = self.upload_failures[0]
            failure.count -= 1
            if failure.count <= 0:
                self.upload_failures.popleft()
        elif self.failures and self.failures[0].status != 200:  # (200: for the send after)
            failure = self._next_failure()
        if failure is not None:
            return web.json_response(meta_error(failure.code), status=failure.status)
        try:
            fields, upload = await _read_upload(request)
        except ValueError as exc:
            return web.json_response(meta_error(100, f"Invalid upload: {exc}"), status=400)
        if fields.get("messaging_product") != "whatsapp":
            return web.json_response(meta_error(100, "messaging_product is required"), status=400)
        if not fields.get("type") or upload is None:
            return web.json_response(meta_error(100, "type and file are required"), status=400)
        media_id = str(secrets.randbelow(10**15) + 10**15)
        self.uploads[media_id] = {**upload, "type": fields["type"]}
        return web.json_response({"id": media_id})

    def _invalid_media(self, body: dict[str, Any]) -> str | None:
        """What Meta would refuse in an image, audio, video or document send, or None."""
        if body.get("messaging_product") != "whatsapp":
            return "messaging_product must be 'whatsapp'"
        if not body.get("to") and not body.get("recipient"):
            return "to or recipient is required"
        kind = str(body["type"])
        item = body.get(kind)
        if not isinstance(item, dict) or not (item.get("id") or item.get("link")):
            return f"{kind}.id or {kind}.link is required"
        if item.get("id") and item["id"] not in self.uploads:
            return f"media id {item['id']} was not uploaded"
        caption = item.get("caption")
        if caption is not None and (kind == "audio" or not isinstance(caption, str)):
            return f"{kind} messages take no caption" if kind == "audio" else "bad caption"
        if isinstance(caption, str) and len(caption) > 1024:
            return "caption is longer than 1024 characters"
        return None

    def _media_of(self, body: dict[str, Any]) -> dict[str, Any]:
        """The uploaded file a media send refers to, as ``{"media": {...}}`` (else empty)."""
        item = body.get(str(body.get("type")))
        media_id = item.get("id") if isinstance(item, dict) else None
        upload = self.uploads.get(media_id) if isinstance(media_id, str) else None
        return {"media": upload} if upload is not None else {}

    def _next_failure(self) -> Failure | None:
        if not self.failures:
            return None
        failure = self.failures[0]
        failure.count -= 1
        if failure.count <= 0:
            self.failures.popleft()
        return failure

    def _later(
        self,
        wamid: str,
        recipient: str,
        statuses: list[str],
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        task = asyncio.get_running_loop().create_task(
            self._post_statuses(wamid, recipient, statuses, errors)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post_statuses(
        self,
        wamid: str,
        recipient: str,
        statuses: list[str],
        errors: list[dict[str, Any]] | None,
    ) -> None:
        for status in statuses:
            await asyncio.sleep(self.status_delay)  # msgcenter records the wamid first
            try:
                answer = await self.post_status(wamid, status, recipient, errors)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("mock WhatsApp: status webhook not delivered: %s", exc)
                return
            if answer != 200:
                log.warning("mock WhatsApp: msgcenter answered %d to a %s status", answer, status)

    # -- control API ----------------------------------------------------------------------

    async def _customer(self, request: web.Request) -> web.Response:
        body = await _body(request)
        name, text = body.get("name"), body.get("text")
        if isinstance(body.get("media"), dict) and text is None:
            text = ""  # a file without a caption
        if not isinstance(name, str) or not isinstance(text, str) or not name:
            return web.json_response({"error": "name and text are required"}, status=400)
        if not text and not isinstance(body.get("media"), dict):
            return web.json_response({"error": "name and text are required"}, status=400)
        phone = body.get("phone")
        phone = "".join(ch for ch in phone if ch.isdigit()) if isinstance(phone, str) else None
        user_id = body.get("user_id") if isinstance(body.get("user_id"), str) else None
        if not phone and not user_id:
            phone = phone_for(name)
        wamid = body.get("wamid") if isinstance(body.get("wamid"), str) else None
        if isinstance(body.get("media"), dict):
            return await self._customer_media(name, body, phone or phone_for(name), wamid)
        try:
            status, wamid = await self.customer_says(
                name, text, phone=phone or None, wamid=wamid, user_id=user_id
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return web.json_response({"error": f"msgcenter unreachable: {exc}"}, status=502)
        return web.json_response({"status": status, "wamid": wamid, "phone": phone})

    async def _choose(self, request: web.Request) -> web.Response:
        body = await _body(request)
        name, choice = body.get("name"), body.get("id")
        phone = body.get("phone") if isinstance(body.get("phone"), str) else None
        if not isinstance(name, str) or not name or not isinstance(choice, str):
            return web.json_response({"error": "name and id are required"}, status=400)
        try:
            status, wamid = await self.customer_chooses(name, choice, phone=phone)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return web.json_response({"error": f"msgcenter unreachable: {exc}"}, status=502)
        return web.json_response({"status": status, "wamid": wamid})

    async def _sent(self, request: web.Request) -> web.Response:
        return web.json_response(self.sent)

    async def _fail(self, request: web.Request) -> web.Response:
        body = await _body(request)
        status, code, count = body.get("status"), body.get("code"), body.get("count", 1)
        retry_after = body.get("retry_after")
        if not isinstance(status, int) or not isinstance(count, int):
            return web.json_response({"error": "status (and count) must be numbers"}, status=400)
        self.fail(
            status,
            code if isinstance(code, int) else None,
            count,
            float(retry_after) if isinstance(retry_after, int | float) else None,
        )
        return web.json_response({"pending": len(self.failures)})

    async def _set_templates(self, request: web.Request) -> web.Response:
        listed = (await _body(request)).get("templates")
        fits = isinstance(listed, list) and all(
            isinstance(t, dict) and isinstance(t.get("name"), str)
            and isinstance(t.get("language"), str) and isinstance(t.get("status"), str)
            and isinstance(t.get("components", []), list)
            for t in listed
        )  # fmt: skip
        if not fits or not isinstance(listed, list):
            return web.json_response(
                {"error": "templates: a list of {name, language, status, components}"}, status=400
            )
        self.templates = [{"category": "UTILITY", "components": [], **t} for t in listed]
        return web.json_response({"templates": len(self.templates)})

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    # -- customer media (Graph API media lookup and download) ------------------------------

    def _init_media(self) -> None:
        self.media: dict[str, MockMedia] = {}
        self.media_lookups = 0  # authorised GET /{version}/{media-id}, answered or not
        self.media_downloads = 0  # files served
        self.media_failures: deque[int] = deque()  # statuses the next lookups answer
        self.media_cuts = 0  # the next downloads end halfway (the connection drops)
        self.media_delay = 0.0  # seconds each lookup takes
        self.media_busy = 0  # lookups being answered now
        self.media_busy_max = 0  # the most at once
        self._media_open = asyncio.Event()  # cleared: lookups wait (a slow Meta)
        self._media_open.set()

    def _media_routes(self, app: web.Application) -> None:
        app.router.add_post("/_mock/media", self._control_media)
        app.router.add_get("/whatsapp_business/attachments/", self._media_download)
        app.router.add_get(r"/{version:v[0-9]+\.[0-9]+}/{media_id:[0-9]+}", self._media_info)

    def add_media(
        self,
        data: bytes,
        mime_type: str,
        filename: str | None = None,
        *,
        file_size: int | None = None,
    ) -> str:
        """Keep a file as if a customer had sent it; its media id."""
        media_id = str(10**15 + secrets.randbelow(9 * 10**15))
        self.media[media_id] = MockMedia(data, mime_type, filename, file_size)
        return media_id

    def expire_media(self, media_id: str) -> None:
        """Meta forgets the file (media ids from webhooks expire): lookups answer 404."""
        self.media.pop(media_id, None)

    def fail_media(self, status: int, count: int = 1) -> None:
        """The next ``count`` media lookups answer ``status`` with a Graph error."""
        self.media_failures.extend([status] * count)

    def cut_downloads(self, count: int = 1) -> None:
        """The next ``count`` downloads send half the file, then drop the connection."""
        self.media_cuts += count

    def hold_media(self) -> None:
        """Media lookups wait until :meth:`release_media` (a slow Graph API)."""
        self._media_open.clear()

    def release_media(self) -> None:
        self._media_open.set()

    async def customer_sends(
        self,
        name: str,
        kind: str,
        media_id: str,
        *,
        caption: str | None = None,
        phone: str | None = None,
        wamid: str | None = None,
        mime_type: str | None = None,
    ) -> tuple[int, str]:
        """Post a signed webhook of customer ``name`` sending the file ``media_id`` as
        ``kind`` (image, audio, video, document, sticker): (msgcenter's status, the wamid)."""
        wamid = wamid or new_wamid()
        kept = self.media.get(media_id)
        payload = media_payload(
            name, kind, media_id,
            mime_type=mime_type or (kept.mime_type if kept else "application/octet-stream"),
            caption=caption, filename=kept.filename if kept else None,
            sha256=hashlib.sha256(kept.data).hexdigest() if kept else None,
            phone=phone, wamid=wamid,
        )  # fmt: skip
        return await self.post_webhook(payload), wamid

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.access_token}"

    async def _media_info(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response(meta_error(190), status=401)
        self.media_lookups += 1
        self.media_busy += 1
        self.media_busy_max = max(self.media_busy_max, self.media_busy)
        try:
            await self._media_open.wait()
            await asyncio.sleep(self.media_delay)
        finally:
            self.media_busy -= 1
        if self.media_failures:
            status = self.media_failures.popleft()
            code = {429: 130429, 401: 190}.get(status, 131000 if status >= 500 else 100)
            return web.json_response(meta_error(code), status=status)
        media_id = request.match_info["media_id"]
        kept = self.media.get(media_id)
        if kept is None:
            gone = (
                f"Unsupported get request. Object with ID '{media_id}' does not exist, cannot "
                "be loaded due to missing permissions, or does not support this operation"
            )
            return web.json_response(meta_error(100, gone), status=404)
        return web.json_response({
            "messaging_product": "whatsapp",
            "url": f"{self.url}/whatsapp_business/attachments/?mid={media_id}&ext=1&hash=x",
            "mime_type": kept.mime_type,
            "sha256": hashlib.sha256(kept.data).hexdigest(),
            "file_size": str(kept.file_size if kept.file_size is not None else len(kept.data)),
            "id": media_id,
        })  # fmt: skip

    async def _media_download(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return web.json_response(meta_error(190), status=401)
        kept = self.media.get(request.query.get("mid", ""))
        if kept is None:
            return web.Response(status=404, text="Not Found")
        if self.media_cuts > 0:
            self.media_cuts -= 1
            response = web.StreamResponse(headers={"Content-Length": str(len(kept.data))})
            await response.prepare(request)
            await response.write(kept.data[: len(kept.data) // 2])
            if request.transport is not None:
                request.transport.close()
            return response
        self.media_downloads += 1
        if kept.file_size is None:
            return web.Response(body=kept.data, content_type=kept.mime_type.split(";")[0])
        # A lookup that declared another size: streamed without a length, so only what
        # arrives tells the truth.
        response = web.StreamResponse(headers={"Content-Type": kept.mime_type.split(";")[0]})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(kept.data), 1024):
            await response.write(kept.data[start : start + 1024])
        await response.write_eof()
        return response

    async def _control_media(self, request: web.Request) -> web.Response:
        data = await request.read()
        if not data:
            return web.json_response({"error": "the body is the file's bytes"}, status=400)
        filename = request.query.get("filename") or None
        media_id = self.add_media(data, request.content_type, filename)
        return web.json_response({"id": media_id, "file_size": len(data)})

    async def _customer_media(
        self, name: str, body: dict[str, Any], phone: str, wamid: str | None
    ) -> web.Response:
        media = body["media"]
        media_id, kind = media.get("id"), media.get("type", "image")
        if not isinstance(media_id, str) or kind not in ("image", "audio", "video", "document",
                                                          "sticker"):  # fmt: skip
            return web.json_response({"error": "media needs an id and a type"}, status=400)
        caption = body.get("text") if isinstance(body.get("text"), str) else None
        try:
            status, wamid = await self.customer_sends(
                name, kind, media_id, caption=caption, phone=phone, wamid=wamid
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return web.json_response({"error": f"msgcenter unreachable: {exc}"}, status=502)
        return web.json_response({"status": status, "wamid": wamid, "phone": phone})


def _is_template(body: Any) -> bool:
    return isinstance(body, dict) and body.get("type") == "template"


def _invalid_send(body: Any) -> str | None:
    """What Meta would refuse in a text send, or None."""
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return "messaging_product must be 'whatsapp'"
    if not body.get("to") and not body.get("recipient"):
        return "to or recipient is required"
    if body.get("type") == "interactive":
        return _invalid_interactive(body.get("interactive"))
    if body.get("type") != "text":
        return "the mock only takes text and interactive messages"
    text = body.get("text")
    text_body = text.get("body") if isinstance(text, dict) else None
    if not isinstance(text_body, str) or not text_body:
        return "text.body is required"
    if len(text_body) > 4096:
        return "text.body is longer than 4096 characters"
    return None


def _invalid_interactive(interactive: Any) -> str | None:
    """What Meta would refuse in an interactive list or reply buttons message, or None."""
    if not isinstance(interactive, dict) or interactive.get("type") not in ("list", "button"):
        return "interactive.type must be list or button (the mock takes those)"
    body = interactive.get("body")
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip() or len(text) > 4096:
        return "interactive.body.text is required (at most 4096 characters)"
    action = interactive.get("action")
    if not isinstance(action, dict):
        return "interactive.action is required"
    if interactive["type"] == "list":
        button = action.get("button")
        if not isinstance(button, str) or not button.strip() or len(button) > 20:
            return "action.button is required (at most 20 characters)"
        sections = action.get("sections")
        if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
            return "action.sections: 1 to 10 sections"
        rows = [r for s in sections if isinstance(s, dict) for r in s.get("rows") or []]
        if len(sections) > 1 and not all(isinstance(s, dict) and s.get("title") for s in sections):
            return "a list of several sections needs a title for each"
        limits = {"id": 200, "title": 24}
    else:
        rows = [b.get("reply") for b in action.get("buttons") or [] if isinstance(b, dict)]
        if not 1 <= len(rows) <= 3:
            return "action.buttons: 1 to 3 reply buttons"
        limits = {"id": 256, "title": 20}
    if not 1 <= len(rows) <= 10:
        return "a list holds 1 to 10 rows in all"
    for row in rows:
        if not isinstance(row, dict):
            return "each row or button is an object"
        for key, limit in limits.items():
            value = row.get(key)
            if not isinstance(value, str) or not value.strip() or len(value) > limit:
                return f"a row's {key} is required (at most {limit} characters)"
    ids = [row["id"] for row in rows]
    if len(set(ids)) != len(ids):
        return "row ids must be unique"
    return None


def _choices(interactive: dict[str, Any]) -> dict[str, str]:
    """The ids and titles an interactive message offers."""
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        replies = [b.get("reply") or {} for b in action.get("buttons") or []]
        return {r["id"]: r["title"] for r in replies}
    return {r["id"]: r["title"] for s in action.get("sections") or [] for r in s.get("rows") or []}


MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})


async def _read_upload(request: web.Request) -> tuple[dict[str, str], dict[str, Any] | None]:
    """The form fields of an upload and its ``file`` part, hashed as it streams."""
    fields: dict[str, str] = {}
    upload: dict[str, Any] | None = None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ValueError("nested multipart")
        if part.name == "file":
            digest, size = hashlib.sha256(), 0
            while chunk := await part.read_chunk(64 * 1024):
                digest.update(chunk)
                size += len(chunk)
            upload = {
                "sha256": digest.hexdigest(), "size": size, "filename": part.filename,
                "content_type": part.headers.get("Content-Type"),
            }  # fmt: skip
        elif part.name:
            fields[part.name] = (await part.read(decode=True)).decode()
    return fields, upload


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
