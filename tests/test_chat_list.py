"""The chat list: filters, search, and cursor paging in the Link header."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from connectors.base import InboundMessage
from tests.support import Api


async def _customers(api: Api, count: int) -> None:
    messages = [
        InboundMessage(
            channel="Telegram",
            chat_external_id=str(1000 + i),
            message_external_id="1",
            text=f"question number {i}",
            customer_name=f"Customer {i:03d}",
        )
        for i in range(count)
    ]
    await api.service.core.inbox.receive_many(messages)
    await api.service.core.drain()  # the bot's greetings are in before the test looks


async def test_filters_by_mode_channel_and_assignment(admin: Api) -> None:
    async def names(query: str) -> list[str]:
        status, chats = await admin.get(f"/chats/?{query}")
        assert status == 200, chats
        return sorted(chat["name"] for chat in chats)

    assert await names("mode=bot") == ["Maria Lopez", "Sarah Williams"]
    assert await names("channel=WhatsApp") == ["Ahmed Hassan", "John Doe"]
    assert await names("channel=Email&mode=bot") == ["Maria Lopez"]
    assert await names("assigned=none") == ["Maria Lopez", "Sarah Williams"]
    _, users = await admin.get("/users")
    agent_id = next(u["id"] for u in users if u["username"] == "agent")
    assert await names(f"assigned={agent_id}") == ["Ahmed Hassan", "John Doe"]
    assert await names("assigned=me") == []


async def test_search_covers_name_phone_email_and_message_text(admin: Api) -> None:
    async def names(q: str) -> list[str]:
        _, chats = await admin.get(f"/chats/?q={quote(q)}")
        return sorted(chat["name"] for chat in chats)

    assert await names("john") == ["John Doe"]
    assert await names("898-7654") == ["Ahmed Hassan"]
    assert await names("maria.lopez@") == ["Maria Lopez"]
    assert await names("opening hours") == ["Sarah Williams"]
    assert await names("INV-2041") == ["John Doe"]
    assert await names("nothing like this") == []


async def test_search_treats_sql_wildcards_and_quotes_as_text(admin: Api) -> None:
    for q in ("%", "_", "' OR 1=1 --", '"; DROP TABLE chats; --', "\\"):
        status, chats = await admin.get(f"/chats/?q={quote(q)}")
        assert (status, chats) == (200, []), q
    _, chats = await admin.get("/chats/")
    assert len(chats) == 4


async def test_agents_search_only_their_own_chats(agent: Api) -> None:
    _, chats = await agent.get("/chats/?q=a")
    assert sorted(c["name"] for c in chats) == ["Ahmed Hassan", "John Doe"]
    status, body = await agent.get("/chats/?assigned=any")
    assert (status, body["error"]["code"]) == (403, "forbidden")


async def test_cursor_paging_walks_every_chat_once_in_order(admin: Api) -> None:
    await _customers(admin, 23)
    seen: list[dict[str, object]] = []
    url = "/chats/?limit=10&channel=Telegram"
    pages = 0
    while url:
        status, chats = await admin.get(url)
        assert status == 200
        assert isinstance(chats, list)  # the body stays the seed's bare array
        seen.extend(chats)
        pages += 1
        link = admin.last_headers.get("Link")
        match = re.match(r'<([^>]+)>; rel="next"', link or "")
        url = match.group(1) if match else ""
        assert "channel=Telegram" in url or not url
    assert pages == 3
    assert len(seen) == 24  # 23 new + Sarah Williams
    assert len({chat["id"] for chat in seen}) == 24
    stamps = [(chat["activity_at"], chat["id"]) for chat in seen]
    assert stamps == sorted(stamps, reverse=True)


async def test_updated_since_returns_what_changed(admin: Api) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    _, chats = await admin.get("/chats/")
    await admin.post(f"/chats/{chats[-1]['id']}/read")
    status, changed = await admin.get(f"/chats/?updated_since={quote(since.isoformat())}")
    assert status == 200
    assert chats[-1]["id"] in {chat["id"] for chat in changed}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await admin.get(f"/chats/?updated_since={quote(future)}"))[1] == []


async def test_chat_detail_pages_back_through_older_messages(admin: Api) -> None:
    _, chats = await admin.get("/chats/?q=John")
    john = chats[0]["id"]
    status, page = await admin.get(f"/chats/{john}?limit=4")
    assert status == 200
    assert [m["text"] for m in page["messages"]][-1] == "It hasn't arrived yet"
    assert len(page["messages"]) == 4 and page["has_more"] is True
    _, older = await admin.get(f"/chats/{john}?limit=4&before={page['next_before']}")
    assert [m["text"] for m in older["messages"]] == [
        "Halo!", "Hi John! How can we help you today?",
    ]  # fmt: skip
    assert older["has_more"] is False


async def test_queue_is_oldest_waiting_first(admin: Api) -> None:
    await _customers(admin, 3)
    _, chats = await admin.get("/chats/?channel=Telegram&q=Customer")
    order = sorted(chats, key=lambda c: c["name"])
    for chat in order:
        assert (await admin.patch(f"/chats/{chat['id']}", {"mode": "agent"}))[0] == 200
    _, queue = await admin.get("/chats/queue")
    assert [c["name"] for c in queue] == [c["name"] for c in order]
    _, first_two = await admin.get("/chats/queue?limit=2")
    assert len(first_two) == 2 and "cursor=" in admin.last_headers["Link"]
