"""Telegram through aiogram 3: long polling or a webhook in, ``sendMessage`` out.

Updates go through one aiogram ``Dispatcher`` in both modes; its handlers turn
a message into an :class:`InboundMessage` (an edit into an :class:`InboundEdit`, a
press of one of our inline buttons, a ``callback_query``, into an
:class:`InboundMessage` whose ``payload`` is the button's data: answered with
``answerCallbackQuery`` and the message edited only after the sink returned) and
await the sink, so an update counts as handled only after the commit that holds it:

- webhook: aiogram's ``SimpleRequestHandler`` with ``handle_in_background=False``
  answers Telegram after the handler returned; a failing sink makes it a 5xx,
  and Telegram sends the update again later.
- polling: our own ``getUpdates`` loop (aiogram's ``start_polling`` logs a
  failing handler and moves on, which would lose the update). The offset that
  confirms an update advances only after its handler returned; when the sink
  fails, the loop backs off and asks again from the same offset.

No aiogram type leaves this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import urllib.parse
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatAction, ChatType
from aiogram.exceptions import (
    AiogramError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from aiogram.types.update import UpdateTypeLookupError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import ClientError, ClientSession, web
from pydantic import ValidationError

from connectors import media_fetch
from connectors.base import (
    Attachment,
    DeliveryError,
    InboundEdit,
    InboundMessage,
    MediaDownload,
    MediaError,
    OutboundFile,
    OutboundMessage,
    Sink,
    StorageUnavailable,
    answer_of,
)
from connectors.text import split_text

log = logging.getLogger(__name__)

CHANNEL = "Telegram"
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
TEXT_LIMIT = 4096  # characters per message, counted in UTF-16 code units like Telegram does
CAPTION_LIMIT = 1024  # a file's caption, counted the same way
PHOTO_LIMIT = 10 * 1024 * 1024  # sendPhoto; a larger image goes as a document
# callback_query: a press of an inline button of ours (a survey's rating).
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
CALLBACK_DATA_LIMIT = 64  # bytes of an inline button's callback_data
ANSWER_LIMIT = 200  # characters of answerCallbackQuery's text
STOP_GRACE_SECONDS = 10.0
# getFile hands bots files up to 20 MB; larger ones cannot be fetched at all.
GET_FILE_LIMIT = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    """What the connector needs, taken from ``[channels.telegram]`` by the service."""

    token: str
    api_base: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""  # public URL of WEBHOOK_PATH (webhook mode)
    webhook_secret: str = ""  # X-Telegram-Bot-Api-Secret-Token (webhook mode)
    private_only: bool = True
    polling_timeout: int = 30
    request_timeout: int = 30
    retry_base_seconds: float = 1.0  # backoff of getUpdates/setWebhook after a failure
    retry_max_seconds: float = 30.0


class TelegramConnector:
    """The Telegram channel: see the module docstring."""

    channel = CHANNEL

    def __init__(self, config: TelegramConfig, sink: Sink) -> None:
        self.config = config
        self.sink = sink
        session = AiohttpSession(
            api=TelegramAPIServer.from_base(config.api_base), timeout=config.request_timeout
        )
        self._bot = Bot(config.token, session=session)
        self._dispatcher = Dispatcher()
        self._dispatcher.message.register(self._on_message)
        self._dispatcher.edited_message.register(self._on_edit)
        self._dispatcher.callback_query.register(self._on_callback)
        self._webhook = SimpleRequestHandler(
            self._dispatcher,
            self._bot,
            handle_in_background=False,
            secret_token=config.webhook_secret or None,
        )
        self._task: asyncio.Task[None] | None = None
        self._files: ClientSession | None = None  # file downloads (fetch_media)
        self._stopping = False
        self._busy = False  # storing an update: let it finish rather than cancel it
        self._status = "stopped"
        # Ids of the parts of a long reply already sent, so a retry sends only the rest.
        self._parts_sent: OrderedDict[int, list[str]] = OrderedDict()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, *, inbound: bool = True) -> None:
        """Start polling, or register the webhook; both retry in the background until done.

        Without ``inbound`` only sending (and, in webhook mode, the route) works here.
        """
        self._stopping = False
        if self._files is None:
            self._files = ClientSession(timeout=media_fetch.DOWNLOAD_TIMEOUT)
        if not inbound:
            self._status = "send only"
            return
        self._status = "starting"
        work = self._poll() if self.config.mode == "polling" else self._register_webhook()
        self._task = asyncio.get_running_loop().create_task(work, name="telegram")

    async def stop(self) -> None:
        """Let an update being stored finish, stop asking Telegram, close the HTTP session."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            if not self._busy:
                task.cancel()  # waiting on Telegram or a backoff: nothing is lost
            await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:
                log.error("the Telegram task had failed", exc_info=task.exception())
        # The webhook stays registered: Telegram keeps the updates until we are back.
        await self._bot.session.close()
        if self._files is not None:
            files, self._files = self._files, None
            await files.close()
        self._status = "stopped"

    async def health(self) -> str:
        """``polling`` or ``webhook`` when fine, else what goes wrong."""
        return self._status

    def web_routes(self) -> list[web.RouteDef]:
        """``POST /webhooks/telegram`` in webhook mode; nothing in polling mode."""
        if self.config.mode != "webhook":
            return []
        return [web.post(WEBHOOK_PATH, self._handle_webhook)]

    # -- inbound --------------------------------------------------------------------------

    async def _handle_webhook(self, request: web.Request) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not secrets.compare_digest(given, self.config.webhook_secret.encode()):
            return _error(401, "unauthorized", f"wrong or missing {SECRET_HEADER}")
        raw = await request.read()  # aiohttp keeps the body: aiogram reads it again below
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _error(400, "malformed_json", f"the body is not valid JSON: {exc}")
        try:
            update = Update.model_validate(data)
        except ValidationError as exc:
            message = f"not a Telegram update: {exc.error_count()} invalid field(s)"
            return _error(422, "validation_error", message)
        try:
            update.event_type  # noqa: B018 - raises for an update of a kind aiogram does not know
        except UpdateTypeLookupError:
            # A newer kind of update (or none at all): nothing for us. Acknowledged, so that
            # Telegram does not send it again and again (aiogram would raise: a 500).
            log.info("Telegram update %s of an unknown kind ignored", update.update_id)
            return web.json_response({})
        # Runs the dispatcher in this request: the 200 follows the commit; a failing
        # sink raises, Telegram gets a 5xx and sends the update again.
        try:
            return await self._webhook.handle(request)
        except StorageUnavailable as exc:
            log.warning("Telegram update %s not stored (503): %s", update.update_id, exc)
            return _error(503, "database_unavailable", "cannot store now; send it again later")

    async def _on_message(self, message: Message) -> None:
        if self._ignored(message):
            return
        await self.sink.receive([inbound_message(message)])

    async def _on_edit(self, message: Message) -> None:
        text = message.text or message.caption
        if self._ignored(message) or text is None:
            return  # e.g. a live location moving: nothing an agent reads changed
        edit = InboundEdit(CHANNEL, str(message.chat.id), str(message.message_id), text)
        await self.sink.edit(edit)

    async def _on_callback(self, query: CallbackQuery) -> None:
        """A press of an inline button of ours: stored as the customer's message with its
        ``payload`` (the button's callback data); after the commit the query is answered and
        the message edited: to what the sink says to tell the customer (a survey's thanks),
        else without its buttons."""
        message = query.message
        if (
            message is None
            or not query.data
            or (self.config.private_only and message.chat.type != ChatType.PRIVATE)
        ):
            await self._answer_callback(query.id, None)
            return
        results = await self.sink.receive([callback_message(query)])
        answer = answer_of(results[0]) if results else None
        await self._answer_callback(query.id, answer)
        await self._after_choice(message.chat.id, message.message_id, answer)

    async def _answer_callback(self, query_id: str, text: str | None) -> None:
        """Stop the button's spinner (and show ``text``); the press is stored already, so a
        failure is logged, not raised."""
        try:
            short = text[:ANSWER_LIMIT] if text else None
            await self._bot.answer_callback_query(callback_query_id=query_id, text=short)
        except (TelegramAPIError, AiogramError) as exc:
            log.info("Telegram answerCallbackQuery failed: %s", _describe(exc))

    async def _after_choice(self, chat_id: int, message_id: int, answer: str | None) -> None:
        """The message whose button was pressed: its text becomes ``answer`` (its buttons
        go), or with no answer its buttons go (a choice taken once)."""
        try:
            if answer:
                await self._bot.edit_message_text(
                    text=answer[:TEXT_LIMIT], chat_id=chat_id, message_id=message_id,
                    parse_mode=None,
                )  # fmt: skip
            else:
                await self._bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id)
        except (TelegramAPIError, AiogramError) as exc:
            log.info("Telegram could not edit message %s: %s", message_id, _describe(exc))

    def _ignored(self, message: Message) -> bool:
        if self.config.private_only and message.chat.type != ChatType.PRIVATE:
            log.debug("ignoring a message in %s chat %s", message.chat.type, message.chat.id)
            return True
        return False

    async def _poll(self) -> None:
        await self._retrying("deleteWebhook", self._delete_webhook)
        offset: int | None = None
        failures = 0
        while not self._stopping:
            try:
                updates = await self._bot.get_updates(
                    offset=offset,
                    timeout=self.config.polling_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                    request_timeout=self.config.polling_timeout + self.config.request_timeout,
                )
            except (TelegramAPIError, AiogramError) as exc:
                failures += 1
                self._status = f"polling: getUpdates failed ({_describe(exc)})"
                log.warning("Telegram getUpdates failed: %s", _describe(exc))
                await self._backoff(failures)
                continue
            self._status = "polling"
            for update in updates:
                if self._stopping:
                    return
                try:
                    self._busy = True
                    await self._dispatcher.feed_update(self._bot, update)
                except Exception:  # left unconfirmed: Telegram sends it again
                    failures += 1
                    self._status = f"polling: storing update {update.update_id} failed"
                    log.exception("storing Telegram update %d failed", update.update_id)
                    break
                finally:
                    self._busy = False
                offset = update.update_id + 1  # confirmed by the next getUpdates
            else:
                failures = 0
                continue
            await self._backoff(failures)

    async def _delete_webhook(self) -> None:
        await self._bot.delete_webhook(drop_pending_updates=False)
        self._status = "polling"

    async def _register_webhook(self) -> None:
        await self._retrying("setWebhook", self._set_webhook)

    async def _set_webhook(self) -> None:
        await self._bot.set_webhook(
            url=self.config.webhook_url,
            secret_token=self.config.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
        )
        self._status = "webhook"
        log.info("Telegram webhook set to %s", self.config.webhook_url)

    async def _retrying(self, name: str, call: Callable[[], Awaitable[None]]) -> None:
        """Run ``call`` until Telegram accepts it (the service starts while Telegram is away)."""
        failures = 0
        while not self._stopping:
            try:
                await call()
                return
            except (TelegramAPIError, AiogramError) as exc:
                failures += 1
                self._status = f"{self.config.mode}: {name} failed ({_describe(exc)})"
                log.warning("Telegram %s failed: %s", name, _describe(exc))
                await self._backoff(failures)

    async def _backoff(self, failures: int) -> None:
        if self._stopping:
            return
        delay = self.config.retry_base_seconds * 2 ** min(failures - 1, 10)
        await asyncio.sleep(min(delay, self.config.retry_max_seconds))

    # -- outbound -------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> str:
        """Send the reply as one message, or several when longer than Telegram allows.

        Returns the id of the last part. A part already sent is not sent again when
        the outbox retries after a later part failed.
        """
        if message.files:
            return await self.send_files(message)
        parts = split_text(message.text, TEXT_LIMIT, utf16=True)
        markup = inline_keyboard(message.interactive) if message.interactive else None
        return await self._send_steps(message, [(part, None) for part in parts], markup)

    async def send_files(self, message: OutboundMessage) -> str:
        """Each file with ``sendPhoto``, ``sendAudio``, ``sendVoice``, ``sendVideo`` or
        ``sendDocument`` (by its type, see :func:`file_method`); the text is the first file's
        caption, or text messages of their own first when longer than a caption may be. A
        retry after a later step failed sends only the steps not yet sent. The last id."""
        text = message.text.strip()
        steps: list[tuple[str, OutboundFile | None]] = [("", file) for file in message.files]
        if text and len(text.encode("utf-16-le")) // 2 <= CAPTION_LIMIT:
            steps[0] = (text, message.files[0])
        elif text:
            steps[:0] = [(part, None) for part in split_text(text, TEXT_LIMIT, utf16=True)]
        return await self._send_steps(message, steps)

    async def _send_steps(
        self,
        message: OutboundMessage,
        steps: list[tuple[str, OutboundFile | None]],
        markup: InlineKeyboardMarkup | None = None,
    ) -> str:
        """Send each step (a text, or a file with its caption) in order; the last id. The
        steps sent before a retryable failure are remembered and skipped by the retry.
        ``markup``: inline buttons under the last text."""
        sent = self._parts_sent.pop(message.message_id, [])
        try:
            for index, (text_part, file) in enumerate(steps[len(sent) :], start=len(sent)):
                if file is None:
                    result = await self._bot.send_message(
                        chat_id=message.chat_external_id, text=text_part, parse_mode=None,
                        reply_markup=markup if index == len(steps) - 1 else None,
                    )  # fmt: skip
                else:
                    result = await self._send_file(message.chat_external_id, file, text_part)
                sent.append(str(result.message_id))
        except (TelegramAPIError, AiogramError) as exc:
            error = delivery_error(exc)
            if error.retryable and sent:
                self._parts_sent[message.message_id] = sent
                while len(self._parts_sent) > 1000:
                    self._parts_sent.popitem(last=False)
            raise error from exc
        return sent[-1]

    async def _send_file(self, chat_id: str, file: OutboundFile, caption: str) -> Message:
        try:
            handle = open(file.path, "rb")  # noqa: ASYNC230, SIM115 (read in a thread below)
        except OSError as exc:
            reason = f"cannot read the file {file.name!r}: {exc.strerror or exc}"
            raise DeliveryError(reason, retryable=False, code="file_gone") from exc
        with handle:  # closed here even when Telegram answers before reading it all
            return await self._send_open_file(chat_id, file, OpenFile(handle, file.name), caption)

    async def _send_open_file(
        self, chat_id: str, file: OutboundFile, upload: InputFile, caption: str
    ) -> Message:
        # A large file takes longer than a message (counted at 256 KB/s at least).
        timeout = self.config.request_timeout + file.size // (256 * 1024)
        common: dict[str, Any] = {
            "chat_id": chat_id, "caption": caption or None, "parse_mode": None,
            "request_timeout": timeout,
        }  # fmt: skip
        method = file_method(file.mime_type, file.size)
        if method == "sendPhoto":
            return await self._bot.send_photo(photo=upload, **common)
        if method == "sendVoice":
            return await self._bot.send_voice(voice=upload, **common)
        if method == "sendAudio":
            return await self._bot.send_audio(audio=upload, **common)
        if method == "sendVideo":
            return await self._bot.send_video(video=upload, **common)
        return await self._bot.send_document(document=upload, **common)

    async def typing(self, chat_external_id: str) -> None:
        """Show "typing…" to the customer; a hint only, so failures are logged, not raised."""
        try:
            await self._bot.send_chat_action(chat_id=chat_external_id, action=ChatAction.TYPING)
        except (TelegramAPIError, AiogramError) as exc:
            log.info("Telegram sendChatAction failed: %s", _describe(exc))

    # -- fetching the files customers send (FetchesMedia) --------------------------------

    @contextlib.asynccontextmanager
    async def fetch_media(self, ref: str, max_bytes: int) -> AsyncIterator[MediaDownload]:
        """``getFile`` for the file's path and size, then ``{api_base}/file/bot<token>/<path>``
        streamed. Raises MediaError: permanent for a file Telegram will not hand out (over
        20 MB, an unknown id) or larger than ``max_bytes``, else retryable."""
        files = self._files
        if files is None:
            raise MediaError("the Telegram connector is not started", permanent=False)
        try:
            found = await self._bot.get_file(ref, request_timeout=self.config.request_timeout)
        except (TelegramAPIError, AiogramError) as exc:
            raise file_error(exc) from exc
        if found.file_size is not None and found.file_size > GET_FILE_LIMIT:
            raise MediaError(too_big_to_fetch(found.file_size), permanent=True)
        if found.file_size is not None and found.file_size > max_bytes:
            raise media_fetch.too_large(found.file_size, max_bytes)
        path = found.file_path
        if not path or ".." in path.split("/"):
            raise MediaError("Telegram gave no usable file path for this file", permanent=False)
        # As aiogram builds it (TelegramAPIServer.file_url), with our own session and timeout.
        url = self._bot.session.api.file_url(self._bot.token, urllib.parse.quote(path, safe="/"))
        token = self._bot.token  # in the URL: never in a reason
        async with contextlib.AsyncExitStack() as stack:
            try:
                response = await stack.enter_async_context(files.get(url))
            except (ClientError, TimeoutError) as exc:
                raise media_fetch.unreachable("Telegram file download", exc, token) from exc
            if response.status != 200:
                # The path is good for an hour at least: a refusal now is worth another try
                # with a new getFile (which says so itself when the file is gone).
                status = response.status
                again = status in (401, 403, 404, 408, 429) or status >= 500
                reason = f"Telegram file download failed: HTTP {status}"
                raise MediaError(reason, permanent=not again)
            length = response.content_length
            if length is not None and length > max_bytes:
                raise media_fetch.too_large(length, max_bytes)
            yield MediaDownload(
                media_fetch.chunks(response, "Telegram file download", token),
                mime_type=None,  # Telegram serves files as octet-stream: the message said
                size=found.file_size if found.file_size is not None else length,
            )


