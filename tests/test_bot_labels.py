"""A bot intent's labels and priority: checked when the settings load, created at start-up
when missing, put on the chat by the bot in the transaction of its answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot import PRIORITIES, BotSettings, Handoff, Reply
from bot.engine import BotContext
from bot.rules import RulesBot
from connectors.mock.whatsapp import MockWhatsApp
from handoff.domain.priority import LEVELS
from storage.models import AuditEntry, Chat, ChatLabel, Label
from tests.support import ClientFactory
from tests.test_conversations import says, shipped_bot, world


def test_an_intent_names_known_priorities_and_well_formed_labels() -> None:
    assert PRIORITIES == LEVELS  # the bot's copy of msgcenter's levels
    intent = {"name": "refund", "examples": ["refund"], "answer": "ok"}
    settings = BotSettings(intents=[{**intent, "labels": [" billing ", "VIP"], "priority": "high"}])
    assert settings.intents[0].labels == ["billing", "VIP"]
    with pytest.raises(ValidationError, match="priority 'critical'"):
        BotSettings(intents=[{**intent, "priority": "critical"}])
    with pytest.raises(ValidationError, match="label 'a/b'"):
        BotSettings(intents=[{**intent, "labels": ["a/b"]}])
    with pytest.raises(ValidationError):
        BotSettings(intents=[{**intent, "labels": ["x" * 65]}])
    two = BotSettings(
        intents=[{**intent, "labels": ["Billing"]},
                 {**intent, "name": "other", "labels": ["billing", "vip"]}]
    )  # fmt: skip
    assert two.intent_labels() == ["Billing", "vip"]


async def test_the_rules_bot_carries_the_intents_labels_and_priority() -> None:
    bot = RulesBot(
        BotSettings(
            intents=[
                {"name": "refund", "examples": ["i want a refund"], "answer": "Sure.",
                 "labels": ["billing"], "priority": "medium"},
                {"name": "broken", "examples": ["my item is broken"], "answer": "Sorry.",
                 "handoff": True, "labels": ["complaint"], "priority": "urgent"},
            ]
        )
    )  # fmt: skip
    reply = await bot.respond(BotContext(chat_id=1, channel="Telegram", customer_name="A",
                                         text="i want a refund", fallbacks_so_far=0))  # fmt: skip
    assert isinstance(reply, Reply)
    assert (reply.labels, reply.priority) == (("billing",), "medium")
    handoff = await bot.respond(BotContext(chat_id=1, channel="Telegram", customer_name="A",
                                           text="my item is broken"))  # fmt: skip
    assert isinstance(handoff, Handoff)
    assert (handoff.labels, handoff.priority) == (("complaint",), "urgent")


async def test_the_shipped_intents_label_the_chat_with_the_answer_and_the_handoff(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    wa = await world(mock, aiohttp_client, db_url, tmp_path, shipped_bot())
    names = await Label.all().order_by("name").values_list("name", flat=True)
    assert names == ["billing", "complaint"]  # created at start-up: the config names them
    subscription = wa.service.core.bus.subscribe()
    answer = await says(wa, "Budi", "i want a refund", "628100009")
    assert len(answer) == 1 and "refund" in answer[0].lower()
    chat = await Chat.get(external_id="628100009")
    billing = await Label.get(name="billing")
    assert (chat.mode, chat.label_ids, chat.priority) == ("bot", [billing.id], 0)
    assert await ChatLabel.filter(chat_id=chat.id).values_list("label_id", flat=True) == [
        billing.id
    ]
    events = subscription.ready()
    created = [
        e for e in events if e.type == "message.created" and e.data["message"]["sender"] == "bot"
    ]
    assert created and created[-1].data["chat"]["labels"] == ["billing"]
    audit = await AuditEntry.filter(chat_id=chat.id).values_list("action", "actor_kind", "data")
    assert audit == [("label_added", "bot", {"label": "billing", "label_id": billing.id})]

    await says(wa, "Budi", "my item is broken", "628100009")
    chat = await Chat.get(external_id="628100009")
    complaint = await Label.get(name="complaint")
    assert (chat.mode, chat.assigned_agent_id) == ("agent", None)  # in the queue
    assert (chat.label_ids, chat.priority) == ([billing.id, complaint.id], 3)
    _, queue = await wa.admin.get("/chats/queue?label=complaint")
    assert [(r["id"], r["priority"], r["labels"]) for r in queue] == [
        (chat.id, "high", ["billing", "complaint"])
    ]
    actions = (
        await AuditEntry.filter(chat_id=chat.id).order_by("id").values_list("action", "actor_kind")
    )
    assert actions == [
        ("label_added", "bot"), ("label_added", "bot"), ("priority_changed", "bot"),
    ]  # fmt: skip
