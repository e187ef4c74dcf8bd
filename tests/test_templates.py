"""WhatsApp message templates: synced from the (mock) Graph API through every page, listed,
sent inside and outside the 24-hour window, refused when they do not fit; and an agent
starting a WhatsApp conversation with a phone number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise import timezone

from connectors.mock.whatsapp import WABA_ID, MockWhatsApp
from storage.models import Chat, Message, WhatsAppTemplate
from tests.support import Api, ClientFactory
from tests.whatsapp_support import WhatsApp, eventually, running_mock, start_whatsapp

APPROVED = [("order_update", "en"), ("order_update", "id"), ("track_order", "en"),
            ("welcome_back", "en")]  # fmt: skip
ORDER_TEXT = (
    "Hi Budi, your order INV-42 has shipped. Reply here if you have any questions."
    "\n\nmsgcenter demo shop"
)
WINDOW_CLOSED = timedelta(hours=24, minutes=1)


@pytest.fixture
async def mock() -> AsyncIterator[MockWhatsApp]:
    async for running in running_mock():
        yield running


async def _start(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path, **more: Any
) -> WhatsApp:
    wa = await start_whatsapp(
        mock, aiohttp_client, db_url, tmp_path,
        whatsapp={"business_account_id": WABA_ID, **more},
    )  # fmt: skip

    async def synced() -> bool:
        return await WhatsAppTemplate.all().count() == len(mock.templates)

    await eventually(synced, "the templates synced at start")
    return wa


@pytest.fixture
async def wa(
    mock: MockWhatsApp, db_url: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> WhatsApp:
    return await _start(mock, aiohttp_client, db_url, tmp_path)


@pytest.fixture
async def agent(wa: WhatsApp) -> Api:
    return await wa.anon.login("agent", "agent123")


async def _template(wa: WhatsApp, api: Api, chat_id: int, **template: Any) -> tuple[int, Any]:
    return await api.post("/chats/messages", {"chat_id": chat_id, "template": template})


async def _close_window(chat_id: int) -> None:
    """The customer last wrote more than 24 hours ago."""
    day_ago = timezone.now() - WINDOW_CLOSED
    await Chat.filter(id=chat_id).update(last_customer_message_at=day_ago)


def _template_sends(mock: MockWhatsApp) -> list[dict[str, Any]]:
    return [s["request"] for s in mock.sent if s["request"].get("type") == "template"]


# -- sync ----------------------------------------------------------------------------------


async def test_start_syncs_every_page_of_the_list(wa: WhatsApp) -> None:
    mock = wa.mock
    # Six templates, two a page: three requests, each asking for the fields, the later
    # ones with the previous page's "after" cursor.
    assert len(mock.template_requests) == 3
    assert all(
        q["fields"] == "name,language,category,status,components,id" for q in mock.template_requests
    )
    assert "after" not in mock.template_requests[0]
    assert all(q.get("after") for q in mock.template_requests[1:])
    rows = {(t.name, t.language): t for t in await WhatsAppTemplate.all()}
    assert set(rows) == {(t["name"], t["language"]) for t in mock.templates}
    welcome = rows[("welcome_back", "en")]
    assert welcome.status == "APPROVED"
    assert welcome.category == "UTILITY"
    assert welcome.external_id == "1010000000000003"
    assert welcome.components == next(
        t["components"] for t in mock.templates if t["name"] == "welcome_back"
    )
    assert rows[("spring_sale", "en")].status == "PENDING"


async def test_sync_updates_adds_and_removes(wa: WhatsApp, agent: Api) -> None:
    mock = wa.mock
    mock.templates = [t for t in mock.templates if t["name"] != "promo_blast"]
    [sale] = [t for t in mock.templates if t["name"] == "spring_sale"]
    sale["status"] = "APPROVED"
    mock.templates.append(
        {"name": "survey", "language": "en", "category": "MARKETING", "status": "APPROVED",
         "id": "99", "components": [{"type": "BODY", "text": "How did we do, {{1}}?"}]}
    )  # fmt: skip

    status, body = await agent.post("/channels/whatsapp/templates/sync")
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert not await WhatsAppTemplate.filter(name="survey").exists()

    status, counts = await wa.admin.post("/channels/whatsapp/templates/sync")
    assert status == 200, counts
    assert counts == {"listed": 6, "created": 1, "updated": 1, "removed": 1, "approved": 6}
    assert not await WhatsAppTemplate.filter(name="promo_blast").exists()
    assert (await WhatsAppTemplate.get(name="spring_sale")).status == "APPROVED"
    _, listed = await agent.get("/channels/whatsapp/templates")
    assert ("survey", "en") in {(t["name"], t["language"]) for t in listed}


async def test_a_list_longer_than_the_bound_changes_nothing(
    mock: MockWhatsApp, db_url: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    wa = await _start(mock, aiohttp_client, db_url, tmp_path, templates_max_pages=3)
    mock.templates = mock.templates[:5] + [
        {
            "name": f"extra_{i}",
            "language": "en",
            "category": "UTILITY",
            "status": "APPROVED",
            "components": [{"type": "BODY", "text": "Hi"}],
        }
        for i in range(2)
    ]  # fmt: skip (seven templates: four pages of two)
    status, body = await wa.admin.post("/channels/whatsapp/templates/sync")
    assert status == 409
    assert body["error"]["code"] == "templates_unavailable"
    assert "more than 3 pages" in body["error"]["message"]
    assert await WhatsAppTemplate.filter(name="promo_blast").exists()  # nothing removed
    assert not await WhatsAppTemplate.filter(name__startswith="extra_").exists()


async def test_a_refused_list_changes_nothing(wa: WhatsApp) -> None:
    wa.mock.waba_id = "999"  # the account is not ours any more
    status, body = await wa.admin.post("/channels/whatsapp/templates/sync")
    assert status == 409
    assert "WhatsApp API error 100" in body["error"]["message"]
    assert await WhatsAppTemplate.all().count() == 6


async def test_without_an_account_there_is_nothing_to_sync(wa_plain: WhatsApp) -> None:
    status, body = await wa_plain.admin.post("/channels/whatsapp/templates/sync")
    assert status == 409
    assert "business_account_id is not set" in body["error"]["message"]
    assert wa_plain.mock.template_requests == []
    status, listed = await wa_plain.admin.get("/channels/whatsapp/templates")
    assert (status, listed) == (200, [])


@pytest.fixture
async def wa_plain(
    mock: MockWhatsApp, db_url: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> WhatsApp:
    return await start_whatsapp(mock, aiohttp_client, db_url, tmp_path)


# -- the list --------------------------------------------------------------------------------


async def test_the_list_shows_approved_templates_with_their_parameters(agent: Api) -> None:
    status, listed = await agent.get("/channels/whatsapp/templates")
    assert status == 200
    assert [(t["name"], t["language"]) for t in listed] == APPROVED
    by_key = {(t["name"], t["language"]): t for t in listed}
    order = by_key[("order_update", "en")]
    assert order["parameters"] == {"header": 0, "body": 2, "buttons": 0}
    assert order["category"] == "UTILITY"
    assert order["status"] == "APPROVED"
    assert order["components"][0]["text"].startswith("Hi {{1}}, your order {{2}}")
    assert order["preview"].startswith("Hi {{1}}, your order {{2}}")
    welcome = by_key[("welcome_back", "en")]
    assert welcome["parameters"] == {"header": 1, "body": 0, "buttons": 0}
    assert welcome["header_format"] == "TEXT"
    track = by_key[("track_order", "en")]
    assert track["parameters"] == {"header": 0, "body": 1, "buttons": 1}


async def test_the_list_needs_a_login(wa: WhatsApp) -> None:
    status, body = await wa.anon.get("/channels/whatsapp/templates")
    assert (status, body["error"]["code"]) == (401, "unauthorized")


# -- sending ---------------------------------------------------------------------------------


async def test_a_template_inside_the_window_reaches_whatsapp_rendered(wa: WhatsApp) -> None:
    chat_id, _ = await wa.customer_chat("Budi", "6281111111111")
    status, message = await _template(
        wa, wa.admin, chat_id, name="order_update", language="en",
        parameters={"body": ["Budi", "INV-42"]},
    )  # fmt: skip
    assert status == 201, message
    assert message["text"] == ORDER_TEXT
    assert message["status"] == "queued"
    assert message["template"]["name"] == "order_update"
    assert message["template"]["parameters"] == {"header": [], "body": ["Budi", "INV-42"],
                                                 "buttons": []}  # fmt: skip
    await eventually(lambda: wa.has_status(chat_id, message["id"], "read"), "delivered and read")
    [sent] = _template_sends(wa.mock)
    assert sent["to"] == "6281111111111"
    assert sent["template"] == {
        "name": "order_update",
        "language": {"code": "en"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Budi"},
                                            {"type": "text", "text": "INV-42"}]},
        ],
    }  # fmt: skip
    # The thread reads naturally: the rendered text, and the spec for clients that want it.
    thread = await wa.message(chat_id, message["id"])
    assert thread["text"] == ORDER_TEXT
    assert thread["template"]["language"] == "en"
    row = await Message.get(id=message["id"])
    assert row.external_id == wa.mock.sent[-1]["id"]
    assert row.template is not None and row.template["name"] == "order_update"


async def test_outside_the_window_text_is_refused_and_a_template_goes(wa: WhatsApp) -> None:
    chat_id, _ = await wa.customer_chat("Sari", "6282222222222")
    await _close_window(chat_id)
    before = await Message.filter(chat_id=chat_id).count()

    status, body = await wa.admin.post(
        "/chats/messages", {"chat_id": chat_id, "text": "Still there?"}
    )
    assert status == 409
    assert body["error"]["code"] == "channel_refused"
    assert "GET /channels/whatsapp/templates" in body["error"]["message"]
    assert await Message.filter(chat_id=chat_id).count() == before

    status, message = await _template(
        wa, wa.admin, chat_id, name="welcome_back", language="en",
        parameters={"header": ["Sari"]},
    )  # fmt: skip
    assert status == 201, message
    assert message["text"].startswith("Welcome back, Sari!\n\nWe have an answer")
    assert message["text"].endswith("[Talk to an agent]")
    await eventually(lambda: wa.has_status(chat_id, message["id"], "read"), "delivered")
    [sent] = _template_sends(wa.mock)
    assert sent["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "Sari"}]}
    ]


async def test_a_url_button_takes_its_parameter(wa: WhatsApp) -> None:
    chat_id, _ = await wa.customer_chat("Tono", "6283333333333")
    status, message = await _template(
        wa, wa.admin, chat_id, name="track_order", language="en",
        parameters={"body": ["INV-7"], "buttons": ["INV-7"]},
    )  # fmt: skip
    assert status == 201, message
    assert message["text"] == "Your order INV-7 is on its way.\n\n[Track it] [Thanks]"
    await eventually(lambda: wa.has_status(chat_id, message["id"], "read"), "delivered")
    [sent] = _template_sends(wa.mock)
    assert sent["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "INV-7"}]},
        {"type": "button", "sub_type": "url", "index": "0",
         "parameters": [{"type": "text", "text": "INV-7"}]},
    ]  # fmt: skip


REFUSED: dict[str, tuple[dict[str, Any], str, str]] = {
    "unknown template": (
        {"name": "no_such", "language": "en", "parameters": {}}, "unknown_template",
        "GET /channels/whatsapp/templates",
    ),
    "pending template": (
        {"name": "spring_sale", "language": "en", "parameters": {"body": ["20%"]}},
        "template_not_approved", "is PENDING",
    ),
    "rejected template": (
        {"name": "promo_blast", "language": "en", "parameters": {"body": ["x"]}},
        "template_not_approved", "is REJECTED",
    ),
    "wrong language": (
        {"name": "order_update", "language": "fr", "parameters": {"body": ["a", "b"]}},
        "template_language", "approved languages: en, id",
    ),
    "too few body parameters": (
        {"name": "order_update", "language": "en", "parameters": {"body": ["Budi"]}},
        "template_parameters", "body takes 2 (got 1)",
    ),
    "a header parameter missing": (
        {"name": "welcome_back", "language": "en", "parameters": {}},
        "template_parameters", "header takes 1 (got 0)",
    ),
    "a button parameter too many": (
        {"name": "order_update", "language": "en",
         "parameters": {"body": ["a", "b"], "buttons": ["c"]}},
        "template_parameters", "buttons takes 0 (got 1)",
    ),
    "a new line in a parameter": (
        {"name": "order_update", "language": "en", "parameters": {"body": ["a\nb", "c"]}},
        "template_parameters", "new lines",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
async def test_a_template_that_does_not_fit_is_422_and_nothing_is_stored(
    wa: WhatsApp, case: tuple[dict[str, Any], str, str]
) -> None:
    template, code, said = case
    chat_id, _ = await wa.customer_chat("Wati", "6284444444444")
    before = await Message.filter(chat_id=chat_id).count()
    attempts = len(wa.mock.attempts)
    status, body = await _template(wa, wa.admin, chat_id, **template)
    assert status == 422, body
    assert body["error"]["code"] == code
    assert said in body["error"]["message"]
    assert await Message.filter(chat_id=chat_id).count() == before
    assert len(wa.mock.attempts) == attempts


async def test_a_template_on_another_channel_is_422(wa: WhatsApp) -> None:
    status, chat = await wa.admin.post("/chats/", {"customer_name": "Rina", "channel": "Telegram"})
    assert status == 201
    status, body = await _template(
        wa, wa.admin, chat["id"], name="order_update", language="en",
        parameters={"body": ["a", "b"]},
    )  # fmt: skip
    assert (status, body["error"]["code"]) == (422, "not_whatsapp")
    assert await Message.filter(chat_id=chat["id"]).count() == 0


async def test_neither_text_nor_template_is_422(wa: WhatsApp) -> None:
    chat_id, _ = await wa.customer_chat("Yudi", "6285555555555")
    status, body = await wa.admin.post("/chats/messages", {"chat_id": chat_id, "text": "  "})
    assert (status, body["error"]["code"]) == (422, "validation_error")
    assert "text is required" in body["error"]["message"]


async def test_a_template_meta_changed_since_the_sync_fails_with_metas_error(
    wa: WhatsApp,
) -> None:
    """Meta checks the send too (132000): a template edited at Meta after our sync fails the
    message with Meta's reason, once (not retried)."""
    chat_id, _ = await wa.customer_chat("Ani", "6286666666666")
    [order] = [t for t in wa.mock.templates if (t["name"], t["language"]) == ("order_update", "en")]
    order["components"][0]["text"] = "Hi {{1}}, your order {{2}} ships on {{3}}."
    status, message = await _template(
        wa, wa.admin, chat_id, name="order_update", language="en",
        parameters={"body": ["Ani", "INV-9"]},
    )  # fmt: skip
    assert status == 201
    await eventually(lambda: wa.has_status(chat_id, message["id"], "failed"), "failed")
    view = await wa.message(chat_id, message["id"])
    assert "WhatsApp API error 132000" in view["error"]
    assert "does not match the expected number of params (3)" in view["error"]
    assert sum(1 for body in wa.mock.attempts if body.get("type") == "template") == 1