def too_big_to_fetch(size: int | None) -> str:
    """Why a file over getFile's limit is not kept."""
    this = f"this one is {media_fetch.megabytes(size)} MB" if size else "this one is larger"
    return f"Telegram lets bots fetch files up to 20 MB; {this}"


def file_error(exc: TelegramAPIError | AiogramError) -> MediaError:
    """What a failed ``getFile`` means: the file is out of reach for good, or try later."""
    if isinstance(exc, TelegramBadRequest | TelegramNotFound | TelegramEntityTooLarge):
        text = exc.message.lower()
        if "too big" in text or isinstance(exc, TelegramEntityTooLarge):
            return MediaError(too_big_to_fetch(None), permanent=True)
        if "temporarily" not in text:  # "invalid file_id", "file not found"
            return MediaError(f"Telegram refused the file: {exc.message}", permanent=True)
    return MediaError(f"Telegram getFile failed: {_describe(exc)}", permanent=False)


class OpenFile(InputFile):
    """A file for aiogram to upload from a handle its caller closes (aiogram's FSInputFile
    opens the file in a generator that stays open when an upload is answered early)."""

    def __init__(self, handle: BinaryIO, filename: str) -> None:
        super().__init__(filename=filename, chunk_size=256 * 1024)
        self.handle = handle

    async def read(self, bot: Bot) -> AsyncGenerator[bytes, None]:
        while chunk := await asyncio.to_thread(self.handle.read, self.chunk_size):
            yield chunk


