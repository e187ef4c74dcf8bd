"""API channels (docs/api.md, "API channel"): admins make them; a system of the desk's own
posts its customers' messages to one with an API key, and gets the replies at the
channel's callback URL (``connectors/api_channel.py``).

A customer message goes the way every channel's does: an ``InboundMessage`` handed to the
sink (the inbox: stored once, then the bot, handoff, assignment). Its chat is
``Channel.API`` with the external id ``"<channel id>:<customer id>"``; the message's
external id is the ``external_id`` the system gave, stored once per channel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import timezone

from connectors.base import InboundMessage, Sink
from connectors.callbacks import DestinationRefused
from handoff.domain.errors import Conflict, Invalid, NotFound
from handoff.domain.modes import Actor
from handoff.domain.sanitize import clean
from handoff.infra.writer import Unit, Writer
from handoff.read.views import Presenter
from handoff.usecases import audit
from storage.models import ApiChannel, Channel, Message

# Limits of a customer message posted to a channel (docs/api.md, "API channel").
MAX_TEXT_CHARS = 4096
MAX_EXTERNAL_ID_CHARS = 200
MAX_CUSTOMER_ID_CHARS = 128
MAX_CUSTOMER_NAME_CHARS = 128
MAX_NAME_CHARS = 100
MAX_PAYLOAD_CHARS = 64
SECRET_CHARS = (16, 255)

# (url) -> None, or DestinationRefused: may msgcenter post there (CallbackPoster.check)?
Check = Callable[[str], Awaitable[None]]


def chat_external_id(channel_id: int, customer_id: str) -> str:
    return f"{channel_id}:{customer_id}"


@dataclass(frozen=True, slots=True)
class CustomerMessage:
    """What a system posts: its message id, its customer, the text."""

    external_id: str
    customer_id: str
    customer_name: str
    text: str
    # The id of a choice the customer made on a message of ours (a survey's option), or None.
    payload: str | None = None


class ApiChannels:
    def __init__(
        self,
        writer: Writer,
        presenter: Presenter,
        check: Check,
        *,
        clock: Callable[[], datetime] = timezone.now,
    ) -> None:
        """``check``: refuses a callback URL msgcenter may not post to (DestinationRefused)."""
        self.writer = writer
        self.presenter = presenter
        self.check = check
        self.clock = clock

    # -- admins ------------------------------------------------------------------------------

    async def create(
        self, actor: Actor, name: str, callback_url: str, secret: str
    ) -> dict[str, Any]:
        name = _name(name)
        _secret(secret)
        await self._destination(callback_url)

        async def operation(unit: Unit) -> ApiChannel:
            row = await ApiChannel.create(
                name=name, callback_url=callback_url, secret=secret, created_by_id=actor.user_id
            )
            await audit.record(
                None, actor, audit.API_CHANNEL_CREATED, api_channel_id=row.id, name=name
            )
            return row

        return self.view(await self.writer.run(operation))

    async def list(self) -> list[dict[str, Any]]:
        rows = await ApiChannel.filter(deleted_at=None).order_by("id").limit(1000)
        return [self.view(row) for row in rows]

    async def get(self, channel_id: int) -> dict[str, Any]:
        return self.view(await _existing(channel_id))

    async def update(
        self, actor: Actor, channel_id: int, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """``changes``: any of name, callback_url, secret, active."""
        if "name" in changes:
            changes["name"] = _name(changes["name"])
        if "secret" in changes:
            _secret(changes["secret"])
        if "callback_url" in changes:
            await self._destination(changes["callback_url"])

        async def operation(unit: Unit) -> ApiChannel:
            row = await _existing(channel_id)
            if not changes:
                return row
            for field, value in changes.items():
                setattr(row, field, value)
            row.updated_at = self.clock()
            await row.save(update_fields=[*changes, "updated_at"])
            await audit.record(
                None, actor, audit.API_CHANNEL_UPDATED, api_channel_id=row.id,
                fields=sorted(changes),
            )  # fmt: skip
            return row

        return self.view(await self.writer.run(operation))

    async def delete(self, actor: Actor, channel_id: int) -> None:
        """Gone from the lists and closed to messages; its chats stay (replies to them fail:
        there is nowhere to post them). The row stays, so its id is never given again."""

        async def operation(unit: Unit) -> None:
            row = await _existing(channel_id)
            row.deleted_at = row.updated_at = self.clock()
            row.active = False
            await row.save(update_fields=["deleted_at", "active", "updated_at"])
            await audit.record(
                None, actor, audit.API_CHANNEL_DELETED, api_channel_id=row.id, name=row.name
            )

        await self.writer.run(operation)

    def view(self, row: ApiChannel) -> dict[str, Any]:
        return {
            "id": row.id,
            "name": row.name,
            "callback_url": row.callback_url,
            "messages_path": f"/channels/api/{row.id}/messages",
            "active": row.active,
            "created_at": self.presenter.when(row.created_at),
            "updated_at": self.presenter.when(row.updated_at),
        }

    async def _destination(self, url: str) -> None:
        try:
            await self.check(url)
        except DestinationRefused as exc:
            raise Invalid(str(exc), code="destination_refused", field="callback_url") from exc

    # -- the system's customers -------------------------------------------------------------

    async def receive(
        self, sink: Sink, channel_id: int, message: CustomerMessage
    ) -> dict[str, Any]:
        """Store a customer's message (once per channel and ``external_id``):
        ``{"chat_id", "message_id", "created"}``. NotFound for an unknown, inactive or
        deleted channel; Conflict when the ``external_id`` is another customer's message."""
        text = clean(message.text).strip()
        if not text:
            raise Invalid("text: the message has no text", field="text")
        channel = await ApiChannel.get_or_none(id=channel_id, deleted_at=None, active=True)
        if channel is None:
            raise NotFound(f"no such API channel: {channel_id} (or it is not active)")
        chat_id = chat_external_id(channel_id, message.customer_id)
        earlier = await _stored(channel_id, message.external_id)
        if earlier is None:
            inbound = InboundMessage(
                channel=Channel.API.value,
                chat_external_id=chat_id,
                message_external_id=message.external_id,
                text=text,
                customer_name=clean(message.customer_name).strip() or message.customer_id,
                payload=message.payload,
            )
            (received,) = await sink.receive([inbound])  # StorageUnavailable: 503
            if not received.duplicate:
                return {"chat_id": received.chat_id, "message_id": received.message_id,
                        "created": True}  # fmt: skip
            earlier = await _stored(channel_id, message.external_id)  # a concurrent post's
            if earlier is None:  # pragma: no cover - stored once, so found once
                raise Conflict("the message was stored and is gone", code="conflict")
        if earlier["chat__external_id"] != chat_id:
            raise Conflict(
                f"external_id {message.external_id!r} is another customer's message on this "
                "channel", code="external_id_taken", chat_id=earlier["chat_id"],
            )  # fmt: skip
        return {"chat_id": earlier["chat_id"], "message_id": earlier["id"], "created": False}


async def _existing(channel_id: int) -> ApiChannel:
    row = await ApiChannel.get_or_none(id=channel_id, deleted_at=None)
    if row is None:
        raise NotFound(f"no such API channel: {channel_id}")
    return row


async def _stored(channel_id: int, external_id: str) -> dict[str, Any] | None:
    """The customer message of ``channel_id`` with ``external_id`` (by the messages'
    external id index), or None."""
    found: dict[str, Any] | None = (
        await Message.filter(
            external_id=external_id,
            chat__channel=Channel.API,
            chat__external_id__startswith=f"{channel_id}:",
        )
        .order_by("id")
        .first()
        .values("id", "chat_id", "chat__external_id")
    )
    return found


def _name(name: str) -> str:
    name = clean(name).strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise Invalid(f"name: 1 to {MAX_NAME_CHARS} characters", code="validation_error",
                      field="name")  # fmt: skip
    return name


def _secret(secret: str) -> None:
    low, high = SECRET_CHARS
    if not low <= len(secret) <= high:
        raise Invalid(f"secret: {low} to {high} characters", code="validation_error",
                      field="secret")  # fmt: skip
