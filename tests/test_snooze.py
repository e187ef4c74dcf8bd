"""Snooze (issue 19): POST /chats/{id}/snooze and /unsnooze, the waker, waking when the
customer writes, ending quietly when the chat leaves its agent, the snoozed lists."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise.log import db_client_logger

from connectors.base import InboundMessage
from handoff.usecases.snooze import Snoozer
from msgcenter import demo
from msgcenter.lease import Lease
from msgcenter.service import SERVICE, Service, _outbox, build_app
from msgcenter.settings import Settings
from storage.models import AuditEntry, Chat, Message, Notification
from tests.support import Api, ClientFactory, mute_bot
from tests.whatsapp_support import WhatsApp, eventually


def _at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


async def _me(api: Api) -> int:
    _, me = await api.get("/auth/me")
    return int(me["id"])


async def _notes(chat_id: int, action: str) -> list[dict[str, Any]]:
    rows = await Message.filter(chat_id=chat_id, internal=True).order_by("id")
    return [row.note for row in rows if row.note and row.note.get("action") == action]


async def _ended(chat_id: int) -> list[Notification]:
    return await Notification.filter(chat_id=chat_id, kind="snooze_ended").order_by("id")


def _service(api: Api) -> Service:
    return api.service


def _later(service: Service, delta: timedelta) -> None:
    """Move the snoozer's clock ``delta`` ahead and let it look: time passes, no sleeping."""
    snoozer = service.core.snoozer
    snoozer.clock = lambda: datetime.now(UTC) + delta
    snoozer.kick()


async def test_an_agent_snoozes_their_chat_out_of_mine_into_snoozed(agent: Api) -> None:
    john = (await agent.chat_ids())["John Doe"]
    until = _at(timedelta(hours=2))
    status, row = await agent.post(f"/chats/{john}/snooze", {"until": until})
    assert status == 200, row
    assert row["snoozed"] is True
    assert datetime.fromisoformat(row["snoozed_until"]) == datetime.fromisoformat(until)
    assert row["mode"] == "agent"  # an attribute, not a mode
    _, snoozed = await agent.get("/chats/?snoozed=true")
    assert [chat["name"] for chat in snoozed] == ["John Doe"]
    _, awake = await agent.get("/chats/?snoozed=false")
    assert [chat["name"] for chat in awake] == ["Ahmed Hassan"]
    _, everything = await agent.get("/chats/")
    assert {chat["name"] for chat in everything} == {"John Doe", "Ahmed Hassan"}
    [note] = await _notes(john, "snoozed")
    assert (note["by"], note["by_kind"]) == ("Agent Smith", "agent")
    assert datetime.fromisoformat(note["until"]) == datetime.fromisoformat(until)
    _, detail = await agent.get(f"/chats/{john}")
    assert detail["messages"][-1]["text"].startswith("Snoozed by Agent Smith until ")
    [entry] = await AuditEntry.filter(chat_id=john, action="snoozed")
    assert (entry.actor_id, entry.actor_kind) == (await _me(agent), "person")

    # Again: the new time replaces the old one.
    later = _at(timedelta(days=3))
    status, row = await agent.post(f"/chats/{john}/snooze", {"until": later})
    assert status == 200
    assert datetime.fromisoformat(row["snoozed_until"]) == datetime.fromisoformat(later)
    # Until the customer replies: no time.
    status, row = await agent.post(f"/chats/{john}/snooze", {"until_customer_replies": True})
    assert (status, row["snoozed"], row["snoozed_until"]) == (200, True, None)
    # A paused chat with its agent may be snoozed too.
    ahmed = (await agent.chat_ids())["Ahmed Hassan"]
    assert (await agent.post(f"/chats/{ahmed}/snooze", {"until_customer_replies": True}))[0] == 200


