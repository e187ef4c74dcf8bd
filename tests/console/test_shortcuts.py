"""Keyboard shortcuts: j/k (and Alt+Down/Up) move between chats, r and n go to the composer,
/ opens the canned responses, a opens the assign picker, Shift+C closes the chat, ? lists
them all, Escape closes the list and leaves the composer; none acts while typing."""

from __future__ import annotations

from typing import Any

from tests.console.support import NARROW, Console, Demo, chat_id, expect, open_chat, wait_for
from tests.console.test_media import shot


def _open_name(page: Any) -> str:
    return str(page.locator("#chat-name").text_content())


def _list(page: Any) -> list[str]:
    return list(page.locator(".chat-row .name").all_text_contents())


def test_j_and_k_move_between_chats_and_typing_is_left_alone(console: Console) -> None:
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    expect(page.locator(".chat-row")).to_have_count(4)
    order = _list(page)
    page.locator("body").press("j")  # nothing open: the first
    expect(page.locator("#chat-name")).to_have_text(order[0])
    expect(page.locator(".chat-row[aria-current=true] .name")).to_have_text(order[0])
    page.keyboard.press("j")
    expect(page.locator("#chat-name")).to_have_text(order[1])
    expect(page.locator(".chat-row[aria-current=true]")).to_be_focused()
    page.keyboard.press("Alt+ArrowDown")
    expect(page.locator("#chat-name")).to_have_text(order[2])
    page.keyboard.press("k")
    expect(page.locator("#chat-name")).to_have_text(order[1])
    page.keyboard.press("Alt+ArrowUp")
    expect(page.locator("#chat-name")).to_have_text(order[0])
    page.keyboard.press("k")  # the first stays the first
    expect(page.locator("#chat-name")).to_have_text(order[0])

    # In a field the keys type: the search box, the composer.
    page.locator("#chat-search").click()
    page.keyboard.type("jk")
    expect(page.locator("#chat-search")).to_have_value("jk")
    expect(page.locator("#chat-name")).to_have_text(order[0])
    page.locator("#chat-search").fill("")
    open_chat(page, "John Doe")
    composer = page.locator("#composer-input")
    page.keyboard.press("r")
    expect(composer).to_be_focused()
    page.keyboard.type("jkr?")
    expect(composer).to_have_value("jkr?")
    expect(page.locator("#shortcuts")).to_be_hidden()
    expect(page.locator("#chat-name")).to_have_text("John Doe")
    # Escape leaves the composer; then the keys are shortcuts again.
    page.keyboard.press("Escape")
    expect(composer).not_to_be_focused()
    expect(composer).to_have_value("jkr?")
    composer.fill("")
    page.keyboard.press("Control+j")  # the browser's keys stay the browser's
    expect(page.locator("#chat-name")).to_have_text("John Doe")


def test_question_mark_lists_the_shortcuts_and_escape_closes_it(console: Console) -> None:
    page = console.login("agent", "agent123")
    overlay = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(overlay).to_be_hidden()
    page.keyboard.press("?")
    expect(overlay).to_be_visible()
    expect(overlay.get_by_role("button", name="Close the shortcut list")).to_be_focused()
    rows = overlay.locator(".shortcut")
    expect(rows).to_have_count(9)
    expect(rows.nth(0)).to_contain_text("jorAlt+↓Next chat in the list")
    expect(rows.nth(5)).to_contain_text("Shift+CClose the chat")
    expect(rows.nth(6)).to_contain_text("aAssign or transfer the chat")
    page.keyboard.press("j")  # no shortcut acts behind the list
    expect(page.locator("#chat-name")).to_be_hidden()
    shot(page, "shortcuts-wide")
    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()
    # The header's button opens it too, and a click outside it closes it.
    page.locator("#shortcuts-button").click()
    expect(overlay).to_be_visible()
    page.mouse.click(5, 795)
    expect(overlay).to_be_hidden()
    expect(page.locator("#shortcuts-button")).to_be_focused()  # the focus goes back


