"""Private notes, @mentions and the bell in the console: the Note toggle switches the
composer to a note (its own colour and words), @ suggests people, the note is shown apart;
the person mentioned sees the bell's count and the tab title, opens the chat from the bell
and may add notes there but not reply; a notification that arrives while the tab is hidden
plays a sound and shows a browser notification."""

from __future__ import annotations

from typing import Any

from tests.console.support import NARROW, WIDE, Console, Demo, expect, open_chat, wait_for
from tests.console.test_media import shot

PASSWORD = "notes-pass-4821"
# A stand-in for the browser's Notification API that records what would be shown.
FAKE_NOTIFICATIONS = """
window.__shown = [];
class FakeNotification {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__shown.push({ title, body: options && options.body }); }
  close() {}
}
window.Notification = FakeNotification;
"""


def _user(demo: Demo, username: str, display_name: str) -> int:
    token = demo.login("admin", "admin123")
    body = {"username": username, "password": PASSWORD, "display_name": display_name}
    status, user = demo.call("POST", "/users", body, token=token)
    assert status == 201, user
    return int(user["id"])


def _chat_id(demo: Demo, token: str, name: str) -> int:
    status, chats = demo.call("GET", "/chats/", token=token)
    assert status == 200
    return next(int(chat["id"]) for chat in chats if chat["name"] == name)