async def test_who_may_snooze_which_chat(admin: Api, agent: Api) -> None:
    ids = await admin.chat_ids()
    body = {"until": _at(timedelta(hours=1))}
    # Another's chat or a bot's: 404 for an agent, as for every other action.
    for name in ("Sarah Williams", "Maria Lopez"):
        status, error = await agent.post(f"/chats/{ids[name]}/snooze", body)
        assert (status, error["error"]["code"]) == (404, "not_found")
    # Nobody holds a bot chat or one in the queue: nothing to snooze.
    status, error = await admin.post(f"/chats/{ids['Sarah Williams']}/snooze", body)
    assert (status, error["error"]["code"]) == (409, "not_snoozable")
    assert error["error"]["message"].startswith("snooze is for a chat someone holds")
    await admin.patch(f"/chats/{ids['Sarah Williams']}", {"mode": "agent"})  # to the queue
    status, error = await admin.post(f"/chats/{ids['Sarah Williams']}/snooze", body)
    assert (status, error["error"]["code"]) == (409, "not_snoozable")
    # An admin may snooze an agent's chat; the agent wakes it.
    status, row = await admin.post(f"/chats/{ids['John Doe']}/snooze", body)
    assert (status, row["snoozed"]) == (200, True)
    status, row = await agent.post(f"/chats/{ids['John Doe']}/unsnooze")
    assert (status, row["snoozed"], row["snoozed_until"]) == (200, False, None)
    # Without a token: 401.
    anon = Api(agent.client)
    assert (await anon.post(f"/chats/{ids['John Doe']}/snooze", body))[0] == 401
    assert not await Chat.filter(snoozed_at__isnull=False).exists()


async def test_bad_snooze_requests_are_422_and_change_nothing(agent: Api) -> None:
    john = (await agent.chat_ids())["John Doe"]
    naive = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    for body in (
        {},
        {"until": _at(timedelta(hours=1)), "until_customer_replies": True},
        {"until_customer_replies": False},
        {"until": _at(timedelta(minutes=-1))},  # the past
        {"until": _at(timedelta(days=91))},  # too far ahead
        {"until": naive},  # no offset
        {"until": "tomorrow"},
        {"until": _at(timedelta(hours=1)), "why": "lunch"},
    ):
        status, error = await agent.post(f"/chats/{john}/snooze", body)
        assert status == 422, (body, error)
        assert "code" in error["error"]
    assert (await agent.post(f"/chats/{john}/snooze", {"until": _at(timedelta(days=89))}))[0] == 200
    await agent.post(f"/chats/{john}/unsnooze")
    assert not await Chat.filter(snoozed_at__isnull=False).exists()
    assert await _notes(john, "snoozed") and len(await _notes(john, "snooze_ended")) == 1


async def test_waking_by_hand(admin: Api, agent: Api) -> None:
    john = (await agent.chat_ids())["John Doe"]
    status, error = await agent.post(f"/chats/{john}/unsnooze")
    assert (status, error["error"]["code"]) == (409, "not_snoozed")
    await agent.post(f"/chats/{john}/snooze", {"until_customer_replies": True})
    status, row = await agent.post(f"/chats/{john}/unsnooze")
    assert (status, row["snoozed"]) == (200, False)
    [note] = await _notes(john, "snooze_ended")
    assert (note["reason"], note["by"]) == ("by_hand", "Agent Smith")
    assert await _ended(john) == []  # they woke it themselves: nothing to tell them
    # An admin wakes the agent's chat: the agent hears of it.
    await agent.post(f"/chats/{john}/snooze", {"until_customer_replies": True})
    assert (await admin.post(f"/chats/{john}/unsnooze"))[0] == 200
    [told] = await _ended(john)
    assert (told.user_id, told.data["reason"]) == (await _me(agent), "by_hand")
    assert [e.data["reason"] for e in await AuditEntry.filter(chat_id=john, action="woke")] == [
        "by_hand", "by_hand",
    ]  # fmt: skip