async def test_a_template_meta_no_longer_has_fails_with_132001(wa: WhatsApp) -> None:
    chat_id, _ = await wa.customer_chat("Dedi", "6287777777770")
    wa.mock.templates = [t for t in wa.mock.templates if t["name"] != "welcome_back"]
    status, message = await _template(
        wa, wa.admin, chat_id, name="welcome_back", language="en",
        parameters={"header": ["Dedi"]},
    )  # fmt: skip
    assert status == 201
    await eventually(lambda: wa.has_status(chat_id, message["id"], "failed"), "failed")
    view = await wa.message(chat_id, message["id"])
    assert "WhatsApp API error 132001" in view["error"]


# -- starting a conversation ---------------------------------------------------------------


async def test_an_agent_starts_a_conversation_with_a_template(wa: WhatsApp, agent: Api) -> None:
    status, chat = await agent.post("/chats/", {"channel": "WhatsApp", "phone": "+6281234500000"})
    assert status == 201, chat
    assert chat["mode"] == "agent"
    assert chat["assigned_agent_id"] is not None
    assert chat["assigned_agent_name"] == "Agent Smith"
    assert chat["name"] == "+6281234500000"
    assert chat["profile"]["phone"] == "+6281234500000"
    row = await Chat.get(id=chat["id"])
    assert row.external_id == "6281234500000"

    # The same number again: the same chat (200), still theirs.
    status, again = await agent.post("/chats/", {"channel": "WhatsApp", "phone": "+6281234500000"})
    assert (status, again["id"]) == (200, chat["id"])

    # The customer never wrote: free text is refused, a template goes.
    status, body = await agent.post("/chats/messages", {"chat_id": chat["id"], "text": "Hi"})
    assert (status, body["error"]["code"]) == (409, "channel_refused")
    status, message = await _template(
        wa, agent, chat["id"], name="order_update", language="id",
        parameters={"body": ["Budi", "INV-42"]},
    )  # fmt: skip
    assert status == 201, message
    assert message["text"].startswith("Halo Budi, pesanan INV-42 Anda sudah dikirim.")
    await eventually(lambda: wa.has_status(chat["id"], message["id"], "read"), "delivered")
    [sent] = _template_sends(wa.mock)
    assert sent["to"] == "6281234500000"
    assert sent["template"]["language"] == {"code": "id"}


