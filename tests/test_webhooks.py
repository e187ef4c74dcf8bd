"""Outgoing webhooks (docs/api.md, "Outgoing webhooks"): endpoints registered by admins,
deliveries queued with the change they report and posted, signed, to a real receiver on
127.0.0.1 (integrations.allow_private_destinations in these tests' settings), in order per
chat, retried, failed after retry_hours, the endpoint disabled with the admins told.

Times are the dispatcher's clock (``Webhooks.clock``), moved by the tests: nothing waits for
real time to pass but the posts themselves.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tortoise import timezone

from connectors.base import InboundMessage
from handoff.domain import csat
from handoff.domain.events import MESSAGE_CREATED, Event
from handoff.infra.writer import Unit
from msgcenter import demo
from msgcenter.service import SERVICE, Service, build_app
from storage.models import Chat, CsatSurvey, Message, Notification, WebhookDelivery, WebhookEndpoint
from tests.support import Api, ClientFactory, eventually, make_settings, mute_bot

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec-0123456789-abcdef"
ALL = [
    "message.created", "chat.created", "chat.mode_changed", "chat.assigned", "chat.closed",
    "csat.created", "contact.updated",
]  # fmt: skip


def readme_verifier() -> Callable[[str, Any, bytes], bool]:
    """The README's verification example, as written there (the block after its marker)."""
    text = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- webhook-verify -->\n```python\n(.*?)```", text, re.S)
    assert found, "the README's webhook verification example"
    scope: dict[str, Any] = {}
    exec(compile(found.group(1), "README.md", "exec"), scope)  # noqa: S102 - our own README
    verified: Callable[[str, Any, bytes], bool] = scope["verified"]
    return verified


@dataclass
class Receiver:
    """A receiver on 127.0.0.1: records every post; answers 500 to the first ``failing``
    (of chat ``only_chat``, when set)."""

    server: TestServer | None = None
    seen: list[dict[str, Any]] = field(default_factory=list)
    failing: int = 0
    only_chat: int | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}/hook"

    async def hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw)
        failed = self.failing > 0 and self.only_chat in (None, body["chat_id"])
        self.failing -= 1 if failed else 0
        self.seen.append({"headers": dict(request.headers), "raw": raw, "failed": failed,
                          "body": body})  # fmt: skip
        self.arrived.set()
        return web.Response(status=500 if failed else 204)

    def delivered(self) -> list[dict[str, Any]]:
        return [item["body"] for item in self.seen if not item["failed"]]

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        """The first ``count`` successful deliveries, once they arrived."""

        async def enough() -> list[dict[str, Any]] | None:
            found = self.delivered()
            return found if len(found) >= count else None

        return await eventually(enough, within=15.0)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.hook)
    found.server = TestServer(app, host="127.0.0.1")
    await found.server.start_server()
    yield found
    await found.server.close()


