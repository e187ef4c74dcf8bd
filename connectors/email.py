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

Outbound, each reply is one mail through the relay (``connectors.email_reply``:
text and HTML, the agent's name and signature, the files), with our own
Message-ID (returned, so it becomes the message's external id and the
customer's answer to it finds the chat), In-Reply-To and References.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import ssl
import warnings
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import aiosmtplib
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from connectors.base import (
    Attachment,
    DeliveryError,
    InboundMessage,
    OutboundMessage,
    Sink,
)
from connectors.email_address import usable_address
from connectors.email_auth import AuthConfig, SenderVerifier
from connectors.email_parse import MailLimits, MailPart, MailRejected, ParsedMail
from connectors.email_reply import compose_reply
from connectors.parsing import ParseBusy, ParseCrashed, ParsePool, ParseTimeout
from connectors.smtp_limits import CappedSMTP, Connections
from storage.blobs import Blobs, Spool

log = logging.getLogger(__name__)

CHANNEL = "Email"
# What a file is by its first bytes and the sender's word: (head, declared type) -> type.
Sniff = Callable[[bytes, str | None], str]
MAX_RECIPIENTS = 100


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