async def test_starting_a_conversation_with_a_customer_who_wrote(wa: WhatsApp, agent: Api) -> None:
    """The chat the customer's messages made (bot mode) is taken over, as a takeover does."""
    chat_id, _ = await wa.customer_chat("Lina", "6288888888800")
    status, chat = await agent.post("/chats/", {"channel": "WhatsApp", "phone": "+6288888888800"})
    assert status == 200, chat
    assert chat["id"] == chat_id
    assert chat["mode"] == "agent"
    assert chat["assigned_agent_name"] == "Agent Smith"
    assert chat["messages"][-1]["note"]["action"] == "take_over"


async def test_another_agents_chat_is_not_taken(wa: WhatsApp, agent: Api) -> None:
    status, _ = await wa.admin.post(
        "/users", {"username": "siti", "password": "another123", "display_name": "Siti"}
    )
    assert status == 201
    siti = await wa.anon.login("siti", "another123")
    status, chat = await siti.post("/chats/", {"channel": "WhatsApp", "phone": "+6289000000001"})
    assert status == 201
    status, body = await agent.post("/chats/", {"channel": "WhatsApp", "phone": "+6289000000001"})
    assert status == 409
    assert body["error"]["code"] == "chat_held"
    assert "Siti" not in body["error"]["message"]
    assert body["error"]["details"] == {}
    assert (await Chat.get(id=chat["id"])).assigned_agent_id == chat["assigned_agent_id"]
    # An admin gets it as it is (theirs to see), without taking it from Siti.
    status, seen = await wa.admin.post(
        "/chats/", {"channel": "WhatsApp", "phone": "+6289000000001"}
    )
    assert (status, seen["assigned_agent_name"]) == (200, "Siti")


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "WhatsApp", "phone": "081234567890"},  # no country code
        {"channel": "WhatsApp", "phone": "+62 812 3456 7890"},  # spaces
        {"channel": "WhatsApp", "phone": "+0812345678"},  # no country starts with 0
        {"channel": "WhatsApp", "phone": "+6281234567890123"},  # 16 digits
        {"channel": "Telegram", "phone": "+6281234567890"},
        {"channel": "WhatsApp", "phone": "+6281234567890", "customer_email": "a@b.example"},
        {"channel": "WhatsApp"},  # neither phone nor customer_name
    ],
)
async def test_starting_a_conversation_needs_an_e164_number(
    wa: WhatsApp, agent: Api, body: dict[str, Any]
) -> None:
    status, answer = await agent.post("/chats/", body)
    assert (status, answer["error"]["code"]) == (422, "validation_error")
    assert await Chat.filter(channel="WhatsApp").count() == 0