def test_a_note_with_a_mention_reaches_the_person_mentioned(console: Console, demo: Demo) -> None:
    _user(demo, "bea", "Bea Santoso")
    page = console.login("agent", "agent123")
    open_chat(page, "John Doe")
    preview = page.locator(".chat-row", has_text="John Doe").locator(".preview").text_content()
    toggle = page.locator("#note-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator("form.composer")).to_have_class("composer note-mode")
    box = page.locator("#composer-input")
    expect(box).to_have_attribute("placeholder", "Private note: only your team sees it")
    box.press_sequentially("Refund approved, @be")
    options = page.locator("#mention-list [role=option]")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Bea Santoso")
    expect(options.first).to_contain_text("@bea")
    shot(page, "notes-mention-wide")
    box.press("Enter")  # picks the suggestion, does not send
    expect(page.locator("#mention-list")).to_be_hidden()
    expect(box).to_have_value("Refund approved, @bea ")
    box.press_sequentially("please confirm the amount.")
    box.press("Enter")
    note = page.locator(".msg-note", has_text="Refund approved, @bea please confirm the amount.")
    expect(note).to_be_visible()
    expect(note.locator(".note-tag")).to_have_text("Note")
    expect(note.locator(".note-author")).to_have_text("Agent Smith")
    expect(box).to_have_value("")
    expect(toggle).to_have_attribute("aria-pressed", "true")  # still writing notes
    row = page.locator(".chat-row", has_text="John Doe").locator(".preview")
    assert row.text_content() == preview  # the list's last message is the customer's
    shot(page, "notes-note-wide")
    toggle.click()
    expect(box).to_have_attribute(
        "placeholder", "Write a reply… (Enter sends, Shift+Enter for a new line)"
    )

    bea = console.login("bea", PASSWORD)
    bell = bea.locator("#bell")
    expect(bell.locator(".bell-count")).to_have_text("1")
    expect(bea).to_have_title("(1) msgcenter")
    expect(bea.locator(".chat-row", has_text="John Doe")).to_be_visible()  # watched: listed
    bell.click()
    item = bea.locator(".bell-item").first
    expect(item).to_contain_text("Agent Smith mentioned you in John Doe")
    expect(item).to_have_class("bell-item unread")
    shot(bea, "notes-bell-wide")
    item.click()
    expect(bea.locator("#chat-name")).to_have_text("John Doe")
    expect(bea.locator(".msg-note", has_text="please confirm the amount")).to_be_visible()
    expect(bell.locator(".bell-count")).to_be_hidden()
    expect(bea).to_have_title("msgcenter")
    # A watcher writes notes, not replies.
    expect(bea.locator("#note-toggle")).to_have_attribute("aria-pressed", "true")
    expect(bea.locator("#note-toggle")).to_be_disabled()
    expect(bea.locator(".composer-note")).to_have_text(
        "You were mentioned in this chat: you can read it and add notes."
    )
    bea.locator("#composer-input").fill("Confirmed: 120,000.")
    bea.locator("#composer-input").press("Enter")
    expect(bea.locator(".msg-note", has_text="Confirmed: 120,000.")).to_be_visible()
    expect(page.locator(".msg-note", has_text="Confirmed: 120,000.")).to_be_visible()  # live
    shot(bea, "notes-watcher-wide")


def test_the_bell_on_a_phone_and_in_indonesian(console: Console, demo: Demo) -> None:
    bea_id = _user(demo, "bea2", "Bea Dua")
    token = demo.login("agent", "agent123")
    john = _chat_id(demo, token, "John Doe")
    body = {"chat_id": john, "text": "@bea2 lihat ini ya", "internal": True}
    assert demo.call("POST", "/chats/messages", body, token=token)[0] == 201
    page = console.login("bea2", PASSWORD, NARROW)
    page.select_option("#lang-switch", "id")
    bell = page.locator("#bell")
    expect(bell.locator(".bell-count")).to_have_text("1")
    bell.click()
    first = page.locator(".bell-item").first
    expect(first).to_contain_text("Agent Smith menyebut Anda di John Doe")
    expect(page.locator(".bell-read-all")).to_have_text("Tandai semua sudah dibaca")
    shot(page, "notes-bell-narrow")
    page.locator(".bell-read-all").click()
    expect(bell.locator(".bell-count")).to_be_hidden()
    expect(page).to_have_title("msgcenter")
    page.locator(".bell-item").first.click()
    expect(page.locator("#chat-name")).to_have_text("John Doe")
    expect(page.locator("#note-toggle")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#composer-input")).to_have_attribute(
        "placeholder", "Catatan pribadi: hanya tim Anda yang melihatnya"
    )
    shot(page, "notes-watcher-narrow")
    status, listed = demo.call("GET", "/notifications", token=demo.login("bea2", PASSWORD))
    assert status == 200 and listed["unread"] == 0 and listed["items"][0]["read"] is True
    assert bea_id


def test_a_hidden_tab_chimes_and_shows_a_browser_notification(console: Console, demo: Demo) -> None:
    _user(demo, "bea3", "Bea Tiga")
    page: Any = console.page(WIDE)
    page.add_init_script(FAKE_NOTIFICATIONS)
    page.reload()
    page.fill("#login-identifier", "bea3")
    page.fill("#login-password", PASSWORD)
    page.click("form.login-card button[type=submit]")
    expect(page.locator(".conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#bell .bell-count")).to_be_hidden()
    page.evaluate("Object.defineProperty(document, 'hidden', {value: true, configurable: true})")

    token = demo.login("agent", "agent123")
    john = _chat_id(demo, token, "John Doe")
    body = {"chat_id": john, "text": "@bea3 are you there?", "internal": True}
    assert demo.call("POST", "/chats/messages", body, token=token)[0] == 201
    expect(page.locator("#bell .bell-count")).to_have_text("1")
    expect(page).to_have_title("(1) msgcenter")
    shown = wait_for(lambda: page.evaluate("window.__shown"))
    assert shown == [{"title": "msgcenter", "body": "Agent Smith mentioned you in John Doe"}]
    assert page.evaluate("window.__chimes") == 1

    # Visible again: the next one only counts (no sound, no pop-up).
    page.evaluate("Object.defineProperty(document, 'hidden', {value: false, configurable: true})")
    body = {"chat_id": john, "text": "@bea3 never mind", "internal": True}
    assert demo.call("POST", "/chats/messages", body, token=token)[0] == 201
    expect(page.locator("#bell .bell-count")).to_have_text("2")
    expect(page).to_have_title("(2) msgcenter")
    assert page.evaluate("window.__chimes") == 1
    assert len(page.evaluate("window.__shown")) == 1
