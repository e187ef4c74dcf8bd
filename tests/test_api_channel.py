"""The API channel (docs/api.md, "API channel"): a system posts its customers' messages with
an API key; the bot's and agents' replies are posted, signed, to the channel's callback
URL (a real receiver on 127.0.0.1, private destinations allowed here), with the outbox's
retries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connectors.api_channel import split
from connectors.callbacks import DELIVERY_HEADER, verify
from msgcenter import demo
from msgcenter.service import SERVICE, Service, build_app
from msgcenter.settings import Settings
from storage.models import (
    ApiChannel,
    AuditEntry,
    Channel,
    Chat,
    CsatSurvey,
    Message,
    Mode,
    Sender,
    Status,
)
from tests.support import Api, ClientFactory, eventually, make_settings

SECRET = "channel-secret-0123456789"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        db_url, tmp_path / "data", integrations={"allow_private_destinations": True}
    )


@dataclass
class Receiver:
    """The system's callback endpoint: records every post; answers ``statuses`` in turn,
    then 200."""

    server: TestServer
    posts: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/callback"))

    async def bodies(self) -> list[dict[str, Any]]:
        """What was delivered (answered 200)."""
        return [json.loads(post["body"]) for post in self.posts if post["status"] == 200]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    server = TestServer(app, host="127.0.0.1")
    found = Receiver(server)

    async def callback(request: web.Request) -> web.Response:
        status = found.statuses.pop(0) if found.statuses else 200
        found.posts.append(
            {"headers": dict(request.headers), "body": await request.read(), "status": status}
        )
        return web.json_response({"ok": status == 200}, status=status)

    app.router.add_post("/callback", callback)
    await server.start_server()
    yield found
    await server.close()


async def setup(admin: Api, receiver: Receiver, scopes: list[str] | None = None) -> tuple[Api, int]:
    """A channel posting to ``receiver`` and a key of ``scopes`` (messages:write)."""
    status, channel = await admin.post(
        "/channels/api", {"name": "Mobile app", "callback_url": receiver.url, "secret": SECRET}
    )
    assert status == 201, channel
    status, made = await admin.post(
        "/api-keys", {"name": "App backend", "scopes": scopes or ["messages:write"]}
    )
    assert status == 201, made
    return Api(admin.client, made["key"]), channel["id"]


def message(external_id: str, text: str, customer: str = "u-42", name: str = "Dewi") -> dict:
    return {"external_id": external_id, "customer": {"id": customer, "name": name}, "text": text}


async def test_admins_make_list_change_and_delete_channels(admin: Api, receiver: Receiver) -> None:
    status, channel = await admin.post(
        "/channels/api", {"name": "Mobile app", "callback_url": receiver.url, "secret": SECRET}
    )
    assert status == 201, channel
    assert channel["messages_path"] == f"/channels/api/{channel['id']}/messages"
    assert "secret" not in channel and channel["active"] is True
    path = f"/channels/api/{channel['id']}"
    status, changed = await admin.patch(path, {"name": "App", "active": False})
    assert (status, changed["name"], changed["active"]) == (200, "App", False)
    status, listed = await admin.get("/channels/api")
    assert status == 200 and [item["id"] for item in listed["items"]] == [channel["id"]]
    assert SECRET not in json.dumps(listed)
    status, _ = await admin.call("DELETE", path)
    assert status == 204
    assert (await admin.get("/channels/api"))[1]["items"] == []
    assert (await admin.get(path))[0] == 404
    actions = await AuditEntry.filter(action__startswith="api_channel").values_list(
        "action", flat=True
    )
    assert sorted(actions) == ["api_channel_created", "api_channel_deleted", "api_channel_updated"]
    status, body = await admin.post(
        "/channels/api", {"name": "x", "callback_url": receiver.url, "secret": "short"}
    )
    assert status == 422, body


async def test_a_loopback_callback_is_refused_when_private_destinations_are_off(
    db_url: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(build_app(make_settings(db_url, tmp_path / "data")))
    service: Service = client.app[SERVICE]
    await demo.seed_users(service.core.staff)
    admin = await Api(client).login("admin", "admin123")
    for url in ("http://127.0.0.1:9/callback", "http://[::1]/x", "http://10.0.0.5/x"):
        status, body = await admin.post(
            "/channels/api", {"name": "x", "callback_url": url, "secret": SECRET}
        )
        assert (status, body["error"]["code"]) == (422, "destination_refused"), body
    assert await ApiChannel.all().count() == 0


async def test_a_message_in_makes_an_api_chat_and_the_bots_answer_goes_to_the_callback(
    admin: Api, receiver: Receiver
) -> None:
    app, channel_id = await setup(admin, receiver)
    status, posted = await app.post(
        f"/channels/api/{channel_id}/messages", message("m-1", "Hello, where is my order?")
    )
    assert status == 200, posted
    assert posted["created"] is True
    chat = await Chat.get(id=posted["chat_id"])
    assert (chat.channel, chat.external_id, chat.customer_name) == (
        Channel.API, f"{channel_id}:u-42", "Dewi"
    )  # fmt: skip
    stored = await Message.get(id=posted["message_id"])
    assert (stored.sender, stored.external_id) == (Sender.CUSTOMER, "m-1")

    bodies = await eventually(receiver.bodies, within=30)
    post = next(p for p in receiver.posts if p["status"] == 200)
    assert verify(SECRET, post["headers"], post["body"])
    assert not verify("another-secret-0123456789", post["headers"], post["body"])
    first = bodies[0]
    assert post["headers"][DELIVERY_HEADER] == first["id"] == f"msg_{first['message']['id']}"
    assert first["type"] == "message.created"
    assert (first["channel_id"], first["customer_id"], first["chat_id"]) == (
        channel_id, "u-42", chat.id
    )  # fmt: skip
    assert first["message"]["sender"] == "bot" and first["message"]["text"]
    reply = await Message.get(id=first["message"]["id"])
    assert reply.chat_id == chat.id
    await eventually(lambda: _status(reply.id, Status.SENT))
    status, listed = await admin.get("/chats/?channel=API")
    assert status == 200 and [row["id"] for row in listed] == [chat.id]
    assert listed[0]["channel"] == "API"


async def _status(message_id: int, status: Status) -> bool:
    return (await Message.get(id=message_id)).status == status


async def test_a_message_posted_twice_is_stored_once(admin: Api, receiver: Receiver) -> None:
    app, channel_id = await setup(admin, receiver)
    path = f"/channels/api/{channel_id}/messages"
    status, first = await app.post(path, message("m-7", "Hi"))
    assert status == 200 and first["created"] is True
    status, again = await app.post(path, message("m-7", "Hi"))
    assert status == 200
    assert again == {**first, "created": False}
    assert await Message.filter(external_id="m-7").count() == 1
    status, other = await app.post(path, message("m-7", "Hi", customer="u-99"))
    assert (status, other["error"]["code"]) == (409, "external_id_taken")
    assert await Message.filter(external_id="m-7").count() == 1


async def test_refusals_store_nothing(admin: Api, receiver: Receiver) -> None:
    app, channel_id = await setup(admin, receiver)
    reader, _ = await setup(admin, receiver, scopes=["chats:read"])
    path = f"/channels/api/{channel_id}/messages"
    status, body = await reader.post(path, message("m-1", "Hi"))
    assert (status, body["error"]["code"]) == (403, "insufficient_scope")
    status, body = await admin.post(path, message("m-1", "Hi"))  # a person's token
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await app.post("/channels/api/999/messages", message("m-1", "Hi"))
    assert (status, body["error"]["code"]) == (404, "not_found")
    for bad in (
        message("m-1", "x" * 4097),
        message("m-1", ""),
        message("x" * 201, "Hi"),
        message("m-1", "Hi", customer="c" * 129),
        message("m-1", "Hi", customer=" padded "),
        message("m-1", "Hi", name="n" * 129),
        {"external_id": "m-1", "text": "Hi"},
    ):
        status, body = await app.post(path, bad)
        assert status == 422, (bad, body)
    await admin.patch(f"/channels/api/{channel_id}", {"active": False})
    status, body = await app.post(path, message("m-1", "Hi"))
    assert status == 404, body
    assert await Chat.filter(channel=Channel.API).count() == 0


async def test_a_failing_receiver_gets_the_reply_later(admin: Api, receiver: Receiver) -> None:
    app, channel_id = await setup(admin, receiver)
    receiver.statuses = [500, 503]
    status, posted = await app.post(f"/channels/api/{channel_id}/messages", message("m-1", "Hi"))
    assert status == 200, posted
    bodies = await eventually(receiver.bodies, within=60)
    assert [post["status"] for post in receiver.posts[:3]] == [500, 503, 200]
    deliveries = {post["headers"][DELIVERY_HEADER] for post in receiver.posts[:3]}
    assert deliveries == {bodies[0]["id"]}  # the same delivery id on every attempt
    reply = await Message.get(id=bodies[0]["message"]["id"])
    await eventually(lambda: _status(reply.id, Status.SENT))


async def test_a_receiver_refusing_a_reply_fails_it_at_once(admin: Api, receiver: Receiver) -> None:
    app, channel_id = await setup(admin, receiver)
    receiver.statuses = [400]
    status, posted = await app.post(f"/channels/api/{channel_id}/messages", message("m-1", "Hi"))
    assert status == 200, posted
    await eventually(lambda: _failed(posted["chat_id"]))
    assert len(receiver.posts) == 1


async def _failed(chat_id: int) -> bool:
    return await Message.filter(chat_id=chat_id, status=Status.FAILED).exists()


async def test_handoff_and_an_agents_reply_reach_the_callback(
    admin: Api, receiver: Receiver
) -> None:
    app, channel_id = await setup(admin, receiver)
    path = f"/channels/api/{channel_id}/messages"
    status, posted = await app.post(path, message("m-1", "I want to talk to a human agent"))
    assert status == 200, posted
    chat_id = posted["chat_id"]

    async def handed_off() -> bool:
        return (await Chat.get(id=chat_id)).mode == Mode.AGENT

    await eventually(handed_off, within=30)
    status, reply = await admin.post(
        "/chats/messages", {"chat_id": chat_id, "text": "Hi Dewi, Admin here. Let me check."}
    )
    assert status == 201, reply

    async def agents_reply() -> list[dict[str, Any]]:
        return [b for b in await receiver.bodies() if b["message"]["id"] == reply["id"]]

    (body,) = await eventually(agents_reply, within=30)
    assert body["message"]["sender"] == "agent"
    assert body["message"]["text"] == "Hi Dewi, Admin here. Let me check."
    assert body["message"]["agent_name"]
    assert body["customer_id"] == "u-42"


async def test_a_deleted_channels_chats_get_no_more_posts(admin: Api, receiver: Receiver) -> None:
    app, channel_id = await setup(admin, receiver)
    status, posted = await app.post(f"/channels/api/{channel_id}/messages", message("m-1", "Hi"))
    assert status == 200
    await eventually(receiver.bodies, within=30)
    seen = len(receiver.posts)
    assert (await admin.call("DELETE", f"/channels/api/{channel_id}"))[0] == 204
    status, reply = await admin.post(
        "/chats/messages", {"chat_id": posted["chat_id"], "text": "Still there?"}
    )
    assert status == 201, reply
    await eventually(lambda: _status(reply["id"], Status.FAILED))
    assert len(receiver.posts) == seen


@pytest.mark.parametrize(
    ("external_id", "expected"),
    [("3:u-42", (3, "u-42")), ("3:a:b", (3, "a:b")), ("", None), ("x:1", None), ("3:", None),
     ("12345678901:u", None)],
)  # fmt: skip
def test_an_api_chats_external_id_names_its_channel_and_customer(
    external_id: str, expected: tuple[int, str] | None
) -> None:
    assert split(external_id) == expected


async def test_a_satisfaction_survey_goes_out_with_its_choices_and_comes_back_rated(
    admin: Api, receiver: Receiver
) -> None:
    app, channel_id = await setup(admin, receiver)
    path = f"/channels/api/{channel_id}/messages"
    status, posted = await app.post(path, message("m-1", "My parcel is damaged"))
    assert status == 200, posted
    chat_id = posted["chat_id"]
    status, reply = await admin.post(
        "/chats/messages", {"chat_id": chat_id, "text": "Sorry! A new one is on its way."}
    )
    assert status == 201, reply
    status, closed = await admin.post(f"/chats/{chat_id}/close")
    assert status == 200, closed

    async def survey() -> list[dict[str, Any]]:
        return [b for b in await receiver.bodies() if b["message"]["interactive"]]

    (asked,) = await eventually(survey, within=30)
    options = asked["message"]["interactive"]["options"]
    assert len(options) == 5 and all({"id", "title"} <= set(o) for o in options)
    best = next(o for o in options if o["id"].endswith(":5"))  # csat:<survey>:<rating>
    status, answered = await app.post(
        path, {**message("m-2", best["title"]), "payload": best["id"]}
    )
    assert status == 200, answered
    rated = await CsatSurvey.get(chat_id=chat_id)
    assert rated.rating == 5
    assert (await Chat.get(id=chat_id)).mode == Mode.CLOSED  # a rating reopens nothing
