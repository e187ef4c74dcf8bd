"""Everyone who saw a chat waiting in the queue hears when it leaves (claimed, assigned, closed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from msgcenter.settings import Settings
from tests.support import Api, make_settings


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    # Manual claiming: automatic assignment would take the queued chat before the test does.
    return make_settings(db_url, tmp_path / "data", handoff={"auto_assign": False})


async def _frames(ws: aiohttp.ClientWebSocketResponse, kind: str) -> list[dict[str, Any]]:
    frames = []
    while True:
        try:
            message = await ws.receive(timeout=0.3)
        except TimeoutError:
            return frames
        frame = json.loads(message.data)
        if frame["type"] == kind:
            frames.append(frame)


async def test_a_claimed_chat_leaves_the_queue_of_the_other_agents(admin: Api, agent: Api) -> None:
    _, chats = await admin.get("/chats/")
    sarah = next(c["id"] for c in chats if c["name"] == "Sarah Williams")
    await admin.patch(f"/chats/{sarah}", {"mode": "agent"})  # to the queue
    ws = await agent.client.ws_connect(f"/ws?token={agent.token}")
    _, me = await admin.get("/auth/me")
    status, _ = await admin.post(f"/chats/{sarah}/claim")
    assert status == 200
    updates = [f for f in await _frames(ws, "chat.updated") if f["chat_id"] == sarah]
    assert updates, "the agent never learned that the chat left the queue"
    chat = updates[-1]["data"]["chat"]
    assert chat["queued"] is False and chat["assigned_agent_id"] == me["id"]
    await admin.post("/chats/messages", {"chat_id": sarah, "text": "mine now"})
    assert not [f for f in await _frames(ws, "message.created") if f["chat_id"] == sarah]
    await ws.close()
