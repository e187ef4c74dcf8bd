"""Forged senders, end to end: mail over SMTP to the service, DKIM keys and SPF/DMARC records
from a DNS stand-in on 127.0.0.1, the bot's answers caught by the mock relay.

Issue 16, item 6: a mail whose From nobody vouches for is marked unverified, never joins the
real customer's chat, and the bot's answers to it repeat nothing the sender wrote (display
name, subject); automatic answers to one address are limited per hour.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator, Sequence
from email.policy import SMTP
from pathlib import Path
from typing import Any

import aiosmtplib
import dkim
import pytest

from connectors.base import InboundMessage
from connectors.email import EmailConfig, EmailConnector
from connectors.email_auth import AuthConfig
from connectors.mock.smtp import MockSmtp, compose_customer_mail
from handoff.domain.media import sniff
from handoff.usecases.delivery import RetryPolicy
from msgcenter.settings import Settings
from storage.blobs import DiskBlobs
from tests.dns_standin import DnsStandIn, dns_standin, rsa_key
from tests.support import Api, make_settings
from tests.test_email import ADDRESS, email_section, eventually, messages, sent_mail

CUSTOMER = "rina@shop.example"
PHISH = "Your order is on hold - confirm payment at evil.example/pay"


@pytest.fixture(scope="module")
def key() -> tuple[bytes, str]:
    return rsa_key()


@pytest.fixture
def zone(key: tuple[bytes, str]) -> Iterator[DnsStandIn]:
    # shop.example signs all its mail (DKIM), sends from no host SPF would name, and asks
    # receivers to reject what fails (DMARC).
    records = DnsStandIn(
        txt={
            "mail._domainkey.shop.example": [f"v=DKIM1; k=rsa; p={key[1]}"],
            "shop.example": ["v=spf1 -all"],
            "_dmarc.shop.example": ["v=DMARC1; p=reject"],
        }
    )
    with dns_standin(records) as served:
        yield served


@pytest.fixture
def settings(db_url: str, tmp_path: Path, relay: MockSmtp, zone: DnsStandIn) -> Settings:
    email = email_section(
        relay.smtp_port,
        sender_auth="verify",
        dns_servers=[f"127.0.0.1:{zone.port}"],
        dns_timeout_seconds=0.5,
        sender_auth_timeout_seconds=2,
        auto_replies_per_hour=3,
    )
    # The rules bot as shipped, except that it never hands off after fallbacks (every
    # message gets an answer: what the limit has to stop).
    return make_settings(
        db_url, tmp_path / "data", bot={"handoff_after_fallbacks": 0}, channels={"email": email}
    )


@pytest.fixture
def mx(admin: Api) -> EmailConnector:
    connector = admin.service.core.connectors["Email"]
    assert isinstance(connector, EmailConnector)
    admin.service.core.outbox.retry = RetryPolicy(
        max_attempts=50, base_seconds=0.01, max_seconds=0.03
    )
    return connector


def customer_mail(
    name: str, text: str, subject: str = "Order 1234", in_reply_to: str | None = None
) -> bytes:
    mail = compose_customer_mail(name, CUSTOMER, text, subject=subject, in_reply_to=in_reply_to)
    return mail.as_bytes(policy=SMTP)


def signed(content: bytes, private: bytes) -> bytes:
    signature: bytes = dkim.sign(
        content, b"mail", b"shop.example", private,
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )  # fmt: skip
    return signature + content


async def send(mx: EmailConnector, content: bytes) -> str:
    """Deliver over SMTP from 127.0.0.1 (which shop.example's SPF does not list); the
    server's answer to DATA (a refusal raises)."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=mx.port, start_tls=False) as smtp:
        errors, answer = await smtp.sendmail(CUSTOMER, [ADDRESS], content)
    assert not errors
    return answer


async def email_chats(admin: Api) -> list[dict[str, Any]]:
    status, chats = await admin.get("/chats/?channel=Email")
    assert status == 200
    return [chat for chat in chats if chat["email"] == CUSTOMER]


async def test_a_forged_sender_gets_a_chat_of_its_own_and_answers_that_repeat_nothing(
    admin: Api, mx: EmailConnector, relay: MockSmtp, key: tuple[bytes, str]
) -> None:
    # The real customer, signed by shop.example: verified.
    await send(mx, signed(customer_mail("Rina", "Where is my parcel?"), key[0]))
    [real] = await eventually(lambda: email_chats(admin))
    assert real["sender_unverified"] is False
    customer_messages = [m for m in await messages(admin, real["id"]) if m["sender"] == "customer"]
    assert customer_messages[0]["sender_unverified"] is False
    assert customer_messages[0]["sender_auth"]["result"] == "pass"
    assert customer_messages[0]["sender_auth"]["dkim_domain"] == "shop.example"
    [answer] = await sent_mail(relay, 1)
    assert "Rina" in answer.to and "Rina" in answer.text  # the verified customer's own name
    assert answer.subject == "Re: Order 1234"

    # A stranger writes with her address, a phishing line as the name and the subject, and
    # answers the thread of her conversation (In-Reply-To: our answer to her).
    forged = customer_mail(PHISH, "Please confirm", subject=PHISH, in_reply_to=answer.message_id)
    await send(mx, forged)

    async def two_chats() -> list[dict[str, Any]]:
        chats = await email_chats(admin)
        return chats if len(chats) == 2 else []

    chats = await eventually(two_chats)
    [stranger] = [chat for chat in chats if chat["id"] != real["id"]]
    assert stranger["sender_unverified"] is True
    # Her chat has nothing of the stranger's.
    assert "Please confirm" not in [m["text"] for m in await messages(admin, real["id"])]
    [theirs] = [m for m in await messages(admin, stranger["id"]) if m["sender"] == "customer"]
    assert theirs["text"] == "Please confirm"
    assert theirs["sender_unverified"] is True
    assert theirs["sender_auth"]["result"] == "fail"
    assert theirs["sender_auth"]["spf"] == "fail"

    # The bot answers the address (it is hers), but with nothing the stranger wrote.
    _, reply = await sent_mail(relay, 2)
    assert reply.rcpt_tos == (CUSTOMER,)
    assert reply.to == CUSTOMER  # no display name
    assert reply.subject == "Re: your message"
    for text in (reply.to, reply.subject, reply.text):
        assert "evil.example" not in text and "on hold" not in text


async def test_automatic_answers_to_one_address_are_limited(
    admin: Api, mx: EmailConnector, relay: MockSmtp
) -> None:
    for number in range(5):
        await send(mx, customer_mail(PHISH, f"Message {number}", subject=f"Try {number}"))
    [chat] = await eventually(lambda: email_chats(admin))

    async def all_stored() -> bool:
        found = [m for m in await messages(admin, chat["id"]) if m["sender"] == "customer"]
        return len(found) == 5

    await eventually(all_stored)
    await admin.service.core.drain()
    await sent_mail(relay, 3)
    assert admin.service.core.autopilot is not None
    autopilot = admin.service.core.autopilot
    await eventually(lambda: _true(autopilot.limited == 2))
    assert len(relay.sent) == 3  # auto_replies_per_hour
    bot_messages = [m for m in await messages(admin, chat["id"]) if m["sender"] == "bot"]
    assert len(bot_messages) == 3


async def _true(value: bool) -> bool:
    return value


async def test_a_dns_failure_is_unverified_and_answered_in_time(
    admin: Api, mx: EmailConnector, zone: DnsStandIn, key: tuple[bytes, str]
) -> None:
    zone.silent.update({"mail._domainkey.shop.example", "shop.example", "_dmarc.shop.example"})
    started = time.monotonic()
    answer = await send(mx, signed(customer_mail("Rina", "Hello?"), key[0]))
    assert "message stored" in answer
    assert time.monotonic() - started < 4  # sender_auth_timeout_seconds = 2
    [chat] = await eventually(lambda: email_chats(admin))
    assert chat["sender_unverified"] is True
    [message] = [m for m in await messages(admin, chat["id"]) if m["sender"] == "customer"]
    assert message["sender_auth"]["result"] == "temperror"


class RecordingSink:
    """A sink that keeps what the SMTP server hands it."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []

    async def receive(self, messages: Sequence[InboundMessage]) -> Sequence[Any]:
        self.messages.extend(messages)
        return []

    async def status(self, updates: Sequence[Any]) -> None:
        raise AssertionError("not used")

    async def edit(self, edit: Any) -> None:
        raise AssertionError("not used")


@pytest.mark.parametrize(
    ("networks", "header", "verified"),
    [
        # The upstream (on 127.0.0.1) checked the mail: its word counts.
        (("127.0.0.1/32",), "mx.upstream.test; dmarc=pass header.from=shop.example", True),
        (("127.0.0.1/32",), "mx.upstream.test; spf=fail smtp.mailfrom=shop.example", False),
        # A header of the right name from a client that is not the upstream: ignored.
        (("192.0.2.0/24",), "mx.upstream.test; dmarc=pass header.from=shop.example", False),
        (("127.0.0.1/32",), None, False),
    ],
)
async def test_trust_upstream_takes_the_upstreams_word_over_smtp(
    tmp_path: Path, networks: tuple[str, ...], header: str | None, verified: bool
) -> None:
    sink = RecordingSink()
    auth = AuthConfig(
        mode="trust_upstream",
        authserv_id="mx.upstream.test",
        upstream_networks=tuple(ipaddress.ip_network(n) for n in networks),
    )
    config = EmailConfig(
        address=ADDRESS, domains=("support.example.com",), port=0, hostname="mx.test",
        sender_auth=auth,
    )  # fmt: skip
    connector = EmailConnector(config, sink, DiskBlobs(tmp_path / "blobs"), sniff=sniff)
    await connector.start()
    try:
        content = customer_mail("Rina", "Hello")
        if header is not None:
            content = f"Authentication-Results: {header}\r\n".encode() + content
        await send(connector, content)
    finally:
        await connector.stop()
    [message] = sink.messages
    assert message.sender_verified is verified
    assert message.sender_auth is not None
    assert message.sender_auth["method"] == "upstream"
