"""The seed document's "Test Flow" and "Testing API Manually", replayed."""

from __future__ import annotations

from tests.support import Api


async def test_admin_sees_four_chats_and_agent_sees_two(admin: Api, agent: Api) -> None:
    status, chats = await admin.get("/chats/")
    assert status == 200
    assert sorted(chat["name"] for chat in chats) == [
        "Ahmed Hassan",
        "John Doe",
        "Maria Lopez",
        "Sarah Williams",
    ]
    status, mine = await agent.get("/chats/")
    assert status == 200
    assert sorted(chat["name"] for chat in mine) == ["Ahmed Hassan", "John Doe"]