async def test_the_waker_wakes_the_chat_at_its_time(agent: Api) -> None:
    service = _service(agent)
    assert service.core.snoozer.running  # one process, SQLite: it runs here
    ids = await agent.chat_ids()
    john, ahmed = ids["John Doe"], ids["Ahmed Hassan"]
    await agent.post(f"/chats/{john}/snooze", {"until": _at(timedelta(hours=1))})
    await agent.post(f"/chats/{ahmed}/snooze", {"until_customer_replies": True})
    _later(service, timedelta(minutes=59))
    await asyncio.sleep(0.1)
    assert (await Chat.get(id=john)).snoozed_at is not None  # not yet
    _later(service, timedelta(minutes=61))

    async def awake() -> bool:
        return (await Chat.get(id=john)).snoozed_at is None

    await eventually(awake, "John's chat to wake")
    [note] = await _notes(john, "snooze_ended")
    assert (note["reason"], note["by_kind"]) == ("time", "system")
    [told] = await _ended(john)
    assert (told.user_id, told.data["reason"]) == (await _me(agent), "time")
    _, row = await agent.get(f"/chats/{john}")
    assert (row["snoozed"], row["snoozed_until"]) == (False, None)
    assert row["messages"][-1]["text"] == "Snooze ended: the time came"
    # Until the customer replies knows no time: a year on it still sleeps.
    _later(service, timedelta(days=365))
    await service.core.snoozer.wake_due()
    assert (await Chat.get(id=ahmed)).snoozed_at is not None
    _, snoozed = await agent.get("/chats/?snoozed=true")
    assert [chat["name"] for chat in snoozed] == ["Ahmed Hassan"]


