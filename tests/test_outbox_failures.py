"""A message the connector cannot send ends failed with its reason, after bounded attempts:
the outbox never spins on it (issue 16, item 4)."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from tortoise import timezone

from connectors.base import OutboundMessage
from connectors.email import EmailConnector
from connectors.email_address import usable_address
from connectors.mock.smtp import MockSmtp
from handoff.usecases.delivery import Outbox, RetryPolicy
from msgcenter.settings import Settings
from storage.models import Channel, Chat, Message, Mode
from tests.fakes import QUIET_BOT
from tests.support import Api, make_settings

ADDRESS = "support@support.example.com"
NBSP = "a@b\u00a0.com"  # a non-breaking space: aiosmtplib refuses it (ValueError)


@pytest.fixture
def settings(db_url: str, tmp_path: Path, relay: MockSmtp) -> Settings:
    email = {
        "enabled": True, "port": 0, "hostname": "mx.test", "domains": ["support.example.com"],
        "address": ADDRESS, "relay_host": "127.0.0.1", "relay_port": relay.smtp_port,
        "relay_timeout_seconds": 5,
    }  # fmt: skip
    return make_settings(db_url, tmp_path / "data", bot=QUIET_BOT, channels={"email": email})


def quick(outbox: Outbox, attempts: int = 4) -> None:
    outbox.retry = RetryPolicy(max_attempts=attempts, base_seconds=0.05, max_seconds=0.1)


async def reply(admin: Api, chat_id: int, text: str) -> int:
    status, body = await admin.post(
        "/chats/messages", {"chat_id": chat_id, "text": text, "sender": "agent"}
    )
    assert status == 201, body
    return int(body["id"])


async def settled(message_id: int, within: float = 5.0) -> Message:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (row := await Message.get(id=message_id)).status == "queued":
        assert loop.time() < deadline, f"message {message_id} still queued: {row.error!r}"
        await asyncio.sleep(0.02)
    return row


async def test_an_address_the_relay_library_refuses_fails_at_once_without_spinning(
    admin: Api, relay: MockSmtp
) -> None:
    # Written before addresses were checked where they enter (an old row, an import).
    chat = await Chat.create(
        channel=Channel.EMAIL, external_id=NBSP, customer_name="Nb Sp", customer_email=NBSP,
        mode=Mode.AGENT, assigned_agent_id=1, activity_at=timezone.now(),
    )  # fmt: skip
    quick(admin.service.core.outbox)
    message_id = await reply(admin, chat.id, "Hello")
    row = await settled(message_id)
    assert (row.status, row.attempts) == ("failed", 1)  # clearly permanent: no retries
    assert row.error is not None and "not a usable email address" in row.error
    await asyncio.sleep(0.5)  # and nothing more happens to it
    row = await Message.get(id=message_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert relay.sent == [] and relay.refused == 0  # nothing reached the relay
    # The chat's next reply is not held up behind it.
    good = await Chat.create(
        channel=Channel.EMAIL, external_id="ok@customer.example", customer_name="Ok",
        customer_email="ok@customer.example", mode=Mode.AGENT, assigned_agent_id=1,
        activity_at=timezone.now(),
    )  # fmt: skip
    assert (await settled(await reply(admin, good.id, "Fine"))).status == "sent"
    assert [mail.rcpt_tos for mail in relay.sent] == [("ok@customer.example",)]


class Exploding:
    """A connector with a bug: every send raises an exception it does not know."""

    channel = "Telegram"

    def __init__(self) -> None:
        self.calls = 0

    async def start(self, *, inbound: bool = True) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> str:
        self.calls += 1
        raise RuntimeError("a bug")


async def test_an_unknown_exception_is_an_attempt_with_backoff_then_failed(admin: Api) -> None:
    # Telegram is not running in this service, so only this outbox sends its messages.
    chat = await Chat.create(
        channel=Channel.TELEGRAM, external_id="4242", customer_name="Tg",
        mode=Mode.AGENT, assigned_agent_id=1, activity_at=timezone.now(),
    )  # fmt: skip
    core = admin.service.core
    exploding = Exploding()
    outbox = Outbox(core.outbox.writer, core.outbox.presenter, {"Telegram": exploding})
    quick(outbox, attempts=3)
    message_id = await reply(admin, chat.id, "Hi")
    outbox.start()
    try:
        row = await settled(message_id)
        await asyncio.sleep(0.4)
    finally:
        await outbox.stop()
    assert (row.status, row.error, row.attempts) == ("failed", "internal error: RuntimeError", 3)
    assert exploding.calls == 3  # three attempts, not hundreds a second


async def test_every_entry_point_refuses_an_address_the_sender_would_refuse(
    admin: Api, agent: Api, relay: MockSmtp
) -> None:
    assert not usable_address(NBSP)
    for who in (admin, agent):
        body: dict[str, Any] = {"customer_name": "X", "channel": "Email", "customer_email": NBSP}
        status, answer = await who.post("/chats/", body)
        assert status == 422, answer
        assert answer["error"]["details"]["fields"][0]["field"] == "customer_email"
    assert not await Chat.filter(customer_email=NBSP).exists()

    # Inbound mail whose From no reply could reach is refused (550), nothing stored.
    connector = admin.service.core.connectors["Email"]
    assert isinstance(connector, EmailConnector)
    mail = EmailMessage()
    mail["From"] = "Nb Sp <nobody@localhost>"  # the parser takes it; no relay can reach it
    mail["To"] = ADDRESS
    mail["Subject"] = "hi"
    mail.set_content("hello")
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await aiosmtplib.send(
            mail, hostname="127.0.0.1", port=connector.port, sender="bounce@example.org",
            recipients=[ADDRESS], start_tls=False,
        )  # fmt: skip
    assert refused.value.code == 550
    assert not await Chat.filter(channel=Channel.EMAIL, customer_name="Nb Sp").exists()
    # A From with a non-breaking space never becomes the chat's address either.
    mail.replace_header("From", f"Nb Sp <{NBSP}>")
    await aiosmtplib.send(
        mail, hostname="127.0.0.1", port=connector.port, sender="nb.sp@example.org",
        recipients=[ADDRESS], start_tls=False,
    )  # fmt: skip
    emails = await Chat.filter(channel=Channel.EMAIL).values_list("customer_email", flat=True)
    assert NBSP not in emails and all(usable_address(str(e)) for e in emails if e)
