"""Satisfaction surveys on Telegram, against the mock Bot API over real sockets, in polling
and webhook mode.

The survey is a message with an inline keyboard; the customer presses a button at the mock,
which delivers a ``callback_query`` update (only when msgcenter asked for that kind in
``allowed_updates``); msgcenter stores the press as the customer's message, then answers the
query and edits the survey message into the thanks.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from connectors.mock.telegram import MockTelegram, stable_id
from handoff.domain import csat
from handoff.usecases.delivery import RetryPolicy
from msgcenter import demo
from msgcenter.service import SERVICE, build_app
from storage.models import Chat, CsatSurvey, Message, Mode, Sender
from tests.support import Api, ClientFactory, eventually, make_settings

SECRET = "hook-secret_123"
BOT = {"engine": "tests.fakes:PeakBot", "options": {"delay": 0}}


@pytest.fixture
async def mock() -> AsyncIterator[MockTelegram]:
    mock = MockTelegram(webhook_retry_seconds=0.05)
    await mock.start("127.0.0.1", 0)
    yield mock
    await mock.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def start(
    mock: MockTelegram, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path, mode: str
) -> Api:
    port = free_port()
    telegram: dict[str, Any] = {"enabled": True, "api_base": mock.url, "token": mock.token}
    if mode == "webhook":
        telegram |= {"mode": "webhook", "webhook_secret": SECRET}
    settings = make_settings(
        db_url,
        tmp_path / "data",
        bot=BOT,
        server={"public_url": f"http://127.0.0.1:{port}"},
        channels={"telegram": telegram},
    )
    client = await aiohttp_client(build_app(settings), server_kwargs={"port": port})
    service = client.app[SERVICE]
    service.core.outbox.retry = RetryPolicy(base_seconds=0.01, max_seconds=0.05)
    await demo.seed_users(service.core.staff)
    return await Api(client).login("admin", "admin123")


def sent(mock: MockTelegram, method: str) -> list[dict[str, Any]]:
    return [item for item in mock.sent if item["method"] == method]


def bot_answers(mock: MockTelegram) -> list[str]:
    texts = [item["text"] for item in sent(mock, "sendMessage")]
    return [text for text in texts if text.startswith("(answer to:")]


async def chat_of(name: str) -> Chat | None:
    return await Chat.get_or_none(channel="Telegram", external_id=str(stable_id(name)))


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_the_survey_buttons_a_press_the_answer_and_the_thanks(
    mock: MockTelegram, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path, mode: str
) -> None:
    api = await start(mock, aiohttp_client, db_url, tmp_path, mode)
    customer = stable_id("Ani")
    mock.customer("Ani", "Hi there")
    chat = await eventually(lambda: chat_of("Ani"))
    await eventually(lambda: asyncio.sleep(0, bot_answers(mock)))
    status, body = await api.post(
        "/chats/messages", {"chat_id": chat.id, "text": "Hello Ani", "sender": "agent"}
    )
    assert status == 201, body
    status, body = await api.post(f"/chats/{chat.id}/close")
    assert status == 200, body

    def keyboard_sent() -> list[dict[str, Any]]:
        return [item for item in sent(mock, "sendMessage") if item.get("reply_markup")]

    [shown] = await eventually(lambda: asyncio.sleep(0, keyboard_sent()))
    [survey] = await CsatSurvey.filter(chat_id=chat.id)
    assert shown["text"] == csat.QUESTION and shown["chat_id"] == customer
    buttons = [row[0] for row in shown["reply_markup"]["inline_keyboard"]]
    assert [b["callback_data"] for b in buttons] == [
        f"csat:{survey.id}:{n}" for n in (5, 4, 3, 2, 1)
    ]
    assert [b["text"] for b in buttons] == [csat.TITLES[n] for n in (5, 4, 3, 2, 1)]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    assert mock.allowed_updates is not None and "callback_query" in mock.allowed_updates

    async def recorded() -> str | None:  # the outbox records the send after Telegram answered
        return (await Message.get(id=survey.message_id)).external_id

    assert await eventually(recorded) == str(shown["message_id"])

    update = mock.press(customer, f"csat:{survey.id}:5")
    query_id = update["callback_query"]["id"]

    async def rated() -> bool:
        return (await CsatSurvey.get(id=survey.id)).status == "rated"

    await eventually(rated)
    await eventually(lambda: asyncio.sleep(0, sent(mock, "editMessageText")))
    [answered] = sent(mock, "answerCallbackQuery")
    assert answered["callback_query_id"] == query_id
    [edit] = sent(mock, "editMessageText")
    assert edit["message_id"] == shown["message_id"] and edit["text"] == csat.ENGLISH.thanks_for(5)
    assert "reply_markup" not in mock.messages[(customer, shown["message_id"])]  # buttons gone
    press = await Message.get(chat_id=chat.id, external_id=f"callback:{query_id}")
    assert press.sender == Sender.CUSTOMER and press.text == csat.TITLES[5]
    assert (await Chat.get(id=chat.id)).mode == Mode.CLOSED
    assert len(bot_answers(mock)) == 1

    # The buttons are gone: no client can press them again.
    with pytest.raises(ValueError, match="no button"):
        mock.press(customer, f"csat:{survey.id}:1", shown["message_id"])

    # The comment: the next message.
    mock.customer("Ani", "Very helpful")

    async def commented() -> CsatSurvey | None:
        found = await CsatSurvey.get(id=survey.id)
        return found if found.status == "commented" else None

    assert (await eventually(commented)).comment == "Very helpful"
    assert (await Chat.get(id=chat.id)).mode == Mode.CLOSED
    assert len(bot_answers(mock)) == 1


async def test_a_forged_press_is_answered_and_changes_nothing(
    mock: MockTelegram, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    api = await start(mock, aiohttp_client, db_url, tmp_path, "polling")
    customer = stable_id("Beni")
    mock.customer("Beni", "Hi")
    chat = await eventually(lambda: chat_of("Beni"))
    status, _ = await api.post(
        "/chats/messages", {"chat_id": chat.id, "text": "Hello", "sender": "agent"}
    )
    assert status == 201
    status, _ = await api.post(f"/chats/{chat.id}/close")
    assert status == 200
    [survey] = await eventually(lambda: CsatSurvey.filter(chat_id=chat.id))
    shown = await eventually(
        lambda: asyncio.sleep(0, [s for s in sent(mock, "sendMessage") if s.get("reply_markup")])
    )
    message = mock.messages[(customer, shown[0]["message_id"])]
    # A client sending data no button of ours holds (another survey's id).
    mock.queries["forged-1"] = False
    forged = {
        "id": "forged-1",
        "from": {"id": customer, "is_bot": False, "first_name": "Beni"},
        "message": message,
        "chat_instance": "1",
        "data": f"csat:{survey.id + 1000}:1",
    }
    mock.add_update({"callback_query": forged})
    await eventually(lambda: asyncio.sleep(0, sent(mock, "answerCallbackQuery")))
    assert await Message.exists(chat_id=chat.id, external_id="callback:forged-1")
    assert (await CsatSurvey.get(id=survey.id)).status == "sent"
    assert (await Chat.get(id=chat.id)).mode == Mode.CLOSED
    assert sent(mock, "editMessageText") == []
    # With nothing to thank for, the pressed message loses its buttons.
    await eventually(lambda: asyncio.sleep(0, sent(mock, "editMessageReplyMarkup")))
    assert "reply_markup" not in message
