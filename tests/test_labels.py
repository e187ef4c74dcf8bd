"""Labels: admins define them, whoever may act on a chat puts them on it; rows, filters,
audit and events agree; deleting a label takes it off every chat in one transaction."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from tortoise.log import db_client_logger

from connectors.base import InboundMessage
from handoff.infra.bus import Subscription
from storage.models import AuditEntry, Chat, ChatLabel
from tests.support import Api, mute_bot


async def _label(admin: Api, name: str, **fields: Any) -> dict[str, Any]:
    status, label = await admin.post("/labels", {"name": name, **fields})
    assert status == 201, label
    return dict(label)


def _updated(subscription: Subscription) -> list[dict[str, Any]]:
    return [e.data["chat"] for e in subscription.ready() if e.type == "chat.updated"]


async def _stored_labels(chat_id: int) -> tuple[list[int], list[int]]:
    """The chat's label ids as kept on the chat and as rows of chat_labels."""
    chat = await Chat.get(id=chat_id)
    rows = await ChatLabel.filter(chat_id=chat_id).order_by("id").values_list("label_id", flat=True)
    return list(chat.label_ids or []), list(rows)


async def test_admins_manage_labels_and_everyone_lists_them(admin: Api, agent: Api) -> None:
    billing = await _label(admin, "billing", colour="#2563EB", description="Payments")
    assert billing == {
        "id": billing["id"], "name": "billing", "colour": "#2563eb", "description": "Payments",
    }  # fmt: skip
    vip = await _label(admin, "VIP customers")
    assert vip["colour"] == "#6b7280"  # the default
    status, body = await admin.post("/labels", {"name": "Billing"})
    assert (status, body["error"]["code"]) == (409, "label_exists")
    for bad in ({"name": "bad/name"}, {"name": ""}, {"name": "x" * 65},
                {"name": "ok", "colour": "blue"}, {"name": "ok", "colour": "#12345"},
                {"name": "ok", "description": "d" * 256}):  # fmt: skip
        status, body = await admin.post("/labels", bad)
        assert status == 422, (bad, body)
    assert (await agent.post("/labels", {"name": "mine"}))[0] == 403
    assert (await agent.patch(f"/labels/{vip['id']}", {"colour": "#000000"}))[0] == 403
    assert (await agent.call("DELETE", f"/labels/{vip['id']}"))[0] == 403
    status, listed = await agent.get("/labels")
    assert status == 200
    assert [label["name"] for label in listed] == ["billing", "VIP customers"]

    status, changed = await admin.patch(
        f"/labels/{vip['id']}", {"name": "vip", "colour": "#7C3AED"}
    )
    assert (status, changed["name"], changed["colour"]) == (200, "vip", "#7c3aed")
    status, body = await admin.patch(f"/labels/{vip['id']}", {"name": "BILLING"})
    assert (status, body["error"]["code"]) == (409, "label_exists")
    assert (await admin.patch(f"/labels/{vip['id']}", {"colour": "red"}))[0] == 422
    status, body = await admin.patch("/labels/9999", {"colour": "#000000"})
    assert (status, body["error"]["code"]) == (404, "unknown_label")
    actions = await AuditEntry.filter(chat_id=None).order_by("id").values_list("action", flat=True)
    assert actions == ["label_created", "label_created", "label_updated"]


