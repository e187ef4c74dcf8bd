"""Whether a customer is online (issue 15, item 12): honest, computed at read time.

A Telegram or WhatsApp customer is online for a few minutes after their last message; an
email customer never is; the seed's PATCH ``online`` is an explicit word that stands until
the customer writes again. ``lastActive`` is "Online" or when they last wrote.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import timezone

from connectors.base import InboundMessage
from handoff.read.views import ONLINE_WINDOW, online_until
from storage.models import Chat
from tests.support import Api, mute_bot

T = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def row(channel: str = "Telegram", **fields: Any) -> dict[str, Any]:
    return {"channel": channel, "online": False, "online_set_at": None,
            "last_customer_message_at": None, **fields}  # fmt: skip


def test_a_chat_customer_is_online_for_a_window_after_their_last_message() -> None:
    wrote = row("WhatsApp", last_customer_message_at=T)
    assert online_until(wrote, T + timedelta(minutes=1)) == T + ONLINE_WINDOW
    assert online_until(wrote, T + ONLINE_WINDOW) is None
    assert online_until(row("Telegram"), T) is None  # never wrote


def test_an_email_customer_is_never_online() -> None:
    assert online_until(row("Email", online=True, last_customer_message_at=T), T) is None


def test_an_explicit_online_stands_until_the_customer_writes_again() -> None:
    said_offline = row(last_customer_message_at=T, online=False, online_set_at=T)
    assert online_until(said_offline, T + timedelta(seconds=5)) is None
    wrote_again = {**said_offline, "last_customer_message_at": T + timedelta(seconds=10)}
    assert online_until(wrote_again, T + timedelta(seconds=20)) is not None
    said_online = row("Email", online=True, online_set_at=T)  # a person said so: believed
    assert online_until(said_online, T + timedelta(minutes=1)) == T + ONLINE_WINDOW
    assert online_until(said_online, T + ONLINE_WINDOW) is None


async def test_only_customers_who_just_wrote_show_online(admin: Api) -> None:
    _, chats = await admin.get("/chats/")
    online = {chat["name"]: chat["online"] for chat in chats}
    # John is online as the seed says; the others wrote over an hour ago, or by email.
    assert online == {"John Doe": True, "Sarah Williams": False, "Maria Lopez": False,
                      "Ahmed Hassan": False}  # fmt: skip
    ids = await admin.chat_ids()
    _, maria = await admin.get(f"/chats/{ids['Maria Lopez']}")
    assert maria["online_until"] is None
    last_wrote = maria["profile"]["last_active_at"]
    assert last_wrote is not None
    assert maria["profile"]["lastActive"] == last_wrote  # ISO 8601, the console formats it
    assert datetime.fromisoformat(last_wrote) < datetime.now(UTC) - timedelta(minutes=30)


async def test_a_new_message_makes_a_chat_customer_online_but_not_an_email_sender(
    admin: Api,
) -> None:
    core = admin.service.core
    mute_bot(core)  # no bot: only what the message itself changes
    telegram, email = await core.inbox.receive_many(
        [
            InboundMessage(channel="Telegram", chat_external_id="900", message_external_id="1",
                           text="hello?", customer_name="Tia"),
            InboundMessage(channel="Email", chat_external_id="ed@example.org",
                           message_external_id="<m1@example.org>", text="hello?",
                           customer_name="Ed", customer_email="ed@example.org"),
        ]
    )  # fmt: skip
    _, tia = await admin.get(f"/chats/{telegram.chat_id}")
    assert (tia["online"], tia["profile"]["lastActive"]) == (True, "Online")
    until = datetime.fromisoformat(tia["online_until"])
    assert timedelta(minutes=4) < until - datetime.now(UTC) <= ONLINE_WINDOW
    _, ed = await admin.get(f"/chats/{email.chat_id}")
    assert ed["online"] is False
    assert ed["profile"]["lastActive"] == ed["profile"]["last_active_at"] is not None
    # Minutes later, without a word from Tia: no longer online, last active when she wrote.
    earlier = timezone.now() - ONLINE_WINDOW - timedelta(seconds=1)
    await Chat.filter(id=telegram.chat_id).update(last_customer_message_at=earlier)
    _, tia = await admin.get(f"/chats/{telegram.chat_id}")
    assert tia["online"] is False
    assert datetime.fromisoformat(tia["profile"]["lastActive"]) == earlier


async def test_the_seed_patch_online_is_an_explicit_word(admin: Api) -> None:
    core = admin.service.core
    mute_bot(core)
    (got,) = await core.inbox.receive_many(
        [InboundMessage(channel="WhatsApp", chat_external_id="628999", message_external_id="a",
                        text="hi", customer_name="Uli")]
    )  # fmt: skip
    status, detail = await admin.patch(f"/chats/{got.chat_id}", {"online": False})
    assert (status, detail["online"]) == (200, False)
    assert detail["profile"]["lastActive"] == detail["profile"]["last_active_at"]
    await core.inbox.receive_many(
        [InboundMessage(channel="WhatsApp", chat_external_id="628999", message_external_id="b",
                        text="still there?", customer_name="Uli")]
    )  # fmt: skip
    _, detail = await admin.get(f"/chats/{got.chat_id}")
    assert detail["online"] is True  # she wrote again: computed again
    maria = (await admin.chat_ids())["Maria Lopez"]
    status, detail = await admin.patch(f"/chats/{maria}", {"online": True})
    assert (status, detail["online"], detail["profile"]["lastActive"]) == (200, True, "Online")
