"""What a replayed ``message.created`` event shows: rebuilt from the message and chat rows as
they are now (the event log stores such events as a reference to their message)."""

from __future__ import annotations

from typing import Any

from handoff.domain.events import Audience
from handoff.read.names import AgentNames, LabelNames, label_ids
from handoff.read.views import CHAT_FIELDS, MESSAGE_FIELDS, NO_NAMES, Presenter, row_audience
from storage.models import Chat, Message


class MessageEvents:
    def __init__(
        self, presenter: Presenter, names: AgentNames, labels: LabelNames | None = None
    ) -> None:
        self.presenter = presenter
        self.names = names
        self.labels = labels if labels is not None else LabelNames()

    async def rebuild(self, ids: set[int]) -> dict[int, tuple[dict[str, Any], Audience]]:
        """message id -> the ``message.created`` data of it now, and its chat's audience now
        (a message or chat that is gone is left out). Three queries at most, however many
        events."""
        presenter = self.presenter
        messages = await Message.filter(id__in=ids).values(*MESSAGE_FIELDS)
        chat_ids = {message["chat_id"] for message in messages}
        chats = {
            chat["id"]: chat for chat in await Chat.filter(id__in=chat_ids).values(*CHAT_FIELDS)
        }
        agents = {c["assigned_agent_id"] for c in chats.values()} - {None}
        names = await self.names.names(agents) if agents else {}
        wanted = label_ids(chats.values())
        labels = await self.labels.names(wanted) if wanted else NO_NAMES
        rebuilt = {}
        for message in messages:
            chat = chats.get(message["chat_id"])
            if chat is not None:
                data = {
                    "message": presenter.message(message),
                    "chat": presenter.chat_row(chat, names, labels),
                }
                rebuilt[int(message["id"])] = (data, row_audience(chat))
        return rebuilt
