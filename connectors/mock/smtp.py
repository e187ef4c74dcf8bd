"""A local stand-in for the mail world: the relay msgcenter sends through, and customers who write.

:class:`MockSmtp` runs in the caller's event loop:

- an SMTP sink (aiosmtpd) that takes every message and records it (envelope,
  parsed headers, text body); told to, it refuses the next N with 451 or 550;
- a control API over HTTP:

  ``GET  /_mock/sent``      every message msgcenter sent, oldest first (text, HTML, and
                            its files: name, type, size, sha256)
  ``POST /_mock/fail``      ``{"code": 451|550, "count": N}``: refuse the next N
  ``POST /_mock/reset``     forget sent messages and pending failures
  ``POST /_mock/customer``  ``{"name", "email", "text", "subject"?, "in_reply_to"?,
                            "files"?: [{"filename", "content_type", "base64", "inline"?}]}``:
                            compose a customer's mail and send it to msgcenter's SMTP server
                            (``inline`` images are shown in its HTML, by ``cid:``)

:func:`compose_customer_mail` builds that mail (multipart/alternative, text and
HTML, as mail clients send it); benchmarks reuse it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from functools import partial
from typing import Any

import aiosmtplib
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from connectors.email import close_smtp_server

log = logging.getLogger(__name__)

FAILURES = {
    451: "451 4.3.0 mock relay: temporarily unavailable, try again later",
    550: "550 5.1.1 mock relay: mailbox unavailable",
}


@dataclass(frozen=True, slots=True)
class SentFile:
    """A file attached to a sent message, as a mail client reads it."""

    filename: str
    content_type: str
    disposition: str  # "attachment" or "inline"
    data: bytes

    def as_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "disposition": self.disposition,
            "size": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }


@dataclass(frozen=True, slots=True)
class SentMail:
    """One message the sink took: the envelope, the headers that matter, the text and HTML
    bodies, the files; ``raw``: the message as received."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]  # every header, in order, as received
    subject: str
    from_: str
    to: str
    message_id: str
    in_reply_to: str
    references: str
    text: str
    html: str = ""
    content_type: str = "text/plain"
    files: tuple[SentFile, ...] = ()
    raw: bytes = b""

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def as_dict(self) -> dict[str, Any]:
        return {
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "headers": [list(pair) for pair in self.headers],
            "subject": self.subject,
            "from": self.from_,
            "to": self.to,
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": self.references,
            "text": self.text,
            "html": self.html,
            "content_type": self.content_type,
            "files": [file.as_dict() for file in self.files],
        }


@dataclass(frozen=True, slots=True)
class CustomerFile:
    """A file a simulated customer sends; ``inline``: an image shown in the mail's text."""

    filename: str
    content_type: str
    data: bytes
    inline: bool = False


MAX_CUSTOMER_FILES = 10


def compose_customer_mail(
    name: str,
    email: str,
    text: str,
    *,
    to: str = "support@support.example.com",
    subject: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    files: Sequence[CustomerFile] = (),
) -> EmailMessage:
    """A customer's mail as a mail client writes it: text and HTML alternatives, and
    ``files``: attached, or (``inline`` images) shown in the HTML below the text."""
    mail = EmailMessage()
    mail["From"] = Address(display_name=name, addr_spec=email)
    mail["To"] = to
    mail["Subject"] = subject or "Hello"
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = make_msgid(domain=email.rpartition("@")[2] or "customer.example")
    refs = list(dict.fromkeys([*references, *([in_reply_to] if in_reply_to else [])]))
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    if refs:
        mail["References"] = " ".join(refs)
    mail.set_content(text)
    paragraphs = "".join(
        f"<p>{html.escape(block).replace(chr(10), '<br>')}</p>"
        for block in text.split("\n\n")
        if block.strip()
    )
    shown = [(file, make_msgid(domain="customer.example")) for file in files if file.inline]
    images = "".join(f'<p><img src="cid:{cid[1:-1]}" alt=""></p>' for _, cid in shown)
    mail.add_alternative(f"<html><body>{paragraphs}{images}</body></html>", subtype="html")
    if shown:
        page = mail.get_body(preferencelist=("html",))
        assert isinstance(page, EmailMessage)
        for file, cid in shown:
            maintype, _, subtype = file.content_type.partition("/")
            page.add_related(file.data, maintype, subtype, cid=cid, filename=file.filename)
    for file in files:
        if not file.inline:
            maintype, _, subtype = file.content_type.partition("/")
            mail.add_attachment(file.data, maintype, subtype, filename=file.filename)
    return mail


