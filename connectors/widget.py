"""The website widget's channel: replies to visitors (docs/api.md, "Website widget").

A reply is in msgcenter's own database already, so ``send`` has nothing to hand to a
provider: it answers the reply's id (``widget:<message id>``), the outbox records it
``sent``, and that ``message.updated`` reaches every process on the event bus, where the
hub of visitor sockets (``dashboard_api.widget_hub``) pushes it to the visitor wherever
their socket is. So sending depends on no socket being in this process, and a visitor
who is away finds the reply when they come back (their socket resumes after the last
message they have).

When the visitor left an email address while nobody was online (``email_for`` finds it),
an agent's reply is also mailed to them through ``mailer`` (msgcenter passes the email
channel's relay); that copy is tried once: a relay that fails is logged, the chat's reply
stands.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable

from connectors.base import DeliveryError, OutboundMessage

log = logging.getLogger(__name__)

CHANNEL = "Widget"
PREFIX = "widget:"

# (the reply, as a mail to the visitor's address) -> the mail's id; raises DeliveryError.
Mailer = Callable[[OutboundMessage], Awaitable[str]]
# A chat's external id -> the address its agents' replies are also mailed to, or None.
EmailFor = Callable[[str], Awaitable[str | None]]


def external_id(message_id: int) -> str:
    """The provider id of a widget reply: what a visitor's read receipt names."""
    return f"{PREFIX}{message_id}"


class WidgetConnector:
    """The Widget channel. ``mailer`` and ``email_for``: agents' replies by email to
    visitors who left an address while nobody was online (both None: no copies)."""

    channel = CHANNEL

    def __init__(
        self,
        *,
        mailer: Mailer | None = None,
        email_for: EmailFor | None = None,
        subject: str = "Your chat with us",
    ) -> None:
        self.mailer = mailer
        self.email_for = email_for
        self.subject = subject
        self.mailed = 0  # copies mailed (tests, metrics)

    async def start(self, *, inbound: bool = True) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def health(self) -> str:
        return "ok"

    async def send(self, message: OutboundMessage) -> str:
        """The reply is the visitor's now (the hub pushes it once it is ``sent``); an
        agent's reply is also mailed when the visitor asked for that."""
        if self.mailer is not None and self.email_for is not None and message.agent_name:
            await self._mail(message)
        return external_id(message.message_id)

    async def _mail(self, message: OutboundMessage) -> None:
        assert self.mailer is not None and self.email_for is not None
        address = await self.email_for(message.chat_external_id)
        if address is None:
            return
        copy = dataclasses.replace(
            message, channel="Email", chat_external_id=address, customer_email=address,
            subject=self.subject, thread_external_ids=(), reply_to_external_id=None,
        )  # fmt: skip
        try:
            await self.mailer(copy)
        except DeliveryError as exc:
            log.warning("widget reply %d not mailed: %s", message.message_id, exc.reason)
            return
        self.mailed += 1
