"""Canned responses in the console: "/" in the composer opens the picker, filtered as the
agent types, keyboard and mouse; the chosen one goes in with its variables filled for the
open chat (the Indonesian text in Indonesian); the view where they are kept."""

from __future__ import annotations

from typing import Any

from tests.console.support import NARROW, Console, Demo, chat_id, expect, open_chat, wait_for
from tests.console.test_media import shot


def _save(demo: Demo, token: str, **fields: Any) -> dict[str, Any]:
    status, row = demo.call("POST", "/canned-responses", fields, token=token)
    assert status == 201, row
    return dict(row)


def _responses(demo: Demo, token: str) -> dict[str, dict[str, Any]]:
    status, rows = demo.call("GET", "/canned-responses", token=token)
    assert status == 200, rows
    return {row["short_code"]: row for row in rows}


def test_the_picker_inserts_the_response_filled_for_the_chat(console: Console, demo: Demo) -> None:
    admin = demo.login("admin", "admin123")
    agent = demo.login("agent", "agent123")
    _save(demo, admin, scope="shared", short_code="hello", title="Greeting",
          text="Hi {{ customer.first_name }}, this is {{agent.name}}.",
          text_id="Halo {{customer.first_name}}, saya {{agent.name}}.")  # fmt: skip
    _save(demo, admin, scope="shared", short_code="refund", title="Refund policy",
          text="Refunds take 5 days, {{customer.name}}.")  # fmt: skip
    _save(demo, agent, short_code="thanks", title="Thank you",
          text="Thanks {{customer.first_name}}! (chat {{chat.id}})")  # fmt: skip
    john = chat_id(demo, agent, "John Doe")

    page = console.login("agent", "agent123")
    open_chat(page, "John Doe")
    composer = page.locator("#composer-input")
    picker = page.locator(".canned-picker")
    options = picker.locator("[role=option]")
    composer.click()
    composer.press_sequentially("/")
    expect(picker).to_be_visible()
    expect(composer).to_have_attribute("aria-expanded", "true")
    expect(options).to_have_count(3)
    expect(options.locator(".canned-code")).to_have_text(["/hello", "/refund", "/thanks"])
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(options.first).to_contain_text("Hi John, this is Agent Smith.")  # filled preview

    # Filtered as the agent types: short code first, then title.
    composer.press_sequentially("th")
    expect(options.locator(".canned-code")).to_have_text(["/thanks"])
    composer.press("Backspace")
    composer.press("Backspace")
    composer.press_sequentially("re")  # the short code first, then the title ("Greeting")
    expect(options.locator(".canned-code")).to_have_text(["/refund", "/hello"])
    composer.press("Backspace")
    composer.press("Backspace")
    composer.press_sequentially("zzz")
    expect(options).to_have_count(0)
    expect(picker.locator(".canned-status")).to_have_text("No canned response matches “zzz”.")
    for _ in range(3):
        composer.press("Backspace")

    # Up and Down move (and wrap); Enter inserts in place of "/".
    composer.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    composer.press("ArrowDown")
    composer.press("ArrowDown")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    composer.press("ArrowUp")
    expect(options.nth(2)).to_have_attribute("aria-selected", "true")
    shot(page, "canned-picker-wide")
    composer.press("Enter")
    expect(picker).to_be_hidden()
    expect(composer).to_have_value(f"Thanks John! (chat {john})")
    expect(composer).to_be_focused()

    # After a space, "/hel" and Tab; the text before stays.
    composer.press_sequentially(" /hel")
    expect(options.locator(".canned-code")).to_have_text(["/hello"])
    composer.press("Tab")
    expect(composer).to_have_value(f"Thanks John! (chat {john}) Hi John, this is Agent Smith.")
    expect(composer).to_be_focused()

    # A "/" inside a word is text, not the picker.
    composer.press_sequentially(" and/or")
    expect(picker).to_be_hidden()

    # Escape closes the picker and keeps the "/"; the mouse chooses too.
    composer.fill("")
    composer.press_sequentially("/")
    expect(options).to_have_count(3)
    composer.press("Escape")
    expect(picker).to_be_hidden()
    expect(composer).to_have_value("/")
    expect(composer).to_be_focused()  # the first Escape only closes the list
    composer.press_sequentially("r")
    options.filter(has_text="/refund").click()
    expect(composer).to_have_value("Refunds take 5 days, John Doe.")
    expect(composer).to_be_focused()

    # Sent as any reply.
    composer.press("Enter")
    expect(page.locator(".msg-agent", has_text="Refunds take 5 days, John Doe.")).to_be_visible()
    expect(composer).to_have_value("")