class _Sink:
    """The aiosmtpd handler of the mock relay."""

    def __init__(self, mock: MockSmtp) -> None:
        self.mock = mock

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        mock = self.mock
        if mock.failures_left > 0:
            mock.failures_left -= 1
            mock.refused += 1
            return FAILURES[mock.failure_code]
        mock.sent.append(_record(envelope))
        return "250 2.0.0 OK: recorded"


def _record(envelope: Envelope) -> SentMail:
    raw = envelope.original_content or b""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    page = message.get_body(preferencelist=("html",))
    html_text = page.get_content() if isinstance(page, EmailMessage) else ""
    files = tuple(
        SentFile(
            filename=part.get_filename() or "",
            content_type=part.get_content_type(),
            disposition=part.get_content_disposition() or "attachment",
            data=_payload(part),
        )
        for part in message.iter_attachments()
        if isinstance(part, EmailMessage)
    )
    return SentMail(
        mail_from=envelope.mail_from or "",
        rcpt_tos=tuple(envelope.rcpt_tos),
        headers=tuple((key, str(value)) for key, value in message.items()),
        subject=str(message.get("Subject", "")),
        from_=str(message.get("From", "")),
        to=str(message.get("To", "")),
        message_id=str(message.get("Message-ID", "")),
        in_reply_to=str(message.get("In-Reply-To", "")),
        references=str(message.get("References", "")),
        text=text.replace("\r\n", "\n"),
        html=html_text.replace("\r\n", "\n"),
        content_type=message.get_content_type(),
        files=files,
        raw=raw,
    )


def _payload(part: EmailMessage) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


