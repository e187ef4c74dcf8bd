"""Email: an SMTP server in the service's own event loop for mail in, an SMTP relay for replies.

Inbound, aiosmtpd speaks SMTP on ``host:port`` (``loop.create_server``, so the
handler shares the service's database context). Recipients outside the
configured domains and addresses are refused at RCPT (550: no open relay),
mail above ``max_message_bytes`` at MAIL (SIZE) or after DATA (552). The
message is parsed (``connectors.email_parse``), its files are put into the blob
store (``storage.blobs``: by sha256, so a file is stored once however often it
comes; typed by content with the ``sniff`` msgcenter hands over), and the sink
stores it; the sender's MTA gets 250 only after that commit, 451 when storing
failed (it retries; the blobs of that attempt may stay, they are found again by
content, but no temporary file does), 550 when the mail is unusable (nothing
stored, nothing left on disk). Mail no person wrote
(bounces, delivery reports, ``Auto-Submitted`` auto-replies) gets 250 and is
not stored: answering it (the bot would) could start a mail loop.

Hostile mail and clients cost little: parsing runs in worker processes with a
time budget (``connectors.parsing``: over it 554, every worker busy 451), a
mail over the limits of ``MailLimits`` (parts, attachments, depth) gets 552
before any file is written, and connections are capped in all and per client
address, with idle and session timeouts (``connectors.smtp_limits``: 421).

Outbound, each reply is one mail through the relay: multipart/alternative, the
text as text/plain and a simple HTML made from it (UTF-8 both), the agent's
signature under "-- ", the files as attachments (multipart/mixed then); From
names the agent beside the channel's ``display_name``. It carries our own
Message-ID (returned, so it becomes the message's external id and the
customer's answer to it finds the chat), In-Reply-To and References.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import logging
import re
import secrets
import ssl
import unicodedata
import warnings
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import partial
from pathlib import Path
from typing import Any, Literal

import aiosmtplib
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from connectors.base import (
    UNVERIFIED_PREFIX,
    Attachment,
    DeliveryError,
    InboundMessage,
    OutboundFile,
    OutboundMessage,
    Sink,
)
from connectors.email_address import usable_address
from connectors.email_auth import AuthConfig, SenderVerifier
from connectors.email_parse import MailLimits, MailPart, MailRejected, ParsedMail, safe_filename
from connectors.parsing import ParseBusy, ParseCrashed, ParsePool, ParseTimeout
from connectors.smtp_limits import CappedSMTP, Connections
from storage.blobs import Blobs, Spool

log = logging.getLogger(__name__)

CHANNEL = "Email"
# What a file is by its first bytes and the sender's word: (head, declared type) -> type.
Sniff = Callable[[bytes, str | None], str]
MAX_RECIPIENTS = 100
_MSGID = re.compile(r"<[^<>\s]+>")
# Linear: one \s* run before the colon (two adjacent \s* around an optional part backtrack).
UNVERIFIED_SUBJECT = "Re: your message"
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|antw)\s*(?:\[\d+\]\s*)?:", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """The SMTP server replies go out through."""

    host: str = "127.0.0.1"
    port: int = 25
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: str | None = None
    validate_certs: bool = True
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class EmailConfig:
    address: str  # replies come from here; its domain names our Message-IDs
    domains: tuple[str, ...] = ()  # lowercased; mail to any address there is ours
    addresses: tuple[str, ...] = ()  # single addresses accepted besides the domains
    display_name: str = "Support"
    host: str = "127.0.0.1"
    port: int = 2525
    hostname: str = "localhost"
    max_message_bytes: int = 10 * 1024 * 1024
    auth_users: Mapping[str, str] = field(default_factory=dict)
    auth_required: bool = False
    auth_require_tls: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    require_starttls: bool = False
    relay: RelayConfig = RelayConfig()
    max_connections: int = 200
    max_connections_per_address: int = 20
    idle_timeout: float = 60.0  # silence between commands, and the whole of DATA
    session_max: float = 600.0
    limits: MailLimits = field(default_factory=MailLimits)
    parse_timeout: float = 10.0
    parse_workers: int = 2
    # Who sent the mail: DKIM/SPF/DMARC, a trusted upstream's word, or off (connectors.email_auth).
    sender_auth: AuthConfig = field(default_factory=AuthConfig)


class EmailConnector:
    """The Email channel: ``start`` opens the SMTP server, ``send`` mails a reply."""

    channel = CHANNEL

    def __init__(self, config: EmailConfig, sink: Sink, blobs: Blobs, *, sniff: Sniff) -> None:
        """``blobs`` keeps the files customers send; ``sniff(head, declared)`` tells a
        file's real type by its first bytes (msgcenter passes handoff.domain.media.sniff)."""
        self.config = config
        self.sink = sink
        self._inbound = _Inbound(config, sink, blobs, sniff)
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.connections = Connections(config.max_connections, config.max_connections_per_address)
        self._tls: ssl.SSLContext | None = None
        self.port: int = config.port  # the bound port once started (config port 0: any free one)
        self._send_only = False

    async def start(self, *, inbound: bool = True) -> None:
        """Open the SMTP server (with ``inbound``); sending needs nothing started."""
        self._send_only = not inbound
        if not inbound:
            return
        self._tls = _tls_context(self.config)
        smtp_log = logging.getLogger("mail.log")  # aiosmtpd logs every command at INFO
        if smtp_log.level == logging.NOTSET:
            smtp_log.setLevel(logging.WARNING)
        if self.config.auth_required and not self.config.auth_require_tls:
            log.warning("email: AUTH is required without TLS; passwords cross the wire in clear")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            partial(self._protocol, loop), self.config.host, self.config.port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("email: SMTP server on %s:%d", self.config.host, self.port)

    def _protocol(self, loop: asyncio.AbstractEventLoop) -> SMTP:
        with warnings.catch_warnings():
            # aiosmtpd warns on every connection when AUTH is required without TLS; the
            # operator chose that explicitly and was warned once at start.
            warnings.simplefilter("ignore", UserWarning)
            server = CappedSMTP(
                self._inbound,
                connections=self.connections,
                session_max=self.config.session_max,
                timeout=self.config.idle_timeout,
                hostname=self.config.hostname,
                ident="msgcenter ESMTP",
                data_size_limit=self.config.max_message_bytes,
                enable_SMTPUTF8=True,
                tls_context=self._tls,
                require_starttls=self.config.require_starttls,
                auth_required=self.config.auth_required,
                auth_require_tls=self.config.auth_require_tls,
                authenticator=self._inbound.authenticate,
                loop=loop,
            )
        self._sessions.add(server)
        return server

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        await close_smtp_server(server, list(self._sessions))
        await self._inbound.close()

    async def health(self) -> str:
        if self._send_only:
            return "send only"
        if self._server is None or not self._server.is_serving():
            raise RuntimeError("the SMTP server is not running")
        return "ok"

    async def send(self, message: OutboundMessage) -> str:
        """Mail ``message`` through the relay; return its Message-ID."""
        compose = partial(
            compose_reply, message, address=self.config.address,
            display_name=self.config.display_name,
        )  # fmt: skip
        # With files, reading and encoding them (base64 of up to 20 MB) runs in a thread.
        mail, recipient = await asyncio.to_thread(compose) if message.files else compose()
        relay = self.config.relay
        try:
            await aiosmtplib.send(
                mail,
                sender=self.config.address,
                recipients=[recipient],
                hostname=relay.host,
                port=relay.port,
                username=relay.username,
                password=relay.password,
                use_tls=relay.security == "tls",
                start_tls=relay.security == "starttls",
                validate_certs=relay.validate_certs,
                timeout=relay.timeout,
                local_hostname=self.config.hostname,
            )
        except ValueError as exc:  # aiosmtplib's own check of the addresses: never sendable
            reason = f"not a usable email address: {recipient!r}"
            raise DeliveryError(reason, retryable=False, code="bad_address") from exc
        except aiosmtplib.SMTPNotSupported as exc:  # e.g. no SMTPUTF8: the same next time
            reason = f"mail relay cannot send this message: {exc}"
            raise DeliveryError(reason, retryable=False, code="not_supported") from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            raise _refused(refused.code, refused.message) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _refused(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            reason = f"mail relay {relay.host}:{relay.port} unreachable: {exc}"
            raise DeliveryError(reason, retryable=True, code="relay_unreachable") from exc
        return str(mail["Message-ID"])


def _refused(code: int, text: str) -> DeliveryError:
    """A relay's answer: 4xx is worth another try, 5xx is final."""
    reason = f"mail relay refused the message: {code} {' '.join(text.split())}"
    return DeliveryError(reason, retryable=not 500 <= code < 600, code=str(code))


def _tls_context(config: EmailConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"email TLS certificate {config.tls_cert}: {exc}") from exc
    return context


class _Inbound:
    """The aiosmtpd handler: who may send to whom, and what becomes of a message."""

    def __init__(self, config: EmailConfig, sink: Sink, blobs: Blobs, sniff: Sniff) -> None:
        self.config = config
        self.sink = sink
        self.blobs = blobs
        self.sniff = sniff
        self.own_addresses = {config.address.lower(), *(a.lower() for a in config.addresses)}
        self.domains = frozenset(domain.lower() for domain in config.domains)
        self.parser = ParsePool(config.parse_workers, config.parse_timeout)
        self.verifier = SenderVerifier(config.sender_auth, receiver=config.hostname)

    async def close(self) -> None:
        await self.parser.close()
        self.verifier.close()

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        expected = self.config.auth_users.get(data.login.decode("utf-8", "replace"))
        # Compare against something even for an unknown user: same time either way.
        secret = (expected if expected is not None else secrets.token_hex(16)).encode()
        matches = hmac.compare_digest(secret, data.password) and expected is not None
        return AuthResult(success=matches, handled=False)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        lowered = address.lower()
        if lowered not in self.own_addresses and lowered.rpartition("@")[2] not in self.domains:
            log.info("email: refused mail for %r (not ours)", address)
            return "550 5.7.1 Relaying denied: this server takes mail only for its own domains"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        try:
            parsed = await self.parser.parse(content, envelope.mail_from, self.config.limits)
            mail = self._check(parsed)
        except MailRejected as exc:
            log.info("email: rejected a message from %r: %s", envelope.mail_from, exc.reason)
            return f"{exc.code} {exc.reason}"
        except ParseTimeout as exc:
            log.warning("email: refused a message from %r: %s", envelope.mail_from, exc)
            return f"554 5.6.0 message too complex: not read within {self.parser.budget:g} s"
        except ParseBusy:
            log.warning("email: every parsing worker busy; asked %r to retry", envelope.mail_from)
            return "451 4.3.2 Busy reading other mail; please try again later"
        except ParseCrashed:
            log.exception("email: a parsing worker died; answered 451")
            return "451 4.3.0 Temporary failure; please try again later"
        if mail.automatic:
            log.info(
                "email: not stored: %s from %r (%s)", mail.message_id, mail.sender, mail.automatic
            )
            return "250 2.0.0 OK: automatic mail, not stored"
        # Sender authentication: off the event loop, within its deadline; a DNS failure is an
        # unverified sender (temperror), never an SMTP error or a hang.
        peer = session.peer
        auth = await self.verifier.check(
            content, from_address=mail.sender, mail_from=envelope.mail_from,
            helo=session.host_name, client_ip=str(peer[0]) if isinstance(peer, tuple) else None,
        )  # fmt: skip
        if not auth.verified:
            log.info("email: unverified sender %s of %s: %s", mail.sender, mail.message_id,
                     auth.reason)  # fmt: skip
        try:
            attachments = [await self._keep(part) for part in mail.parts]
        except OSError:
            log.exception("email: could not keep the attachments of %s", mail.message_id)
            return "451 4.3.0 Could not store the message; please try again later"
        inbound = InboundMessage(
            channel=CHANNEL,
            chat_external_id=mail.sender,
            message_external_id=mail.message_id,
            text=mail.text or "(no text)",
            customer_name=mail.name,
            customer_email=mail.sender,
            subject=mail.subject or None,
            attachments=tuple(attachments),
            reply_to_external_id=mail.in_reply_to,
            thread_refs=mail.thread_refs,
            sent_at=mail.sent_at,
            sender_verified=auth.verified,
            sender_auth=auth.as_dict() if self.verifier.enabled else None,
        )
        try:
            await self.sink.receive([inbound])
        except Exception:
            # The files stay in the blob store (by content: the MTA's retry finds them there).
            log.exception("email: storing message %s failed; answered 451", mail.message_id)
            return "451 4.3.0 Temporary failure; please try again later"
        return "250 2.0.0 OK: message stored"

    def _check(self, mail: ParsedMail) -> ParsedMail:
        """Refuse mail we would not answer (from ourselves; to an address no reply reaches)."""
        if mail.sender in self.own_addresses:
            raise MailRejected("5.7.1 mail from our own address is not taken (a loop?)")
        if mail.automatic:
            return mail
        if not usable_address(mail.sender):  # no reply could reach it (connectors.email_address)
            raise MailRejected("5.1.7 the sender's address is not one we can reply to")
        return mail

    async def _keep(self, part: MailPart) -> Attachment:
        """Put one file of a mail into the blob store (once per content) and describe it.

        The bytes are spooled a slice at a time, yielding to the event loop between slices
        (hashing a 10 MB file at once would hold it up); the spool's temporary file is gone
        when this returns or raises. The type is the one its content shows (``sniff``)."""
        data = memoryview(part.data)
        async with Spool(self.blobs.spool_dir, max(len(data), 1)) as spool:
            for start in range(0, len(data), SLICE):
                await spool.write(data[start : start + SLICE].tobytes())
                await asyncio.sleep(0)
            mime_type = self.sniff(spool.head, part.mime_type)
            await self.blobs.keep(spool)
        meta = dict(part.meta)
        kind = part.kind if part.kind == "file" else kind_of(mime_type)
        if meta.get("inline") and mime_type not in SHOWN_IMAGES:
            del meta["inline"]  # not an image after all: the text's marker stays words
        return Attachment(
            kind=kind, name=part.name, mime_type=mime_type, size=len(data),
            sha256=spool.sha256, status=STORED, meta=meta,
        )  # fmt: skip


SLICE = 256 * 1024  # bytes spooled between two turns of the event loop
STORED = "stored"  # an attachment's status once its file is in the blob store
# Images a browser may show in a page (handoff.domain.media.kind_of calls them "image").
SHOWN_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def kind_of(mime_type: str) -> str:
    """The attachment kind of a file of this (sniffed) type, as handoff.domain.media says."""
    major = mime_type.partition("/")[0]
    if mime_type in SHOWN_IMAGES:
        return "image"
    return major if major in ("audio", "video") else "document"


def compose_reply(
    message: OutboundMessage, *, address: str, display_name: str
) -> tuple[EmailMessage, str]:
    """The mail for one reply, and its recipient. Header values cannot smuggle in headers.
    Reads ``message.files`` from disk: call it in a thread when there are any."""
    recipient = (message.customer_email or message.chat_external_id).strip()
    if not usable_address(recipient):  # the rule every entry point checked (email_address)
        raise DeliveryError(
            f"not a usable email address: {recipient!r}", retryable=False, code="bad_address"
        )
    # A chat of an unverified sender (handoff.usecases.ingest): its display name and subject
    # are whatever a stranger wrote (a phishing line), so a reply to that address repeats neither.
    unverified = message.chat_external_id.startswith(UNVERIFIED_PREFIX)
    name = "" if unverified else header_text(message.customer_name)
    try:
        to = Address(display_name=name, addr_spec=recipient)
        sender = Address(display_name=from_name(message, display_name), addr_spec=address)
    except (ValueError, IndexError, MessageError) as exc:
        raise DeliveryError(
            f"not a usable email address: {recipient!r}", retryable=False, code="bad_address"
        ) from exc
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = UNVERIFIED_SUBJECT if unverified else reply_subject(message.subject)
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = make_msgid(domain=address.rpartition("@")[2])
    references = [ref for ref in message.thread_external_ids if _MSGID.fullmatch(ref)]
    reply_to = message.reply_to_external_id
    if reply_to and _MSGID.fullmatch(reply_to):
        mail["In-Reply-To"] = reply_to
        if reply_to not in references:
            references.append(reply_to)
    if references:
        mail["References"] = " ".join(references[-20:])
    text = message.text.replace("\r\n", "\n").replace("\r", "\n")
    signature = (message.signature or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    plain = "\n\n".join(
        part for part in (text, signature and SIGNATURE_SEPARATOR + signature) if part
    )
    mail.set_content(plain, charset="utf-8", cte=_cte(plain))
    page = html_body(text, signature)
    mail.add_alternative(page, subtype="html", charset="utf-8", cte=_cte(page))
    for file in message.files:
        _attach(mail, file)
    return mail, recipient


SIGNATURE_SEPARATOR = "-- \n"  # the signature delimiter mail clients recognise (RFC 3676)


def from_name(message: OutboundMessage, display_name: str) -> str:
    """The From display name: "Ann (Acme Support)" for an agent's reply, the channel's
    ``display_name`` for the bot's and msgcenter's."""
    team = header_text(display_name)
    agent = header_text(message.agent_name or "", 120)
    if not agent:
        return team
    return f"{agent} ({team})" if team else agent


def _cte(text: str) -> str | None:
    return None if text.isascii() else "quoted-printable"


def _attach(mail: EmailMessage, file: OutboundFile) -> None:
    """One file as a MIME part: its type, a safe name (RFC 2231 encoded when not ASCII)."""
    maintype, _, subtype = file.mime_type.partition("/")
    if not (_TOKEN.fullmatch(maintype) and _TOKEN.fullmatch(subtype)):
        maintype, subtype = "application", "octet-stream"
    name = safe_filename(file.name, file.mime_type)
    data = Path(file.path).read_bytes()
    mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)


_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
# A link in an agent's text: http(s) up to a space or a character no URL has unescaped;
# the punctuation that ends a sentence is not part of it.
_LINK = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


def html_body(text: str, signature: str = "") -> str:
    """The HTML alternative of a reply: the text escaped, blank lines as paragraphs, line
    breaks as ``<br>``, http(s) links clickable; the signature under "-- "."""
    blocks = [block for block in re.split(r"\n[ \t]*\n", text.strip("\n")) if block.strip()]
    body = "".join(f"<p>{_html_lines(block)}</p>\n" for block in blocks)
    if signature:
        body += f'<p class="signature">-- <br>\n{_html_lines(signature)}</p>\n'
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        f'<body style="font-family: sans-serif; line-height: 1.4">\n{body}</body></html>\n'
    )


