"""A local stand-in for the Telegram Bot API, for tests, the demo and ``msgcenter simulate``.

It speaks the Bot API as aiogram calls it: ``POST /bot{token}/{method}`` with
form-encoded (or JSON) fields, answered ``{"ok": true, "result": ...}``. Customer
updates wait for ``getUpdates`` (a real long poll) or, after ``setWebhook``, are
POSTed to the webhook with the secret header, in order, retried until it answers 2xx.

The control API (no token):

- ``POST /_mock/customer`` ``{"name", "text", "chat_id"?, "username"?, "message_id"?}``:
  a customer writes; answers the update.
- ``POST /_mock/update`` ``{...}``: any raw update (``update_id`` added when missing).
- ``POST /_mock/press`` ``{"chat_id", "data", "message_id"?}``: the customer presses the inline
  button with that callback data under a message the bot sent (default: the newest one with
  buttons in that chat); answers the ``callback_query`` update. A button that is not there
  (never sent, or removed by an edit) is a 400, as no client could press it.
- ``GET /_mock/sent``: what the bot sent (method, chat_id, text, message_id, ...); a file
  sent (sendPhoto, sendDocument, sendAudio, sendVideo, sendVoice, uploaded as multipart)
  with ``caption`` and ``file``: ``{"sha256", "size", "filename", "content_type"}``.
- ``GET /_mock/calls``: how often each Bot API method was called (failed calls too).
- ``POST /_mock/fail`` ``{"method", "status", "count"?, "retry_after"?, "description"?}``:
  the next ``count`` calls of ``method`` fail like Telegram fails.
- ``POST /_mock/reset``: forget everything but the token.
- ``POST /_mock/file`` (the raw bytes; Content-Type its type; ``?name=``): a file a customer
  will send -> ``{"file_id", "file_unique_id", "file_size"}``; then ``/_mock/customer`` with
  ``"photo": file_id`` or ``"document": file_id`` sends it (``text`` is the caption).

Inline keyboards are checked as Telegram does (each button's text, ``callback_data`` of 1-64
bytes); ``editMessageText`` and ``editMessageReplyMarkup`` change a message the bot sent
(``messages``), ``answerCallbackQuery`` takes each pressed query once. ``allowed_updates`` of
``getUpdates`` and ``setWebhook`` is kept: an update of a kind not listed is dropped, never
delivered (without a list every kind is delivered).

Files are served like Telegram's: ``getFile`` gives a ``file_path`` (or ``400 Bad Request:
file is too big`` over 20 MB), ``GET /file/bot{token}/{file_path}`` the bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, ClientError, ClientSession, ClientTimeout, web

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_LIMIT = 10 * 1024 * 1024
UPLOAD_LIMIT = 50 * 1024 * 1024
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
Method = Callable[[dict[str, Any]], Awaitable[Any]]
GET_FILE_LIMIT = 20 * 1024 * 1024  # getFile hands bots files up to 20 MB


@dataclass(slots=True)
class MockFile:
    """A file a customer sent, as Telegram keeps it."""

    data: bytes
    file_unique_id: str
    file_path: str
    mime_type: str | None = None
    file_name: str | None = None
    file_size: int | None = None  # what Telegram declares (default: the real size)

    @property
    def size(self) -> int:
        return self.file_size if self.file_size is not None else len(self.data)


class ApiFailure(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code", "description", "parameters"?}``."""

    def __init__(self, status: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def response(self) -> web.Response:
        body: dict[str, Any] = {
            "ok": False, "error_code": self.status, "description": self.description
        }  # fmt: skip
        if self.retry_after is not None:
            after = self.retry_after
            body["parameters"] = {"retry_after": int(after) if after == int(after) else after}
        return web.json_response(body, status=self.status)


class MockTelegram:
    """The fake Bot API server; ``await start()``, point msgcenter at ``url`` with ``token``."""

    def __init__(self, token: str | None = None, *, webhook_retry_seconds: float = 0.5) -> None:
        self.token = token or f"{secrets.randbelow(9 * 10**9) + 10**9}:{secrets.token_urlsafe(26)}"
        self.bot_id = int(self.token.split(":", 1)[0])
        self.webhook_retry_seconds = webhook_retry_seconds
        self.host = "127.0.0.1"
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._pusher: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._closing = False
        self._methods: dict[str, Method] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "sendchataction": self._send_chat_action,
            "sendphoto": functools.partial(self._send_file, "sendPhoto", "photo"),
            "senddocument": functools.partial(self._send_file, "sendDocument", "document"),
            "sendaudio": functools.partial(self._send_file, "sendAudio", "audio"),
            "sendvideo": functools.partial(self._send_file, "sendVideo", "video"),
            "sendvoice": functools.partial(self._send_file, "sendVoice", "voice"),
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getfile": self._get_file,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_reply_markup,
            "answercallbackquery": self._answer_callback_query,
        }
        self.reset()

    def reset(self) -> None:
        self.updates: list[dict[str, Any]] = []  # not yet confirmed (polling) or delivered
        self.sent: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        self.failures: dict[str, tuple[int, ApiFailure]] = {}  # method: (count, failure)
        self.webhook: dict[str, Any] = {}  # url, secret_token, last_error_*
        self._next_update_id = 1
        self._last_message_id: dict[int, int] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self.files: dict[str, MockFile] = {}  # file_id -> the file
        self.downloads = 0
        # The bot's messages as they are now (edits applied), by (chat id, message id).
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.allowed_updates: list[str] | None = None  # None: every kind
        self.queries: dict[str, bool] = {}  # callback query id -> answered
        self._notify()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0: any free port; see ``port`` after)."""
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._bot_api)
        app.router.add_post("/_mock/customer", self._control_customer)
        app.router.add_post("/_mock/update", self._control_update)
        app.router.add_post("/_mock/press", self._control_press)
        app.router.add_get("/_mock/sent", self._control_read)
        app.router.add_get("/_mock/calls", self._control_read)
        app.router.add_post("/_mock/fail", self._control_fail)
        app.router.add_post("/_mock/reset", self._control_reset)
        app.router.add_post("/_mock/file", self._control_file)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        app.on_shutdown.append(self._wake_waiters)
        self._closing = False
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host, self.port = host, self._runner.addresses[0][1]
        self._client = ClientSession(timeout=ClientTimeout(total=70))
        self._pusher = asyncio.get_running_loop().create_task(self._push_webhooks())

    async def stop(self) -> None:
        """Stop listening (state is kept: ``start(port=mock.port)`` brings it back)."""
        self._closing = True
        self._notify()
        if self._pusher is not None:
            self._pusher.cancel()
            await asyncio.wait({self._pusher})
            self._pusher = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    # -- what a customer does -------------------------------------------------------------

    def customer(
        self,
        name: str,
        text: str,
        *,
        chat_id: int | None = None,
        username: str | None = None,
        message_id: int | None = None,
        photo: str | None = None,
        document: str | None = None,
    ) -> dict[str, Any]:
        """A customer writes to the bot in a private chat (with ``photo`` or ``document``, a
        file id of :meth:`add_file`: ``text`` is its caption); returns the update."""
        chat_id = chat_id if chat_id is not None else stable_id(name)
        first, _, last = name.strip().partition(" ")
        person: dict[str, Any] = {"first_name": first or "Customer"}
        if last:
            person["last_name"] = last
        if username:
            person["username"] = username
        chat = {"id": chat_id, **person, "type": "private"}
        self._chats[chat_id] = chat
        message = {
            "message_id": self._message_id(chat_id, message_id),
            "from": {"id": chat_id, "is_bot": False, **person, "language_code": "en"},
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        if photo is not None or document is not None:
            message.pop("text")
            if text:
                message["caption"] = text
            message.update(self._file_fields(photo, document))
        return self.add_update({"message": message})

    def add_update(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue any update (for getUpdates or the webhook); ``update_id`` added when missing."""
        stored = dict(update)
        if "update_id" not in stored:
            stored["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, int(stored["update_id"])) + 1
        self.updates.append(stored)
        self._notify()
        return stored

    def press(self, chat_id: int, data: str, message_id: int | None = None) -> dict[str, Any]:
        """The customer presses the inline button with callback ``data`` under the bot's
        message ``message_id`` (default: its newest with buttons in the chat); returns the
        ``callback_query`` update. ValueError when there is no such button."""
        if message_id is None:
            with_buttons = [
                mid for (cid, mid), m in self.messages.items() if cid == chat_id and _buttons(m)
            ]
            if not with_buttons:
                raise ValueError(f"no message with buttons in chat {chat_id}")
            message_id = max(with_buttons)
        message = self.messages.get((chat_id, message_id))
        if message is None or data not in _buttons(message):
            raise ValueError(f"no button {data!r} under message {message_id} of chat {chat_id}")
        chat = self._chats.get(chat_id, {"id": chat_id, "first_name": "Customer"})
        person = {k: chat[k] for k in ("first_name", "last_name", "username") if k in chat}
        query_id = str(secrets.randbelow(10**18))
        self.queries[query_id] = False
        query: dict[str, Any] = {
            "id": query_id,
            "from": {"id": chat_id, "is_bot": False, **person, "language_code": "en"},
            "message": json.loads(json.dumps(message)),
            "chat_instance": str(stable_id(f"instance {chat_id}")),
            "data": data,
        }
        return self.add_update({"callback_query": query})

    def fail(
        self,
        method: str,
        status: int,
        count: int = 1,
        retry_after: float | None = None,
        description: str | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` fail with ``status``, worded as Telegram does."""
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
            description = description or f"Too Many Requests: retry after {retry_after:g}"
        text = description or DESCRIPTIONS.get(status, "Error")
        self.failures[method] = (count, ApiFailure(status, text, retry_after))

    def _message_id(self, chat_id: int, wanted: int | None = None) -> int:
        last = self._last_message_id.get(chat_id, 0)
        message_id = wanted if wanted is not None else last + 1
        self._last_message_id[chat_id] = max(last, message_id)
        return message_id

    def _notify(self) -> None:
        """Wake long polls and the webhook pusher: something changed."""
        self._changed.set()
        self._changed = asyncio.Event()

    # -- the Bot API ----------------------------------------------------------------------

    async def _bot_api(self, request: web.Request) -> web.Response:
        token, name = request.match_info["token"], request.match_info["method"]
        if not secrets.compare_digest(token.encode(), self.token.encode()):
            return ApiFailure(401, "Unauthorized").response()
        self.calls[name] += 1
        method = self._methods.get(name.lower())
        try:
            if method is None:
                raise ApiFailure(404, "Not Found: method not found")
            self._injected_failure(name)
            fields = await _fields(request)
            result = await method(fields)
        except ApiFailure as exc:
            return exc.response()
        return web.json_response({"ok": True, "result": result})

    def _injected_failure(self, method: str) -> None:
        count, failure = self.failures.pop(method, (0, None))
        if failure is not None:
            if count > 1:
                self.failures[method] = (count - 1, failure)
            raise failure

    async def _get_me(self, fields: dict[str, Any]) -> Any:
        return self._bot_user() | {"can_join_groups": True, "supports_inline_queries": False}

    async def _get_updates(self, fields: dict[str, Any]) -> Any:
        if self.webhook.get("url"):
            raise ApiFailure(
                409, "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )  # fmt: skip
        self._allow(fields)
        offset = _int(fields, "offset", 0)
        limit = min(max(_int(fields, "limit", 100), 1), 100)
        deadline = asyncio.get_running_loop().time() + max(_int(fields, "timeout", 0), 0)
        if offset > 0:  # confirms every update before it
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        while True:
            self._drop_unwanted()
            ready = [u for u in self.updates if u["update_id"] >= offset][:limit]
            remaining = deadline - asyncio.get_running_loop().time()
            if ready or remaining <= 0 or self._closing:
                return ready
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def _send_message(self, fields: dict[str, Any]) -> Any:
        chat_id = _chat_id(fields)
        text = str(fields.get("text") or "")
        if not text.strip():
            raise ApiFailure(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > TEXT_LIMIT:
            raise ApiFailure(400, "Bad Request: message is too long")
        markup = _reply_markup(fields)
        message: dict[str, Any] = {
            "message_id": self._message_id(chat_id),
            "from": self._bot_user(),
            "chat": self._chats.get(chat_id, {"id": chat_id, "type": "private"}),
            "date": int(time.time()),
            "text": text,
        }
        if markup is not None:
            message["reply_markup"] = markup
        self.messages[(chat_id, message["message_id"])] = message
        record = {
            "method": "sendMessage", "chat_id": chat_id, "text": text,
            "message_id": message["message_id"], "date": message["date"],
            "parse_mode": fields.get("parse_mode"),
        }  # fmt: skip
        if markup is not None:  # inline buttons
            record["reply_markup"] = markup
        self.sent.append(record)
        return message

    def _bot_message(self, fields: dict[str, Any]) -> dict[str, Any]:
        chat_id, message_id = _chat_id(fields), _int(fields, "message_id", 0)
        message = self.messages.get((chat_id, message_id))
        if message is None:
            raise ApiFailure(400, "Bad Request: message to edit not found")
        return message

    async def _edit_message_text(self, fields: dict[str, Any]) -> Any:
        """editMessageText: the bot's message gets the new text (and the buttons given, or
        none)."""
        message = self._bot_message(fields)
        text = str(fields.get("text") or "")
        if not text.strip():
            raise ApiFailure(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > TEXT_LIMIT:
            raise ApiFailure(400, "Bad Request: MESSAGE_TOO_LONG")
        markup = _reply_markup(fields)
        if text == message["text"] and markup == message.get("reply_markup"):
            raise ApiFailure(400, "Bad Request: message is not modified")
        return self._edited(message, "editMessageText", text, markup)

    async def _edit_reply_markup(self, fields: dict[str, Any]) -> Any:
        """editMessageReplyMarkup: the bot's message gets the buttons given (or none)."""
        message = self._bot_message(fields)
        markup = _reply_markup(fields)
        if markup == message.get("reply_markup"):
            raise ApiFailure(400, "Bad Request: message is not modified")
        return self._edited(message, "editMessageReplyMarkup", message["text"], markup)

    def _edited(
        self, message: dict[str, Any], method: str, text: str, markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        message["text"] = text
        message["edit_date"] = int(time.time())
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        self.sent.append(
            {"method": method, "chat_id": message["chat"]["id"], "text": text,
             "message_id": message["message_id"], "reply_markup": markup}
        )  # fmt: skip
        return message

    async def _answer_callback_query(self, fields: dict[str, Any]) -> Any:
        """answerCallbackQuery: once per pressed query."""
        query_id = str(fields.get("callback_query_id") or "")
        if self.queries.get(query_id, True):
            raise ApiFailure(
                400, "Bad Request: query is too old and response timeout expired or query ID "
                "is invalid",
            )  # fmt: skip
        self.queries[query_id] = True
        self.sent.append(
            {"method": "answerCallbackQuery", "callback_query_id": query_id,
             "text": fields.get("text")}
        )  # fmt: skip
        return True

    async def _send_file(self, method: str, field: str, fields: dict[str, Any]) -> Any:
        """sendPhoto, sendDocument, sendAudio, sendVideo, sendVoice: the file uploaded in
        the call (``attach://<part>``, as aiogram sends it, or the part itself) or a file id."""
        chat_id = _chat_id(fields)
        value = fields.get(field)
        if isinstance(value, str) and value.startswith("attach://"):
            value = fields.get(value.removeprefix("attach://"))
        if isinstance(value, str) and value:
            upload: dict[str, Any] = {"file_id": value}
        elif isinstance(value, dict):
            upload = value
        else:
            raise ApiFailure(400, f"Bad Request: there is no {field} in the request")
        size = int(upload.get("size") or 0)
        if method == "sendPhoto" and size > PHOTO_LIMIT:
            raise ApiFailure(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        caption = str(fields.get("caption") or "")
        if len(caption.encode("utf-16-le")) // 2 > CAPTION_LIMIT:
            raise ApiFailure(400, "Bad Request: message caption is too long")
        file_id = upload.get("file_id") or f"mock-{field}-{secrets.token_urlsafe(12)}"
        described: dict[str, Any] = {
            "file_id": file_id, "file_unique_id": file_id[-16:], "file_size": size
        }  # fmt: skip
        if field in ("photo", "video"):
            described.update(width=640, height=480)
        if field in ("audio", "video", "voice"):
            described["duration"] = 1
        if field == "document" and upload.get("filename"):
            described["file_name"] = upload["filename"]
        message: dict[str, Any] = {
            "message_id": self._message_id(chat_id),
            "from": self._bot_user(),
            "chat": self._chats.get(chat_id, {"id": chat_id, "type": "private"}),
            "date": int(time.time()),
            field: [described] if field == "photo" else described,
        }
        if caption:
            message["caption"] = caption
        self.sent.append(
            {"method": method, "chat_id": chat_id, "caption": caption or None,
             "message_id": message["message_id"], "date": message["date"],
             "file": upload, "parse_mode": fields.get("parse_mode")}
        )  # fmt: skip
        return message

    async def _send_chat_action(self, fields: dict[str, Any]) -> Any:
        chat_id = _chat_id(fields)
        action = str(fields.get("action") or "")
        self.sent.append({"method": "sendChatAction", "chat_id": chat_id, "action": action})
        return True

    async def _set_webhook(self, fields: dict[str, Any]) -> Any:
        url = str(fields.get("url") or "")
        if not url:
            return await self._delete_webhook(fields)
        if not url.startswith(("http://", "https://")):
            raise ApiFailure(400, "Bad Request: bad webhook: invalid webhook URL specified")
        secret = str(fields.get("secret_token") or "")
        if secret and not SECRET_TOKEN.match(secret):
            raise ApiFailure(400, "Bad Request: secret token contains unallowed characters")
        self._allow(fields)
        self.webhook = {"url": url, "secret_token": secret}
        self._notify()
        return True

    def _allow(self, fields: dict[str, Any]) -> None:
        """``allowed_updates`` as given (a JSON list in a form field); kept until changed."""
        given = fields.get("allowed_updates")
        if given is None:
            return
        kinds = json.loads(given) if isinstance(given, str) else given
        if not isinstance(kinds, list) or not all(isinstance(kind, str) for kind in kinds):
            raise ApiFailure(400, "Bad Request: can't parse allowed updates")
        self.allowed_updates = kinds or None  # an empty list: every kind, as Telegram says

    def _drop_unwanted(self) -> None:
        """Updates of a kind the bot did not ask for are never delivered."""
        if self.allowed_updates is not None:
            allowed = set(self.allowed_updates)
            self.updates = [u for u in self.updates if _kind(u) in allowed]

    async def _delete_webhook(self, fields: dict[str, Any]) -> Any:
        self.webhook = {}
        if str(fields.get("drop_pending_updates", "")).lower() == "true":
            self.updates = []
        self._notify()
        return True

    async def _get_webhook_info(self, fields: dict[str, Any]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
            "max_connections": 40,
        }
        for key in ("last_error_date", "last_error_message"):
            if key in self.webhook:
                info[key] = self.webhook[key]
        return info

    # -- files customers send -------------------------------------------------------------

    def add_file(
        self,
        data: bytes,
        *,
        mime_type: str | None = None,
        file_name: str | None = None,
        file_size: int | None = None,
    ) -> str:
        """Keep a file as if a customer had uploaded it; its file_id. ``file_size``: what
        Telegram says of it (e.g. over 20 MB without holding that many bytes)."""
        file_id = "BQAC" + secrets.token_urlsafe(24)
        unique = "AgAD" + secrets.token_urlsafe(8)
        folder = "photos" if (mime_type or "").startswith("image/") else "documents"
        path = f"{folder}/file_{len(self.files)}{_suffix(file_name)}"
        self.files[file_id] = MockFile(data, unique, path, mime_type, file_name, file_size)
        return file_id

    def _file_fields(self, photo: str | None, document: str | None) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if photo is not None:
            kept = self.files.get(photo)
            size = {"file_id": photo, "file_unique_id": kept.file_unique_id if kept else "x",
                    "width": 1280, "height": 960}  # fmt: skip
            if kept is not None:
                size["file_size"] = kept.size
            thumb = {"file_id": photo + "-s", "file_unique_id": "thumb", "width": 90,
                     "height": 68, "file_size": 1200}  # fmt: skip
            fields["photo"] = [thumb, size]  # smallest first, as Telegram sends them
        if document is not None:
            kept = self.files.get(document)
            doc: dict[str, Any] = {
                "file_id": document,
                "file_unique_id": kept.file_unique_id if kept else "x",
            }
            if kept is not None:
                doc["file_size"] = kept.size
                if kept.file_name:
                    doc["file_name"] = kept.file_name
                if kept.mime_type:
                    doc["mime_type"] = kept.mime_type
            fields["document"] = doc
        return fields

    async def _get_file(self, fields: dict[str, Any]) -> Any:
        kept = self.files.get(str(fields.get("file_id") or ""))
        if kept is None:
            raise ApiFailure(400, "Bad Request: invalid file_id")
        if kept.size > GET_FILE_LIMIT:
            raise ApiFailure(400, "Bad Request: file is too big")
        file_id = str(fields["file_id"])
        return {"file_id": file_id, "file_unique_id": kept.file_unique_id,
                "file_size": kept.size, "file_path": kept.file_path}  # fmt: skip

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if not secrets.compare_digest(request.match_info["token"].encode(), self.token.encode()):
            return ApiFailure(401, "Unauthorized").response()
        path = request.match_info["path"]
        kept = next((f for f in self.files.values() if f.file_path == path), None)
        if kept is None:
            return ApiFailure(404, "Not Found").response()
        self.downloads += 1
        return web.Response(body=kept.data, content_type="application/octet-stream")

    async def _control_file(self, request: web.Request) -> web.Response:
        data = await request.read()
        if not data:
            return self._json({"ok": False, "description": "the body is the file's bytes"}, 400)
        mime = request.content_type if request.content_type != "application/octet-stream" else None
        file_id = self.add_file(data, mime_type=mime, file_name=request.query.get("name") or None)
        kept = self.files[file_id]
        return self._json(
            {"file_id": file_id, "file_unique_id": kept.file_unique_id, "file_size": kept.size}
        )

    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "msgcenter mock",
                "username": "msgcenter_mock_bot"}  # fmt: skip

    # -- the webhook ----------------------------------------------------------------------

    async def _push_webhooks(self) -> None:
        """Deliver pending updates to the webhook in order; retry one until it answers 2xx."""
        while True:
            changed = self._changed
            url = self.webhook.get("url")
            if not url or not self.updates:
                await changed.wait()
                continue
            self._drop_unwanted()
            if not self.updates:
                continue
            update = self.updates[0]
            if await self._post_update(url, update):
                if self.updates and self.updates[0] is update:
                    self.updates.pop(0)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), self.webhook_retry_seconds)

    async def _post_update(self, url: str, update: dict[str, Any]) -> bool:
        assert self._client is not None
        headers = {}
        if self.webhook.get("secret_token"):
            headers[SECRET_HEADER] = self.webhook["secret_token"]
        try:
            async with self._client.post(url, json=update, headers=headers) as response:
                if response.status < 300:
                    return True
                error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except (ClientError, TimeoutError) as exc:
            error = f"Connection failed: {type(exc).__name__}"
        log.info("mock Telegram: delivering update %s failed: %s", update.get("update_id"), error)
        self.webhook.update(last_error_date=int(time.time()), last_error_message=error)
        return False

    # -- the control API ------------------------------------------------------------------

    async def _control_customer(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body.get("name"), str) or not isinstance(body.get("text"), str):
            return self._json({"ok": False, "description": "name and text are required"}, 400)
        update = self.customer(
            body["name"],
            body["text"],
            chat_id=body.get("chat_id"),
            username=body.get("username"),
            message_id=body.get("message_id"),
            photo=body.get("photo") if isinstance(body.get("photo"), str) else None,
            document=body.get("document") if isinstance(body.get("document"), str) else None,
        )
        return self._json(update)

    async def _control_update(self, request: web.Request) -> web.Response:
        return self._json(self.add_update(await _json_body(request)))

    async def _control_press(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        chat_id, data, message_id = body.get("chat_id"), body.get("data"), body.get("message_id")
        if not isinstance(chat_id, int) or not isinstance(data, str):
            return self._json({"ok": False, "description": "chat_id and data are required"}, 400)
        try:
            update = self.press(chat_id, data, message_id if isinstance(message_id, int) else None)
        except ValueError as exc:
            return self._json({"ok": False, "description": str(exc)}, 400)
        return self._json(update)

    async def _control_fail(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body.get("method"), str) or not isinstance(body.get("status"), int):
            return self._json({"ok": False, "description": "method and status are required"}, 400)
        self.fail(
            body["method"], body["status"], int(body.get("count", 1)),
            body.get("retry_after"), body.get("description"),
        )  # fmt: skip
        return self._json({"ok": True})

    async def _control_read(self, request: web.Request) -> web.Response:
        return self._json(self.sent if request.path.endswith("/sent") else dict(self.calls))

    async def _control_reset(self, _request: web.Request) -> web.Response:
        self.reset()
        return self._json({"ok": True})

    async def _wake_waiters(self, _app: web.Application) -> None:
        self._closing = True
        self._notify()

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        return web.json_response(data, status=status)


def stable_id(name: str) -> int:
    """A Telegram-like user id that is the same for the same name every time."""
    digest = hashlib.sha256(name.strip().lower().encode()).digest()
    return 100_000_000 + int.from_bytes(digest[:4], "big") % 900_000_000


async def _fields(request: web.Request) -> dict[str, Any]:
    """The call's parameters: JSON, or form fields (aiogram's way: lists/objects as JSON);
    in a multipart form, files as ``{"sha256", "size", "filename", "content_type"}``."""
    if request.content_type == "application/json":
        return await _json_body(request)
    if request.content_type == "multipart/form-data":
        return await _multipart_fields(request)
    return {key: value for key, value in (await request.post()).items() if isinstance(value, str)}


async def _multipart_fields(request: web.Request) -> dict[str, Any]:
    """A form with files, read as a stream: a file is hashed and counted, never kept (the
    Bot API takes files of at most 50 MB from bots)."""
    fields: dict[str, Any] = {}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                raise ApiFailure(400, "Bad Request: invalid form")
            if part.filename is None:
                fields[part.name] = (await part.read(decode=True)).decode()
                continue
            digest, size = hashlib.sha256(), 0
            while chunk := await part.read_chunk(64 * 1024):
                digest.update(chunk)
                size += len(chunk)
                if size > UPLOAD_LIMIT:
                    raise ApiFailure(413, "Request Entity Too Large")
            fields[part.name] = {
                "sha256": digest.hexdigest(), "size": size, "filename": part.filename,
                "content_type": part.headers.get("Content-Type"),
            }  # fmt: skip
    except ValueError as exc:
        raise ApiFailure(400, f"Bad Request: invalid form ({exc})") from exc
    return fields


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        body = exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"ok": False, "description": f"a JSON object is required: {body}"}),
            content_type="application/json",
        )
    return body


def _int(fields: Mapping[str, Any], key: str, default: int) -> int:
    try:
        return int(fields.get(key, default))
    except (TypeError, ValueError) as exc:
        raise ApiFailure(400, f"Bad Request: invalid {key} specified") from exc


def _chat_id(fields: Mapping[str, Any]) -> int:
    try:
        return int(fields.get("chat_id", ""))
    except (TypeError, ValueError) as exc:
        raise ApiFailure(400, "Bad Request: chat not found") from exc


def _kind(update: Mapping[str, Any]) -> str:
    """An update's kind: its one field besides ``update_id``."""
    return next((key for key in update if key != "update_id"), "")


def _buttons(message: Mapping[str, Any]) -> list[str]:
    """The callback data of the inline buttons under a message."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [str(b["callback_data"]) for row in rows for b in row if "callback_data" in b]


def _reply_markup(fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """An inline keyboard as Telegram checks it (each button a text and one action; callback
    data 1-64 bytes), or None. aiogram sends it as JSON in a form field."""
    given = fields.get("reply_markup")
    if given is None or given == "":
        return None
    try:
        markup = json.loads(given) if isinstance(given, str) else given
    except json.JSONDecodeError as exc:
        raise ApiFailure(400, "Bad Request: can't parse reply keyboard markup JSON object") from exc
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiFailure(400, "Bad Request: object expected as reply markup")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text") or "").strip():
                raise ApiFailure(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiFailure(400, "Bad Request: BUTTON_DATA_INVALID")
            if data is None and not button.get("url"):
                raise ApiFailure(400, "Bad Request: inline keyboard button must have an action")
    return {"inline_keyboard": rows}


def _suffix(name: str | None) -> str:
    """A safe extension from a file name, for the mock's file paths."""
    _, dot, ext = (name or "").rpartition(".")
    return f".{ext}" if dot and ext.isalnum() and len(ext) <= 8 else ""