async def test_a_snooze_survives_a_restart(
    settings: Settings, aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    client = await aiohttp_client(build_app(settings))
    users = await demo.seed_users(client.app[SERVICE].core.staff)
    await demo.seed_chats(users[1], settings.bot)
    agent = await Api(client).login("agent", "agent123")
    john = (await agent.chat_ids())["John Doe"]
    assert (await agent.post(f"/chats/{john}/snooze", {"until": _at(timedelta(hours=8))}))[0] == 200
    await client.close()  # the service stops; the snooze is in the columns

    # The night passed while it was down: the new process wakes the chat as it starts.
    app = build_app(settings)
    app[SERVICE].core.snoozer.clock = lambda: datetime.now(UTC) + timedelta(hours=9)
    client = await aiohttp_client(app)
    agent = await Api(client).login("agent", "agent123")

    async def awake() -> bool:
        _, row = await agent.get(f"/chats/{john}")
        return row["snoozed"] is False

    await eventually(awake, "the chat to wake after the restart")
    [note] = await _notes(john, "snooze_ended")
    assert note["reason"] == "time"
    assert len(await _ended(john)) == 1


async def _customer_writes(wa: WhatsApp, text: str) -> None:
    status, _ = await wa.mock.customer_says("Dewi", text, phone="6281300001111")
    assert status == 200


async def _dewi(wa: WhatsApp) -> int:
    """Dewi writes on WhatsApp; the admin takes her chat (agent mode, theirs)."""
    await _customer_writes(wa, "Hello")
    chat_id = int((await wa.chat_row("Dewi"))["id"])
    assert (await wa.admin.post(f"/chats/{chat_id}/take-over"))[0] == 200
    return chat_id


async def test_the_customer_writing_wakes_the_chat(wa: WhatsApp) -> None:
    chat_id = await _dewi(wa)
    status, row = await wa.admin.post(f"/chats/{chat_id}/snooze", {"until_customer_replies": True})
    assert (status, row["snoozed"]) == (200, True)
    await _customer_writes(wa, "Any news about my order?")

    async def awake() -> bool:
        return (await wa.chat_row("Dewi"))["snoozed"] is False

    await eventually(awake, "the chat to wake when Dewi writes")
    messages = await wa.messages(chat_id)
    texts = [m["text"] for m in messages]
    assert texts[-2:] == ["Any news about my order?", "Snooze ended: the customer replied"]
    assert messages[-1]["note"]["reason"] == "customer_replied"
    [told] = await _ended(chat_id)
    assert (told.user_id, told.data["reason"]) == (await _me(wa.admin), "customer_replied")
    assert told.message_id == messages[-1]["id"]
    # Writing again to an awake chat changes nothing more.
    await _customer_writes(wa, "Hello?")
    await eventually(lambda: _has_text(wa, chat_id, "Hello?"), "the second message")
    assert len(await _notes(chat_id, "snooze_ended")) == 1
    # The note is internal: nothing of it reached WhatsApp.
    assert not [s for s in wa.mock.sent if "Snooze" in str(s["request"])]


async def _has_text(wa: WhatsApp, chat_id: int, text: str) -> bool:
    return any(m["text"] == text for m in await wa.messages(chat_id))


async def test_time_and_customer_together_wake_it_once(wa: WhatsApp) -> None:
    chat_id = await _dewi(wa)
    snoozer = wa.service.core.snoozer
    await snoozer.stop()  # this test drives it
    await wa.admin.post(f"/chats/{chat_id}/snooze", {"until": _at(timedelta(minutes=30))})
    snoozer.clock = lambda: datetime.now(UTC) + timedelta(hours=1)
    woken, _ = await asyncio.gather(snoozer.wake_due(), _customer_writes(wa, "I'm back"))
    assert woken in (0, 1)
    await snoozer.wake_due()  # and once more: nothing left
    assert len(await _notes(chat_id, "snooze_ended")) == 1
    assert len(await _ended(chat_id)) == 1
    assert await AuditEntry.filter(chat_id=chat_id, action="woke").count() == 1
    assert (await Chat.get(id=chat_id)).snoozed_at is None


async def test_two_wakers_on_one_database_wake_a_chat_once(agent: Api) -> None:
    """What keeps a second waker harmless (the lease keeps it to one process): waking is a
    conditional update, so a chat two wakers find due wakes once."""
    service = _service(agent)
    core = service.core
    await core.snoozer.stop()
    john = (await agent.chat_ids())["John Doe"]
    await agent.post(f"/chats/{john}/snooze", {"until": _at(timedelta(minutes=5))})
    later = datetime.now(UTC) + timedelta(minutes=10)
    one = Snoozer(core.writer, core.desk, core.staff, core.presenter, clock=lambda: later)
    two = Snoozer(core.writer, core.desk, core.staff, core.presenter, clock=lambda: later)
    woken = await asyncio.gather(one.wake_due(), two.wake_due(), one.wake_due())
    assert sum(woken) == 1
    assert len(await _notes(john, "snooze_ended")) == 1
    assert len(await _ended(john)) == 1


class _HandLease(Lease):
    """A lease the test gives and takes back (the real one is PostgreSQL's advisory lock:
    tests/test_roles.py)."""

    def __init__(self) -> None:
        self.name = "outbox"
        self.stopping = False
        self.held = False
        self.given = asyncio.Event()
        self.taken = asyncio.Event()

    async def run(
        self, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
    ) -> None:
        await self.given.wait()
        self.held = True
        await start()
        try:
            await self.taken.wait()
        finally:
            self.held = False
            await stop()


async def test_the_waker_runs_only_under_the_outbox_lease(agent: Api) -> None:
    service = _service(agent)
    core = service.core
    await core.snoozer.stop()  # as started here without a lease (SQLite, one process)
    await core.outbox.stop()
    lease = _HandLease()
    service.leases["outbox"] = lease
    try:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(_outbox(service))
            await asyncio.sleep(0.05)
            assert not core.snoozer.running  # a standby: another process wakes chats
            lease.given.set()
            await eventually(lambda: _true(core.snoozer.running), "the waker under the lease")
            looks = core.snoozer.looks
            assert looks >= 1  # it looked for due chats as it started (a restart's catch-up)
            lease.taken.set()
            await eventually(lambda: _true(not core.snoozer.running), "the waker to stop")
    finally:
        del service.leases["outbox"]


async def _true(value: bool) -> bool:
    return value


async def test_a_snooze_ends_quietly_when_the_chat_leaves_its_agent(admin: Api, agent: Api) -> None:
    ids = await admin.chat_ids()
    john, ahmed = ids["John Doe"], ids["Ahmed Hassan"]
    body = {"until": _at(timedelta(hours=1))}
    # Pausing keeps it (still the agent's); closing ends it, without a note.
    await agent.post(f"/chats/{john}/snooze", body)
    status, row = await agent.post(f"/chats/{john}/pause")
    assert (status, row["snoozed"]) == (200, True)
    status, row = await agent.post(f"/chats/{john}/close")
    assert (status, row["snoozed"], row["snoozed_until"]) == (200, False, None)
    assert await _notes(john, "snooze_ended") == [] and await _ended(john) == []
    [entry] = await AuditEntry.filter(chat_id=john, action="woke")
    assert entry.data == {"reason": "left_agent"}
    # Transferred to another agent: theirs now, awake.
    status, other = await admin.post(
        "/users", {"username": "ann", "password": "snooze-pass-4821", "display_name": "Ann"}
    )
    assert status == 201, other
    await agent.post(f"/chats/{ahmed}/snooze", body)
    status, row = await admin.post(f"/chats/{ahmed}/assign", {"agent_id": other["id"]})
    assert (status, row["snoozed"]) == (200, False)
    # Back to the bot, and to the queue.
    await admin.post(f"/chats/{ahmed}/snooze", body)
    status, row = await admin.post(f"/chats/{ahmed}/unassign")
    assert (status, row["snoozed"]) == (200, False)
    await admin.post(f"/chats/{ahmed}/claim")
    await admin.post(f"/chats/{ahmed}/snooze", body)
    status, row = await admin.post(f"/chats/{ahmed}/return-to-bot")
    assert (status, row["snoozed"]) == (200, False)
    assert await _notes(ahmed, "snooze_ended") == []
    assert not await Chat.filter(snoozed_at__isnull=False).exists()
    # A quietly ended snooze is not woken later.
    _later(_service(admin), timedelta(hours=2))
    assert await _service(admin).core.snoozer.wake_due() == 0


async def test_a_message_to_an_awake_chat_costs_no_query_for_snooze(
    admin: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """The hot path: the inbox reads the snooze from the chat row its plan returns; only a
    snoozed chat's message runs more (the wake), in the same transaction."""
    core = _service(admin).core
    mute_bot(core)

    def says(n: int) -> InboundMessage:
        return InboundMessage(
            channel="Telegram", chat_external_id="7001", message_external_id=str(n),
            text=f"message {n}", customer_name="Dewi",
        )  # fmt: skip

    [first] = await core.inbox.receive_many([says(0)])
    await admin.post(f"/chats/{first.chat_id}/take-over")
    await core.inbox.receive_many([says(1)])  # names and caches warm, as on a running server
    caplog.set_level(logging.DEBUG, logger=db_client_logger.name)

    def chat_queries() -> list[str]:
        """Statements on the chats table besides the ingest plan's own (which PostgreSQL
        runs through the ORM's client, SQLite through its connection: logged or not)."""
        return [
            text
            for r in caplog.records
            if r.name == db_client_logger.name
            and '"chats"' in (text := r.getMessage())
            and not text.startswith('WITH "ins"')
        ]

    caplog.clear()
    await core.inbox.receive_many([says(2)])  # awake: the plan's statements alone
    assert chat_queries() == []
    await admin.post(f"/chats/{first.chat_id}/snooze", {"until_customer_replies": True})
    caplog.clear()
    await core.inbox.receive_many([says(3)])  # snoozed: woken in the same operation
    assert any("snoozed_at" in query for query in chat_queries())
    assert (await Chat.get(id=first.chat_id)).snoozed_at is None


async def test_snoozing_and_waking_are_pushed_to_the_agent(agent: Api) -> None:
    john = (await agent.chat_ids())["John Doe"]
    ws = await agent.client.ws_connect(f"/ws?token={agent.token}")
    try:
        assert (await _frame(ws, "hello"))["type"] == "hello"
        await agent.post(f"/chats/{john}/snooze", {"until_customer_replies": True})
        note = await _frame(ws, "message.created")
        assert note["data"]["message"]["note"]["action"] == "snoozed"
        updated = await _frame(ws, "chat.updated")
        assert (updated["data"]["chat"]["id"], updated["data"]["chat"]["snoozed"]) == (john, True)
        snoozer = _service(agent).core.snoozer
        await snoozer.stop()  # driven here
        status, _ = await agent.post(f"/chats/{john}/snooze", {"until": _at(timedelta(hours=1))})
        assert status == 200
        snoozer.clock = lambda: datetime.now(UTC) + timedelta(days=1)
        assert await snoozer.wake_due() == 1
        frames = [await _frame(ws, kind) for kind in ("notification.created", "chat.updated")]
        assert frames[0]["data"]["notification"]["kind"] == "snooze_ended"
        assert frames[0]["data"]["notification"]["data"]["reason"] == "time"
        assert frames[1]["data"]["chat"]["snoozed"] is False
    finally:
        await ws.close()


async def _frame(ws: Any, kind: str) -> dict[str, Any]:
    """The next frame of ``kind`` (others skipped)."""
    while True:
        message = await ws.receive(timeout=5)
        frame = json.loads(message.data)
        if frame["type"] == kind:
            return dict(frame)
