"""Receipts: what providers report about our replies (delivered, read, failed) is recorded.

A receipt only moves a message forward: a late "delivered" never undoes "read", and
repeats change nothing. A receipt for a send whose provider id is not recorded yet (Meta
may post "sent" before our outbox has stored the wamid its send returned) waits in
``early_receipts`` and is applied when the outbox records the send (``storage.delivery``).
Every change is published as ``message.updated``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from connectors.base import StatusUpdate
from handoff.domain.sanitize import clean, clean_optional
from handoff.infra.writer import Unit, Writer
from handoff.read.views import Presenter, row_audience
from handoff.usecases.delivery import updated_event
from storage import delivery as delivery_store
from storage import sql
from storage.models import EarlyReceipt, Status

Receipt = tuple[str, str, str | None]  # the provider's message id, the status, the error


class Receipts:
    def __init__(self, writer: Writer, presenter: Presenter) -> None:
        self.writer = writer
        self.presenter = presenter

    async def record(self, updates: Sequence[StatusUpdate]) -> None:
        """Apply provider receipts (delivered/read/failed) to our outbound messages."""
        known = {status.value for status in Status}
        items = [
            (clean(update.message_external_id), update.status, clean_optional(update.error))
            for update in updates
            if update.status in known
        ]
        if items:
            await self.writer.run_merged("receipts", self._merged, items)

    async def _merged(self, units: Sequence[Unit], batches: Sequence[list[Receipt]]) -> list[None]:
        """Several webhooks' receipts in one savepoint and one plan (see ``storage.sql``)."""
        flat = [item for batch in batches for item in batch]
        changed, chats = await sql.run(delivery_store.status_plan(flat))
        audiences = {chat_id: row_audience(chat) for chat_id, chat in chats.items()}
        index = 0
        for unit, batch in zip(units, batches, strict=True):
            for row in changed[index : index + len(batch)]:
                if row is not None:
                    unit.emit(updated_event(self.presenter, row, audiences[row["chat_id"]]))
            index += len(batch)
        return [None for _ in batches]

    async def prune(self, before: datetime) -> int:
        """Forget the receipts kept since before ``before`` that no send ever matched."""
        return await EarlyReceipt.filter(created_at__lt=before).delete()
