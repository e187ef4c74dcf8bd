"""The survey's pure parts: payloads, the links' signed tokens, and what each channel is given
of the choices (the end-to-end tests are test_csat*.py over the mocks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.base import OutboundMessage
from connectors.email_reply import choice_links, compose_reply
from connectors.mock.whatsapp import choice_payload, customer_payload
from connectors.telegram import inline_keyboard
from connectors.whatsapp import list_rows
from connectors.whatsapp_webhook import parse_webhook
from handoff.domain import csat
from msgcenter.service import build_service
from tests.support import TEST_SECRET, make_settings

KEY = csat.link_key("k" * 40)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("csat:12:5", csat.Choice(12, 5)),
        ("csat:12:1", csat.Choice(12, 1)),
        ("csat:7:comment", csat.Choice(7, None)),
        ("csat:12:6", None),
        ("csat:12:0", None),
        ("csat:12:55", None),
        ("csat:12:", None),
        ("csat::5", None),
        ("csat:-1:5", None),
        ("csat:１２:5", None),  # full-width digits
        ("csat:12:5:extra", None),
        ("other:12:5", None),
        ("csat:" + "9" * 19 + ":5", None),
    ],
)
def test_payloads(payload: str, expected: csat.Choice | None) -> None:
    assert csat.parse(payload) == expected
    assert csat.is_survey_payload(payload) == payload.startswith("csat:")


def test_the_options_fit_every_channel() -> None:
    interactive = csat.interactive(123456789)
    assert [o["id"] for o in interactive["options"]] == [
        f"csat:123456789:{n}" for n in (5, 4, 3, 2, 1)
    ]
    rows = list_rows(interactive)
    assert rows == [{"id": o["id"], "title": o["title"]} for o in interactive["options"]]
    assert all(len(row["title"]) <= 24 for row in rows)
    assert len(csat.LIST_BUTTON) <= 20
    markup = inline_keyboard(interactive)
    assert markup is not None
    assert [row[0].callback_data for row in markup.inline_keyboard] == [r["id"] for r in rows]
    # A choice whose data Telegram would refuse (over 64 bytes) is left out, not sent broken.
    long = {"options": [{"id": "x" * 65, "title": "Too long"}, {"id": "ok", "title": "Fine"}]}
    markup = inline_keyboard(long)
    assert markup is not None and [row[0].text for row in markup.inline_keyboard] == ["Fine"]
    assert inline_keyboard({"options": []}) is None


def test_a_token_names_its_survey_and_rating_and_nothing_else() -> None:
    token = csat.sign(KEY, 42, 4)
    assert csat.verify(KEY, token) == csat.Choice(42, 4)
    survey, rating, mac = token.split(".")
    assert (survey, rating) == ("42", "4")
    for forged in (
        f"42.5.{mac}",  # another rating
        f"43.4.{mac}",  # another survey
        f"42.4.{mac[:-1]}",  # cut
        f"42.4.{mac}x",
        f"42.4.{mac}.x",
        "42.4",
        "",
        "42.4." + "A" * 100,
        "٤٢.4." + mac,  # Arabic-Indic digits
    ):
        assert csat.verify(KEY, forged) is None, forged
    assert csat.verify(csat.link_key("other" * 8), token) is None  # another service's key
    with pytest.raises(ValueError, match="32 bytes"):
        csat.link_key("short")


def test_the_survey_mail_carries_one_link_a_line_and_only_web_links() -> None:
    options = [
        {"id": "csat:1:5", "title": "5 - Excellent", "url": "https://help.example/csat/1.5.x"},
        {"id": "csat:1:4", "title": "4 - Good", "url": "javascript:alert(1)"},
        {"id": "csat:1:3", "title": "3 - Okay"},
        {"id": "csat:1:2", "title": "2 <b>", "url": "https://help.example/csat/1.2.y"},
    ]
    message = OutboundMessage(
        message_id=1, chat_id=1, channel="Email", chat_external_id="ann@example.com",
        text="How did we do?", customer_name="Ann",
        interactive={"kind": "csat", "options": options},
    )  # fmt: skip
    assert choice_links(message) == [
        ("5 - Excellent", "https://help.example/csat/1.5.x"),
        ("2 <b>", "https://help.example/csat/1.2.y"),
    ]
    mail, _ = compose_reply(message, address="help@example.com", display_name="Help")
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    plain, page = text.get_content(), html.get_content()
    assert "5 - Excellent: https://help.example/csat/1.5.x" in plain
    assert "javascript" not in plain and "javascript" not in page
    assert '<a href="https://help.example/csat/1.5.x"' in page
    assert "2 &lt;b&gt;" in page and "2 <b>" not in page


@pytest.mark.parametrize("kind", ["list_reply", "button_reply"])
def test_a_whatsapp_choice_is_read_with_its_id_as_the_payload(kind: str) -> None:
    body = choice_payload(
        "Rina", "csat:9:4", "4 - Good", kind=kind, phone="628123", context_wamid="wamid.SURVEY"
    )
    [message] = parse_webhook(body).messages
    assert (message.text, message.payload) == ("4 - Good", "csat:9:4")
    assert message.reply_to_external_id == "wamid.SURVEY"
    # A plain text message has no payload.
    [plain] = parse_webhook(customer_payload("Rina", "csat:9:4", phone="628123")).messages
    assert (plain.text, plain.payload) == ("csat:9:4", None)


def test_the_csat_settings_reach_the_surveys(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'msgcenter.db'}"
    settings = make_settings(
        url, tmp_path / "data", csat={"enabled": False, "after": "all", "comment_minutes": 3},
        server={"public_url": "https://help.example/"},
    )  # fmt: skip
    options = build_service(settings).core.surveys.options
    assert (options.enabled, options.after, options.comment_minutes) == (False, "all", 3)
    assert options.public_url == "https://help.example/"
    assert options.secret == TEST_SECRET  # the links' key is derived from auth.jwt_secret
