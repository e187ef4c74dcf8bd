"""The Telegram channel end to end: msgcenter against the mock Bot API over real sockets.

A customer writes at the mock (its control API), msgcenter polls it or is called
on its webhook, agents work the chat through the dashboard API, and what the
bot sent is read back at the mock. Nothing of msgcenter is patched.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from connectors.base import InboundEdit, InboundMessage, StatusUpdate
from connectors.mock.telegram import MockTelegram, stable_id
from connectors.telegram import SECRET_HEADER, WEBHOOK_PATH, TelegramConfig, TelegramConnector
from connectors.text import split_text
from handoff.usecases.delivery import RetryPolicy
from msgcenter import demo
from msgcenter.service import SERVICE, build_app
from msgcenter.settings import SettingsError
from storage.models import Message
from tests.fakes import QUIET_BOT
from tests.support import Api, ClientFactory, eventually, make_settings

SECRET = "hook-secret_123"
Start = Callable[..., Awaitable[Api]]


class Control:
    """The mock's control API, as the demo and ``msgcenter simulate`` use it."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(method, path, json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def customer(self, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", "/_mock/customer", body)
        return result

    async def update(self, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", "/_mock/update", body)
        return result

    async def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        return [item for item in await self.call("GET", "/_mock/sent") if item["method"] == method]

    async def calls(self, method: str) -> int:
        counts: dict[str, int] = await self.call("GET", "/_mock/calls")
        return counts.get(method, 0)

    async def fail(self, **body: Any) -> None:
        await self.call("POST", "/_mock/fail", body)


@pytest.fixture
async def mock() -> AsyncIterator[MockTelegram]:
    mock = MockTelegram(webhook_retry_seconds=0.05)
    await mock.start("127.0.0.1", 0)
    yield mock
    await mock.stop()


@pytest.fixture
async def control(mock: MockTelegram) -> AsyncIterator[Control]:
    async with ClientSession(base_url=mock.url) as session:
        yield Control(session)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def start(mock: MockTelegram, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path) -> Start:
    """Start msgcenter with the Telegram channel on the mock; returns the admin's client."""

    async def go(**telegram: Any) -> Api:
        port = free_port()
        settings = make_settings(
            db_url,
            tmp_path / "data",
            bot=QUIET_BOT,
            server={"public_url": f"http://127.0.0.1:{port}"},
            channels={
                "telegram": {"enabled": True, "api_base": mock.url, "token": mock.token} | telegram
            },
        )
        client = await aiohttp_client(build_app(settings), server_kwargs={"port": port})
        service = client.app[SERVICE]
        service.core.outbox.retry = RetryPolicy(base_seconds=0.01, max_seconds=0.05)
        await demo.seed_users(service.core.staff)
        return await Api(client).login("admin", "admin123")

    return go


async def chat_named(api: Api, name: str) -> dict[str, Any] | None:
    status, chats = await api.get("/chats/", params={"channel": "Telegram"})
    assert status == 200, chats
    return next((chat for chat in chats if chat["name"] == name), None)


async def messages(api: Api, chat_id: int) -> list[dict[str, Any]]:
    status, detail = await api.get(f"/chats/{chat_id}")
    assert status == 200, detail
    result: list[dict[str, Any]] = detail["messages"]
    return result


async def reply(api: Api, chat_id: int, text: str) -> int:
    status, message = await api.post(
        "/chats/messages", {"chat_id": chat_id, "text": text, "sender": "agent"}
    )
    assert status == 201, message
    message_id: int = message["id"]
    return message_id


async def message_status(api: Api, chat_id: int, message_id: int) -> dict[str, Any]:
    return next(m for m in await messages(api, chat_id) if m["id"] == message_id)


async def customer_chat(api: Api, control: Control, name: str = "Jane Doe") -> dict[str, Any]:
    await control.customer(name=name, text="Hello, where is my order?", username="jane_d")
    return await eventually(lambda: chat_named(api, name))


# -- polling end to end -------------------------------------------------------------------


async def test_polling_customer_message_reaches_the_desk_and_the_reply_reaches_telegram(
    start: Start, control: Control
) -> None:
    admin = await start()
    chat = await customer_chat(admin, control)
    assert (chat["channel"], chat["unread"], chat["mode"]) == ("Telegram", 1, "bot")
    assert chat["last_message"]["text"] == "Hello, where is my order?"
    status, detail = await admin.get(f"/chats/{chat['id']}")
    assert status == 200, detail
    assert detail["profile"]["username"] == "jane_d"
    assert [(m["sender"], m["text"]) for m in detail["messages"]] == [
        ("customer", "Hello, where is my order?")
    ]

    message_id = await reply(admin, chat["id"], "Hi Jane, it ships <b>today</b>.")
    sent = await eventually(control.sent)
    assert sent == [
        {
            "method": "sendMessage",
            "chat_id": stable_id("Jane Doe"),
            "text": "Hi Jane, it ships <b>today</b>.",  # plain text: no parse_mode
            "message_id": 2,  # the chat's message ids count on from the customer's
            "date": sent[0]["date"],
            "parse_mode": None,
        }
    ]
    delivered = await eventually(lambda: _status_is(admin, chat["id"], message_id, "sent"))
    assert delivered["error"] is None
    _, health = await admin.get("/healthz")
    assert health["checks"]["telegram"] == "polling"


async def _status_is(api: Api, chat_id: int, message_id: int, status: str) -> dict[str, Any]:
    message = await message_status(api, chat_id, message_id)
    return message if message["status"] == status else {}


async def test_the_same_message_delivered_twice_is_stored_once(
    start: Start, control: Control
) -> None:
    admin = await start()
    for _ in range(2):  # two updates (new update_ids) carrying the same message
        await control.customer(name="Ann Lee", text="once", message_id=7)
    await control.customer(name="Ann Lee", text="and then", message_id=8)
    chat = await eventually(lambda: chat_named(admin, "Ann Lee"))
    texts = await eventually(
        lambda: _texts_if(admin, chat["id"], lambda texts: "and then" in texts)
    )
    assert texts == ["once", "and then"]
    assert (await chat_named(admin, "Ann Lee") or {})["unread"] == 2


async def _texts_if(api: Api, chat_id: int, ready: Callable[[list[str]], bool]) -> list[str]:
    texts = [m["text"] for m in await messages(api, chat_id)]
    return texts if ready(texts) else []


async def test_an_edited_message_updates_the_stored_text(start: Start, control: Control) -> None:
    admin = await start()
    update = await control.customer(name="Bob Stone", text="my order is INV-2O41", message_id=5)
    chat = await eventually(lambda: chat_named(admin, "Bob Stone"))
    edited = dict(update["message"], text="my order is INV-2041", edit_date=1_800_000_000)
    await control.update(edited_message=edited)
    texts = await eventually(
        lambda: _texts_if(admin, chat["id"], lambda texts: texts == ["my order is INV-2041"])
    )
    assert texts == ["my order is INV-2041"]


async def test_group_chats_are_ignored(start: Start, control: Control, mock: MockTelegram) -> None:
    admin = await start()
    group = {"id": -100123, "title": "Shop fans", "type": "supergroup"}
    sender = {"id": 42, "is_bot": False, "first_name": "Gus"}
    await control.update(
        message={"message_id": 1, "date": 1, "chat": group, "from": sender, "text": "hi all"}
    )
    await control.customer(name="Private Person", text="only me")
    await eventually(lambda: chat_named(admin, "Private Person"))

    async def all_confirmed() -> bool:  # the group update too: handled by being ignored
        return not mock.updates

    await eventually(all_confirmed)
    _, chats = await admin.get("/chats/", params={"channel": "Telegram"})
    assert [c["name"] for c in chats if c["name"] in ("Shop fans", "Gus")] == []


async def test_photo_with_caption_and_location_become_attachments(
    start: Start, control: Control, mock: MockTelegram
) -> None:
    admin = await start()
    first = await control.customer(name="Ida Park", text="hi")
    base = {"chat": first["message"]["chat"], "from": first["message"]["from"], "date": 1}
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 2000
    big = mock.add_file(jpeg)  # the largest size is fetched (handoff.usecases.media)
    photo = [
        {"file_id": "small-id", "file_unique_id": "s1", "width": 90, "height": 60},
        {"file_id": big, "file_unique_id": "b1", "width": 1280, "height": 853,
         "file_size": len(jpeg)},
    ]  # fmt: skip
    await control.update(message=base | {"message_id": 10, "photo": photo, "caption": "broken"})
    location = {"latitude": -6.2, "longitude": 106.816666}
    await control.update(message=base | {"message_id": 11, "location": location})
    chat = await eventually(lambda: chat_named(admin, "Ida Park"))
    found = await eventually(lambda: _texts_if(admin, chat["id"], lambda t: len(t) == 3))
    assert found == ["hi", "broken", ""]
    await admin.service.core.media.quiet()  # type: ignore[union-attr]
    photo_id, place_id = (m["id"] for m in (await messages(admin, chat["id"]))[1:])
    image, place = (m["attachments"] for m in (await messages(admin, chat["id"]))[1:])
    assert image == [
        {"kind": "image", "filename": "photo.jpg", "content_type": "image/jpeg",
         "size": len(jpeg), "status": "stored", "error": None,
         "url": f"/chats/{chat['id']}/messages/{photo_id}/attachments/0", "inline": True,
         "meta": {"telegram_type": "photo", "file_unique_id": "b1", "width": 1280,
                  "height": 853}}
    ]  # fmt: skip
    assert place == [
        {"kind": "location", "filename": None, "content_type": None, "size": None,
         "status": None, "error": None, "url": None, "inline": False, "meta": location}
    ]  # fmt: skip
    assert place_id > photo_id
    assert (await chat_named(admin, "Ida Park") or {})["last_message"]["text"] == "[location]"


# -- outbound -----------------------------------------------------------------------------


async def test_a_long_reply_is_split_at_telegrams_limit(start: Start, control: Control) -> None:
    admin = await start()
    chat = await customer_chat(admin, control)
    paragraph = ("word " * 199 + "end.\n") * 9  # 9 lines of 1000 characters
    message_id = await reply(admin, chat["id"], paragraph.strip())
    await eventually(lambda: _status_is(admin, chat["id"], message_id, "sent"))
    sent = await control.sent()
    assert [len(item["text"]) for item in sent] == [3999, 3999, 999]  # 4 lines, 4, 1
    assert "\n".join(item["text"] for item in sent) == paragraph.strip()
    # The stored provider id is the last part's: the one the customer sees last.
    message = await Message.get(id=message_id)
    assert message.external_id == str(sent[-1]["message_id"])


def test_split_text_prefers_line_breaks_then_spaces_and_counts_like_telegram() -> None:
    assert split_text("short", 4096) == ["short"]
    assert split_text("aaaa bbbb\ncc dd", 10) == ["aaaa bbbb", "cc dd"]
    assert split_text("aaaa bbbb cccc", 10) == ["aaaa bbbb", "cccc"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert split_text("😀" * 6, 10, utf16=True) == ["😀" * 5, "😀"]  # 2 UTF-16 units each


@pytest.mark.parametrize(
    ("failure", "calls"),
    [
        ({"status": 429, "retry_after": 1, "count": 1}, 2),
        ({"status": 500, "count": 2}, 3),
    ],
)
async def test_rate_limits_and_server_errors_are_retried_until_delivered(
    start: Start, control: Control, failure: dict[str, Any], calls: int
) -> None:
    admin = await start()
    chat = await customer_chat(admin, control)
    await control.fail(method="sendMessage", **failure)
    message_id = await reply(admin, chat["id"], "after a hiccup")
    await eventually(lambda: _status_is(admin, chat["id"], message_id, "sent"))
    assert [item["text"] for item in await control.sent()] == ["after a hiccup"]
    assert await control.calls("sendMessage") == calls


async def test_a_customer_who_blocked_the_bot_fails_the_reply_with_that_reason(
    start: Start, control: Control
) -> None:
    admin = await start()
    chat = await customer_chat(admin, control)
    await control.fail(method="sendMessage", status=403, count=5)
    message_id = await reply(admin, chat["id"], "are you there?")
    failed = await eventually(lambda: _status_is(admin, chat["id"], message_id, "failed"))
    assert failed["error"] == "the customer blocked the bot"
    assert await control.calls("sendMessage") == 1  # not retried
    assert await control.sent() == []


async def test_a_provider_that_refuses_connections_is_retried_until_it_is_back(
    start: Start, control: Control, mock: MockTelegram
) -> None:
    admin = await start()
    chat = await customer_chat(admin, control)
    admin.service.core.outbox.retry = RetryPolicy(
        base_seconds=0.01, max_seconds=0.05, max_attempts=1000
    )
    await mock.stop()
    message_id = await reply(admin, chat["id"], "sent once it is back")

    async def retried() -> bool:
        message = await Message.get(id=message_id)
        return message.attempts >= 2 and "Telegram unavailable" in (message.error or "")

    await eventually(retried)
    await mock.start("127.0.0.1", mock.port)
    await eventually(lambda: _status_is(admin, chat["id"], message_id, "sent"))
    assert [item["text"] for item in mock.sent if item["method"] == "sendMessage"] == [
        "sent once it is back"
    ]


# -- webhook mode -------------------------------------------------------------------------


async def test_webhook_mode_registers_and_receives_updates_from_telegram(
    start: Start, control: Control, mock: MockTelegram
) -> None:
    admin = await start(mode="webhook", webhook_secret=SECRET)
    await eventually(lambda: _health_is(admin, "webhook"))
    assert mock.webhook["url"] == str(admin.client.make_url(WEBHOOK_PATH))
    assert mock.webhook["secret_token"] == SECRET
    await control.customer(name="Web Hook", text="via the webhook")
    chat = await eventually(lambda: chat_named(admin, "Web Hook"))
    assert chat["unread"] == 1
    message_id = await reply(admin, chat["id"], "got it")
    await eventually(lambda: _status_is(admin, chat["id"], message_id, "sent"))


async def _health_is(api: Api, value: str) -> bool:
    _, health = await api.get("/healthz")
    return bool(health["checks"]["telegram"] == value)


UPDATE = {
    "update_id": 900,
    "message": {
        "message_id": 3,
        "date": 1_800_000_000,
        "chat": {"id": 555, "first_name": "Direct", "last_name": "Post", "type": "private"},
        "from": {"id": 555, "is_bot": False, "first_name": "Direct", "last_name": "Post"},
        "text": "/start",
    },
}


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({}, UPDATE, 401, "unauthorized"),
        ({SECRET_HEADER: "wrong"}, UPDATE, 401, "unauthorized"),
        ({SECRET_HEADER: SECRET}, b'{"update_id": 9', 400, "malformed_json"),
        ({SECRET_HEADER: SECRET}, [1, 2], 422, "validation_error"),
    ],
)
async def test_webhook_refuses_bad_secrets_and_bodies_and_stores_nothing(
    start: Start, headers: dict[str, str], body: Any, status: int, code: str
) -> None:
    admin = await start(mode="webhook", webhook_secret=SECRET)
    payload = {"data": body} if isinstance(body, bytes) else {"json": body}
    async with admin.client.post(WEBHOOK_PATH, headers=headers, **payload) as response:
        assert response.status == status
        assert (await response.json())["error"]["code"] == code
    assert await Message.filter(text="/start").count() == 0