def file_method(mime: str, size: int) -> str:
    """The Bot API method that sends a file of this type and size as Telegram shows it best:
    photos (JPEG, PNG up to 10 MB), voice notes (Ogg Opus), music (MP3, M4A), MPEG-4 video;
    anything else as a document."""
    if mime in ("image/jpeg", "image/png") and size <= PHOTO_LIMIT:
        return "sendPhoto"
    if mime == "audio/ogg":
        return "sendVoice"
    if mime in ("audio/mpeg", "audio/mp4"):
        return "sendAudio"
    if mime == "video/mp4":
        return "sendVideo"
    return "sendDocument"


def delivery_error(exc: TelegramAPIError | AiogramError) -> DeliveryError:
    """What a failed Bot API call means for the outbox: retry later, or give up and why."""
    if isinstance(exc, TelegramRetryAfter):
        return DeliveryError(
            f"Telegram rate limit: retry after {exc.retry_after} s",
            retryable=True,
            retry_after=float(exc.retry_after),
            code="429",
        )
    if isinstance(exc, TelegramForbiddenError):
        text = exc.message.lower()
        if "blocked" in text:
            reason = "the customer blocked the bot"
        elif "deactivated" in text:
            reason = "the customer's Telegram account was deleted"
        else:
            reason = f"Telegram refused: {exc.message}"
        return DeliveryError(reason, retryable=False, code="403")
    if isinstance(exc, TelegramEntityTooLarge | TelegramBadRequest | TelegramNotFound):
        return DeliveryError(f"Telegram refused: {exc.message}", retryable=False, code="400")
    if isinstance(exc, TelegramMigrateToChat):
        return DeliveryError(f"Telegram refused: {exc.message}", retryable=False)
    # Network errors, timeouts, 5xx, an unreadable answer, a rejected token: may pass later.
    return DeliveryError(f"Telegram unavailable: {_describe(exc)}", retryable=True)


