"""The website widget (docs/api.md, "Website widget"): widgets made by admins, visitors'
sessions from allowed origins only, their messages through the inbox to the bot and agents,
replies pushed on their WebSocket, resume, identity verification, limits."""

from __future__ import annotations

import gzip
import json
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dashboard_api.widget import STATIC
from handoff.domain import widget as rules
from msgcenter.settings import Settings
from storage.models import Channel, Chat, ContactIdentity, ContactPoint, Message, WidgetVisitor
from tests.support import Api, eventually, frames_within, make_settings

SITE = "https://shop.example"
OTHER = "https://evil.example"
MAX_FILE = 4096


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path / "data", widget={"max_file_bytes": MAX_FILE})


async def make_widget(admin: Api, **fields: Any) -> dict[str, Any]:
    body = {"name": "Shop", "allowed_origins": [SITE], **fields}
    status, widget = await admin.post("/channels/widget", body)
    assert status == 201, widget
    return dict(widget)


async def session(anon: Api, widget_id: int, origin: str = SITE, **body: Any) -> tuple[int, Any]:
    return await anon.post(f"/widget/{widget_id}/session", body, headers={"Origin": origin})


async def visitor_socket(
    anon: Api, token: str, origin: str = SITE, after: int = 0
) -> aiohttp.ClientWebSocketResponse:
    ws = await anon.client.ws_connect(
        f"/widget/ws?token={token}&after={after}", headers={"Origin": origin}
    )
    hello = json.loads((await ws.receive(timeout=5)).data)
    assert hello["type"] == "hello", hello
    return ws


async def until_frame(ws: aiohttp.ClientWebSocketResponse, kind: str, match: Any = None) -> Any:
    """Frames until one of ``kind`` (for which ``match(frame)`` holds, when given)."""
    for _ in range(50):
        frame = json.loads((await ws.receive(timeout=10)).data)
        if frame["type"] == kind and (match is None or match(frame)):
            return frame
    raise AssertionError(f"no {kind} frame")


async def frames_of(ws: aiohttp.ClientWebSocketResponse, *kinds: str) -> dict[str, Any]:
    """The first frame of each of ``kinds``, in whatever order they come."""
    found: dict[str, Any] = {}
    for _ in range(50):
        frame = json.loads((await ws.receive(timeout=10)).data)
        found.setdefault(frame["type"], frame)
        if all(kind in found for kind in kinds):
            return found
    raise AssertionError(f"not all of {kinds}")


def ref() -> str:
    return secrets.token_hex(8)


async def test_admins_make_widgets_with_a_snippet_others_may_not(admin: Api, agent: Api) -> None:
    widget = await make_widget(admin, color="#FF0000", language="id", position="left")
    assert widget["snippet"] == (
        f'<script src="http://127.0.0.1:8000/widget.js" data-widget="{widget["id"]}" async>'
        "</script>"
    )
    assert widget["allowed_origins"] == [SITE]
    assert widget["color"] == "#ff0000" and widget["language"] == "id"
    assert len(widget["identity_secret"]) == 64
    assert (await agent.post("/channels/widget", {"name": "x", "allowed_origins": [SITE]}))[
        0
    ] == 403
    status, listed = await admin.get("/channels/widget")
    assert status == 200 and [w["id"] for w in listed["items"]] == [widget["id"]]
    status, changed = await admin.patch(
        f"/channels/widget/{widget['id']}", {"greeting": "Hi!", "allowed_origins": [SITE + "/"]}
    )
    assert status == 200 and changed["greeting"] == "Hi!" and changed["allowed_origins"] == [SITE]
    status, error = await admin.post(
        "/channels/widget", {"name": "x", "allowed_origins": ["https://shop.example/path"]}
    )
    assert status == 422 and error["error"]["code"] == "validation_error"
    assert (await admin.get("/channels/widget"))[1]["items"][0]["greeting"] == "Hi!"
    assert (await admin.call("DELETE", f"/channels/widget/{widget['id']}"))[0] == 204
    assert (await admin.get(f"/channels/widget/{widget['id']}"))[0] == 404


