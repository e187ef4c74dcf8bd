"""Bulk actions: each chat changed as if on its own (rights, audit, events); the answer
says which failed and why; a malformed request changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from storage.models import AuditEntry, Chat, ChatTransition, User
from tests.support import Api


def _updated(subscription: Any) -> dict[int, list[dict[str, Any]]]:
    rows: dict[int, list[dict[str, Any]]] = {}
    for event in subscription.ready():
        if event.type == "chat.updated":
            rows.setdefault(event.chat_id, []).append(event.data["chat"])
    return rows


async def test_an_agent_labels_their_chats_and_the_others_fail_one_by_one(
    admin: Api, agent: Api
) -> None:
    assert (await admin.post("/labels", {"name": "billing"}))[0] == 201
    ids = await admin.chat_ids()
    john, ahmed, sarah = ids["John Doe"], ids["Ahmed Hassan"], ids["Sarah Williams"]
    subscription = admin.service.core.bus.subscribe()
    status, body = await agent.post(
        "/chats/bulk", {"chat_ids": [john, sarah, ahmed, 99999], "action": "label",
                        "label": "Billing"},
    )  # fmt: skip
    assert status == 200, body
    assert body["done"] == [john, ahmed]
    assert body["failed"] == [
        {"chat_id": sarah, "code": "not_found", "message": f"chat {sarah} not found"},
        {"chat_id": 99999, "code": "not_found", "message": "chat 99999 not found"},
    ]
    assert (await Chat.get(id=sarah)).label_ids == []  # someone else's: untouched
    pushed = _updated(subscription)
    assert sorted(pushed) == sorted([john, ahmed])
    assert all(rows[-1]["labels"] == ["billing"] for rows in pushed.values())
    audited = await AuditEntry.filter(action="label_added").values_list("chat_id", "actor_id")
    agent_id = (await User.get(username="agent")).id
    assert sorted(audited) == sorted([(john, agent_id), (ahmed, agent_id)])

    status, body = await agent.post(
        "/chats/bulk", {"chat_ids": [john, ahmed], "action": "label", "label": "billing",
                        "remove": True},
    )  # fmt: skip
    assert (status, body) == (200, {"done": [john, ahmed], "failed": []})
    assert (await Chat.get(id=john)).label_ids == []


async def test_bulk_priority_close_and_assign(admin: Api, agent: Api) -> None:
    ids = await admin.chat_ids()
    john, ahmed, sarah, maria = (
        ids["John Doe"], ids["Ahmed Hassan"], ids["Sarah Williams"], ids["Maria Lopez"],
    )  # fmt: skip
    status, body = await admin.post(
        "/chats/bulk", {"chat_ids": [john, sarah], "action": "priority", "priority": "urgent"}
    )
    assert (status, body) == (200, {"done": [john, sarah], "failed": []})
    assert [c.priority for c in await Chat.filter(id__in=[john, sarah])] == [4, 4]
    assert await AuditEntry.filter(action="priority_changed").count() == 2

    agent_id = (await User.get(username="agent")).id
    subscription = admin.service.core.bus.subscribe()
    status, body = await admin.post(
        "/chats/bulk", {"chat_ids": [sarah, maria], "action": "assign", "agent_id": agent_id}
    )
    assert (status, body) == (200, {"done": [sarah, maria], "failed": []})
    assert sorted(_updated(subscription)) == sorted([sarah, maria])
    assigned = await ChatTransition.filter(action="assign").values_list("chat_id", flat=True)
    assert sorted(assigned) == sorted([sarah, maria])
    # the agent holds 4 chats of 5: the next assign over capacity fails for that chat only
    status, body = await admin.post("/chats/", {"channel": "Telegram", "customer_name": "Extra"})
    assert status == 201
    extra = body["id"]
    status, body = await admin.post("/chats/", {"channel": "Telegram", "customer_name": "More"})
    more = body["id"]
    status, body = await admin.post(
        "/chats/bulk", {"chat_ids": [extra, more], "action": "assign", "agent_id": agent_id}
    )
    assert status == 200
    assert body["done"] == [extra] or body["done"] == [more]
    assert [f["code"] for f in body["failed"]] == ["agent_at_capacity"]

    status, body = await agent.post(
        "/chats/bulk", {"chat_ids": [john, ahmed, sarah], "action": "close"}
    )
    assert status == 200
    assert body["done"] == [john, ahmed, sarah]
    closed = await Chat.filter(id__in=[john, ahmed, sarah]).values_list("mode", flat=True)
    assert set(closed) == {"closed"}
    status, body = await agent.post("/chats/bulk", {"chat_ids": [john], "action": "close"})
    assert (status, body["failed"][0]["code"]) == (200, "illegal_transition")


async def test_a_malformed_bulk_request_changes_nothing(admin: Api, agent: Api) -> None:
    ids = await admin.chat_ids()
    john = ids["John Doe"]
    bad: list[dict[str, Any]] = [
        {"chat_ids": [], "action": "close"},
        {"chat_ids": list(range(1, 102)), "action": "close"},
        {"chat_ids": [john, john], "action": "close"},
        {"chat_ids": [john], "action": "delete"},
        {"chat_ids": [john], "action": "priority", "priority": "soon"},
        {"chat_ids": [john], "action": "priority"},
        {"chat_ids": [john], "action": "assign"},
        {"chat_ids": [john], "action": "label"},
        {"chat_ids": [john], "action": "close", "extra": 1},
        {"chat_ids": ["1"], "action": "close"},
    ]
    for body in bad:
        status, answer = await admin.post("/chats/bulk", body)
        assert status == 422, (body, answer)
    status, answer = await admin.post(
        "/chats/bulk", {"chat_ids": [john], "action": "label", "label": "nope"}
    )
    assert (status, answer["error"]["code"]) == (404, "unknown_label")
    status, answer = await agent.post(
        "/chats/bulk", {"chat_ids": [john], "action": "assign", "agent_id": 1, "force": True}
    )
    assert status == 403
    assert (await Chat.get(id=john)).mode == "agent"
    assert await AuditEntry.all().count() == 0


async def test_bulk_snooze_snoozes_each_chat_as_a_single_snooze_would(admin: Api) -> None:
    ids = await admin.chat_ids()
    john, sarah = ids["John Doe"], ids["Sarah Williams"]  # an agent's chat; a bot chat
    both = {"until": "2030-01-01T10:00:00+07:00", "until_customer_replies": True}
    for fields in ({}, {"until": "tomorrow"}, {"until": "2030-01-01T10:00:00"}, both):
        status, body = await admin.post(
            "/chats/bulk", {"chat_ids": [john], "action": "snooze", **fields}
        )
        assert (status, body["error"]["code"]) == (422, "validation_error"), fields
    assert not await Chat.filter(snoozed_at__isnull=False).exists()

    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    status, body = await admin.post(
        "/chats/bulk", {"chat_ids": [john, sarah], "action": "snooze", "until": when.isoformat()}
    )
    assert status == 200, body
    assert body["done"] == [john], body
    assert [(f["chat_id"], f["code"]) for f in body["failed"]] == [(sarah, "not_snoozable")]
    chat = await Chat.get(id=john)
    assert chat.snoozed_until == when
    assert await AuditEntry.filter(chat_id=john, action="snoozed").count() == 1
    assert not (await Chat.get(id=sarah)).snoozed_at
