"""The webhook bot against a real HTTP server on 127.0.0.1 playing a Rasa REST channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from bot import BotContext, Handoff, HandoffReason, Reply, Silence, load_bot
from bot.settings import BotSettings, WebhookSettings
from bot.webhook import WebhookBot

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PATH = "/webhooks/rest/webhook"


class ExternalBot:
    """A stand-in for Rasa: records what it was sent, answers with the test's handler."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.release = asyncio.Event()  # lets a deliberately slow answer finish at teardown
        self.answer: Handler = self.json([])

    def json(self, body: Any, status: int = 200) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.json_response(body, status=status)

        return handler

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append(await request.json())
        self.headers.append(dict(request.headers))
        return await self.answer(request)


@pytest.fixture
async def rasa(aiohttp_server: AiohttpServer) -> AsyncIterator[tuple[ExternalBot, str]]:
    external = ExternalBot()
    app = web.Application()
    app.router.add_post(PATH, external.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    yield external, str(server.make_url(PATH))
    external.release.set()


@pytest.fixture
async def connect(
    rasa: tuple[ExternalBot, str],
) -> AsyncIterator[Callable[..., WebhookBot]]:
    made: list[WebhookBot] = []

    def make(**settings: Any) -> WebhookBot:
        bot = WebhookBot(WebhookSettings(**{"url": rasa[1], **settings}))
        made.append(bot)
        return bot

    yield make
    for bot in made:
        await bot.close()


def message(text: str, mode: str = "bot") -> BotContext:
    return BotContext(chat_id=42, channel="Telegram", customer_name="Budi", text=text, mode=mode)


async def test_the_external_bot_answers(
    rasa: tuple[ExternalBot, str], connect: Callable[..., WebhookBot]
) -> None:
    external, _ = rasa
    external.answer = external.json(
        [
            {"recipient_id": "42", "text": "Hi Budi!"},
            {"recipient_id": "42", "text": "How can I help?"},
        ]
    )
    bot = connect()

    assert await bot.respond(message("hello")) == Reply("Hi Budi!\n\nHow can I help?")
    assert external.received == [
        {
            "sender": "42",
            "message": "hello",
            "metadata": {
                "channel": "Telegram",
                "customer_name": "Budi",
                "sender_verified": True,
                "chat_id": 42,
            },
        }
    ]


async def test_images_and_buttons_degrade_to_text(
    rasa: tuple[ExternalBot, str], connect: Callable[..., WebhookBot]
) -> None:
    external, _ = rasa
    external.answer = external.json(
        [
            {"recipient_id": "42", "image": "https://shop.example/menu.png"},
            {
                "recipient_id": "42",
                "text": "Pick one:",
                "buttons": [{"title": "Shipping", "payload": "/ship"}, {"title": "Returns"}],
            },
        ]
    )
    decision = await connect().respond(message("menu"))
    assert decision == Reply(
        "https://shop.example/menu.png\n\nPick one:\n\n1. Shipping\n2. Returns"
    )


async def test_the_handoff_marker_hands_off_after_the_texts(
    rasa: tuple[ExternalBot, str], connect: Callable[..., WebhookBot]
) -> None:
    external, _ = rasa
    external.answer = external.json(
        [
            {"recipient_id": "42", "text": "Let me get a colleague."},
            {"recipient_id": "42", "custom": {"escalate": True, "reason": "billing dispute"}},
        ]
    )
    bot = connect(handoff_marker="escalate")
    assert await bot.respond(message("you charged me twice")) == Handoff(
        "external bot: billing dispute", "Let me get a colleague.", code=HandoffReason.EXTERNAL_BOT
    )


async def test_a_marker_without_reason_or_text(
    rasa: tuple[ExternalBot, str], connect: Callable[..., WebhookBot]
) -> None:
    external, _ = rasa
    external.answer = external.json([{"recipient_id": "42", "custom": {"handoff": True}}])
    assert await connect().respond(message("agent")) == Handoff(
        "external bot asked for a human", code=HandoffReason.EXTERNAL_BOT
    )


async def test_an_empty_answer_is_silence(
    rasa: tuple[ExternalBot, str], connect: Callable[..., WebhookBot]
) -> None:
    external, _ = rasa
    external.answer = external.json([])
    assert await connect().respond(message("ok")) == Silence()


async def test_outside_bot_mode_the_external_bot_is_not_asked(
    rasa: tuple[ExternalBot, str], connect: Callable[..., WebhookBot]
) -> None:
    external, _ = rasa
    assert await connect().respond(message("hello?", mode="agent")) == Silence()
    assert external.received == []


async def test_a_token_is_sent_as_bearer(
    rasa: tuple[ExternalBot, str], connect: Callable[..., WebhookBot]
) -> None:
    external, _ = rasa
    await connect(token="s3cret-token").respond(message("hi"))
    assert external.headers[0]["Authorization"] == "Bearer s3cret-token"


async def test_a_slow_external_bot_hands_the_chat_to_a_human(
    rasa: tuple[ExternalBot, str], connect: Callable[..., WebhookBot]
) -> None:
    external, _ = rasa

    async def too_slow(request: web.Request) -> web.StreamResponse:
        await external.release.wait()
        return web.json_response([{"recipient_id": "42", "text": "too late"}])

    external.answer = too_slow
    decision = await connect(timeout_s=0.2).respond(message("hello"))
    assert decision == Handoff(
        "bot unavailable: no answer within 0.2s", code=HandoffReason.BOT_UNAVAILABLE
    )


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, b'{"error": "boom"}', "HTTP 500"),
        (502, b"<html>502 Bad Gateway</html>", "HTTP 502"),
        (200, b"[{not json", "invalid JSON in the answer"),
        (200, b"", "invalid JSON in the answer"),
        (200, b'{"text": "hi"}', "the answer is not a list of messages"),
        (200, b'["hi"]', "the answer is not a list of messages"),
    ],
)
async def test_a_failing_external_bot_hands_the_chat_to_a_human(
    rasa: tuple[ExternalBot, str],
    connect: Callable[..., WebhookBot],
    status: int,
    body: bytes,
    reason: str,
) -> None:
    external, _ = rasa

    async def failing(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, content_type="application/json")

    external.answer = failing
    assert await connect().respond(message("hello")) == Handoff(
        f"bot unavailable: {reason}", code=HandoffReason.BOT_UNAVAILABLE
    )


async def test_an_unreachable_external_bot_hands_the_chat_to_a_human(
    unused_tcp_port: int,
) -> None:
    bot = WebhookBot(WebhookSettings(url=f"http://127.0.0.1:{unused_tcp_port}{PATH}"))
    try:
        decision = await bot.respond(message("hello"))
    finally:
        await bot.close()
    assert decision == Handoff(
        "bot unavailable: request failed (ClientConnectorError)",
        code=HandoffReason.BOT_UNAVAILABLE,
    )


async def test_one_session_serves_many_messages_and_close_releases_it(
    rasa: tuple[ExternalBot, str],
) -> None:
    external, url = rasa
    external.answer = external.json([{"recipient_id": "42", "text": "pong"}])
    bot = load_bot("webhook", BotSettings(engine="webhook", webhook=WebhookSettings(url=url)))
    assert isinstance(bot, WebhookBot)
    answers = await asyncio.gather(*(bot.respond(message(f"ping {n}")) for n in range(5)))
    assert answers == [Reply("pong")] * 5
    assert sorted(body["message"] for body in external.received) == [f"ping {n}" for n in range(5)]
    await bot.close()
    await bot.close()  # closing twice is harmless
    assert await bot.respond(message("again")) == Reply("pong")  # and it can reopen
    await bot.close()
