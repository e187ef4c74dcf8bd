"""The contract every channel connector keeps, in plain dataclasses.

A connector turns provider updates into :class:`InboundMessage` values and
hands them to the inbox; it sends :class:`OutboundMessage` values and answers
with the provider's message id, or raises :class:`DeliveryError`. No provider
type (aiogram, aiosmtpd, Graph API JSON) crosses this boundary.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from aiohttp import web


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file or place in a message, described. A file a provider holds (``ref``) is fetched
    into msgcenter's blob store after the message is stored (``status`` "pending", then
    "stored" with ``sha256``, or "failed" with ``error``)."""

    kind: str  # image, document, audio, video, voice, sticker, location, contact, file
    name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    ref: str | None = None  # the provider's file id, to fetch the bytes with
    meta: dict[str, Any] = field(default_factory=dict)
    file: str | None = None  # the old file store's id of a copy (storage.files; email)
    sha256: str | None = None  # the blob store's name of msgcenter's copy (storage.blobs)
    status: str | None = None  # pending, stored, failed; None: no file (a place, a contact)
    error: str | None = None  # why a file could not be kept

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        for key in ("name", "mime_type", "size", "ref", "file", "sha256", "status", "error"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.meta:
            data["meta"] = self.meta
        return data


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message a customer wrote, as a channel delivered it."""

    channel: str  # "Telegram" | "WhatsApp" | "Email" | "API" | "Widget"
    chat_external_id: str
    message_external_id: str
    text: str
    customer_name: str
    customer_phone: str | None = None
    customer_email: str | None = None
    customer_username: str | None = None
    subject: str | None = None
    attachments: tuple[Attachment, ...] = ()
    reply_to_external_id: str | None = None
    # Further ids of the same person on this channel that the provider states beside
    # ``chat_external_id`` (WhatsApp: the business-scoped user id beside the phone number):
    # they tie to the same contact (storage.identities).
    customer_ids: tuple[str, ...] = ()
    # Provider message ids this message answers (email In-Reply-To and References): when
    # one of them is a message of ours, the message joins that message's chat.
    thread_refs: tuple[str, ...] = ()
    sent_at: datetime | None = None
    # False when the channel could not confirm who sent it (email without an aligned DKIM or
    # SPF pass, connectors.email_auth): it gets a chat of its own (see unverified_chat_id) and
    # never joins another chat by reference.
    sender_verified: bool = True
    # How the sender was authenticated (email: SenderAuth.as_dict()), stored with the message.
    sender_auth: dict[str, str] | None = None
    # The id of a choice the customer made on a message of ours (a WhatsApp list row or
    # reply button, a Telegram inline button's callback data): ``csat:<survey>:<rating>``
    # for a satisfaction survey. None: they wrote.
    payload: str | None = None


UNVERIFIED_PREFIX = "unverified:"


def unverified_chat_id(external_id: str) -> str:
    """The external id of the chat that unverified messages from ``external_id`` share: apart
    from the verified sender's chat (at most 255 characters, like every external id)."""
    if external_id.startswith(UNVERIFIED_PREFIX):
        return external_id
    key = UNVERIFIED_PREFIX + external_id
    if len(key) > 255:
        key = UNVERIFIED_PREFIX + "sha256:" + hashlib.sha256(external_id.encode()).hexdigest()
    return key


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One reply to deliver on the chat's channel."""

    message_id: int
    chat_id: int
    channel: str
    chat_external_id: str
    text: str
    customer_name: str = ""
    customer_email: str | None = None
    subject: str | None = None
    reply_to_external_id: str | None = None
    # Earlier provider message ids of the conversation (email References), oldest first.
    thread_external_ids: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    # The files to send, each readable at its path while ``send`` runs (the outbox copies
    # them out of the blob store): WhatsApp and Telegram send one file per message.
    files: tuple[OutboundFile, ...] = ()
    # A WhatsApp template message: {"name", "language", "parameters": {...}}; ``text`` is
    # the template rendered (what the thread shows).
    template: dict[str, Any] | None = None
    # Who wrote it: the agent's display name (None: the bot or msgcenter) and their email
    # signature (plain text; None: none). Email puts them in From and under the text.
    agent_name: str | None = None
    signature: str | None = None
    # Choices offered with the text (a satisfaction survey): {"kind", "options": [{"id",
    # "title", "url"?}]}: WhatsApp list rows, Telegram inline buttons (``id`` the callback
    # data), email links (``url``). None: a plain message.
    interactive: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class OutboundFile:
    """A file an agent sends: its bytes at ``path`` (type sniffed, size checked before it
    was queued)."""

    path: str
    name: str
    mime_type: str
    size: int
    kind: str  # image, audio, video, document (handoff.domain.media.kind_of)


class DeliveryError(Exception):
    """A send failed. ``retryable`` errors are tried again later; the rest fail the message."""

    def __init__(
        self, reason: str, *, retryable: bool, retry_after: float | None = None, code: str = ""
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.code = code


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A provider's receipt for a message we sent: delivered, read or failed."""

    channel: str
    message_external_id: str
    status: str  # "sent" | "delivered" | "read" | "failed"
    error: str | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InboundEdit:
    """A customer changed the text of a message they sent earlier."""

    channel: str
    chat_external_id: str
    message_external_id: str
    text: str


class StorageUnavailable(Exception):
    """The sink cannot store anything now (its database does not answer): a webhook answers
    503 ``database_unavailable``, so the provider delivers again later."""


class Sink(Protocol):
    """Where connectors hand what providers deliver; each call returns after the commit.

    A call raises :class:`StorageUnavailable` when the database does not answer in time.
    """

    async def receive(self, messages: Sequence[InboundMessage]) -> Sequence[Any]:
        """Store customer messages (idempotently, all in one commit). A result's ``answer``
        attribute (see :func:`answer_of`), when set, is what the customer should be told at
        once about their choice (a survey's thanks: Telegram edits the survey message)."""
        ...

    async def status(self, updates: Sequence[StatusUpdate]) -> None:
        """Record delivery receipts of our outbound messages."""
        ...

    async def edit(self, edit: InboundEdit) -> None:
        """Update the stored text of an edited customer message."""
        ...


def answer_of(result: Any) -> str | None:
    """What :meth:`Sink.receive` says the customer should be told about a choice, or None."""
    answer = getattr(result, "answer", None)
    return answer if isinstance(answer, str) and answer else None


class Connector(Protocol):
    """A channel: started with the service, asked to send replies, stopped at shutdown.

    ``start(inbound=False)`` readies only what ``send`` and the extras below need:
    with several processes, the inbound side that must run in one place (Telegram's
    poller or its setWebhook, the SMTP server) runs in the process that holds that
    role, while the outbox process sends and the API processes serve the webhooks.
    ``health`` then says ``send only``. A connector whose inbound side is only its
    webhook routes (WhatsApp) does the same either way.

    What a channel can do beyond this is a capability, a Protocol below that the
    connector's class meets by defining its method: :class:`HasWebRoutes`,
    :class:`RefusesReplies`, :class:`ShowsTyping`, :class:`ReportsHealth`. The core
    checks them with ``isinstance``; a connector without one goes without it.
    """

    channel: str

    async def start(self, *, inbound: bool = True) -> None:
        """Get ready to send and, with ``inbound``, start receiving (poller, server)."""
        ...

    async def stop(self) -> None: ...

    async def send(self, message: OutboundMessage) -> str:
        """Deliver ``message``; return the provider's message id, or raise DeliveryError."""
        ...


@runtime_checkable
class HasWebRoutes(Protocol):
    """Serves provider webhooks (mounted on the service's web application)."""

    def web_routes(self) -> list[web.RouteDef]: ...


@runtime_checkable
class RefusesReplies(Protocol):
    """A channel that cannot take every reply (WhatsApp's 24-hour window)."""

    def reply_refusal(self, last_customer_message_at: datetime | None, now: datetime) -> str | None:
        """Why a reply may not be sent now (said to the agent), or None when it may."""
        ...


@runtime_checkable
class ShowsTyping(Protocol):
    """Can show the customer that an agent is typing."""

    async def typing(self, chat_external_id: str) -> None:
        """Show "typing" in that chat; raises DeliveryError when the provider refuses."""
        ...


class MediaError(Exception):
    """A file could not be fetched. ``permanent``: it never will be (expired, gone, too
    large for the provider to hand out); else the fetch is tried again later."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class MediaDownload:
    """A provider's file being downloaded: its declared type and size (either may be
    missing or wrong) and its bytes in chunks, to be read once."""

    chunks: AsyncIterator[bytes]
    mime_type: str | None = None
    size: int | None = None


@runtime_checkable
class FetchesMedia(Protocol):
    """Fetches the files customers send (``Attachment.ref``) from the provider."""

    def fetch_media(
        self, ref: str, max_bytes: int
    ) -> contextlib.AbstractAsyncContextManager[MediaDownload]:
        """Open the download of ``ref``; raises MediaError (``permanent`` when the provider
        says it is gone or larger than ``max_bytes`` before any byte is read)."""
        ...


@runtime_checkable
class ReportsHealth(Protocol):
    """Says how the channel is for ``/healthz`` (``ok``, ``send only``, or what is wrong)."""

    async def health(self) -> str: ...


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    """A message template of the business account as the provider lists it (WhatsApp):
    ``components`` are the provider's JSON (``[{"type": "BODY", "text": "Hi {{1}}"}]``)."""

    name: str
    language: str
    category: str
    status: str  # APPROVED, PENDING, REJECTED, PAUSED, DISABLED...
    components: list[dict[str, Any]]
    external_id: str | None = None


class TemplatesUnavailable(Exception):
    """The provider's list of templates could not be read (not configured, unreachable,
    refused, too long); nothing should be concluded from it."""


@runtime_checkable
class ListsTemplates(Protocol):
    """A channel whose business messages outside a conversation are templates the provider
    approved (WhatsApp): lists them all."""

    async def templates(self) -> list[MessageTemplate]:
        """Every template of the account; raises TemplatesUnavailable."""
        ...