class MockSmtp:
    """The relay sink and customer simulator; ``start`` binds, ``stop`` closes everything."""

    def __init__(
        self,
        msgcenter_smtp_host: str = "127.0.0.1",
        msgcenter_smtp_port: int = 2525,
        *,
        to_address: str = "support@support.example.com",
        hostname: str = "mock-smtp.local",
    ) -> None:
        self.msgcenter_smtp_host = msgcenter_smtp_host
        self.msgcenter_smtp_port = msgcenter_smtp_port
        self.to_address = to_address
        self.hostname = hostname
        self.sent: list[SentMail] = []
        self.refused = 0
        self.failures_left = 0
        self.failure_code = 451
        self.smtp_port = 0
        self.http_port = 0
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", smtp_port: int = 0, http_port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(partial(self._protocol, loop), host, smtp_port)
        self.smtp_port = self._server.sockets[0].getsockname()[1]
        if self._runner is None:
            self._runner = web.AppRunner(self._app(), access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, host, http_port)
            await site.start()
            self.http_port = self._runner.addresses[0][1]
        log.info("mock SMTP on %s:%d, control API on port %d", host, self.smtp_port, self.http_port)

    def _protocol(self, loop: asyncio.AbstractEventLoop) -> SMTP:
        server = SMTP(_Sink(self), hostname=self.hostname, enable_SMTPUTF8=True, loop=loop)
        self._sessions.add(server)
        return server

    async def stop_smtp(self) -> None:
        """Close the SMTP side only (the relay is "down"); ``start`` opens it again."""
        if self._server is None:
            return
        server, self._server = self._server, None
        await close_smtp_server(server, list(self._sessions))

    async def stop(self) -> None:
        await self.stop_smtp()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def fail(self, code: int, count: int = 1) -> None:
        """Refuse the next ``count`` messages with ``code`` (451: try later, 550: never)."""
        if code not in FAILURES:
            raise ValueError(f"code must be one of {sorted(FAILURES)}")
        self.failure_code, self.failures_left = code, max(count, 0)

    def reset(self) -> None:
        self.sent.clear()
        self.refused = self.failures_left = 0

    async def customer(
        self,
        name: str,
        email: str,
        text: str,
        subject: str | None = None,
        in_reply_to: str | None = None,
        files: Sequence[CustomerFile] = (),
    ) -> str:
        """Send a customer's mail to msgcenter; return its Message-ID (raises SMTPException)."""
        mail = compose_customer_mail(
            name, email, text, to=self.to_address, subject=subject, in_reply_to=in_reply_to,
            files=files,
        )  # fmt: skip
        await aiosmtplib.send(
            mail,
            hostname=self.msgcenter_smtp_host,
            port=self.msgcenter_smtp_port,
            start_tls=False,
            timeout=10,
        )
        return str(mail["Message-ID"])

    # -- the control API -------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/_mock/sent", self._get_sent),
                web.post("/_mock/fail", self._post_fail),
                web.post("/_mock/reset", self._post_reset),
                web.post("/_mock/customer", self._post_customer),
            ]
        )
        return app

    async def _get_sent(self, request: web.Request) -> web.Response:
        return web.json_response([mail.as_dict() for mail in self.sent])

    async def _post_fail(self, request: web.Request) -> web.Response:
        body = await _json(request)
        code, count = body.get("code"), body.get("count", 1)
        if code not in FAILURES or not isinstance(count, int):
            return _error(422, "code must be 451 or 550 and count an integer")
        self.fail(code, count)
        return web.json_response({"code": code, "count": count})

    async def _post_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"reset": True})

    async def _post_customer(self, request: web.Request) -> web.Response:
        body = await _json(request)
        name, email, text = body.get("name"), body.get("email"), body.get("text")
        subject, in_reply_to = body.get("subject"), body.get("in_reply_to")
        if not (isinstance(name, str) and isinstance(email, str) and isinstance(text, str)):
            return _error(422, "name, email and text are required strings")
        if not all(value is None or isinstance(value, str) for value in (subject, in_reply_to)):
            return _error(422, "subject and in_reply_to must be strings")
        files = _files(body.get("files", []))
        if isinstance(files, str):
            return _error(422, files)
        try:
            message_id = await self.customer(name, email, text, subject, in_reply_to, files)
        except ValueError as exc:  # not an address, or a header value with a line break
            return _error(422, str(exc))
        except (aiosmtplib.SMTPException, OSError) as exc:
            return _error(502, f"msgcenter's SMTP server did not take the mail: {exc}")
        return web.json_response({"message_id": message_id}, status=201)


def _files(items: object) -> list[CustomerFile] | str:
    """``[{"filename", "content_type", "base64", "inline"?}]`` as files, or what is wrong."""
    wrong = (
        f"files must be a list of at most {MAX_CUSTOMER_FILES} objects with filename, "
        "content_type (type/subtype) and base64 strings, and inline a boolean"
    )
    if not isinstance(items, list) or len(items) > MAX_CUSTOMER_FILES:
        return wrong
    files = []
    for item in items:
        if not isinstance(item, dict):
            return wrong
        name, mime, data = item.get("filename"), item.get("content_type"), item.get("base64")
        inline = item.get("inline", False)
        if not (isinstance(name, str) and isinstance(mime, str) and isinstance(data, str)):
            return wrong
        if not isinstance(inline, bool) or mime.count("/") != 1 or any(c.isspace() for c in mime):
            return wrong
        try:
            content = base64.b64decode(data, validate=True)
        except ValueError:
            return wrong
        files.append(CustomerFile(name, mime, content, inline))
    return files


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": status, "message": message}}, status=status)
