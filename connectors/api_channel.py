"""The API channel's outbound side (docs/api.md, "API channel"): agents' and the bot's
replies posted to the channel's callback URL, signed with its secret
(``connectors/callbacks.py``: public destinations only, no redirects).

Customers' messages come in through the API (``POST /channels/api/{id}/messages``, with an
API key), not through this connector. A chat's external id is ``"<channel id>:<customer
id>"``; the channel's URL and secret are read from ``api_channels`` at every send, so a
changed URL or secret holds for the next attempt and a deleted channel is never posted to.

The outbox retries what fails for a while (no answer, a refused destination, a 5xx, 408,
429) and fails the message at once on any other answer (a 3xx or 4xx: the receiver refuses
it). Any 2xx is delivered; the message's provider id is then its delivery id.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC

from connectors.base import DeliveryError, OutboundMessage
from connectors.callbacks import CallbackPoster
from storage.models import ApiChannel, Channel, Message

log = logging.getLogger(__name__)

RETRYABLE = frozenset({408, 425, 429})


def delivery_id(message_id: int) -> str:
    """The ``X-Msgcenter-Delivery`` of a reply: the same on every attempt."""
    return f"msg_{message_id}"


def split(chat_external_id: str) -> tuple[int, str] | None:
    """``(channel id, customer id)`` of an API chat's external id, or None (a chat made on
    the dashboard has none: it reaches nobody)."""
    raw, sep, customer = (chat_external_id or "").partition(":")
    if not sep or not raw.isdigit() or len(raw) > 10 or not customer:
        return None
    return int(raw), customer


class ApiChannelConnector:
    channel = Channel.API.value

    def __init__(self, poster: CallbackPoster) -> None:
        self.poster = poster

    async def start(self, *, inbound: bool = True) -> None:
        """Nothing to start: messages come in through the API, replies go out per send."""

    async def stop(self) -> None:
        await self.poster.close()

    async def send(self, message: OutboundMessage) -> str:
        parts = split(message.chat_external_id)
        if parts is None:
            raise DeliveryError(
                f"not an API channel chat: {message.chat_external_id!r}", retryable=False
            )
        channel_id, customer_id = parts
        channel = await ApiChannel.get_or_none(id=channel_id)
        if channel is None or channel.deleted_at is not None:
            raise DeliveryError(f"API channel {channel_id} was deleted", retryable=False)
        if not channel.active:
            raise DeliveryError(f"API channel {channel_id} is not active", retryable=False)
        if message.files:
            raise DeliveryError("the API channel sends no files", retryable=False)
        delivery = delivery_id(message.message_id)
        body = await self._body(message, channel_id, customer_id, delivery)
        result = await self.poster.post(
            channel.callback_url, body, secret=channel.secret, delivery_id=delivery
        )
        if result.ok:
            return delivery
        retryable = result.status is None or result.status >= 500 or result.status in RETRYABLE
        raise DeliveryError(
            f"the callback failed: {result.error}", retryable=retryable,
            code=str(result.status or "no_answer"),
        )  # fmt: skip

    async def _body(
        self, message: OutboundMessage, channel_id: int, customer_id: str, delivery: str
    ) -> bytes:
        row = await Message.filter(id=message.message_id).first().values("sender", "created_at")
        created = row["created_at"] if row else None
        data = {
            "id": delivery,
            "type": "message.created",
            "channel_id": channel_id,
            "customer_id": customer_id,
            "chat_id": message.chat_id,
            "message": {
                "id": message.message_id,
                "text": message.text,
                "sender": str(row["sender"]) if row else None,
                "agent_name": message.agent_name,
                "attachments": [item.as_dict() for item in message.attachments],
                # Choices offered (a satisfaction survey): {"kind", "options": [{"id",
                # "title"}]}; the customer's choice comes back as a message's "payload".
                "interactive": message.interactive,
                "created_at": created.astimezone(UTC).isoformat() if created else None,
            },
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
