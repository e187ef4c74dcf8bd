"""The issue's scenarios in headless Chromium, against `msgcenter demo` and its mock providers.

Tests wait for what a person would see (Playwright's expect polls), never for fixed times.
Screenshots of the list and the chat window at 1280 and 390 pixels go to tests/artifacts/.
"""

from __future__ import annotations

import re
from typing import Any

from tests.console.support import (
    DEMO_NAMES,
    NARROW,
    Console,
    Demo,
    act,
    actions,
    chat_id,
    expect,
    names,
    open_chat,
    row,
    screenshot,
    wait_for,
)


def test_an_admin_sees_the_demo_chats_opens_one_and_the_reply_reaches_whatsapp(
    console: Console, demo: Demo
) -> None:
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    expect(page.locator(".chat-row")).to_have_count(4)
    assert names(page) == DEMO_NAMES
    expect(row(page, "John Doe").locator(".badge.unread")).to_have_text("2")
    screenshot(page, "list-1280")

    open_chat(page, "John Doe")
    expect(page.locator(".msg")).to_have_count(6)
    expect(page.locator(".msg-bot")).to_contain_text("How can we help you today?")
    # John's chat is Agent Smith's: an admin reading it leaves it unread for him.
    expect(row(page, "John Doe").locator(".badge.unread")).to_have_text("2")
    token = demo.login("admin", "admin123")
    _, john = demo.call("GET", f"/chats/{chat_id(demo, token, 'John Doe')}", token=token)
    assert john["unread"] == 2

    page.fill("#composer-input", "Your parcel INV-2041 ships today.")
    page.keyboard.press("Enter")
    reply = page.locator(".msg-agent", has_text="ships today")
    expect(reply).to_be_visible()
    expect(page.locator("#composer-input")).to_have_value("")

    def at_whatsapp() -> list[Any]:
        sent = demo.mock("whatsapp", "GET", "/_mock/sent")
        return [s for s in sent if "ships today" in s["request"].get("text", {}).get("body", "")]

    delivered = wait_for(at_whatsapp)
    assert delivered and delivered[0]["request"]["to"] == "6281234567890"
    # The mock's status webhooks come back as message.updated frames: the tick follows.
    expect(reply).to_have_attribute("data-status", re.compile("delivered|read"))
    expect(reply.locator(".tick")).to_have_attribute("title", re.compile("Delivered|Read"))
    screenshot(page, "chat-1280")


def test_a_simulated_customer_appears_in_the_open_console_within_a_second(
    console: Console, demo: Demo
) -> None:
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Ahmed Hassan")
    demo.simulate("whatsapp", "Ahmed Hassan", "Any news on my address?", "--phone", "6289876543210")
    message = page.locator(".msg-customer", has_text="Any news on my address?")
    expect(message).to_be_visible(timeout=1000)
    expect(page.locator(".chat-row").first).to_contain_text("Any news on my address?")

    demo.simulate("telegram", "Budi Santoso", "Halo, pesanan saya?")
    expect(row(page, "Budi Santoso")).to_be_visible(timeout=1000)  # a new chat, live
    open_chat(page, "Budi Santoso")
    expect(page.locator(".msg-bot").first).to_be_visible()  # the bot answered it


def test_a_refused_send_shows_the_apis_reason(console: Console, demo: Demo) -> None:
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    token = demo.login("admin", "admin123")
    created = {"customer_name": "Dewi Lestari", "channel": "WhatsApp",
               "customer_phone": "+62 811-0000-1111"}  # fmt: skip
    assert demo.call("POST", "/chats/", created, token=token)[0] == 201
    open_chat(page, "Dewi Lestari")  # it arrived live (chat.created)
    # WhatsApp's window is closed (she never wrote): the composer says so before any send.
    expect(page.locator(".window-note")).to_contain_text("24-hour window is closed")
    expect(page.locator("#composer-input")).to_be_disabled()
    open_chat(page, "Sarah Williams")
    too_long = "x" * 16_385  # the API takes at most 16384 characters
    page.fill("#composer-input", too_long)
    page.click("button.send")
    error = page.locator(".send-error")
    expect(error).to_contain_text("Not sent:")
    expect(error).to_contain_text("16384")
    expect(page.locator("#composer-input")).to_have_value(too_long)  # nothing lost
    expect(page.locator(".msg-agent")).to_have_count(0)