def _describe(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, TelegramAPIError) else str(exc)
    return f"{type(exc).__name__}: {message}"


def _error(status: int, code: str, message: str) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": {}}}
    return web.json_response(body, status=status)


# -- converting updates -----------------------------------------------------------------


def inbound_message(message: Message) -> InboundMessage:
    """A Telegram message as msgcenter stores it (chat id and message id as strings)."""
    user = message.from_user
    chat = message.chat
    if chat.type != ChatType.PRIVATE:
        name = chat.title or ""
    elif user is not None:
        name = " ".join(part for part in (user.first_name, user.last_name) if part)
    else:
        name = " ".join(part for part in (chat.first_name, chat.last_name) if part)
    username = user.username if user else chat.username
    attachments, text = _attachments(message), message.text or message.caption or ""
    if not text and not attachments:
        kind = getattr(message.content_type, "value", message.content_type)  # an enum
        text = f"[unsupported Telegram message: {kind}]"
    phone = None
    if message.contact is not None and user is not None and message.contact.user_id == user.id:
        phone = message.contact.phone_number  # the customer shared their own number
    return InboundMessage(
        channel=CHANNEL,
        chat_external_id=str(chat.id),
        message_external_id=str(message.message_id),
        text=text,
        customer_name=name or (f"@{username}" if username else f"Telegram user {chat.id}"),
        customer_phone=phone,
        customer_username=username,
        attachments=attachments,
        reply_to_external_id=(
            str(message.reply_to_message.message_id) if message.reply_to_message else None
        ),
        sent_at=message.date,
    )