async def test_a_label_on_a_chat_is_kept_twice_audited_pushed_and_idempotent(
    admin: Api, agent: Api
) -> None:
    billing = await _label(admin, "billing", colour="#2563eb")
    john = (await agent.chat_ids())["John Doe"]
    subscription = admin.service.core.bus.subscribe()
    status, row = await agent.post(f"/chats/{john}/labels", {"label": "BILLING"})
    assert (status, row["id"], row["labels"]) == (200, john, ["billing"])
    assert await _stored_labels(john) == ([billing["id"]], [billing["id"]])
    pushed = _updated(subscription)
    assert [r["labels"] for r in pushed] == [["billing"]]
    status, again = await agent.post(f"/chats/{john}/labels", {"label": "billing"})
    assert (status, again["labels"]) == (200, ["billing"])  # twice is fine, nothing new
    assert _updated(subscription) == []
    assert await _stored_labels(john) == ([billing["id"]], [billing["id"]])
    _, detail = await agent.get(f"/chats/{john}")
    assert detail["labels"] == ["billing"]

    status, body = await agent.post(f"/chats/{john}/labels", {"label": "nope"})
    assert (status, body["error"]["code"]) == (404, "unknown_label")
    status, body = await agent.call("DELETE", f"/chats/{john}/labels/nope")
    assert (status, body["error"]["code"]) == (404, "unknown_label")

    status, row = await agent.call("DELETE", f"/chats/{john}/labels/Billing")
    assert (status, row["labels"]) == (200, [])
    assert await _stored_labels(john) == ([], [])
    assert [r["labels"] for r in _updated(subscription)] == [[]]
    status, row = await agent.call("DELETE", f"/chats/{john}/labels/billing")
    assert (status, row["labels"]) == (200, [])
    entries = await AuditEntry.filter(chat_id=john).order_by("id")
    assert [(e.action, e.actor_kind, e.data["label"]) for e in entries] == [
        ("label_added", "person", "billing"),
        ("label_removed", "person", "billing"),
    ]


async def test_an_agent_cannot_label_someone_elses_chat_or_a_queued_one(
    admin: Api, agent: Api
) -> None:
    await _label(admin, "billing")
    ids = await admin.chat_ids()
    sarah, john = ids["Sarah Williams"], ids["John Doe"]
    status, body = await agent.post(f"/chats/{sarah}/labels", {"label": "billing"})
    assert (status, body["error"]["code"]) == (404, "not_found")  # a bot chat, nobody's
    assert (await admin.patch(f"/chats/{sarah}", {"mode": "agent"}))[0] == 200  # to the queue
    status, body = await agent.post(f"/chats/{sarah}/labels", {"label": "billing"})
    assert (status, body["error"]["code"]) == (404, "claim_first")
    # an admin may label any chat; the agent may not take it off someone else's
    assert (await admin.post(f"/chats/{sarah}/labels", {"label": "billing"}))[0] == 200
    assert (await agent.call("DELETE", f"/chats/{sarah}/labels/billing"))[0] == 404
    assert (await Chat.get(id=sarah)).label_ids
    assert (await agent.get(f"/chats/{sarah}/audit"))[0] == 200  # queued: readable
    assert (await admin.post(f"/chats/{john}/labels", {"label": "billing"}))[0] == 200


async def test_the_list_and_the_queue_filter_by_label(admin: Api, agent: Api) -> None:
    await _label(admin, "billing")
    await _label(admin, "vip")
    ids = await admin.chat_ids()
    john, sarah, maria = ids["John Doe"], ids["Sarah Williams"], ids["Maria Lopez"]
    for chat_id in (john, sarah):
        assert (await admin.post(f"/chats/{chat_id}/labels", {"label": "billing"}))[0] == 200
    assert (await admin.post(f"/chats/{maria}/labels", {"label": "vip"}))[0] == 200
    _, rows = await admin.get("/chats/?label=Billing")
    assert sorted(r["name"] for r in rows) == ["John Doe", "Sarah Williams"]
    _, rows = await admin.get("/chats/?label=vip&limit=1")
    assert [r["name"] for r in rows] == ["Maria Lopez"]
    assert (await admin.get("/chats/?label=unknown"))[1] == []
    _, rows = await agent.get("/chats/?label=billing")  # the agent's own only
    assert [r["name"] for r in rows] == ["John Doe"]
    for chat_id in (sarah, maria):
        assert (await admin.patch(f"/chats/{chat_id}", {"mode": "agent"}))[0] == 200
    _, queue = await agent.get("/chats/queue?label=vip")
    assert [r["name"] for r in queue] == ["Maria Lopez"]
    _, queue = await agent.get("/chats/queue")
    assert sorted(r["name"] for r in queue) == ["Maria Lopez", "Sarah Williams"]
    assert (await admin.get("/chats/?label=" + "x" * 65))[0] == 422