def test_the_indonesian_text_on_a_phone(console: Console, demo: Demo) -> None:
    admin = demo.login("admin", "admin123")
    _save(demo, admin, scope="shared", short_code="pagi", title="Selamat pagi",
          text="Good morning {{customer.first_name}}!",
          text_id="Selamat pagi {{customer.first_name}}, saya {{agent.name}}.")  # fmt: skip
    _save(demo, admin, scope="shared", short_code="pamit", title="Goodbye",
          text="Bye {{customer.name}}!")  # fmt: skip
    page = console.login("agent", "agent123", viewport=NARROW, locale="id-ID")
    open_chat(page, "John Doe")
    composer = page.locator("#composer-input")
    composer.click()
    composer.press_sequentially("/pa")
    options = page.locator(".canned-picker [role=option]")
    expect(options.locator(".canned-code")).to_have_text(["/pagi", "/pamit"])
    expect(page.locator(".canned-hint")).to_have_text(
        "↑ ↓ untuk memilih, Enter atau Tab untuk menyisipkan, Esc untuk menutup"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    shot(page, "canned-picker-narrow")
    composer.press("Enter")
    expect(composer).to_have_value("Selamat pagi John, saya Agent Smith.")
    composer.fill("/pam")
    composer.press("Tab")  # at once (the list may still be on its way); no Indonesian text: English
    expect(composer).to_have_value("Bye John Doe!")


def test_agents_keep_their_own_and_see_the_shared_ones(console: Console, demo: Demo) -> None:
    admin = demo.login("admin", "admin123")
    agent = demo.login("agent", "agent123")
    _save(demo, admin, scope="shared", short_code="policy", title="Return policy",
          text="You can return items within 30 days.")  # fmt: skip
    page = console.login("agent", "agent123")
    page.click("[data-view=canned]")
    view = page.locator(".canned-view")
    expect(view.get_by_role("heading", name="Canned responses")).to_be_visible()
    shared = view.locator(".canned-item[data-code=policy]")
    expect(shared).to_contain_text("shared")
    expect(shared.locator("button")).to_have_count(0)  # agents do not change shared ones
    expect(page.locator("#canned-scope")).to_be_disabled()  # personal only

    # An unknown variable is refused, next to its field.
    page.get_by_label("Short code").fill("eta")
    page.get_by_label("Title").fill("Delivery time")
    page.get_by_label("Text", exact=True).fill("Your order arrives {{order.date}}")
    page.get_by_role("button", name="Add", exact=True).click()
    error = page.locator("[data-error-for=text]")
    expect(error).to_contain_text("Unknown variable or brace “order.date”")
    assert "eta" not in _responses(demo, agent)

    # A variable button puts it at the caret.
    text = page.get_by_label("Text", exact=True)
    text.fill("Hi , it arrives tomorrow.")
    text.evaluate("(el) => el.setSelectionRange(3, 3)")
    page.click("[data-variable='customer.first_name']")
    expect(text).to_have_value("Hi {{customer.first_name}}, it arrives tomorrow.")
    indonesian = "Halo {{customer.first_name}}, besok tiba."
    page.get_by_label("Indonesian text (optional)").fill(indonesian)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".status-line")).to_have_text("/eta saved.")
    item = view.locator(".canned-item[data-code=eta]")
    expect(item).to_contain_text("personal")
    expect(item.locator(".canned-text-id")).to_have_text(indonesian)
    saved = _responses(demo, agent)["eta"]
    assert (saved["scope"], saved["text"]) == (
        "personal", "Hi {{customer.first_name}}, it arrives tomorrow.",
    )  # fmt: skip
    page.locator(".canned-main").evaluate("(main) => { main.scrollTop = 0; }")
    shot(page, "canned-view-wide")

    # A taken short code is said at its field.
    page.get_by_label("Short code").fill("eta")
    page.get_by_label("Title").fill("Again")
    page.get_by_label("Text", exact=True).fill("Again")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("[data-error-for=short_code]")).to_have_text(
        "/eta is taken: choose another short code."
    )

    # Edit, then delete after confirming.
    item.get_by_role("button", name="Edit /eta").click()
    expect(page.get_by_role("heading", name="Edit /eta")).to_be_visible()
    expect(page.get_by_label("Title")).to_be_focused()
    page.get_by_label("Title").fill("Delivery date")
    page.get_by_role("button", name="Save changes").click()
    expect(item.locator(".canned-title")).to_have_text("Delivery date")
    item.get_by_role("button", name="Delete /eta").click()
    expect(item).to_contain_text("Delete /eta?")
    item.locator("[data-confirm-delete]").click()
    expect(item).to_have_count(0)
    expect(page.locator(".status-line")).to_have_text("/eta deleted.")
    assert wait_for(lambda: "eta" not in _responses(demo, agent))

    # Back to the chats: the view button says where we are.
    page.click("[data-view=chats]")
    expect(page.locator("[data-view=chats]")).to_have_attribute("aria-pressed", "true")
    open_chat(page, "John Doe")


def test_admins_choose_shared_and_the_view_fits_a_phone(console: Console, demo: Demo) -> None:
    agent = demo.login("agent", "agent123")
    page = console.login("admin", "admin123", viewport=NARROW)
    page.click("[data-view=canned]")
    expect(page.locator("#canned-scope")).to_be_enabled()
    page.get_by_label("Short code").fill("hours")
    page.get_by_label("Title").fill("Opening hours")
    page.get_by_label("Text", exact=True).fill("We are open 9 to 17, {{customer.first_name}}.")
    page.locator("#canned-scope").select_option("shared")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".canned-item[data-code=hours]")).to_contain_text("shared")
    assert _responses(demo, agent)["hours"]["scope"] == "shared"  # offered to agents too
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    page.locator(".canned-main").evaluate("(main) => { main.scrollTop = 0; }")
    shot(page, "canned-view-narrow")
