"""The outbox across a restart: a queued reply is delivered by the next run, once."""

from __future__ import annotations

from pathlib import Path

from connectors.mock.whatsapp import MockWhatsApp
from handoff.usecases.delivery import RetryPolicy
from storage.models import EarlyReceipt, Message
from tests.support import ClientFactory
from tests.whatsapp_support import eventually, sends_of, start_whatsapp


async def test_a_reply_queued_when_the_service_stops_is_delivered_after_restart(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    first = await start_whatsapp(mock, aiohttp_client, db_url, tmp_path)
    chat_id, _ = await first.customer_chat("Hana", "628300001")
    first.service.core.outbox.retry = RetryPolicy(
        max_attempts=50, base_seconds=0.3, max_seconds=0.3
    )
    mock.fail(status=500, count=1000)  # the provider is down
    message_id = await first.reply(chat_id, "We are on it")

    async def tried() -> bool:
        row = await Message.get(id=message_id)
        return row.attempts >= 1

    await eventually(tried, "a first, failed attempt")
    assert (await Message.get(id=message_id)).status == "queued"
    await first.anon.client.close()  # the service stops with the reply still queued
    assert await sends_of(mock, "We are on it") == []

    mock.reset()  # the provider is back
    second = await start_whatsapp(mock, aiohttp_client, db_url, tmp_path)

    async def delivered() -> bool:
        return await second.has_status(chat_id, message_id, "sent", "delivered", "read")

    await eventually(delivered, "the queued reply delivered after the restart")
    assert len(await sends_of(mock, "We are on it")) == 1


async def test_receipts_that_arrive_before_the_send_is_recorded_are_not_lost(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    """Meta may post "sent"/"read" before our outbox has stored the wamid of its send."""
    wa = await start_whatsapp(mock, aiohttp_client, db_url, tmp_path)
    chat_id, _ = await wa.customer_chat("Iwan", "628300002")
    mock.receipts_before_answer = True
    message_id = await wa.reply(chat_id, "Quick receipts")

    async def read() -> bool:
        return await wa.has_status(chat_id, message_id, "read")

    await eventually(read, "the early 'read' receipt applied once the send was recorded")
    assert await EarlyReceipt.all().count() == 0  # used up, not left behind