def inline_keyboard(interactive: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """The choices as inline buttons, one a row; a choice whose id is longer than a
    callback's 64 bytes is left out. None: no usable choice."""
    rows = []
    for option in interactive.get("options") or []:
        if not isinstance(option, dict):
            continue
        data, title = str(option.get("id") or ""), str(option.get("title") or "").strip()
        if title and data and len(data.encode()) <= CALLBACK_DATA_LIMIT:
            rows.append([InlineKeyboardButton(text=title, callback_data=data)])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def callback_message(query: CallbackQuery) -> InboundMessage:
    """A button press as the customer's message: the button's title as its text (the data
    when the message is out of reach), the callback data as its payload; one per query."""
    assert query.message is not None and query.data is not None
    pressed = query.message
    text = query.data
    markup = pressed.reply_markup if isinstance(pressed, Message) else None
    for row in markup.inline_keyboard if markup is not None else []:
        for button in row:
            if button.callback_data == query.data:
                text = button.text
    user = query.from_user
    name = " ".join(part for part in (user.first_name, user.last_name) if part)
    if not name:
        name = f"@{user.username}" if user.username else f"Telegram user {user.id}"
    return InboundMessage(
        channel=CHANNEL,
        chat_external_id=str(pressed.chat.id),
        message_external_id=f"callback:{query.id}",
        text=text,
        customer_name=name,
        customer_username=user.username,
        reply_to_external_id=str(pressed.message_id),
        payload=query.data[:255],
    )


def _attachments(message: Message) -> tuple[Attachment, ...]:
    """Files as Telegram file ids with their metadata; places and contacts as metadata."""
    photo = message.photo[-1] if message.photo else None  # sizes come smallest first
    files: list[tuple[str, str, Any]] = [
        ("image", "photo", photo),
        ("video", "animation", message.animation),  # also sent as a document: not twice
        ("document", "document", None if message.animation else message.document),
        ("audio", "audio", message.audio),
        ("voice", "voice", message.voice),
        ("video", "video", message.video),
        ("video", "video_note", message.video_note),
        ("sticker", "sticker", message.sticker),
    ]
    found = [_file(kind, name, item) for kind, name, item in files if item is not None]
    if message.location is not None:
        meta: dict[str, Any] = {
            "latitude": message.location.latitude,
            "longitude": message.location.longitude,
        }
        if message.venue is not None:
            meta.update(title=message.venue.title, address=message.venue.address)
        found.append(Attachment("location", name=meta.get("title"), meta=meta))
    if message.contact is not None:
        contact = message.contact
        name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
        meta = {"phone_number": contact.phone_number, "user_id": contact.user_id}
        if contact.vcard:
            meta["vcard"] = contact.vcard
        found.append(Attachment("contact", name=name, meta=meta))
    return tuple(found)


def _file(kind: str, telegram_type: str, item: Any) -> Attachment:
    """Any of Telegram's file objects: they share file_id, file_unique_id and file_size."""
    meta: dict[str, Any] = {"telegram_type": telegram_type, "file_unique_id": item.file_unique_id}
    for key in ("duration", "width", "height", "performer", "title", "emoji", "set_name"):
        value = getattr(item, key, None)
        if value is not None:
            meta[key] = value
    # Fetched with getFile after the message is stored (handoff.usecases.media), unless
    # Telegram would refuse: it hands bots files up to 20 MB.
    size = item.file_size
    too_big = size is not None and size > GET_FILE_LIMIT
    return Attachment(
        kind,
        name=getattr(item, "file_name", None),
        mime_type=getattr(item, "mime_type", None) or ("image/jpeg" if kind == "image" else None),
        size=size,
        ref=item.file_id,
        meta=meta,
        status="failed" if too_big else "pending",
        error=too_big_to_fetch(size) if too_big else None,
    )