async def test_the_script_is_one_small_file_that_fetches_nothing_elsewhere(anon: Api) -> None:
    async with anon.client.get("/widget.js", headers={"Accept-Encoding": "gzip"}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/javascript")
        body = await response.read()
    source = (STATIC / "widget.js").read_bytes()
    assert body == source
    assert len(gzip.compress(source)) < 40_000
    text = source.decode()
    # Every URL it requests is built from its own script's address: none is written in it.
    for marker in ("https://", "http://", "//cdn", "@import", "url("):
        assert marker not in text.replace("http://www.w3.org", ""), marker


async def test_other_origins_are_refused_everywhere(admin: Api, anon: Api) -> None:
    widget = await make_widget(admin)
    status, error = await session(anon, widget["id"], OTHER)
    assert status == 403 and error["error"]["code"] == "origin_refused"
    assert "Access-Control-Allow-Origin" not in anon.last_headers
    status, _ = await anon.call(
        "OPTIONS", f"/widget/{widget['id']}/session",
        headers={"Origin": OTHER, "Access-Control-Request-Method": "POST"},
    )  # fmt: skip
    assert status == 403
    status, _ = await anon.call(
        "OPTIONS", f"/widget/{widget['id']}/session",
        headers={"Origin": SITE, "Access-Control-Request-Method": "POST"},
    )  # fmt: skip
    assert status == 204 and anon.last_headers["Access-Control-Allow-Origin"] == SITE
    status, started = await session(anon, widget["id"])
    assert status == 200 and anon.last_headers["Access-Control-Allow-Origin"] == SITE
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await anon.client.ws_connect(
            f"/widget/ws?token={started['token']}", headers={"Origin": OTHER}
        )
    assert refused.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await anon.client.ws_connect("/widget/ws?token=forged.token", headers={"Origin": SITE})


async def test_a_visitor_chats_with_the_bot_then_an_agent(admin: Api, anon: Api) -> None:
    widget = await make_widget(admin)
    status, started = await session(anon, widget["id"])
    assert status == 200 and started["visitor_id"].startswith("v")
    assert started["widget"]["name"] == "Shop" and started["agents_online"] is False
    ws = await visitor_socket(anon, started["token"])
    await ws.send_json({"type": "message", "ref": ref(), "text": "hello"})
    frames = await frames_of(ws, "message", "ack")
    mine = frames["message"]["message"]
    assert mine["sender"] == "visitor" and mine["text"] == "hello"
    assert mine["id"] == frames["ack"]["id"]
    bot = await until_frame(ws, "message", lambda f: f["message"]["sender"] == "bot")
    assert bot["message"]["status"] == "sent"
    chat = await Chat.get(channel=Channel.WIDGET)
    assert chat.external_id == f"{widget['id']}:{started['visitor_id']}"
    # An agent answers (taking the chat over); the visitor sees it live, then reads it.
    status, reply = await admin.post(
        "/chats/messages", {"chat_id": chat.id, "text": "Hi, Ann here"}
    )
    assert status == 201, reply
    pushed = await until_frame(ws, "message", lambda f: f["message"]["id"] == reply["id"])
    assert pushed["message"]["sender"] == "agent" and pushed["message"]["name"] == "Admin"
    await ws.send_json({"type": "read", "upto": reply["id"]})

    async def read() -> bool:
        return (await Message.get(id=reply["id"])).status == "read"

    await eventually(read)
    await ws.close()
    # The visitor comes back (same token): the history is there; a resume gets what it missed.
    status, again = await session(anon, widget["id"], token=started["token"])
    assert again["visitor_id"] == started["visitor_id"]
    ws = await visitor_socket(anon, again["token"])
    history = await until_frame(ws, "history")
    texts = [m["text"] for m in history["messages"]]
    assert texts[0] == "hello" and "Hi, Ann here" in texts
    await ws.close()
    await admin.post("/chats/messages", {"chat_id": chat.id, "text": "Anything else?"})

    async def sent() -> bool:
        return await Message.filter(text="Anything else?", status="sent").exists()

    await eventually(sent)
    ws = await visitor_socket(anon, again["token"], after=reply["id"])
    resumed = await until_frame(ws, "history")
    assert "Anything else?" in [m["text"] for m in resumed["messages"]]
    await ws.close()


async def test_typing_goes_both_ways(admin: Api, anon: Api) -> None:
    widget = await make_widget(admin)
    _, started = await session(anon, widget["id"], name="Budi")
    ws = await visitor_socket(anon, started["token"])
    await ws.send_json({"type": "message", "ref": ref(), "text": "agent please"})
    await until_frame(ws, "ack")
    chat = await eventually(lambda: Chat.filter(channel=Channel.WIDGET).first())
    assert chat.customer_name == "Budi"
    dashboard = await admin.socket()
    await ws.send_json({"type": "typing"})
    frames = await frames_within(dashboard, 1.0)
    typing = [f for f in frames if f["type"] == "chat.typing"]
    assert typing and typing[0]["data"]["name"] == "Budi" and typing[0]["chat_id"] == chat.id
    await dashboard.send_json({"type": "typing", "chat_id": chat.id})
    shown = await until_frame(ws, "typing")
    assert shown["name"] == "Admin"
    await dashboard.close()
    await ws.close()


async def test_a_name_and_address_given_later_reach_the_chat_and_its_agents(
    admin: Api, anon: Api
) -> None:
    """The visitor writes first and tells who they are afterwards (the address left when
    nobody is online): the chat's row shows it at once, pushed as ``chat.updated``; the same
    again changes nothing."""
    widget = await make_widget(admin)
    _, started = await session(anon, widget["id"])
    ws = await visitor_socket(anon, started["token"])
    await ws.send_json({"type": "message", "ref": ref(), "text": "where is my parcel?"})
    await until_frame(ws, "ack")
    chat = await eventually(lambda: Chat.filter(channel=Channel.WIDGET).first())
    assert chat.customer_name.startswith("Visitor") and chat.customer_email is None
    dashboard = await admin.socket()
    await frames_within(dashboard, 0.3)  # the bot's answer, whatever else came first
    await ws.send_json({"type": "profile", "name": "Wulan", "email": "Wulan@Mail.example"})
    await until_frame(ws, "profile")
    await chat.refresh_from_db()
    assert chat.customer_name == "Wulan" and chat.customer_email == "wulan@mail.example"
    pushed = [
        f for f in await frames_within(dashboard, 1.0)
        if f["type"] == "chat.updated" and f["chat_id"] == chat.id
    ]  # fmt: skip
    assert len(pushed) == 1, pushed
    assert pushed[0]["data"]["chat"]["name"] == "Wulan"
    assert pushed[0]["data"]["chat"]["email"] == "wulan@mail.example"
    status, found = await admin.get("/chats/?q=wulan")
    assert status == 200 and [c["id"] for c in found] == [chat.id]
    await ws.send_json({"type": "profile", "name": "Wulan", "email": "wulan@mail.example"})
    await until_frame(ws, "profile")
    assert not [f for f in await frames_within(dashboard, 0.5) if f["type"] == "chat.updated"]
    await dashboard.close()
    await ws.close()


async def test_identity_verification(admin: Api, anon: Api) -> None:
    widget = await make_widget(admin)
    secret = widget["identity_secret"]
    good = rules.user_hash(secret, "user-42")
    status, error = await session(anon, widget["id"], user_id="user-42", user_hash="0" * 64)
    assert status == 403 and error["error"]["code"] == "identity_refused"
    status, error = await session(anon, widget["id"], user_id="user-42")
    assert status == 403
    status, first = await session(
        anon,
        widget["id"],
        user_id="user-42",
        user_hash=good,
        name="Sari",
        email="Sari@Shop.example",
    )
    assert status == 200 and first["identified"] and first["visitor_id"] == "u:user-42"
    ws = await visitor_socket(anon, first["token"])
    await ws.send_json({"type": "message", "ref": ref(), "text": "from my laptop"})
    await until_frame(ws, "ack")
    await ws.close()
    # Another device: the same user, the same chat and contact.
    status, second = await session(anon, widget["id"], user_id="user-42", user_hash=good)
    assert second["visitor_id"] == "u:user-42" and second["token"]
    ws = await visitor_socket(anon, second["token"])
    history = await until_frame(ws, "history")
    assert history["messages"][0]["text"] == "from my laptop"
    await ws.close()
    chat = await Chat.get(channel=Channel.WIDGET)
    assert chat.customer_name == "Sari"
    identity = await ContactIdentity.get(channel="Widget")
    assert identity.external_id == f"{widget['id']}:u:user-42"
    point = await ContactPoint.get(contact_id=chat.contact_id, kind="email")
    assert point.value == "sari@shop.example" and point.verified
    # Erasing the contact forgets what the visitor told the widget too.
    assert await WidgetVisitor.filter(visitor_id="u:user-42").exists()
    assert (await admin.call("DELETE", f"/contacts/{chat.contact_id}"))[0] == 200
    assert not await WidgetVisitor.filter(visitor_id="u:user-42").exists()
    # An anonymous token cannot name a user: the token is signed.
    forged = started_token_for(first["token"], "u:user-43")
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await anon.client.ws_connect(f"/widget/ws?token={forged}", headers={"Origin": SITE})


def started_token_for(token: str, visitor_id: str) -> str:
    payload, _, mac = token.partition(".")
    body = json.loads(rules._unb64(payload))
    body["v"] = visitor_id
    return rules._b64(json.dumps(body).encode()) + "." + mac


async def test_limits_answer_with_codes(admin: Api, anon: Api) -> None:
    widget = await make_widget(admin)
    service = anon.service
    limits = service.widget
    assert limits is not None
    _, started = await session(anon, widget["id"])
    ws = await visitor_socket(anon, started["token"])
    await ws.send_json({"type": "message", "ref": ref(), "text": "x" * 4001})
    error = await until_frame(ws, "error")
    assert error["code"] == "message_too_long"
    await ws.send_json({"type": "nonsense"})
    assert (await until_frame(ws, "error"))["code"] == "unknown_frame"
    codes = []
    for index in range(21):
        await ws.send_json({"type": "message", "ref": ref(), "text": f"m{index}"})
        frame = await until_frame(ws, "ack" if index < 20 else "error")
        codes.append(frame.get("code"))
    assert codes[-1] == "rate_limited"
    assert await Message.filter(chat__channel=Channel.WIDGET, sender="customer").count() == 20
    await ws.close()
    # New visitors from one address: 10 a minute.
    statuses = [(await session(anon, widget["id"]))[0] for _ in range(10)]
    assert statuses == [200] * 9 + [429]


async def test_a_visitor_sends_and_downloads_files(admin: Api, anon: Api, tmp_path: Path) -> None:
    widget = await make_widget(admin)
    _, started = await session(anon, widget["id"])
    ws = await visitor_socket(anon, started["token"])
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    form = aiohttp.FormData()
    form.add_field("ref", ref())
    form.add_field("text", "my receipt")
    form.add_field("file", png, filename="receipt.png", content_type="image/png")
    url = f"/widget/{widget['id']}/uploads?token={started['token']}"
    async with anon.client.post(url, data=form, headers={"Origin": SITE}) as response:
        assert response.status == 201, await response.text()
        made = await response.json()
    pushed = await until_frame(ws, "message", lambda f: f["message"]["id"] == made["message_id"])
    (item,) = pushed["message"]["attachments"]
    assert item["kind"] == "image" and item["filename"] == "receipt.png"
    path = item["url"].removeprefix("http://127.0.0.1:8000")
    async with anon.client.get(path) as response:
        assert response.status == 200 and await response.read() == png
    async with anon.client.get(path[:-3] + "AAA") as response:
        assert response.status == 404
    html = aiohttp.FormData()
    html.add_field("ref", ref())
    html.add_field("file", b"<html><script>x</script>", filename="a.html")
    async with anon.client.post(url, data=html, headers={"Origin": SITE}) as response:
        assert response.status == 415
        assert (await response.json())["error"]["code"] == "file_type_refused"
    big = aiohttp.FormData()
    big.add_field("ref", ref())
    big.add_field("file", png + b"\x00" * MAX_FILE, filename="big.png")
    async with anon.client.post(url, data=big, headers={"Origin": SITE}) as response:
        assert response.status == 413
        assert (await response.json())["error"]["code"] == "file_too_large"
    async with anon.client.post(url, data=form, headers={"Origin": OTHER}) as response:
        assert response.status == 403
    assert await Message.filter(chat__channel=Channel.WIDGET, sender="customer").count() == 1
    await ws.close()


async def test_an_agents_file_reaches_the_visitor_by_a_signed_link(admin: Api, anon: Api) -> None:
    widget = await make_widget(admin)
    _, started = await session(anon, widget["id"])
    ws = await visitor_socket(anon, started["token"])
    await ws.send_json({"type": "message", "ref": ref(), "text": "can you send the invoice?"})
    await frames_of(ws, "ack")
    chat = await Chat.get(channel=Channel.WIDGET)
    pdf = b"%PDF-1.4\n" + b"0" * 100
    form = aiohttp.FormData()
    form.add_field("chat_id", str(chat.id))
    form.add_field("text", "Here it is")
    form.add_field("file", pdf, filename="invoice.pdf", content_type="application/pdf")
    async with anon.client.post("/chats/messages", data=form, headers=admin.headers()) as response:
        assert response.status == 201, await response.text()
        sent = await response.json()
    pushed = await until_frame(ws, "message", lambda f: f["message"]["id"] == sent["id"])
    (item,) = pushed["message"]["attachments"]
    assert item["filename"] == "invoice.pdf" and pushed["message"]["text"] == "Here it is"
    async with anon.client.get(item["url"].removeprefix("http://127.0.0.1:8000")) as response:
        assert response.status == 200 and await response.read() == pdf
        # PDF is served as a download, never rendered in msgcenter's origin.
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.headers["Content-Type"] == "application/octet-stream"
    await ws.close()


async def test_a_token_is_one_widgets(admin: Api, anon: Api) -> None:
    first = await make_widget(admin)
    second = await make_widget(admin, name="Other shop")
    _, started = await session(anon, first["id"])
    status, other = await session(anon, second["id"], token=started["token"])
    assert status == 200 and other["visitor_id"] != started["visitor_id"]  # a new visitor
    form = aiohttp.FormData()
    form.add_field("ref", ref())
    form.add_field("file", b"hello", filename="a.txt")
    url = f"/widget/{second['id']}/uploads?token={started['token']}"
    async with anon.client.post(url, data=form, headers={"Origin": SITE}) as response:
        assert response.status == 403