class Clock:
    """The dispatcher's time: now, until moved."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def start(
    aiohttp_client: ClientFactory, db_url: str, tmp_path: Path, *, private: bool = True
) -> Api:
    """The service (private destinations allowed unless not ``private``), its demo users,
    the admin logged in; the bot hears nothing (its answers would be more events)."""
    settings = make_settings(
        db_url, tmp_path / "data", integrations={"allow_private_destinations": private}
    )
    client = await aiohttp_client(build_app(settings))
    service: Service = client.app[SERVICE]
    await demo.seed_users(service.core.staff)
    mute_bot(service.core)
    return await Api(client).login("admin", "admin123")


def customer(who: str, msg_id: str, text: str, payload: str | None = None) -> InboundMessage:
    return InboundMessage(
        channel="WhatsApp", chat_external_id=who, message_external_id=msg_id, text=text,
        customer_name=f"Customer {who}", customer_phone=who, payload=payload,
    )  # fmt: skip


async def register(admin: Api, url: str, events: list[str]) -> dict[str, Any]:
    status, row = await admin.post(
        "/integrations/webhooks", {"url": url, "secret": SECRET, "events": events}
    )
    assert status == 201, row
    return dict(row)


async def test_registration_validation_and_rights(admin: Api, agent: Api) -> None:
    path = "/integrations/webhooks"
    good = {"url": "https://93.184.215.14/hook", "secret": SECRET, "events": ["chat.closed"]}
    refused = [
        {**good, "url": "http://127.0.0.1:8080/hook"},
        {**good, "url": "http://10.1.2.3/hook"},
        {**good, "url": "http://[::1]/hook"},
        {**good, "url": "http://localhost/hook"},  # a name resolving to loopback
        {**good, "url": "ftp://93.184.215.14/hook"},
        {**good, "url": "https://user:pw@93.184.215.14/hook"},
    ]
    for body in refused:
        status, error = await admin.post(path, body)
        assert (status, error["error"]["code"]) == (422, "destination_refused"), body
    invalid = [
        {**good, "secret": "short"},
        {**good, "events": []},
        {**good, "events": ["chat.exploded"]},
        {**good, "events": ["chat.closed", "chat.closed"]},
        {**good, "url": "https://93.184.215.14/" + "a" * 2048},
        {**good, "extra": 1},
        {"url": good["url"], "events": good["events"]},
    ]
    for body in invalid:
        status, error = await admin.post(path, body)
        assert (status, error["error"]["code"]) == (422, "validation_error"), body
    assert await WebhookEndpoint.all().count() == 0  # bad input changes nothing

    status, row = await admin.post(path, {**good, "description": "CRM"})
    assert status == 201, row
    assert set(row) == {"id", "url", "events", "description", "active", "disabled_at",
                        "disabled_reason", "created_at", "updated_at"}  # fmt: skip
    assert (row["url"], row["events"], row["active"]) == (good["url"], ["chat.closed"], True)
    one = f"{path}/{row['id']}"
    for method, target, body in (
        ("GET", path, None), ("POST", path, good), ("GET", one, None),
        ("PATCH", one, {"active": False}), ("DELETE", one, None),
        ("GET", f"{one}/deliveries", None), ("POST", f"{one}/deliveries/1/redeliver", None),
    ):  # fmt: skip
        status, error = await agent.call(method, target, body)
        assert (status, error["error"]["code"]) == (403, "forbidden"), (method, target)
    status, listed = await admin.get(path)
    assert status == 200 and listed["items"] == [row]
    assert "secret" not in json.dumps(listed)
    status, changed = await admin.patch(one, {"events": ["chat.closed", "message.created"]})
    assert status == 200 and changed["events"] == ["chat.closed", "message.created"]
    status, error = await admin.patch(one, {"url": "http://192.168.1.10/x"})
    assert (status, error["error"]["code"]) == (422, "destination_refused")
    assert (await WebhookEndpoint.get(id=row["id"])).url == good["url"]
    status, page = await admin.get(f"{one}/deliveries")
    assert (status, page) == (200, {"items": [], "next_cursor": None})
    assert (await admin.call("DELETE", one))[0] == 204
    status, error = await admin.get(one)
    assert (status, error["error"]["code"]) == (404, "not_found")


async def test_each_event_type_is_delivered_signed(
    receiver: Receiver, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    admin = await start(aiohttp_client, db_url, tmp_path)
    core = admin.service.core
    await register(admin, receiver.url, ALL)
    assert core.webhooks.types == frozenset(ALL)

    first = await core.inbox.receive(customer("628111", "m1", "Hello"))
    chat_id = first.chat_id
    me = (await admin.get("/auth/me"))[1]["id"]
    status, row = await admin.patch(f"/chats/{chat_id}", {"mode": "agent", "assigned_agent_id": me})
    assert status == 200, row
    status, row = await admin.patch(f"/chats/{chat_id}", {"mode": "closed"})
    assert status == 200, row
    survey = await CsatSurvey.get(chat_id=chat_id)
    rated = await core.inbox.receive(
        customer("628111", "m2", "4 - Good", payload=f"{csat.PREFIX}{survey.id}:4")
    )
    assert rated.chat_id == chat_id
    contact_id = (await Chat.get(id=chat_id)).contact_id
    status, row = await admin.patch(f"/contacts/{contact_id}", {"notes": "VIP"})
    assert status == 200, row

    async def every_type() -> bool:
        if await WebhookDelivery.filter(status="pending").exists():
            return False
        return {body["type"] for body in receiver.delivered()} >= set(ALL)

    await eventually(every_type, within=15.0)
    verified = readme_verifier()
    ids = [item["body"]["id"] for item in receiver.seen]
    assert len(ids) == len(set(ids))  # each posted once (none failed)
    for item in receiver.seen:
        assert verified(SECRET, item["headers"], item["raw"]), item["headers"]
        assert not verified("another-secret-0123456", item["headers"], item["raw"])
        assert not verified(SECRET, item["headers"], item["raw"] + b" ")
        assert item["headers"]["X-Msgcenter-Delivery"] == item["body"]["id"]
        assert set(item["body"]) == {"id", "type", "created_at", "chat_id", "data"}
    bodies = receiver.delivered()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for body in bodies:
        by_type.setdefault(body["type"], []).append(body)
    assert by_type["chat.created"][0]["data"]["chat"]["id"] == chat_id
    texts = [b["data"]["message"]["text"] for b in by_type["message.created"]]
    assert "Hello" in texts and "4 - Good" in texts
    modes = [(b["data"]["transition"]["from"], b["data"]["transition"]["to"])
             for b in by_type["chat.mode_changed"]]  # fmt: skip
    assert ("bot", "agent") in modes and ("agent", "closed") in modes
    assert by_type["chat.assigned"][0]["data"]["transition"]["to_agent_id"] == me
    assert by_type["chat.closed"][0]["data"]["chat"]["mode"] == "closed"
    assert by_type["csat.created"][0]["data"]["survey"]["rating"] == 4
    assert by_type["contact.updated"][0]["data"]["contact"]["id"] == contact_id
    assert by_type["contact.updated"][0]["chat_id"] is None
    # In order: one chat's deliveries arrive in the order they were queued.
    chat_rows = await WebhookDelivery.filter(chat_id=chat_id).order_by("id")
    arrived = [b["id"] for b in bodies if b["chat_id"] == chat_id]
    assert arrived == [row.delivery_id for row in chat_rows]

    status, page = await admin.get(f"/integrations/webhooks/{1}/deliveries?limit=2")
    assert status == 200 and len(page["items"]) == 2 and page["next_cursor"]
    item = page["items"][0]
    assert (item["status"], item["response_status"], item["attempts"]) == ("delivered", 204, 1)
    assert item["delivered_at"] and item["error"] is None


async def test_a_change_that_rolls_back_queues_nothing(
    receiver: Receiver, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    admin = await start(aiohttp_client, db_url, tmp_path)
    core = admin.service.core
    await register(admin, receiver.url, ["message.created"])
    kept = await core.inbox.receive(customer("628222", "m1", "Kept"))

    async def operation(unit: Unit) -> None:
        message = await Message.create(
            chat_id=kept.chat_id, text="Gone", sender="customer", status="sent",
            created_at=timezone.now(),
        )  # fmt: skip
        unit.emit(Event(MESSAGE_CREATED, kept.chat_id, {"message": {"id": message.id}}))
        raise RuntimeError("the change fails after its event")

    with pytest.raises(RuntimeError):
        await core.writer.run(operation)
    after = await core.inbox.receive(customer("628222", "m2", "After"))
    assert after.message_id is not None
    delivered = await receiver.wait_for(2)
    assert [b["data"]["message"]["text"] for b in delivered] == ["Kept", "After"]
    assert await WebhookDelivery.all().count() == 2
    assert not await Message.filter(text="Gone").exists()


async def test_one_chats_deliveries_wait_for_an_earlier_one_retried(
    receiver: Receiver, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    admin = await start(aiohttp_client, db_url, tmp_path)
    core = admin.service.core
    await register(admin, receiver.url, ["message.created"])
    await core.webhooks.stop_dispatcher()  # everything queued before the first attempt
    for n in (1, 2, 3):
        chat_a = (await core.inbox.receive(customer("628333", f"a{n}", f"A{n}"))).chat_id
    receiver.failing, receiver.only_chat = 2, chat_a  # the first two attempts in chat A fail
    await core.inbox.receive(customer("628444", "b1", "B1"))
    clock = core.webhooks.clock = Clock()  # from now on, the dispatcher's time stands still
    core.webhooks.start_dispatcher()

    async def recorded(count: int, attempts: int = 1) -> bool:
        """``count`` deliveries have had ``attempts`` recorded (a post is recorded after the
        receiver answered it)."""
        return await WebhookDelivery.filter(attempts__gte=attempts).count() >= count

    await eventually(lambda: recorded(2))  # A1 failed; B1 (another chat) did not wait
    rows = {row.body and json.loads(row.body)["data"]["message"]["text"]: row
            for row in await WebhookDelivery.all()}  # fmt: skip
    first = rows["A1"]
    assert (first.status, first.attempts, first.response_status) == ("pending", 1, 500)
    assert first.next_attempt_at is not None and first.last_attempt_at is not None
    assert first.next_attempt_at - first.last_attempt_at <= timedelta(seconds=2)  # backoff
    assert (rows["A2"].attempts, rows["A3"].attempts) == (0, 0)  # they wait for A1
    assert (rows["B1"].status, rows["B1"].attempts) == ("delivered", 1)  # it did not wait

    clock.move(seconds=2)
    core.webhooks.wake()
    await eventually(lambda: recorded(1, attempts=2))  # A1's second attempt fails too
    second = await WebhookDelivery.get(id=first.id)
    assert (second.attempts, second.status) == (2, "pending")
    assert second.next_attempt_at is not None and second.last_attempt_at is not None
    assert second.next_attempt_at - second.last_attempt_at == timedelta(seconds=2)
    assert await WebhookDelivery.filter(attempts=0).count() == 2

    clock.move(seconds=2)
    core.webhooks.wake()
    await receiver.wait_for(4)

    async def all_delivered() -> bool:
        return await WebhookDelivery.filter(status="delivered").count() == 4

    await eventually(all_delivered)
    in_a = [item for item in receiver.seen if item["body"]["chat_id"] == chat_a]
    texts = [item["body"]["data"]["message"]["text"] for item in in_a]
    assert texts == ["A1", "A1", "A1", "A2", "A3"]  # (B1 went out beside the first A1)
    assert [item["failed"] for item in in_a] == [True, True, False, False, False]
    ids = {item["headers"]["X-Msgcenter-Delivery"] for item in in_a[:3]}
    assert len(ids) == 1  # every attempt carries the same delivery id
    assert len(receiver.seen) == 6


async def test_given_up_after_retry_hours_and_the_endpoint_disabled(
    receiver: Receiver, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    admin = await start(aiohttp_client, db_url, tmp_path)
    core = admin.service.core
    endpoint = await register(admin, receiver.url, ["message.created"])
    receiver.failing = 1000
    await core.inbox.receive(customer("628555", "m1", "Anyone?"))
    clock = core.webhooks.clock = Clock()
    await eventually(lambda: _attempts(1))

    clock.move(hours=23)  # still retried
    core.webhooks.wake()
    await eventually(lambda: _attempts(2))
    row = await WebhookDelivery.get()
    assert row.status == "pending"
    assert (await WebhookEndpoint.get(id=endpoint["id"])).active

    clock.move(hours=1, seconds=1)  # 24 hours after it was queued, and failing since
    core.webhooks.wake()

    async def failed() -> bool:
        return (await WebhookDelivery.get(id=row.id)).status == "failed"

    await eventually(failed)
    row = await WebhookDelivery.get(id=row.id)
    assert (row.attempts, row.next_attempt_at) == (3, None)
    status, shown = await admin.get(f"/integrations/webhooks/{endpoint['id']}")
    assert status == 200 and shown["active"] is False
    assert shown["disabled_reason"] == "its deliveries failed for 24 hours"
    assert core.webhooks.types == frozenset()  # nothing is queued for it now
    status, notes = await admin.get("/notifications")
    (note,) = [n for n in notes["items"] if n["kind"] == "webhook_disabled"]
    assert note["data"]["endpoint_id"] == endpoint["id"] and note["data"]["url"] == receiver.url
    assert await Notification.filter(kind="webhook_disabled").count() == 1  # one admin
    await core.inbox.receive(customer("628555", "m2", "Hello?"))
    assert await WebhookDelivery.all().count() == 1

    # Enabled again, and the failed delivery redelivered: the same id and body.
    receiver.failing = 0
    status, shown = await admin.patch(f"/integrations/webhooks/{endpoint['id']}",
                                      {"active": True})  # fmt: skip
    assert status == 200 and shown["active"] and shown["disabled_reason"] is None
    path = f"/integrations/webhooks/{endpoint['id']}/deliveries/{row.id}/redeliver"
    status, again = await admin.post(path)
    assert status == 202 and again["status"] == "pending"
    await receiver.wait_for(1)

    async def redelivered() -> bool:
        return (await WebhookDelivery.get(id=row.id)).status == "delivered"

    await eventually(redelivered)
    assert receiver.seen[-1]["headers"]["X-Msgcenter-Delivery"] == row.delivery_id
    assert receiver.seen[-1]["raw"] == row.body.encode()
    status, page = await admin.get(f"/integrations/webhooks/{endpoint['id']}/deliveries")
    assert [item["status"] for item in page["items"]] == ["delivered"]
    status, error = await admin.post(
        f"/integrations/webhooks/{endpoint['id']}/deliveries/999/redeliver"
    )
    assert (status, error["error"]["code"]) == (404, "not_found")


async def _attempts(count: int) -> bool:
    row = await WebhookDelivery.first()
    return row is not None and row.attempts >= count


async def test_queued_deliveries_survive_a_restart_and_a_delete_drops_them(
    receiver: Receiver, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    admin = await start(aiohttp_client, db_url, tmp_path)
    core = admin.service.core
    await register(admin, receiver.url, ["chat.created", "message.created"])
    await core.webhooks.stop_dispatcher()  # queued, not posted: then the service stops
    await core.inbox.receive(customer("628666", "m1", "Before the restart"))
    assert await WebhookDelivery.filter(status="pending").count() == 2
    await admin.client.close()
    assert receiver.seen == []

    again = await start(aiohttp_client, db_url, tmp_path)
    delivered = await receiver.wait_for(2)  # (then the bot's answer, missed before)
    assert [b["type"] for b in delivered[:2]] == ["chat.created", "message.created"]
    assert delivered[1]["data"]["message"]["text"] == "Before the restart"

    other = await register(again, receiver.url, ["message.created"])
    await again.service.core.webhooks.stop_dispatcher()
    await again.service.core.inbox.receive(customer("628666", "m2", "Dropped"))
    assert await WebhookDelivery.filter(endpoint_id=other["id"], status="pending").count() == 1
    assert (await again.call("DELETE", f"/integrations/webhooks/{other['id']}"))[0] == 204
    assert await WebhookDelivery.filter(endpoint_id=other["id"]).count() == 0


async def test_a_name_resolving_to_loopback_is_refused_at_delivery(
    receiver: Receiver, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    """Registered while it resolved to a public address (stored as such here); by delivery
    time ``localhost`` resolves to 127.0.0.1: the attempt fails, nothing is posted."""
    admin = await start(aiohttp_client, db_url, tmp_path, private=False)
    core = admin.service.core
    assert receiver.server is not None
    await WebhookEndpoint.create(
        url=f"http://localhost:{receiver.server.port}/hook", secret=SECRET,
        events=["message.created"],
    )  # fmt: skip
    await core.webhooks.refresh()
    await core.inbox.receive(customer("628777", "m1", "Hi"))
    await eventually(lambda: _attempts(1))
    row = await WebhookDelivery.get()
    assert row.status == "pending" and row.response_status is None
    assert row.error is not None and row.error.startswith("destination refused")
    assert receiver.seen == []


async def test_erasing_a_contact_drops_the_deliveries_about_them(
    receiver: Receiver, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    admin = await start(aiohttp_client, db_url, tmp_path)
    core = admin.service.core
    await register(admin, receiver.url, ["message.created", "contact.updated"])
    await core.webhooks.stop_dispatcher()  # queued and kept (as if the receiver were down)
    gone = await core.inbox.receive(customer("628888", "m1", "Erase me"))
    kept = await core.inbox.receive(customer("628999", "m1", "Keep me"))
    for chat_id in (gone.chat_id, kept.chat_id):
        contact_id = (await Chat.get(id=chat_id)).contact_id
        status, row = await admin.patch(f"/contacts/{contact_id}", {"notes": "Noted"})
        assert status == 200, row
    assert await WebhookDelivery.all().count() == 4
    erased = (await Chat.get(id=gone.chat_id)).contact_id
    status, _ = await admin.call("DELETE", f"/contacts/{erased}")
    assert status == 200, _
    left = [json.loads(row.body) for row in await WebhookDelivery.all().order_by("id")]
    assert [(b["type"], b["chat_id"]) for b in left] == [
        ("message.created", kept.chat_id), ("contact.updated", None)
    ]  # fmt: skip
    assert left[1]["data"]["contact"]["id"] != erased