INVOICE = {
    "name": "invoice_ready", "language": "en", "category": "UTILITY", "status": "APPROVED",
    "id": "77",
    "components": [
        {"type": "HEADER", "format": "DOCUMENT"},
        {"type": "BODY", "text": "Dear {{customer}}, invoice {{invoice}} is attached."},
        {"type": "BUTTONS", "buttons": [
            {"type": "COPY_CODE", "example": "PAY42"},
            {"type": "URL", "text": "Help", "url": "https://shop.example.com/help"},
        ]},
    ],
}  # fmt: skip
CAROUSEL = {
    "name": "spring_cards", "language": "en", "category": "MARKETING", "status": "APPROVED",
    "components": [{"type": "BODY", "text": "Look!"}, {"type": "CAROUSEL", "cards": []}],
}  # fmt: skip


async def test_a_media_header_named_parameters_and_a_code_button(wa: WhatsApp) -> None:
    wa.mock.templates += [dict(INVOICE), dict(CAROUSEL)]
    status, counts = await wa.admin.post("/channels/whatsapp/templates/sync")
    assert (status, counts["created"]) == (200, 2)
    _, listed = await wa.admin.get("/channels/whatsapp/templates")
    [invoice] = [t for t in listed if t["name"] == "invoice_ready"]
    assert invoice["parameters"] == {"header": 1, "body": 2, "buttons": 1}
    assert invoice["header_format"] == "DOCUMENT"

    chat_id, _ = await wa.customer_chat("Joko", "6287000000001")
    link = "https://files.example.com/INV-42.pdf"
    status, body = await _template(
        wa, wa.admin, chat_id, name="invoice_ready", language="en",
        parameters={"header": ["http://files.example.com/x.pdf"], "body": ["Joko", "INV-42"],
                    "buttons": ["PAY42"]},
    )  # fmt: skip
    assert (status, body["error"]["code"]) == (422, "template_parameters")
    assert "https link" in body["error"]["message"]

    status, message = await _template(
        wa, wa.admin, chat_id, name="invoice_ready", language="en",
        parameters={"header": [link], "body": ["Joko", "INV-42"], "buttons": ["PAY42"]},
    )  # fmt: skip
    assert status == 201, message
    assert message["text"] == (
        f"[document: {link}]\n\nDear Joko, invoice INV-42 is attached.\n\n[Help]"
    )
    await eventually(lambda: wa.has_status(chat_id, message["id"], "read"), "delivered")
    [sent] = _template_sends(wa.mock)
    assert sent["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "document", "document": {"link": link}}]},
        {"type": "body", "parameters": [
            {"type": "text", "text": "Joko", "parameter_name": "customer"},
            {"type": "text", "text": "INV-42", "parameter_name": "invoice"},
        ]},
        {"type": "button", "sub_type": "copy_code", "index": "0",
         "parameters": [{"type": "coupon_code", "coupon_code": "PAY42"}]},
    ]  # fmt: skip

    status, body = await _template(
        wa, wa.admin, chat_id, name="spring_cards", language="en", parameters={}
    )
    assert (status, body["error"]["code"]) == (422, "template_unsupported")
    assert "CAROUSEL" in body["error"]["message"]


async def test_the_mocks_control_api_sets_the_list(wa: WhatsApp) -> None:
    """``POST /_mock/templates`` (for the demo and browser tests): the next sync sees it."""
    only = {"name": "hello", "language": "en", "status": "APPROVED",
            "components": [{"type": "BODY", "text": "Hello {{1}}!"}]}  # fmt: skip
    async with wa.http.post(f"{wa.mock.url}/_mock/templates", json={"templates": [only]}) as r:
        assert r.status == 200
    async with wa.http.post(f"{wa.mock.url}/_mock/templates", json={"templates": 3}) as r:
        assert r.status == 400
    status, counts = await wa.admin.post("/channels/whatsapp/templates/sync")
    assert status == 200
    assert counts == {"listed": 1, "created": 1, "updated": 0, "removed": 6, "approved": 1}
    _, listed = await wa.admin.get("/channels/whatsapp/templates")
    assert [(t["name"], t["parameters"]["body"]) for t in listed] == [("hello", 1)]
