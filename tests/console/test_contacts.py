"""Contacts in the console: the contact panel of a chat (identities of a customer who wrote on
two channels, their conversations, attributes edited by type, merge suggestions with a
preview, merge and undo), an agent reading the contact's other conversation read-only, and
the Contacts page (search, attribute filter, the contact view; admins' custom attributes).
Customers write through the real inbound path: `msgcenter simulate` and the Telegram mock's
updates (a customer sharing their own number)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.console.support import (
    NARROW,
    Console,
    Demo,
    expect,
    open_chat,
    screenshot,
    wait_for,
)
from tests.console.test_newcomer import user


def telegram(demo: Demo, user_id: int, name: str, text: str = "", phone: str = "") -> None:
    """A Telegram customer writes (`text`) or shares their own number (`phone`)."""
    first, _, last = name.partition(" ")
    person = {"id": user_id, "is_bot": False, "first_name": first, "last_name": last}
    message: dict[str, Any] = {
        "message_id": int(time.time() * 1000) % 1_000_000_000,
        "from": person,
        "chat": {"id": user_id, "first_name": first, "last_name": last, "type": "private"},
        "date": int(time.time()),
    }
    if phone:
        message["contact"] = {"phone_number": phone, "first_name": first, "user_id": user_id}
    else:
        message["text"] = text
    demo.mock("telegram", "POST", "/_mock/update", {"message": message})


def chat_of(demo: Demo, token: str, name: str) -> dict[str, Any]:
    """The chat row named `name`, once it has arrived."""

    def find() -> dict[str, Any] | None:
        _, rows = demo.call("GET", "/chats/?limit=200", token=token)
        return next((r for r in rows if r["name"] == name), None)

    found = wait_for(find)
    assert found, f"no chat {name}"
    return dict(found)


def contact(demo: Demo, token: str, contact_id: int) -> dict[str, Any]:
    status, body = demo.call("GET", f"/contacts/{contact_id}", token=token)
    assert status == 200, body
    return dict(body)


def attribute(demo: Demo, token: str, body: dict[str, Any]) -> None:
    status, made = demo.call("POST", "/contact-attributes", body, token=token)
    assert status in (201, 409), made


def two_channel_customer(
    demo: Demo, token: str, phone: str, tg_id: int, name: str
) -> tuple[int, int]:
    """A customer on WhatsApp who then writes on Telegram sharing the same number: one
    contact, two conversations. Returns (WhatsApp chat id, Telegram chat id)."""
    demo.simulate("whatsapp", name, "Halo, pesanan saya belum sampai", "--phone", phone)
    whatsapp = chat_of(demo, token, name)
    telegram(demo, tg_id, f"{name.split()[0]} T", phone=phone)
    tg = chat_of(demo, token, f"{name.split()[0]} T")
    assert tg["contact_id"] == whatsapp["contact_id"]
    return int(whatsapp["id"]), int(tg["id"])


def test_the_contact_panel_shows_both_channels_and_edits_attributes(
    console: Console, demo: Demo
) -> None:
    admin = demo.login("admin", "admin123")
    attribute(demo, admin, {"key": "plan", "label": "Plan", "type": "list",
                            "options": ["gold", "silver"]})  # fmt: skip
    attribute(demo, admin, {"key": "orders", "label": "Orders", "type": "number"})
    wa_id, tg_id = two_channel_customer(demo, admin, "+6281355500001", 7700101, "Dewi Lestari")
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Dewi T")
    panel = page.locator("#customer-panel")
    view = panel.locator(".contact-view")
    expect(view).to_have_attribute("aria-busy", "false")
    expect(view.locator(".contact-name")).to_have_text("Dewi Lestari")
    identities = view.locator(".contact-identities li")
    expect(identities).to_have_count(2)
    expect(view.locator(".identity[data-channel=WhatsApp]")).to_contain_text("+6281355500001")
    expect(view.locator(".identity[data-channel=Telegram]")).to_contain_text("7700101")
    phone = view.locator(".contact-point[data-kind=phone]")
    expect(phone).to_contain_text("+6281355500001")
    expect(phone.locator(".badge.verified")).to_be_visible()
    chats = view.locator(".contact-chats li")
    expect(chats).to_have_count(2)
    expect(view.locator(f".contact-chats li[data-chat='{tg_id}']")).to_contain_text("This chat")

    # attributes by type: a list and a number
    view.locator("select[data-attribute=plan]").select_option("gold")
    view.locator("input[data-attribute=orders]").fill("3")
    view.locator(".contact-attr-form button[type=submit]").click()
    expect(view.locator(".contact-status")).to_have_text("Attributes saved.")
    contact_id = int(chat_of(demo, admin, "Dewi T")["contact_id"])
    assert contact(demo, admin, contact_id)["attributes"] == {"plan": "gold", "orders": 3}

    # the name, changed by someone else: the panel follows live (contact.updated)
    status, _ = demo.call("PATCH", f"/contacts/{contact_id}", {"name": "Dewi Lestari S."},
                          token=admin)  # fmt: skip
    assert status == 200
    expect(view.locator(".contact-name")).to_have_text("Dewi Lestari S.")
    screenshot(page, "contacts-panel-1280")  # docs/screenshots/contacts.png is this one

    # the other conversation opens as any chat an admin may act on
    view.locator(f".contact-chats li[data-chat='{wa_id}'] button").click()
    expect(page.locator("#chat-name")).to_have_text("Dewi Lestari")
    expect(page.locator("dialog.history")).to_have_count(0)

    phone_page = console.login("admin", "admin123", NARROW)
    phone_page.click("#tab-all")
    open_chat(phone_page, "Dewi T")
    phone_page.click("button.panel-toggle")
    expect(phone_page.locator("#customer-panel .contact-identities li")).to_have_count(2)
    box = phone_page.locator("#customer-panel").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"], box
    screenshot(phone_page, "contacts-panel-390")  # docs/screenshots/contacts-mobile.png


def test_merge_with_preview_and_undo_in_the_panel(console: Console, demo: Demo) -> None:
    admin = demo.login("admin", "admin123")
    attribute(demo, admin, {"key": "plan", "label": "Plan", "type": "list",
                            "options": ["gold", "silver"]})  # fmt: skip
    # Rudi writes on Telegram without a number (a contact of his own), on WhatsApp from his
    # number (another), then shares that number on Telegram: both hold it, verified.
    telegram(demo, 7700202, "Rudi T", text="Halo?")
    tg = chat_of(demo, admin, "Rudi T")
    demo.simulate("whatsapp", "Rudi Hartono", "Ini Rudi", "--phone", "+6281355500002")
    wa = chat_of(demo, admin, "Rudi Hartono")
    assert tg["contact_id"] != wa["contact_id"]
    telegram(demo, 7700202, "Rudi T", phone="+6281355500002")
    mine, other = int(tg["contact_id"]), int(wa["contact_id"])
    assert wait_for(lambda: contact(demo, admin, mine)["suggestions"])
    for who, plan in ((mine, "gold"), (other, "silver")):
        status, _ = demo.call("PATCH", f"/contacts/{who}", {"attributes": {"plan": plan}},
                              token=admin)  # fmt: skip
        assert status == 200

    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Rudi T")
    view = page.locator("#customer-panel .contact-view")
    suggestion = view.locator(f".suggestion[data-suggestion='{other}']")
    expect(suggestion).to_contain_text("Rudi Hartono")
    expect(suggestion).to_contain_text("+6281355500002")
    suggestion.locator(".merge-button").click()
    preview = suggestion.locator(".merge-preview")
    expect(preview.locator(".merge-moves")).to_contain_text("identities: 1")
    expect(preview.locator(".merge-moves")).to_contain_text("conversations: 1")
    expect(preview.locator(".merge-conflicts li")).to_have_text("Plan: gold kept, silver dropped")
    assert contact(demo, admin, mine)["identities"] == [
        {"channel": "Telegram", "external_id": "7700202"}
    ]  # a preview changes nothing
    screenshot(page, "contacts-merge-preview-1280")
    preview.locator(".merge-confirm").click()
    expect(view.locator(".contact-status")).to_have_text(
        "Rudi Hartono was merged into this contact."
    )
    expect(view.locator(".contact-identities li")).to_have_count(2)
    expect(view.locator(".contact-chats li")).to_have_count(2)
    assert {i["channel"] for i in contact(demo, admin, mine)["identities"]} == {
        "Telegram", "WhatsApp",
    }  # fmt: skip
    undo = view.locator(".merge-done")
    expect(undo).to_contain_text("Merged with Rudi Hartono")
    screenshot(page, "contacts-merged-1280")
    undo.locator("button.undo-merge").click()
    expect(view.locator(".contact-status")).to_have_text(
        "The merge was undone: both contacts are back as they were."
    )
    expect(view.locator(".contact-identities li")).to_have_count(1)
    expect(view.locator(".merge-done")).to_have_count(0)
    assert contact(demo, admin, other)["identities"] == [
        {"channel": "WhatsApp", "external_id": "+6281355500002"}
    ]


def test_an_agent_reads_the_contacts_other_conversation_read_only(
    console: Console, demo: Demo
) -> None:
    admin = demo.login("admin", "admin123")
    hana = user(demo, "hana", "Hana Agent")
    wa_id, tg_id = two_channel_customer(demo, admin, "+6281355500003", 7700303, "Sinta Wijaya")
    status, row = demo.call("PATCH", f"/chats/{tg_id}", {"mode": "agent"}, token=admin)
    assert status == 200, row
    status, row = demo.call("POST", f"/chats/{tg_id}/assign", {"agent_id": hana}, token=admin)
    assert status == 200, row
    page = console.login("hana", "hana-pass-1")
    open_chat(page, "Sinta T")
    view = page.locator("#customer-panel .contact-view")
    other = view.locator(f".contact-chats li[data-chat='{wa_id}'] button")
    expect(other).to_contain_text("Sinta Wijaya")
    other.click()
    dialog = page.locator("dialog.history")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".badge.readonly")).to_have_text("Read only")
    expect(
        dialog.locator(".msg-customer", has_text="Halo, pesanan saya belum sampai")
    ).to_be_visible()
    expect(dialog.locator("textarea, form")).to_have_count(0)  # nothing to reply with
    screenshot(page, "contacts-history-1280")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(page.locator("#chat-name")).to_have_text("Sinta T")  # still in the agent's own chat


def test_the_contacts_page_searches_filters_and_admins_manage_attributes(
    console: Console, demo: Demo
) -> None:
    admin = demo.login("admin", "admin123")
    demo.simulate("whatsapp", "Tono Gold", "halo", "--phone", "+6281355500004")
    demo.simulate("whatsapp", "Tini Silver", "halo", "--phone", "+6281355500005")
    gold = int(chat_of(demo, admin, "Tono Gold")["contact_id"])
    silver = int(chat_of(demo, admin, "Tini Silver")["contact_id"])
    page = console.login("admin", "admin123")
    page.click("[data-view=contacts]")
    # an admin defines an attribute on the page
    page.click("#contacts-attributes")
    page.fill("#new-attribute-key", "tier")
    page.fill("#new-attribute-label", "Tier")
    page.locator("#new-attribute-type").select_option("list")
    page.fill("#new-attribute-options", "gold, silver")
    page.click("form.add-attribute button[type=submit]")
    expect(page.locator(".attributes-table tr[data-attribute=tier]")).to_contain_text(
        "gold, silver"
    )
    page.fill("#new-attribute-key", "scratch")
    page.fill("#new-attribute-label", "Scratch")
    page.click("form.add-attribute button[type=submit]")
    page.click("[data-delete=scratch]")
    expect(page.locator(".attributes-table .confirm-text")).to_have_text(
        "Delete Scratch and its value on every contact?"
    )
    page.click("[data-confirm-delete=scratch]")
    expect(page.locator(".status-line").first).to_have_text("Attribute Scratch deleted.")
    expect(page.locator(".attributes-table tr[data-attribute=scratch]")).to_have_count(0)
    for who, tier in ((gold, "gold"), (silver, "silver")):
        status, _ = demo.call("PATCH", f"/contacts/{who}", {"attributes": {"tier": tier}},
                              token=admin)  # fmt: skip
        assert status == 200

    rows = page.locator("#contact-list .contact-row-name")
    page.fill("#contact-search", "Tono Gold")
    expect(rows).to_have_text(["Tono Gold"])
    page.fill("#contact-search", "")
    page.locator("#contact-filter-attribute").select_option("tier")
    page.locator("#contact-filter-value").select_option("silver")
    expect(rows).to_have_text(["Tini Silver"])
    page.locator("#contact-list .contact-row").first.click()
    detail = page.locator(".contacts-detail .contact-view")
    expect(detail.locator(".contact-name")).to_have_text("Tini Silver")
    expect(detail.locator("select[data-attribute=tier]")).to_have_value("silver")
    expect(detail.locator(".identity[data-channel=WhatsApp]")).to_contain_text("+6281355500005")
    screenshot(page, "contacts-page-1280")  # docs/screenshots/contacts-page.png
    with page.expect_download() as exported:
        detail.locator(".export-contact").click()
    data = json.loads(Path(exported.value.path()).read_text())
    assert "Tini Silver" in json.dumps(data)
    detail.locator(".erase-contact").click()
    expect(detail.locator(".erase-box .confirm-text")).to_have_text(
        "Erase Tini Silver? Their details and their conversations (1), with every message and "
        "attachment, are deleted for good, everywhere. Only an audit record without personal "
        "data remains. This cannot be undone."
    )
    screenshot(page, "contacts-erase-1280")
    detail.locator(".erase-box button", has_text="Cancel").click()
    assert contact(demo, admin, silver)["name"] == "Tini Silver"

    # CSV: every contact out; a file with a refused row imports nothing and says why
    with page.expect_download() as csv_file:
        page.click("#contacts-export")
    assert "Tono Gold" in Path(csv_file.value.path()).read_text()
    good = "name,phones,attribute.tier\nIka Import,+6281355500006,gold\n"
    bad = good + "Bad Tier,+6281355500007,bronze\n"
    page.set_input_files(
        "#contacts-import-file", {"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()}
    )
    expect(page.locator(".status-line").first).to_have_text(
        "Nothing was imported. Rows refused: 1 (below). Correct them and import the file again."
    )
    expect(page.locator(".import-report tbody tr")).to_have_count(1)
    expect(page.locator(".import-report tbody tr")).to_contain_text("attribute.tier")
    screenshot(page, "contacts-import-refused-1280")
    _, found = demo.call("GET", "/contacts?q=Ika+Import", token=admin)
    assert found == []  # nothing half-imported
    good = "name,phones,attribute.tier\nIka Import,+6281355500006,gold\n"
    page.set_input_files(
        "#contacts-import-file",
        {"name": "good.csv", "mimeType": "text/csv", "buffer": good.encode()},
    )
    expect(page.locator(".status-line").first).to_have_text(
        "Imported. New contacts: 1; updated: 0."
    )
    expect(page.locator(".import-report")).to_be_empty()
    page.fill("#contact-search", "Ika Import")
    page.locator("#contact-filter-attribute").select_option("")
    expect(rows).to_have_text(["Ika Import"])
    page.locator("#contact-list .contact-row").first.click()
    expect(detail.locator(".contact-name")).to_have_text("Ika Import")
    detail.locator(".erase-contact").click()
    detail.locator(".erase-confirm").click()
    expect(page.locator(".status-line").first).to_have_text("Ika Import was erased.")
    expect(rows).to_have_count(0)
    _, found = demo.call("GET", "/contacts?q=Ika+Import", token=admin)
    assert found == []

    phone = console.login("admin", "admin123", NARROW)
    phone.click("[data-view=contacts]")
    phone.fill("#contact-search", "Tini")
    expect(phone.locator("#contact-list .contact-row-name")).to_have_text(["Tini Silver"])
    screenshot(phone, "contacts-page-390")
    phone.locator("#contact-list .contact-row").first.click()
    expect(phone.locator(".contacts-detail .contact-name")).to_have_text("Tini Silver")
    expect(phone.locator("#contact-list")).to_be_hidden()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the page scrolls sideways ({width}px)"
    screenshot(phone, "contacts-page-detail-390")
    phone.click(".contacts-back")
    expect(phone.locator("#contact-list")).to_be_visible()

    # agents see the page too, without the admins' tools; in Indonesian
    agent = console.login("agent", "agent123")
    agent.click("[data-view=contacts]")
    expect(agent.locator("#contact-search")).to_be_visible()
    expect(agent.locator("#contacts-export")).to_have_count(0)
    agent.locator("#lang-switch").select_option("id")
    expect(agent.locator(".contacts-top h2")).to_have_text("Kontak")
    expect(agent.locator("#contact-search")).to_have_attribute(
        "placeholder", "Cari nama, telepon, email"
    )


def test_the_contacts_page_loads_more_as_asked(console: Console, demo: Demo) -> None:
    rows = "".join(f"Paged Person {n:02},+62813556{n:05}\n" for n in range(60))
    request = urllib.request.Request(  # noqa: S310 - the local demo
        demo.base + "/contacts/import", data=("name,phones\n" + rows).encode(), method="POST",
        headers={"Content-Type": "text/csv",
                 "Authorization": f"Bearer {demo.login('admin', 'admin123')}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        assert json.loads(answer.read())["created"] == 60
    page = console.login("admin", "admin123")
    page.click("[data-view=contacts]")
    page.fill("#contact-search", "Paged Person")
    expect(page.locator("#contact-list")).to_have_attribute("aria-busy", "false")
    names = page.locator("#contact-list .contact-row-name")
    expect(names).to_have_count(50)  # a page
    page.click("#contacts-more")
    expect(names).to_have_count(60)
    expect(page.locator("#contacts-more")).to_be_hidden()
    assert len(set(names.all_text_contents())) == 60