def test_markup_from_customers_is_shown_as_text(console: Console, demo: Demo) -> None:
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    text = "<img src=x onerror=\"document.title='owned'\"><script>document.title='owned'</script>"
    demo.simulate("telegram", "<b>Eve</b>", text)
    open_chat(page, "<b>Eve</b>")
    shown = page.locator(".msg-customer .text")
    expect(shown).to_have_text(text)
    assert page.locator(".messages img, .chat-list img, .chat-list b, #chat-name b").count() == 0
    assert page.title() != "owned"


def test_an_agent_sees_their_chats_and_the_queue_claims_pauses_and_closes(
    console: Console, demo: Demo
) -> None:
    page = console.login("agent", "agent123")
    expect(page.locator("#tab-all")).to_have_count(0)  # All is for admins
    expect(page.locator(".chat-row")).to_have_count(2)
    assert names(page) == {"John Doe", "Ahmed Hassan"}
    page.click("#tab-queue")
    expect(page.locator(".empty")).to_contain_text("The queue is empty")

    demo.simulate("email", "Rina Wijaya", "I want to talk to a human")
    waiting = row(page, "Rina Wijaya")
    expect(waiting).to_be_visible()  # the bot handed it over: it arrives in the queue live
    expect(waiting.locator(".badge.mode")).to_have_text("Queued")
    open_chat(page, "Rina Wijaya")
    assert actions(page) == ["claim"]
    expect(page.locator(".composer-note")).to_contain_text("Claim this chat")
    expect(page.locator("#composer-input")).to_be_disabled()

    page.click("[data-action=claim]")
    expect(page.locator(".chat-head .badge.mode")).to_have_attribute("data-mode", "agent")
    expect(page.locator("#composer-input")).to_be_enabled()
    assert set(actions(page)) == {"transfer", "unassign", "pause", "return_to_bot", "close"}
    expect(page.locator(".msg-internal", has_text="Claimed by Agent Smith")).to_be_visible()

    act(page, "pause")
    expect(page.locator(".chat-head .badge.mode")).to_have_attribute("data-mode", "paused")
    assert set(actions(page)) == {"take_over", "resume", "close"}

    act(page, "close")
    expect(page.locator(".chat-head .badge.mode")).to_have_attribute("data-mode", "closed")
    assert set(actions(page)) == {"take_over", "reopen"}
    expect(page.locator(".msg-internal", has_text="Closed by Agent Smith")).to_be_visible()

    token = demo.login("admin", "admin123")
    status, chat = demo.call("GET", f"/chats/{chat_id(demo, token, 'Rina Wijaya')}", token=token)
    assert status == 200 and chat["mode"] == "closed"
    assert chat["unread"] == 0  # read once it was claimed and open
    assert chat["assigned_agent_name"] == "Agent Smith"
    page.click("#tab-mine")
    expect(row(page, "Rina Wijaya")).to_be_visible()


def test_at_390_pixels_the_list_and_the_chat_are_two_screens(console: Console) -> None:
    page = console.login("admin", "admin123", NARROW)
    page.click("#tab-all")
    expect(row(page, "John Doe")).to_be_visible()
    expect(page.locator(".conversation")).to_be_hidden()
    screenshot(page, "list-390")
    open_chat(page, "John Doe")
    expect(page.locator(".sidebar")).to_be_hidden()
    expect(page.locator("#composer-input")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the page scrolls sideways ({width}px)"
    screenshot(page, "chat-390")
    page.click("button.back")
    expect(page.locator(".sidebar")).to_be_visible()
    expect(page.locator(".conversation")).to_be_hidden()
