"""Hostile mail and hostile SMTP clients cost the service little (issue 16, items 1, 3, 7, 11).

Everything goes through the real SMTP server on 127.0.0.1 and a real SQLite file: mail
over a limit is refused at SMTP time with nothing stored and no file written; a parse over
its budget is refused while the API keeps answering; connections over the caps get 421.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from connectors.email import EmailConnector
from connectors.email_parse import MailLimits, MailRejected, ParsedMail
from connectors.mock.smtp import compose_customer_mail
from connectors.parsing import ParsePool, ParseTimeout
from msgcenter import demo
from msgcenter.service import SERVICE, build_app
from msgcenter.settings import Settings
from tests.fakes import QUIET_BOT
from tests.support import Api, ClientFactory, make_settings
from tests.test_email import ADDRESS, CUSTOMER, chat_of, deliver, email_rows, email_section

# -- the hostile inputs (bench/attack.py sends the same ones) -----------------------------


def raw_mail(content_type: str, body: bytes, headers: str = "") -> bytes:
    head = f"From: Mallory <{CUSTOMER}>\r\nTo: {ADDRESS}\r\nSubject: hi\r\n{headers}"
    return f"{head}Content-Type: {content_type}\r\n\r\n".encode() + body


def base64_mail(content_type: str, body: bytes) -> bytes:
    """A one-part mail whose body may have lines longer than SMTP allows."""
    encoded = base64.encodebytes(body).replace(b"\n", b"\r\n")
    return raw_mail(content_type, encoded, "Content-Transfer-Encoding: base64\r\n")


def regex_bomb(size: int = 350_000) -> bytes:
    """One line 'am schrieb schrieb ...' (quadratic in the old attribution pattern)."""
    line = ("am " + "schrieb " * (size // 8)).encode()
    return base64_mail("text/plain; charset=utf-8", line + b"\n> quoted\n")


def many_parts(count: int = 50_000) -> bytes:
    part = b"--B\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n"
    return raw_mail("multipart/mixed; boundary=B", part * count + b"--B--\r\n")


def deep_nest(levels: int = 950) -> bytes:
    body = b"".join(
        b"--B%d\r\nContent-Type: multipart/mixed; boundary=B%d\r\n\r\n" % (i, i + 1)
        for i in range(levels - 1)
    )
    body += b"--B%d\r\nContent-Type: text/plain\r\n\r\nhi\r\n" % (levels - 1)
    return raw_mail("multipart/mixed; boundary=B0", body)


def open_tags_html(count: int = 45_000) -> bytes:
    """'<a<a<a...' and '<!--<!--...': html.parser rescans the rest once per '<' at close()."""
    return base64_mail(
        "text/html; charset=utf-8", b"<p>hello</p>" + b"<a" * count + b"<!--" * count
    )


def heavy_html(units: int = 500_000) -> bytes:
    """Well-formed HTML, linear but long to read: 6 MB is seconds of html.parser."""
    return base64_mail("text/html", b"<div>x</div>" * units)


WORST = {
    "regex bomb": regex_bomb(),
    "50,000 parts": many_parts(),
    "950 levels deep": deep_nest(),
    "open tags html": open_tags_html(),
    "marked section html": base64_mail("text/html", b"<p>a <![ b</p><![foo[ c ]]>" * 1000),
}


# -- the parser, in its worker process ------------------------------------------------------


@pytest.mark.parametrize("case", list(WORST))
async def test_the_worst_inputs_are_read_or_refused_well_within_a_budget(case: str) -> None:
    # Each took the old code from 52 s (the bomb) to hours; now far under a second. The
    # budget is generous so a loaded machine does not fail the test; a regression does.
    pool = ParsePool(workers=1, budget=20.0)
    try:
        result: ParsedMail | MailRejected
        try:
            result = await pool.parse(WORST[case], CUSTOMER, MailLimits())
        except MailRejected as exc:
            result = exc
    finally:
        await pool.close()
    if case in ("50,000 parts", "950 levels deep"):
        assert isinstance(result, MailRejected)
        assert result.code == 552
        assert "too complex" in result.reason
    else:
        assert isinstance(result, ParsedMail)
        assert result.sender == CUSTOMER
    if case == "open tags html":
        assert isinstance(result, ParsedMail)
        assert result.text == "hello"  # the tag left open at the end is dropped, as browsers do
    if case == "marked section html":
        assert isinstance(result, ParsedMail)
        assert result.text.startswith("a <![ b")


async def test_a_parse_over_its_budget_is_stopped_and_the_pool_goes_on() -> None:
    pool = ParsePool(workers=1, budget=0.3)
    html = heavy_html()
    try:
        with pytest.raises(ParseTimeout):
            await pool.parse(html, CUSTOMER, MailLimits(max_body_chars=10_000_000))
        assert pool.killed == 1
        pool.budget = 20.0
        mail = await pool.parse(raw_mail("text/plain", b"still here"), CUSTOMER, MailLimits())
        assert mail.text == "still here"
    finally:
        await pool.close()


# -- through the SMTP server ----------------------------------------------------------------


async def start_service(
    aiohttp_client: ClientFactory, db_url: str, tmp_path: Path, **email: Any
) -> tuple[Api, EmailConnector, Settings]:
    section = email_section(9, **{"max_message_bytes": 16 * 1024 * 1024, **email})
    settings = make_settings(db_url, tmp_path / "data", bot=QUIET_BOT, channels={"email": section})
    client = await aiohttp_client(build_app(settings))
    service = client.app[SERVICE]
    await demo.seed_users(service.core.staff)
    admin = await Api(client).login("admin", "admin123")
    connector = service.core.connectors["Email"]
    assert isinstance(connector, EmailConnector)
    return admin, connector, settings


def files_under(settings: Settings) -> list[Path]:
    return [path for path in settings.storage.data_dir.rglob("*") if path.is_file()]


async def test_mail_over_the_limits_is_refused_with_552_and_nothing_is_written(
    aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    admin, mx, settings = await start_service(aiohttp_client, db_url, tmp_path)
    files_before = files_under(settings)
    attachments = compose_customer_mail("Mallory", CUSTOMER, "files", to=ADDRESS)
    for index in range(21):
        attachments.add_attachment(b"x", maintype="application", subtype="pdf",
                                   filename=f"f{index}.pdf")  # fmt: skip
    for name, mail in [
        ("parts", many_parts()),
        ("depth", deep_nest()),
        ("depth", deep_nest(12)),
        ("attachments", attachments),
    ]:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await deliver(mx.port, mail)
        assert refused.value.code == 552, name
        assert "too complex" in refused.value.message, name
    assert await email_rows() == 0
    assert await chat_of(admin, CUSTOMER) is None
    assert files_under(settings) == files_before


async def test_the_regex_bomb_and_bad_html_are_stored_as_readable_text(
    aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    admin, mx, _ = await start_service(aiohttp_client, db_url, tmp_path)
    await deliver(mx.port, regex_bomb())
    html = EmailMessage()
    html["From"] = f"Mallory <{CUSTOMER}>"
    html["Subject"] = "odd markup"
    html.set_content("<p>Price <![ 10 ]> only</p><p>AT&T</p>", subtype="html")
    await deliver(mx.port, html)
    chat = await chat_of(admin, CUSTOMER)
    assert chat is not None
    status, detail = await admin.get(f"/chats/{chat['id']}")
    assert status == 200
    bomb, markup = detail["messages"]
    assert bomb["text"].startswith("am schrieb schrieb")
    assert markup["text"] == "Price <![ 10 ]> only\n\nAT&T"


async def test_a_mail_over_the_parse_budget_is_refused_while_the_api_answers(
    aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    admin, mx, _ = await start_service(
        aiohttp_client, db_url, tmp_path, parse_timeout_seconds=0.5, max_body_chars=10_000_000
    )
    sending = asyncio.create_task(deliver(mx.port, heavy_html()))
    answered_meanwhile = 0
    while not sending.done():
        status, _ = await admin.get("/healthz")
        assert status == 200
        if not sending.done():
            answered_meanwhile += 1
        await asyncio.sleep(0.05)
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await sending
    assert refused.value.code == 554
    assert "too complex" in refused.value.message
    assert answered_meanwhile >= 1
    assert await email_rows() == 0
    # The next mail gets a fresh worker.
    await deliver(mx.port, compose_customer_mail("Ann", CUSTOMER, "hello", to=ADDRESS))
    assert await email_rows() == 1


# -- connections ----------------------------------------------------------------------------


async def smtp_connect(port: int, source: str = "127.0.0.1") -> tuple[Any, Any, bytes]:
    """A raw connection from ``source`` and the server's first line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    first = await asyncio.wait_for(reader.readline(), 10)
    return reader, writer, first


