"""Satisfaction surveys on WhatsApp, over the mock Graph API's real wire.

A customer writes (a bot that answers everything answers), an agent takes the chat over and
closes it; the survey goes out as an interactive list message; the customer picks a row at
the mock, which posts Meta's ``list_reply`` webhook; then writes a comment. What reaches
"Meta", the rows of ``csat_surveys`` and ``messages``, the chat's mode and the events are
checked. Times are moved by moving the survey's own times back (a survey sent 8 days ago).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise import timezone

from connectors.mock.whatsapp import MockWhatsApp, choice_payload, phone_for
from handoff.domain import csat
from msgcenter.settings import SettingsError
from storage.models import Chat, CsatSurvey, Message, Mode, Sender, User
from tests.support import ClientFactory, frames_within, make_settings
from tests.whatsapp_support import WhatsApp, running_mock, start_whatsapp

# Answers every message at once: a message that reached the bot shows in what was sent.
BOT = {"engine": "tests.fakes:PeakBot", "options": {"delay": 0}}


@pytest.fixture
async def mock() -> Any:
    async for running in running_mock():
        yield running


async def world(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path, **csat: Any
) -> WhatsApp:
    """The service on the mock; ``csat``: settings of ``[csat]`` other than the defaults
    (given to the surveys like the outbox's quick retries: as configuration)."""
    wa = await start_whatsapp(mock, aiohttp_client, db_url, tmp_path, bot=BOT)
    surveys = wa.service.core.surveys
    surveys.options = dataclasses.replace(surveys.options, **csat)
    return wa


async def closed_by_agent(wa: WhatsApp, name: str) -> tuple[int, str]:
    """A customer's chat, answered by the bot, taken over by the admin's reply and closed."""
    phone = phone_for(name)
    chat_id, _ = await wa.customer_chat(name, phone)
    await wa.reply(chat_id, "Happy to help.")
    status, row = await wa.admin.post(f"/chats/{chat_id}/close")
    assert status == 200, row
    await wa.idle()
    return chat_id, phone


def surveys_sent(mock: MockWhatsApp) -> list[dict[str, Any]]:
    return [s for s in mock.sent if s["request"].get("type") == "interactive"]


def texts_sent(mock: MockWhatsApp) -> list[str]:
    return [s["request"]["text"]["body"] for s in mock.sent if s["request"]["type"] == "text"]


def bot_answers(mock: MockWhatsApp) -> list[str]:
    return [text for text in texts_sent(mock) if text.startswith("(answer to:")]


async def mode_of(chat_id: int) -> Mode:
    return (await Chat.get(id=chat_id)).mode


async def test_a_closed_chat_gets_a_list_the_rating_and_comment_are_kept_and_reopen_nothing(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    wa = await world(mock, aiohttp_client, db_url, tmp_path)
    chat_id, phone = await closed_by_agent(wa, "Rina")
    assert bot_answers(mock) == ["(answer to: Hello, is anyone there?)"]

    [survey] = await CsatSurvey.filter(chat_id=chat_id)
    admin = await User.get(username="admin")
    assert survey.status == "sent" and survey.channel == "WhatsApp"
    assert survey.agent_id == admin.id  # who held the chat when it closed
    [sent] = surveys_sent(mock)
    request = sent["request"]
    assert request["to"] == phone
    interactive = request["interactive"]
    assert interactive["type"] == "list"
    assert interactive["body"]["text"] == csat.QUESTION
    assert 0 < len(interactive["action"]["button"]) <= 20
    [section] = interactive["action"]["sections"]
    rows = section["rows"]
    assert [row["id"] for row in rows] == [f"csat:{survey.id}:{n}" for n in (5, 4, 3, 2, 1)]
    assert all(0 < len(row["title"]) <= 24 for row in rows)
    message = await Message.get(id=survey.message_id)
    assert message.sender == Sender.SYSTEM and message.external_id == sent["id"]
    assert message.interactive == csat.interactive(survey.id)

    ws = await wa.admin.socket()
    status, wamid = await mock.customer_chooses("Rina", f"csat:{survey.id}:4", phone=phone)
    assert status == 200
    await wa.idle()
    survey = await CsatSurvey.get(id=survey.id)
    assert (survey.status, survey.rating) == ("rated", 4)
    assert survey.rated_at is not None
    assert await mode_of(chat_id) == Mode.CLOSED  # not reopened
    stored = await Message.get(chat_id=chat_id, external_id=wamid)
    assert stored.sender == Sender.CUSTOMER and stored.text == "4 - Good"
    assert texts_sent(mock)[-1] == csat.ENGLISH.thanks_for(4)  # the thanks, as a message of its own
    assert len(bot_answers(mock)) == 1  # the bot never heard of it
    frames = await frames_within(ws, 0.3)
    [event] = [f for f in frames if f["type"] == "csat.created"]
    assert event["chat_id"] == chat_id
    assert event["data"]["survey"]["rating"] == 4
    assert event["data"]["survey"]["agent_id"] == survey.agent_id
    await ws.close()

    status, comment_wamid = await mock.customer_says("Rina", "Quick and kind, thanks!", phone=phone)
    assert status == 200
    await wa.idle()
    survey = await CsatSurvey.get(id=survey.id)
    assert (survey.status, survey.comment) == ("commented", "Quick and kind, thanks!")
    assert await mode_of(chat_id) == Mode.CLOSED
    assert await Message.exists(chat_id=chat_id, external_id=comment_wamid)
    assert len(bot_answers(mock)) == 1

    # A second choice of the same survey is stored and changes nothing.
    status, again = await mock.customer_chooses("Rina", f"csat:{survey.id}:1", phone=phone)
    assert status == 200
    await wa.idle()
    assert (await CsatSurvey.get(id=survey.id)).rating == 4
    assert await Message.exists(chat_id=chat_id, external_id=again)
    assert await mode_of(chat_id) == Mode.CLOSED

    # Anything else now is the usual flow: the chat reopens for the bot, which answers.
    status, _ = await mock.customer_says("Rina", "One more question", phone=phone)
    assert status == 200
    await wa.idle()
    assert await mode_of(chat_id) == Mode.BOT
    assert bot_answers(mock)[-1] == "(answer to: One more question)"

    # Closed again within 7 days of the survey: not asked again.
    await wa.reply(chat_id, "Anything else?")
    status, _ = await wa.admin.post(f"/chats/{chat_id}/close")
    assert status == 200
    await wa.idle()
    assert len(surveys_sent(mock)) == 1
    assert await CsatSurvey.filter(chat_id=chat_id).count() == 1


async def test_writing_instead_of_rating_gets_the_usual_flow_and_the_survey_waits(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    wa = await world(mock, aiohttp_client, db_url, tmp_path)
    chat_id, phone = await closed_by_agent(wa, "Budi")
    [survey] = await CsatSurvey.filter(chat_id=chat_id)
    status, _ = await mock.customer_says("Budi", "Where is my order?", phone=phone)
    assert status == 200
    await wa.idle()
    assert await mode_of(chat_id) == Mode.BOT
    assert bot_answers(mock)[-1] == "(answer to: Where is my order?)"
    assert (await CsatSurvey.get(id=survey.id)).status == "sent"

    # The list is still there: a choice made now counts, and the bot does not answer it.
    answers = len(bot_answers(mock))
    status, _ = await mock.customer_chooses("Budi", f"csat:{survey.id}:5", phone=phone)
    assert status == 200
    await wa.idle()
    assert (await CsatSurvey.get(id=survey.id)).rating == 5
    assert len(bot_answers(mock)) == answers
    assert await mode_of(chat_id) == Mode.BOT


async def test_late_ratings_late_comments_and_other_chats_surveys_are_ignored(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    wa = await world(mock, aiohttp_client, db_url, tmp_path, comment_minutes=5)
    chat_id, phone = await closed_by_agent(wa, "Sari")
    other_id, _ = await closed_by_agent(wa, "Tono")
    [survey] = await CsatSurvey.filter(chat_id=chat_id)
    [other] = await CsatSurvey.filter(chat_id=other_id)

    # Sari sends the id of Tono's survey (a forged payload): stored, ignored, not reopened.
    forged = choice_payload("Sari", f"csat:{other.id}:1", "1 - Very poor", phone=phone)
    status, _ = await wa.deliver(forged)
    assert status == 200
    await wa.idle()
    assert (await CsatSurvey.get(id=other.id)).status == "sent"
    assert (await CsatSurvey.get(id=survey.id)).status == "sent"
    assert await mode_of(chat_id) == Mode.CLOSED

    # Eight days later the list is pressed: ignored.
    now = timezone.now()
    await CsatSurvey.filter(id=survey.id).update(sent_at=now - timedelta(days=8))
    status, _ = await mock.customer_chooses("Sari", f"csat:{survey.id}:5", phone=phone)
    assert status == 200
    await wa.idle()
    assert (await CsatSurvey.get(id=survey.id)).status == "sent"
    assert await mode_of(chat_id) == Mode.CLOSED

    # Tono rates; a message six minutes later is no comment but the usual flow.
    status, _ = await mock.customer_chooses("Tono", f"csat:{other.id}:3")
    assert status == 200
    await wa.idle()
    rated_at = (await CsatSurvey.get(id=other.id)).rated_at
    assert rated_at is not None
    await CsatSurvey.filter(id=other.id).update(rated_at=rated_at - timedelta(minutes=6))
    status, _ = await mock.customer_says("Tono", "Hello again")
    assert status == 200
    await wa.idle()
    other = await CsatSurvey.get(id=other.id)
    assert (other.status, other.rating, other.comment) == ("rated", 3, None)
    assert await mode_of(other_id) == Mode.BOT
    assert bot_answers(mock)[-1] == "(answer to: Hello again)"


async def test_who_is_asked_settings_and_the_24_hour_window(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    wa = await world(mock, aiohttp_client, db_url, tmp_path)
    # The bot's alone: closed without a person, not asked (csat.after = "human").
    phone = phone_for("Dewi")
    chat_id, _ = await wa.customer_chat("Dewi", phone)
    status, _ = await wa.admin.post(f"/chats/{chat_id}/close")
    assert status == 200
    await wa.idle()
    assert not await CsatSurvey.exists(chat_id=chat_id)
    assert surveys_sent(mock) == []

    # The customer's last message 25 hours ago: the survey cannot be sent, and says so.
    chat_id, _ = await wa.customer_chat("Eko", phone_for("Eko"))
    await wa.reply(chat_id, "Sorry for the wait.")
    old = timezone.now() - timedelta(hours=25)
    await Chat.filter(id=chat_id).update(last_customer_message_at=old)
    status, _ = await wa.admin.post(f"/chats/{chat_id}/close")
    assert status == 200
    await wa.idle()
    [survey] = await CsatSurvey.filter(chat_id=chat_id)
    assert (survey.status, survey.message_id) == ("not_sent", None)
    assert surveys_sent(mock) == []


@pytest.mark.parametrize(
    ("settings", "asked"), [({"after": "all"}, True), ({"enabled": False}, False)]
)
async def test_the_settings_say_which_closed_chats_are_asked(
    mock: MockWhatsApp,
    aiohttp_client: ClientFactory,
    db_url: str,
    tmp_path: Path,
    settings: dict[str, Any],
    asked: bool,
) -> None:
    wa = await world(mock, aiohttp_client, db_url, tmp_path, **settings)
    bot_alone, _ = await wa.customer_chat("Fajar", phone_for("Fajar"))
    status, _ = await wa.admin.post(f"/chats/{bot_alone}/close")
    assert status == 200
    human, _ = await closed_by_agent(wa, "Gita")
    assert await CsatSurvey.exists(chat_id=bot_alone) == asked
    assert await CsatSurvey.exists(chat_id=human) == asked
    assert len(surveys_sent(mock)) == (2 if asked else 0)


INDONESIAN = {
    "question": "Bagaimana layanan kami? Beri nilai 1 (sangat buruk) sampai 5 (sangat baik).",
    "titles": ["1 - Sangat buruk", "2 - Buruk", "3 - Cukup", "4 - Baik", "5 - Sangat baik"],
    "button": "Beri nilai",
    "thanks": "Terima kasih atas nilai {rating}! Ada masukan? Tulis saja di pesan berikutnya.",
}


async def test_the_survey_speaks_the_words_of_the_settings(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    wa = await start_whatsapp(mock, aiohttp_client, db_url, tmp_path, bot=BOT, csat=INDONESIAN)
    chat_id, phone = await closed_by_agent(wa, "Wulan")
    [survey] = await CsatSurvey.filter(chat_id=chat_id)
    [sent] = surveys_sent(mock)
    interactive = sent["request"]["interactive"]
    assert interactive["body"]["text"] == INDONESIAN["question"]
    assert interactive["action"]["button"] == "Beri nilai"
    [section] = interactive["action"]["sections"]
    assert [row["title"] for row in section["rows"]] == INDONESIAN["titles"][::-1]

    status, wamid = await mock.customer_chooses("Wulan", f"csat:{survey.id}:5", phone=phone)
    assert status == 200
    await wa.idle()
    assert (await Message.get(chat_id=chat_id, external_id=wamid)).text == "5 - Sangat baik"
    thanks = "Terima kasih atas nilai 5 - Sangat baik! Ada masukan? Tulis saja di pesan berikutnya."
    assert texts_sent(mock)[-1] == thanks
    assert (await CsatSurvey.get(id=survey.id)).rating == 5


@pytest.mark.parametrize(
    ("csat_section", "wrong"),
    [
        ({"titles": ["1", "2", "3", "4"]}, "five titles"),
        ({"titles": ["1", "2", "3", "4", "5 - far too long for a list row"]}, "24 characters"),
        ({"button": "a button far too long"}, "button"),
    ],
)
def test_survey_words_that_whatsapp_cannot_show_are_refused(
    tmp_path: Path, csat_section: dict[str, Any], wrong: str
) -> None:
    with pytest.raises(SettingsError, match=wrong):
        make_settings(f"sqlite://{tmp_path / 'm.db'}", tmp_path / "data", csat=csat_section)
