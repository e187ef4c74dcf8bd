"""The seed document's "Test Flow" and "Testing API Manually", replayed against msgcenter."""

from __future__ import annotations

from pathlib import Path

from msgcenter import demo
from msgcenter.settings import load_settings
from tests.support import Api

ROOT = Path(__file__).resolve().parent.parent


async def _chat_id(api: Api, name: str) -> int:
    status, chats = await api.get("/chats/")
    assert status == 200
    return next(chat["id"] for chat in chats if chat["name"] == name)


async def test_admin_sees_four_chats_and_agent_sees_two(admin: Api, agent: Api) -> None:
    status, chats = await admin.get("/chats/")
    assert status == 200
    assert sorted(chat["name"] for chat in chats) == [
        "Ahmed Hassan", "John Doe", "Maria Lopez", "Sarah Williams",
    ]  # fmt: skip
    status, mine = await agent.get("/chats/")
    assert status == 200
    assert sorted(chat["name"] for chat in mine) == ["Ahmed Hassan", "John Doe"]


async def test_demo_chats_are_in_the_states_the_seed_describes(admin: Api) -> None:
    _, chats = await admin.get("/chats/")
    state = {c["name"]: (c["mode"], c["unread"], c["assigned_agent_name"]) for c in chats}
    assert state == {
        "John Doe": ("agent", 2, "Agent Smith"),
        "Sarah Williams": ("bot", 0, None),
        "Maria Lopez": ("bot", 1, None),
        "Ahmed Hassan": ("paused", 0, "Agent Smith"),
    }


async def test_list_rows_have_the_seed_fields_and_the_last_message(admin: Api) -> None:
    _, chats = await admin.get("/chats/")
    john = next(chat for chat in chats if chat["name"] == "John Doe")
    for key in ("id", "name", "channel", "online", "unread", "mode", "last_message_at"):
        assert key in john
    assert john["channel"] == "WhatsApp"
    assert john["online"] is True
    assert john["last_message"]["text"] == "It hasn't arrived yet"
    assert john["last_message"]["sender"] == "customer"
    # most recent activity first
    stamps = [chat["activity_at"] for chat in chats]
    assert stamps == sorted(stamps, reverse=True)


async def test_chat_detail_has_the_seed_shape(admin: Api) -> None:
    chat_id = await _chat_id(admin, "John Doe")
    status, detail = await admin.get(f"/chats/{chat_id}")
    assert status == 200
    for key in ("id", "name", "channel", "online", "unread", "mode", "profile", "messages"):
        assert key in detail
    assert detail["profile"] == detail["profile"] | {
        "phone": "+62 812-3456-7890",
        "email": "john.doe@email.com",
        "address": "Jakarta Selatan",
        "lastActive": "Online",
    }
    first = detail["messages"][0]
    assert {k: first[k] for k in ("text", "sender", "status")} == {
        "text": "Halo!", "sender": "customer", "status": "read",
    }  # fmt: skip
    assert len(first["time"]) == 5 and first["time"][2] == ":"  # "10:27"
    assert isinstance(first["id"], int)


async def test_an_agent_message_appears_in_the_detail(agent: Api) -> None:
    chat_id = await _chat_id(agent, "John Doe")
    status, message = await agent.post(
        "/chats/messages", {"chat_id": chat_id, "text": "Test message from API", "sender": "agent"}
    )
    assert status == 201
    assert message["text"] == "Test message from API"
    assert message["sender"] == "agent"
    assert message["status"] == "queued"  # delivered by the outbox when the channel runs
    _, detail = await agent.get(f"/chats/{chat_id}")
    assert detail["messages"][-1]["id"] == message["id"]
    assert detail["last_message"]["text"] == "Test message from API"


async def test_patch_mode_changes_the_mode(admin: Api) -> None:
    chat_id = await _chat_id(admin, "Sarah Williams")
    status, detail = await admin.patch(f"/chats/{chat_id}", {"mode": "agent"})
    assert status == 200
    assert detail["mode"] == "agent"
    assert detail["queued"] is True  # waits for an agent
    status, detail = await admin.patch(f"/chats/{chat_id}", {"mode": "paused"})
    assert (status, detail["mode"]) == (200, "paused")
    status, detail = await admin.patch(f"/chats/{chat_id}", {"mode": "bot"})
    assert (status, detail["mode"]) == (200, "bot")


async def test_assign_to_agent_makes_the_chat_the_agents(admin: Api, agent: Api) -> None:
    chat_id = await _chat_id(admin, "Maria Lopez")
    _, me = await agent.get("/auth/me")
    status, detail = await admin.patch(
        f"/chats/{chat_id}", {"mode": "agent", "assigned_agent_id": me["id"]}
    )
    assert status == 200
    assert (detail["mode"], detail["assigned_agent_id"]) == ("agent", me["id"])
    _, mine = await agent.get("/chats/")
    assert "Maria Lopez" in {chat["name"] for chat in mine}


async def test_mark_as_read_resets_unread(agent: Api) -> None:
    chat_id = await _chat_id(agent, "John Doe")
    status, body = await agent.post(f"/chats/{chat_id}/read")
    assert status == 200
    assert (body["chat_id"], body["unread"]) == (chat_id, 0)
    _, detail = await agent.get(f"/chats/{chat_id}")
    assert detail["unread"] == 0
    assert {m["status"] for m in detail["messages"] if m["sender"] == "customer"} == {"read"}


async def test_create_chat_with_the_seed_body(admin: Api) -> None:
    status, detail = await admin.post(
        "/chats/",
        {
            "customer_name": "New Customer",
            "customer_phone": "+62 812-1111-2222",
            "customer_email": "customer@email.com",
            "customer_address": "Jakarta",
            "channel": "WhatsApp",
        },
    )
    assert status == 201
    assert (detail["name"], detail["channel"], detail["mode"]) == (
        "New Customer",
        "WhatsApp",
        "bot",
    )
    assert detail["profile"]["address"] == "Jakarta"
    assert detail["messages"] == []
    status, again = await admin.post(
        "/chats/",
        {"customer_name": "Dup", "customer_phone": "62 812 1111 2222", "channel": "WhatsApp"},
    )
    assert status == 409
    assert again["error"]["details"]["chat_id"] == detail["id"]


async def test_the_demo_bot_states_the_configured_hours(admin: Api) -> None:
    """Issue 15, item 9: the seeded bot answer is rendered from [bot] business_hours."""
    sarah = await _chat_id(admin, "Sarah Williams")
    _, detail = await admin.get(f"/chats/{sarah}")
    said = detail["messages"][-1]
    assert said["sender"] == "bot"
    assert said["text"] == demo.hours_answer(admin.service.settings.bot)
    shipped = load_settings(ROOT / "config.toml", environ={}).bot
    assert demo.hours_answer(shipped).startswith(
        "Our team answers Mon-Fri 08:00-20:00, Sat 09:00-15:00 (Jakarta time, WIB)."
    )