def _html_lines(block: str) -> str:
    return "<br>\n".join(_html_links(line) for line in block.split("\n"))


def _html_links(line: str) -> str:
    """``line`` escaped, its http(s) links as anchors (the address escaped as an attribute)."""
    out, last = [], 0
    for found in _LINK.finditer(line):
        url = found.group().rstrip(_TRAILING)
        if "://" not in url or url.endswith("://"):
            continue
        start, end = found.start(), found.start() + len(url)
        out.append(html.escape(line[last:start], quote=False))
        shown = html.escape(url, quote=False)
        out.append(
            f'<a href="{html.escape(url, quote=True)}" rel="noopener noreferrer">{shown}</a>'
        )
        last = end
    out.append(html.escape(line[last:], quote=False))
    return "".join(out)


def reply_subject(subject: str | None) -> str:
    """ "Re: <subject>", without stacking a second "Re:"."""
    clean = header_text(subject or "", 900) or "(no subject)"
    return clean if _REPLY_PREFIX.match(clean) else f"Re: {clean}"


def header_text(value: str, limit: int = 200) -> str:
    """One line of header text: control characters (CR, LF, ...) become spaces; capped."""
    flat = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in value)
    return " ".join(flat.split())[:limit]


async def close_smtp_server(server: asyncio.Server, sessions: list[SMTP]) -> None:
    """Stop listening, cut the open sessions and wait (a little) for their handlers to end."""
    server.close()
    for session in sessions:
        if session.transport is not None:
            session.transport.close()
    handlers = [getattr(s, "_handler_coroutine", None) for s in sessions]
    pending = [task for task in handlers if task is not None and not task.done()]
    if pending:
        await asyncio.wait(pending, timeout=5)
    await server.wait_closed()
