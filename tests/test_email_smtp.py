"""The SMTP server's own rules: AUTH and STARTTLS by config, 451 when storing fails, clean stops."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from connectors.base import InboundMessage
from connectors.email import EmailConfig, EmailConnector
from connectors.mock.smtp import compose_customer_mail
from handoff.domain.media import sniff
from msgcenter import demo
from msgcenter.service import SERVICE, build_app
from msgcenter.settings import SettingsError
from storage.blobs import DiskBlobs
from tests.fakes import QUIET_BOT
from tests.support import Api, ClientFactory, make_settings
from tests.test_email import ADDRESS, CUSTOMER, chat_of, email_section

# A self-signed certificate for localhost and 127.0.0.1 (valid until 2126), for tests only.
CERTS = Path(__file__).parent / "certs"
CERT, KEY = CERTS / "localhost.crt", CERTS / "localhost.key"
PASSWORD = "correct horse battery staple"


def client_tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(CERT))


async def test_with_auth_required_only_authenticated_senders_over_tls_get_in(
    aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    auth = {
        "auth_required": True,
        "auth_users": {"forwarder": PASSWORD},
        "tls_cert": str(CERT),
        "tls_key": str(KEY),
    }
    # A silent bot, as in the other channel tests: its answer would go to a relay that is
    # not there (port 9) and be retried while the PostgreSQL test database is dropped.
    settings = make_settings(
        db_url, tmp_path / "data", bot=QUIET_BOT, channels={"email": email_section(9, **auth)}
    )
    client = await aiohttp_client(build_app(settings))
    service = client.app[SERVICE]
    await demo.seed_users(service.core.staff)
    admin = await Api(client).login("admin", "admin123")
    connector = service.core.connectors["Email"]
    assert isinstance(connector, EmailConnector)
    mail = compose_customer_mail("John Customer", CUSTOMER, "let me in", to=ADDRESS)
    smtp = {"hostname": "127.0.0.1", "port": connector.port, "timeout": 5}

    with pytest.raises(aiosmtplib.SMTPSenderRefused) as plain:
        await aiosmtplib.send(mail, start_tls=False, **smtp)
    assert plain.value.code == 530

    async with aiosmtplib.SMTP(start_tls=False, **smtp) as session:
        assert not session.supports_extension("auth")  # passwords only over TLS
        await session.starttls(tls_context=client_tls())
        await session.ehlo()
        assert session.supports_extension("auth")
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as anonymous:
            await session.sendmail(CUSTOMER, [ADDRESS], mail.as_bytes())
        assert anonymous.value.code == 530
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as wrong:
            await session.login("forwarder", "guess")
        assert wrong.value.code == 535
    assert await chat_of(admin, CUSTOMER) is None

    await aiosmtplib.send(
        mail,
        start_tls=True,
        tls_context=client_tls(),
        username="forwarder",
        password=PASSWORD,
        **smtp,
    )
    chat = await chat_of(admin, CUSTOMER)
    assert chat is not None
    assert chat["unread"] == 1


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"auth_required": True}, "auth_required needs auth_users"),
        ({"auth_required": True, "auth_users": {"a": "b"}}, "needs tls_cert"),
        ({"tls_cert": "x.crt"}, "tls_cert and tls_key go together"),
        ({"relay_username": "me"}, "relay_username and relay_password go together"),
        ({"address": "not an address"}, "channels.email.address"),
    ],
)
def test_inconsistent_email_settings_stop_the_service_with_the_key_named(
    tmp_path: Path, section: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        make_settings("sqlite://x.db", tmp_path, channels={"email": section})


class BrokenSink:
    """A sink whose database is down: every receive raises."""

    def __init__(self) -> None:
        self.calls = 0

    async def receive(self, messages: Sequence[InboundMessage]) -> Sequence[Any]:
        self.calls += 1
        raise ConnectionError("database is down")

    async def status(self, updates: Sequence[Any]) -> None:
        raise AssertionError("not used")

    async def edit(self, edit: Any) -> None:
        raise AssertionError("not used")


async def test_a_failing_store_answers_451_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    sink = BrokenSink()
    config = EmailConfig(
        address=ADDRESS,
        domains=("support.example.com",),
        port=0,
        hostname="mx.test",
    )
    blobs = DiskBlobs(tmp_path / "blobs")
    connector = EmailConnector(config, sink, blobs, sniff=sniff)
    await connector.start()
    try:
        mail = compose_customer_mail("John Customer", CUSTOMER, "see attached", to=ADDRESS)
        mail.add_attachment(b"data", maintype="application", subtype="pdf", filename="a.pdf")
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await aiosmtplib.send(mail, hostname="127.0.0.1", port=connector.port, start_tls=False)
        assert refused.value.code == 451  # the sending MTA keeps the mail and tries again
        assert sink.calls == 1
        assert list(blobs.spool_dir.iterdir()) == []  # no spool left
        # The file itself may stay (by content: the retry finds it there), once.
        kept = [path for path in blobs.root.rglob("*") if path.is_file()]
        assert [path.name for path in kept] == [hashlib.sha256(b"data").hexdigest()]
        with pytest.raises(aiosmtplib.SMTPDataError):
            await aiosmtplib.send(mail, hostname="127.0.0.1", port=connector.port, start_tls=False)
        assert [path for path in blobs.root.rglob("*") if path.is_file()] == kept
        assert await connector.health() == "ok"
    finally:
        await connector.stop()
    with pytest.raises(RuntimeError):
        await connector.health()


async def test_stopping_closes_sessions_that_are_still_open(tmp_path: Path) -> None:
    config = EmailConfig(
        address=ADDRESS,
        domains=("support.example.com",),
        port=0,
    )
    connector = EmailConnector(config, BrokenSink(), DiskBlobs(tmp_path / "blobs"), sniff=sniff)
    await connector.start()
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=connector.port, start_tls=False)
    await client.connect()
    await client.ehlo()
    await connector.stop()
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await client.noop()
    client.close()
