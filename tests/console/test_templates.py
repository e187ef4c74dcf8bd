"""WhatsApp templates in the console: the picker when the 24-hour window is closed, parameter
fields and a live preview, the send reaching the mock Graph API, the window opening again
when the customer writes."""

from __future__ import annotations

from typing import Any

from tests.console.support import NARROW, Console, Demo, expect, open_chat, wait_for
from tests.console.test_media import shot, whatsapp_chat


def sent_templates(demo: Demo, phone: str) -> list[dict[str, Any]]:
    sent = demo.mock("whatsapp", "GET", "/_mock/sent")
    return [
        s["request"]["template"]
        for s in sent
        if s["request"].get("type") == "template" and s["request"].get("to") == phone
    ]


def test_a_template_is_picked_filled_previewed_and_sent(console: Console, demo: Demo) -> None:
    whatsapp_chat(demo, "Tari Handayani", "+6281100000077")
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Tari Handayani")
    page.click(".window-note button.open-templates")
    picker = page.get_by_role("region", name="Send a template")
    expect(picker).to_be_visible()
    options = picker.locator("#template-select option")
    expect(options).to_have_count(5)  # "Choose…" and the four approved (not pending, rejected)
    assert options.all_text_contents()[1:] == [
        "order_update · en · utility",
        "order_update · id · utility",
        "track_order · en · utility",
        "welcome_back · en · utility",
    ]  # by name, then language
    expect(page.locator(".window-note")).to_be_hidden()  # the picker says it all now
    picker.locator("#template-select").select_option(label="order_update · en · utility")
    preview = picker.locator(".template-preview")
    expect(preview).to_contain_text("Hi {{1}}, your order {{2}} has shipped.")
    expect(preview).to_contain_text("msgcenter demo shop")
    send = picker.get_by_role("button", name="Send template")
    expect(send).to_be_disabled()
    picker.get_by_label("Parameter 1").fill("Tari")
    expect(preview).to_contain_text("Hi Tari, your order {{2}} has shipped.")  # live
    expect(send).to_be_disabled()
    picker.get_by_label("Parameter 2").fill("INV-42")
    expect(preview).to_contain_text("Hi Tari, your order INV-42 has shipped.")
    shot(page, "template-picker-wide")
    send.click()
    sent = page.locator(".msg-agent", has_text="Hi Tari, your order INV-42 has shipped.")
    expect(sent).to_be_visible()
    expect(picker).to_be_hidden()
    expect(page.locator(".window-note")).to_be_visible()  # still closed: she has not written
    templates = wait_for(lambda: sent_templates(demo, "6281100000077"))
    assert templates and templates[0]["name"] == "order_update"
    assert templates[0]["language"]["code"] == "en"
    body = next(c for c in templates[0]["components"] if c["type"] == "body")
    assert [p["text"] for p in body["parameters"]] == ["Tari", "INV-42"]

    # A button's parameter (the end of its link) goes in its own field.
    page.click(".composer .templates-button")
    picker.locator("#template-select").select_option(label="track_order · en · utility")
    picker.get_by_label("Parameter 1").fill("INV-43")
    picker.get_by_label("Button “Track it”: the end of its link").fill("INV-43")
    expect(preview).to_contain_text("Your order INV-43 is on its way.")
    expect(preview.locator(".preview-buttons li")).to_have_text(["Track it", "Thanks"])
    picker.get_by_role("button", name="Send template").click()
    expect(page.locator(".msg-agent", has_text="Your order INV-43 is on its way.")).to_be_visible()
    templates = wait_for(lambda: len(sent_templates(demo, "6281100000077")) == 2 and
                         sent_templates(demo, "6281100000077"))  # fmt: skip
    button = next(c for c in templates[1]["components"] if c["type"] == "button")
    assert button["sub_type"] == "url" and button["parameters"][0]["text"] == "INV-43"

    # The customer answers: the window opens, live, and free text is back.
    says = {"name": "Tari Handayani", "phone": "6281100000077", "text": "Thanks!"}
    demo.mock("whatsapp", "POST", "/_mock/customer", says)
    expect(page.locator(".msg-customer", has_text="Thanks!")).to_be_visible()
    expect(page.locator(".window-note")).to_be_hidden()
    expect(page.locator("#composer-input")).to_be_enabled()


def test_the_template_picker_on_a_phone_and_in_indonesian(console: Console, demo: Demo) -> None:
    whatsapp_chat(demo, "Yuni Saputri", "+6281100000088")
    page = console.login("admin", "admin123", viewport=NARROW, locale="id-ID")
    page.click("#tab-all")
    open_chat(page, "Yuni Saputri")
    expect(page.locator(".window-note")).to_contain_text("Jendela 24 jam WhatsApp tertutup")
    page.get_by_role("button", name="Pilih templat").click()
    picker = page.get_by_role("region", name="Kirim templat")
    picker.locator("#template-select").select_option(label="welcome_back · en · utilitas")
    picker.get_by_label("Parameter 1").fill("Yuni")
    expect(picker.locator(".preview-header")).to_have_text("Welcome back, Yuni!")
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    shot(page, "template-picker-narrow")
    picker.get_by_role("button", name="Kirim templat").click()
    expect(page.locator(".msg-agent", has_text="Welcome back, Yuni!")).to_be_visible()
    # Escape-free closing: the picker's close button gives the composer back.
    page.click(".composer .templates-button")
    picker.get_by_role("button", name="Tutup pemilih templat").click()
    expect(picker).to_be_hidden()


def test_an_agent_starts_a_whatsapp_conversation_with_a_template(
    console: Console, demo: Demo
) -> None:
    page = console.login("agent", "agent123")
    page.get_by_role("button", name="New WhatsApp chat").click()
    expect(page.locator("#start-phone")).to_be_focused()
    page.get_by_label("Phone number").fill("0062 811 0000 0099")
    page.get_by_label("Name (optional)").fill("Wulan Sari")
    shot(page, "start-conversation-wide")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("#chat-name")).to_have_text("Wulan Sari")
    expect(page.locator(".chat-row", has_text="Wulan Sari")).to_be_visible()  # Mine: hers now
    picker = page.get_by_role("region", name="Send a template")
    expect(picker).to_be_visible()  # only a template can reach her
    picker.locator("#template-select").select_option(label="order_update · id · utility")
    picker.get_by_label("Parameter 1").fill("Wulan")
    picker.get_by_label("Parameter 2").fill("INV-99")
    expect(picker.locator(".template-preview")).to_contain_text("Halo Wulan, pesanan INV-99")
    picker.get_by_role("button", name="Send template").click()
    expect(page.locator(".msg-agent", has_text="Halo Wulan, pesanan INV-99")).to_be_visible()
    sent = wait_for(lambda: sent_templates(demo, "6281100000099"))
    assert sent and sent[0]["language"]["code"] == "id"
    page.get_by_role("button", name="New WhatsApp chat").click()
    page.get_by_label("Phone number").fill("12")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator(".start-error")).to_contain_text("Not started:")