def test_the_overlay_in_indonesian_on_a_phone(console: Console) -> None:
    page = console.login("agent", "agent123", viewport=NARROW, locale="id-ID")
    page.keyboard.press("?")
    overlay = page.get_by_role("dialog", name="Pintasan keyboard")
    expect(overlay).to_be_visible()
    expect(overlay.locator(".shortcut").nth(0)).to_contain_text("Chat berikutnya di daftar")
    expect(overlay.locator(".shortcut").nth(8)).to_contain_text("keluar dari kotak balasan")
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    shot(page, "shortcuts-narrow")
    page.keyboard.press("?")  # ? again closes it
    expect(overlay).to_be_hidden()


def test_reply_note_canned_assign_and_close(console: Console, demo: Demo) -> None:
    admin = demo.login("admin", "admin123")
    thanks = {"scope": "shared", "short_code": "thx", "title": "Thanks",
              "text": "Thanks {{customer.name}}!"}  # fmt: skip
    status, _ = demo.call("POST", "/canned-responses", thanks, token=admin)
    assert status == 201
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "John Doe")
    composer = page.locator("#composer-input")

    # /: the composer with "/" typed, the picker open.
    page.locator(".messages").focus()
    page.keyboard.press("/")
    expect(composer).to_be_focused()
    expect(composer).to_have_value("/")
    expect(page.locator(".canned-picker [role=option]").first).to_contain_text("/thx")
    page.keyboard.press("Enter")
    expect(composer).to_have_value("Thanks John Doe!")
    page.keyboard.press("Escape")
    page.keyboard.press("/")  # after text: a space first
    expect(composer).to_have_value("Thanks John Doe! /")
    page.keyboard.press("Escape")  # closes the picker
    page.keyboard.press("Escape")  # leaves the composer
    expect(composer).not_to_be_focused()
    composer.fill("")

    # n: the note toggle (another part's #note-toggle) pressed, then the composer.
    page.evaluate(
        """() => {
            if (document.getElementById("note-toggle")) return;
            const toggle = document.createElement("button");
            toggle.id = "note-toggle";
            toggle.type = "button";
            toggle.setAttribute("aria-pressed", "false");
            toggle.addEventListener("click", () => toggle.setAttribute("aria-pressed",
                String(toggle.getAttribute("aria-pressed") !== "true")));
            document.querySelector(".composer-row").prepend(toggle);
        }"""
    )
    page.locator(".messages").focus()
    page.keyboard.press("n")
    expect(page.locator("#note-toggle")).to_have_attribute("aria-pressed", "true")
    expect(composer).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("n")  # pressed already: it stays pressed
    expect(page.locator("#note-toggle")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Escape")

    # a: the assign picker.
    page.keyboard.press("a")
    expect(page.locator("#agent-picker")).to_be_focused()
    page.get_by_role("button", name="Cancel").click()

    # Shift+C: closed.
    john = chat_id(demo, admin, "John Doe")
    page.locator(".messages").focus()
    page.keyboard.press("c")  # c alone is nothing
    page.keyboard.press("Shift+C")
    expect(page.locator(".chat-sub")).to_contain_text("Closed")

    def closed() -> bool:
        return demo.call("GET", f"/chats/{john}", token=admin)[1]["mode"] == "closed"

    assert wait_for(closed)
    page.keyboard.press("Shift+C")  # not offered on a closed chat: said, not done
    expect(page.locator(".flash")).to_contain_text("“Close” is not possible for this chat.")


def test_an_agent_cannot_reply_to_a_queued_chat_and_is_told(console: Console, demo: Demo) -> None:
    admin = demo.login("admin", "admin123")
    sarah = chat_id(demo, admin, "Sarah Williams")
    assert demo.call("PATCH", f"/chats/{sarah}", {"mode": "agent"}, token=admin)[0] == 200
    page = console.login("agent", "agent123")
    page.click("#tab-queue")
    open_chat(page, "Sarah Williams")
    page.locator(".messages").focus()
    page.keyboard.press("r")
    expect(page.locator(".flash")).to_contain_text("You cannot reply in this chat.")
    expect(page.locator("#composer-input")).not_to_be_focused()
