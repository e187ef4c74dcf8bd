"""Satisfaction surveys by email: the survey mail's five signed links and the public page.

A customer mails msgcenter's SMTP server, an agent answers and closes the chat; the survey
leaves through the mock relay with five links. Opening a link (GET, as a mail scanner would)
changes nothing; posting the page records the rating (once), then a comment. A forged token
is a 404 page and changes nothing.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise import timezone

from connectors.email import EmailConnector
from connectors.mock.smtp import MockSmtp, SentMail
from dashboard_api.csat import POLICY
from handoff.domain import csat
from handoff.usecases.delivery import RetryPolicy
from msgcenter.settings import Settings
from storage.models import Chat, CsatSurvey, Message, Mode, Sender
from tests.support import Api, eventually, make_settings

ADDRESS = "support@support.example.com"
CUSTOMER = "john@customer.example"
BOT = {"engine": "tests.fakes:PeakBot", "options": {"delay": 0}}
LINK = re.compile(r"(\d - [A-Za-z ]+): http://127\.0\.0\.1:8000(/csat/[A-Za-z0-9._-]+)")


@pytest.fixture
def settings(db_url: str, tmp_path: Path, relay: MockSmtp) -> Settings:
    email = {
        "enabled": True, "port": 0, "hostname": "mx.test", "domains": ["support.example.com"],
        "address": ADDRESS, "display_name": "Acme Support", "relay_host": "127.0.0.1",
        "relay_port": relay.smtp_port, "relay_timeout_seconds": 5,
    }  # fmt: skip
    return make_settings(db_url, tmp_path / "data", bot=BOT, channels={"email": email})


async def page(api: Api, method: str, path: str, **kwargs: Any) -> tuple[int, str]:
    """The public page, without a token (``api.client`` carries none)."""
    async with api.client.request(method, path, **kwargs) as response:
        assert response.content_type == "text/html"
        assert response.headers["Content-Security-Policy"] == POLICY
        assert response.headers["Cache-Control"] == "no-store"
        return response.status, await response.text()


async def survey_mail(admin: Api, relay: MockSmtp) -> tuple[int, SentMail]:
    """John mails, the bot answers, the admin answers and closes: the chat and the survey."""
    connector = admin.service.core.connectors["Email"]
    assert isinstance(connector, EmailConnector)
    relay.msgcenter_smtp_port = connector.port
    admin.service.core.outbox.retry = RetryPolicy(base_seconds=0.01, max_seconds=0.03)
    await relay.customer("John", CUSTOMER, "My invoice is wrong", subject="Invoice")

    async def chat() -> Chat | None:
        return await Chat.get_or_none(channel="Email", external_id=CUSTOMER)

    chat_id = (await eventually(chat)).id
    status, body = await admin.post(
        "/chats/messages", {"chat_id": chat_id, "text": "Fixed it.", "sender": "agent"}
    )
    assert status == 201, body
    status, body = await admin.post(f"/chats/{chat_id}/close")
    assert status == 200, body

    async def surveyed() -> list[SentMail]:
        return [mail for mail in relay.sent if csat.EMAIL_QUESTION in mail.text]

    [mail] = await eventually(surveyed)
    return chat_id, mail


async def test_the_links_the_page_the_rating_once_and_the_comment(
    admin: Api, relay: MockSmtp
) -> None:
    chat_id, mail = await survey_mail(admin, relay)
    [survey] = await CsatSurvey.filter(chat_id=chat_id)
    assert survey.status == "sent" and survey.message_id is not None
    links = LINK.findall(mail.text)
    assert [title for title, _ in links] == [csat.TITLES[n] for n in (5, 4, 3, 2, 1)]
    paths = {int(title[0]): path for title, path in links}
    for path in paths.values():  # clickable in the HTML part too
        assert f'href="http://127.0.0.1:8000{path}"' in mail.html

    # Opening a link (a mail scanner does) shows the rating and a button, and records nothing.
    status, text = await page(admin, "GET", paths[4])
    assert status == 200
    assert "4 - Good" in text and f'action="{paths[4]}"' in text
    assert (await CsatSurvey.get(id=survey.id)).status == "sent"

    # A forged token (the rating changed, the signature kept) is refused and changes nothing.
    _, _, mac = paths[1].rpartition(".")
    forged = f"/csat/{survey.id}.5.{mac}"
    for method in ("GET", "POST"):
        status, text = await page(admin, method, forged)
        assert status == 404 and "not valid" in text
    status, _ = await page(admin, "POST", forged + "/comment", data={"comment": "hi"})
    assert status == 404
    assert (await CsatSurvey.get(id=survey.id)).status == "sent"
    messages_before = await Message.filter(chat_id=chat_id).count()

    # Posted: the rating is stored as John's message; the chat stays closed.
    status, text = await page(admin, "POST", paths[4])
    assert status == 200
    assert "Thank you" in text and 'name="comment"' in text
    survey = await CsatSurvey.get(id=survey.id)
    assert (survey.status, survey.rating) == ("rated", 4)
    stored = await Message.get(chat_id=chat_id, external_id=f"csat-page:{survey.id}:rating")
    assert (stored.sender, stored.text) == (Sender.CUSTOMER, "4 - Good")
    assert await Message.filter(chat_id=chat_id).count() == messages_before + 1
    assert (await Chat.get(id=chat_id)).mode == Mode.CLOSED

    # One-time: another link of the survey says what was given and changes nothing.
    status, text = await page(admin, "POST", paths[1])
    assert status == 200 and "4 - Good" in text
    assert (await CsatSurvey.get(id=survey.id)).rating == 4

    status, text = await page(admin, "POST", paths[4] + "/comment", data={"comment": "  "})
    assert status == 422
    comment = "<b>Fast</b> & friendly"
    status, text = await page(admin, "POST", paths[4] + "/comment", data={"comment": comment})
    assert status == 200 and "We have your comment" in text
    assert "<b>" not in text
    survey = await CsatSurvey.get(id=survey.id)
    assert (survey.status, survey.comment) == ("commented", comment)
    assert (await Chat.get(id=chat_id)).mode == Mode.CLOSED
    status, text = await page(admin, "GET", paths[4])
    assert status == 200 and 'name="comment"' not in text  # the comment is in

    await admin.service.core.drain()  # the bot heard of neither
    assert not await Message.exists(chat_id=chat_id, sender=Sender.BOT, id__gt=stored.id)


async def test_a_link_after_seven_days_shows_the_survey_closed(admin: Api, relay: MockSmtp) -> None:
    chat_id, mail = await survey_mail(admin, relay)
    [survey] = await CsatSurvey.filter(chat_id=chat_id)
    path = dict(LINK.findall(mail.text))[csat.TITLES[5]]
    await CsatSurvey.filter(id=survey.id).update(sent_at=timezone.now() - timedelta(days=8))
    for method in ("GET", "POST"):
        status, text = await page(admin, method, path)
        assert status == 410 and "closed" in text
    assert (await CsatSurvey.get(id=survey.id)).status == "sent"
    assert not await Message.exists(chat_id=chat_id, external_id__startswith="csat-page:")