async def test_deleting_a_label_takes_it_off_every_chat_in_one_go(admin: Api) -> None:
    billing = await _label(admin, "billing")
    vip = await _label(admin, "vip")
    ids = await admin.chat_ids()
    john, sarah = ids["John Doe"], ids["Sarah Williams"]
    for chat_id in (john, sarah):
        for name in ("billing", "vip"):
            assert (await admin.post(f"/chats/{chat_id}/labels", {"label": name}))[0] == 200
    subscription = admin.service.core.bus.subscribe()
    status, body = await admin.call("DELETE", f"/labels/{billing['id']}")
    assert (status, body) == (200, {"deleted": True, "chats": sorted([john, sarah])})
    pushed = _updated(subscription)
    assert sorted(r["id"] for r in pushed) == sorted([john, sarah])
    assert all(r["labels"] == ["vip"] for r in pushed)
    for chat_id in (john, sarah):
        assert await _stored_labels(chat_id) == ([vip["id"]], [vip["id"]])
    _, rows = await admin.get("/chats/")
    assert {r["name"]: r["labels"] for r in rows if r["labels"]} == {
        "John Doe": ["vip"], "Sarah Williams": ["vip"],
    }  # fmt: skip
    assert [label["name"] for label in (await admin.get("/labels"))[1]] == ["vip"]
    removed = await AuditEntry.filter(action="label_removed").values_list("chat_id", "data")
    assert sorted(chat_id for chat_id, _ in removed) == sorted([john, sarah])
    assert all(data["deleted"] for _, data in removed)
    assert (await admin.call("DELETE", f"/labels/{billing['id']}"))[0] == 404
    # a renamed label shows its new name on the chats at once
    assert (await admin.patch(f"/labels/{vip['id']}", {"name": "VIP"}))[0] == 200
    assert (await admin.get(f"/chats/{john}"))[1]["labels"] == ["VIP"]


async def test_the_chat_audit_lists_changes_newest_first_for_who_may_read(
    admin: Api, agent: Api
) -> None:
    await _label(admin, "billing")
    ids = await admin.chat_ids()
    john, sarah = ids["John Doe"], ids["Sarah Williams"]
    assert (await agent.post(f"/chats/{john}/labels", {"label": "billing"}))[0] == 200
    assert (await admin.patch(f"/chats/{john}", {"priority": "urgent"}))[0] == 200
    status, entries = await agent.get(f"/chats/{john}/audit")
    assert status == 200
    assert [(e["action"], e["by"], e["by_kind"], e["data"]) for e in entries] == [
        ("priority_changed", "Admin", "admin", {"from": "none", "to": "urgent"}),
        ("label_added", "Agent Smith", "agent", {"label": "billing", "label_id": 1}),
    ]
    assert entries[0]["id"] > entries[1]["id"] and entries[0]["created_at"]
    assert (await agent.get(f"/chats/{sarah}/audit"))[0] == 404
    assert (await admin.get(f"/chats/{sarah}/audit"))[1] == []


async def test_the_list_stays_at_a_fixed_number_of_queries_with_labels_on_every_row(
    admin: Api, caplog: pytest.LogCaptureFixture
) -> None:
    core = admin.service.core
    mute_bot(core)
    await core.inbox.receive_many(
        [
            InboundMessage(channel="Telegram", chat_external_id=str(900 + i),
                           message_external_id=f"l{i}", text=f"message {i}",
                           customer_name=f"Customer {i}")
            for i in range(60)
        ]
    )  # fmt: skip
    for name in ("billing", "vip", "bug"):
        await _label(admin, name)
    _, chats = await admin.get("/chats/?limit=200")
    for index, chat in enumerate(chats):
        for name in ("billing", "vip", "bug")[: 1 + index % 3]:
            assert (await admin.post(f"/chats/{chat['id']}/labels", {"label": name}))[0] == 200
    await admin.get("/chats/?limit=200")  # names cached, as on a running server

    async def queries(path: str) -> tuple[int, list[dict[str, Any]]]:
        caplog.clear()
        status, rows = await admin.get(path)
        assert status == 200
        return sum(1 for r in caplog.records if r.name == db_client_logger.name), rows

    caplog.set_level(logging.DEBUG, logger=db_client_logger.name)
    small, _ = await queries("/chats/?limit=5")
    large, many = await queries("/chats/?limit=200")
    assert all(row["labels"] for row in many) and len(many) > 60
    assert 1 <= small == large <= 2  # the token's user, the page
    filtered, rows = await queries("/chats/?label=bug&limit=200")
    assert filtered == large and len(rows) == len([c for i, c in enumerate(chats) if i % 3 == 2])
    assert (await queries("/chats/queue?label=bug"))[0] == large