async def test_connections_over_the_caps_get_421_and_the_api_still_answers(
    aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    admin, mx, _ = await start_service(
        aiohttp_client, db_url, tmp_path, max_connections=4, max_connections_per_address=3
    )
    opened = [await smtp_connect(mx.port) for _ in range(3)]
    try:
        assert all(first.startswith(b"220 ") for _, _, first in opened)
        reader, writer, first = await smtp_connect(mx.port)  # the per-address cap + 1
        assert first.startswith(b"421 4.7.0 too many connections from your address")
        assert await asyncio.wait_for(reader.read(), 10) == b""  # and closed
        writer.close()
        status, health = await admin.get("/healthz")
        assert status == 200, health
        assert (await Api(admin.client).login("admin", "admin123")).token
        # Another address still gets in, up to the total.
        other = await smtp_connect(mx.port, "127.0.0.2")
        opened.append(other)
        assert other[2].startswith(b"220 ")
        _, late, first = await smtp_connect(mx.port, "127.0.0.3")
        assert first.startswith(b"421 4.7.0 too many connections to this server")
        late.close()
    finally:
        for _, writer, _ in opened:
            writer.close()
    # Closed connections free their places.
    await _until(lambda: mx.connections.open == 0)
    mail = compose_customer_mail("Ann", CUSTOMER, "after the crowd", to=ADDRESS)
    await deliver(mx.port, mail)
    assert await email_rows() == 1


async def test_idle_and_endless_sessions_are_closed(
    aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    _, mx, _ = await start_service(
        aiohttp_client, db_url, tmp_path, idle_timeout_seconds=0.5, session_max_seconds=1.5
    )
    reader, writer, first = await smtp_connect(mx.port)
    assert first.startswith(b"220 ")
    assert await asyncio.wait_for(reader.read(), 10) == b""  # silent: closed after 0.5 s
    writer.close()

    reader, writer, _ = await smtp_connect(mx.port)
    with contextlib.suppress(ConnectionError):  # busy, but never done: closed after 1.5 s
        for _ in range(100):
            writer.write(b"NOOP\r\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 10)
            if not line:
                break
            assert line.startswith(b"250")
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the session was never closed")
    writer.close()
    await _until(lambda: mx.connections.open == 0)


async def test_clients_that_leave_at_once_free_their_places_at_once(
    aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    _, mx, _ = await start_service(
        aiohttp_client, db_url, tmp_path, idle_timeout_seconds=60, max_connections_per_address=5
    )
    for _ in range(3):
        # Connect and leave before the server even accepts (blocking sockets: the event loop
        # does not run meanwhile), as a crowd waiting in the listen backlog does.
        for _ in range(10):
            socket.create_connection(("127.0.0.1", mx.port)).close()
        await _until(lambda: mx.connections.open == 0, seconds=10)  # not the idle 60 s
    _, writer, first = await smtp_connect(mx.port)
    assert first.startswith(b"220 ")
    writer.close()


async def _until(check: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")


def test_the_service_raises_its_open_files_limit_at_start() -> None:
    code = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))\n"
        "from msgcenter.cli import raise_file_limit\n"
        "raise_file_limit()\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 256 or hard <= 256)\n"
    )
    found = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "True"