async def test_webhook_stores_a_repeated_start_once(start: Start) -> None:
    admin = await start(mode="webhook", webhook_secret=SECRET)
    headers = {SECRET_HEADER: SECRET}
    for _ in range(2):  # Telegram sends again when it did not see our 200
        async with admin.client.post(WEBHOOK_PATH, json=UPDATE, headers=headers) as r:
            assert r.status == 200
        # The message is there as soon as Telegram has its 200 (that the 200 waits for
        # the sink is shown by the 5xx test below; here the order is only observed).
        chat = await chat_named(admin, "Direct Post")
        assert chat is not None
        assert [m["text"] for m in await messages(admin, chat["id"])] == ["/start"]


# -- the connector alone, with a sink that fails ------------------------------------------


class FlakySink:
    """The core's side of the connector contract, failing its first ``failures`` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[InboundMessage] = []
        self.edits: list[InboundEdit] = []

    async def receive(self, messages: Any) -> list[None]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the database is away")
        self.received.extend(messages)
        return [None for _ in messages]

    async def status(self, updates: list[StatusUpdate]) -> None:
        raise AssertionError("Telegram sends no receipts")

    async def edit(self, edit: InboundEdit) -> None:
        self.edits.append(edit)


Connect = Callable[..., Awaitable[TelegramConnector]]


@pytest.fixture
async def connect(mock: MockTelegram) -> AsyncIterator[Connect]:
    """Start a TelegramConnector on the mock with ``sink``; stopped after the test."""
    started: list[TelegramConnector] = []

    async def go(sink: FlakySink, **config: Any) -> TelegramConnector:
        connector = TelegramConnector(
            TelegramConfig(mock.token, mock.url, retry_base_seconds=0.01, **config), sink
        )
        await connector.start()
        started.append(connector)
        return connector

    yield go
    for connector in started:
        await connector.stop()


async def test_polling_asks_again_for_an_update_the_sink_failed_to_store(
    connect: Connect, mock: MockTelegram
) -> None:
    sink = FlakySink(failures=2)
    await connect(sink)
    mock.customer("Rita Moreno", "are you open?")

    async def stored() -> list[InboundMessage]:
        return sink.received

    assert [m.text for m in await eventually(stored)] == ["are you open?"]
    assert mock.calls["getUpdates"] >= 3  # the same update, asked for three times


async def test_a_webhook_update_the_sink_failed_to_store_is_answered_5xx_and_sent_again(
    connect: Connect, mock: MockTelegram
) -> None:
    sink = FlakySink(failures=1)
    port = free_port()
    connector = await connect(
        sink,
        mode="webhook",
        webhook_url=f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
        webhook_secret=SECRET,
    )
    app = web.Application()
    app.add_routes(connector.web_routes())
    async with TestServer(app, port=port):
        mock.customer("Walt Web", "hello?")

        async def stored() -> list[InboundMessage]:
            return sink.received

        assert [m.text for m in await eventually(stored)] == ["hello?"]
    assert "500" in mock.webhook["last_error_message"]


async def test_what_customers_send_becomes_text_and_described_attachments(
    connect: Connect, mock: MockTelegram
) -> None:
    sink = FlakySink()
    await connect(sink)
    me = {"id": 77, "is_bot": False, "first_name": "Vera", "username": "vera_v"}
    base = {"chat": me | {"type": "private"}, "from": me, "date": 1_800_000_000}
    contents: list[dict[str, Any]] = [
        {"text": "/start"},
        {"voice": {"file_id": "v1", "file_unique_id": "uv", "duration": 3,
                   "mime_type": "audio/ogg", "file_size": 4000}},
        {"document": {"file_id": "d1", "file_unique_id": "ud", "file_name": "invoice.pdf",
                      "mime_type": "application/pdf", "file_size": 9000}, "caption": "see"},
        {"contact": {"phone_number": "+6281200000", "first_name": "Vera", "user_id": 77}},
        {"sticker": {"file_id": "s1", "file_unique_id": "us", "type": "regular", "width": 512,
                     "height": 512, "is_animated": False, "is_video": False, "emoji": "👍"}},
        {"dice": {"emoji": "🎲", "value": 4}},
    ]  # fmt: skip
    for number, content in enumerate(contents, start=1):
        mock.add_update({"message": base | {"message_id": number} | content})

    async def all_stored() -> bool:
        return len(sink.received) == len(contents)

    await eventually(all_stored)
    start, voice, document, contact, sticker, dice = sink.received
    assert (start.text, start.customer_name) == ("/start", "Vera")
    assert start.customer_username == "vera_v"
    assert (start.chat_external_id, start.message_external_id) == ("77", "1")
    assert voice.attachments[0].as_dict() == {
        "kind": "voice", "mime_type": "audio/ogg", "size": 4000, "ref": "v1",
        "status": "pending",  # fetched after the commit (handoff.usecases.media)
        "meta": {"telegram_type": "voice", "file_unique_id": "uv", "duration": 3},
    }  # fmt: skip
    assert document.text == "see"
    assert document.attachments[0].name == "invoice.pdf"
    assert contact.customer_phone == "+6281200000"  # the customer shared their own number
    assert contact.attachments[0].kind == "contact"
    assert sticker.attachments[0].meta["emoji"] == "👍"
    assert dice.text == "[unsupported Telegram message: dice]"


async def test_typing_shows_as_a_chat_action(connect: Connect, mock: MockTelegram) -> None:
    connector = await connect(FlakySink())
    await connector.typing("77")
    assert mock.sent == [{"method": "sendChatAction", "chat_id": 77, "action": "typing"}]


# -- settings -----------------------------------------------------------------------------


def test_settings_name_the_missing_or_malformed_key(tmp_path: Path) -> None:
    db = f"sqlite://{tmp_path / 'x.db'}"
    with pytest.raises(SettingsError, match=r"channels\.telegram\.token: required"):
        build_app(make_settings(db, tmp_path, channels={"telegram": {"enabled": True}}))
    on = {"enabled": True, "token": "123:abc", "mode": "webhook"}
    with pytest.raises(SettingsError, match=r"channels\.telegram\.webhook_secret: required"):
        build_app(make_settings(db, tmp_path, channels={"telegram": on}))
    with pytest.raises(SettingsError, match=r"channels\.telegram\.token: Value error"):
        make_settings(db, tmp_path, channels={"telegram": {"token": "not a token"}})
