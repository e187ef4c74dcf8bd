"""Labels and priority in the console: admins manage the labels; chips in rows and the chat
header, the label picker, the priority selector and badge, the label filter; Indonesian."""

from __future__ import annotations

from tests.console.support import (
    NARROW,
    Console,
    Demo,
    chat_id,
    expect,
    open_chat,
    row,
    screenshot,
    wait_for,
)


def test_admins_manage_labels_in_their_view(console: Console, demo: Demo) -> None:
    page = console.login("admin", "admin123")
    page.click("[data-view=labels]")
    table = page.locator("table.labels-table")
    # the demo's labels (the shipped bot's intents use billing and complaint)
    expect(table.locator("tbody th")).to_have_text(["billing", "complaint", "vip"])
    page.fill("#new-label-name", "Shipping delay")
    page.locator("#new-label-colour").fill("#f59e0b")
    page.fill("#new-label-description", "The courier is late")
    page.click("form.add-label button[type=submit]")
    expect(page.locator(".status-line")).to_have_text("Label Shipping delay created.")
    chip = table.locator("tr[data-label='Shipping delay'] .label-chip")
    expect(chip).to_have_css("background-color", "rgb(245, 158, 11)")
    page.fill("#new-label-name", "shipping DELAY")
    page.click("form.add-label button[type=submit]")
    expect(page.locator("#new-label-error")).to_have_text("A label with this name exists already.")

    page.click("button[aria-label='Edit the label Shipping delay']")
    page.locator("#edit-label-colour").fill("#0ea5e9")
    page.fill("#edit-label-description", "Late parcels")
    page.locator("tr.editing button[type=submit]").click()
    expect(page.locator(".status-line")).to_have_text("Label Shipping delay saved.")
    expect(chip).to_have_css("background-color", "rgb(14, 165, 233)")
    token = demo.login("admin", "admin123")
    _, labels = demo.call("GET", "/labels", token=token)
    assert {label["name"]: label["colour"] for label in labels}["Shipping delay"] == "#0ea5e9"
    screenshot(page, "labels-admin-wide")

    page.click("[data-delete='Shipping delay']")
    expect(page.locator(".confirm-text")).to_have_text(
        "Delete Shipping delay and take it off every chat?"
    )
    page.click("[data-confirm-delete='Shipping delay']")
    expect(page.locator(".status-line")).to_have_text(
        "Label Shipping delay deleted (taken off 0 chats)."
    )
    expect(table.locator("tbody th")).to_have_text(["billing", "complaint", "vip"])

    narrow = console.login("admin", "admin123", viewport=NARROW)
    narrow.click("[data-view=labels]")
    expect(narrow.locator("table.labels-table tbody th")).to_have_count(3)
    screenshot(narrow, "labels-admin-narrow")


def test_labels_and_priority_on_a_chat_live_in_rows_and_header(
    console: Console, demo: Demo
) -> None:
    page = console.login("agent", "agent123")
    john = row(page, "John Doe")
    # the demo's John is a VIP of high priority
    expect(john.locator(".label-chip")).to_have_text(["vip"])
    expect(john.locator(".badge.priority")).to_have_text("High")
    expect(john.locator(".label-chip")).to_have_css("background-color", "rgb(124, 58, 237)")
    open_chat(page, "John Doe")
    tags = page.locator(".chat-head .chat-tags")
    expect(tags.locator(".label-chip .label-name")).to_have_text(["vip"])
    expect(page.locator("#priority-select")).to_have_value("high")

    page.locator("#label-picker").select_option("billing")
    expect(tags.locator(".label-chip .label-name")).to_have_text(["vip", "billing"])
    expect(john.locator(".label-chip")).to_have_text(["vip", "billing"])
    page.locator("#priority-select").select_option("urgent")
    expect(john.locator(".badge.priority")).to_have_text("Urgent")
    token = demo.login("agent", "agent123")
    john_id = chat_id(demo, token, "John Doe")
    _, detail = demo.call("GET", f"/chats/{john_id}", token=token)
    assert (detail["labels"], detail["priority"]) == (["vip", "billing"], "urgent")
    screenshot(page, "labels-chat-wide")  # docs/screenshots/labels.png is one of these

    # another console sees the change live; the agent takes a label off with its ×
    other = console.login("admin", "admin123")
    other.click("#tab-all")
    other_john = row(other, "John Doe")
    expect(other_john.locator(".label-chip")).to_have_text(["vip", "billing"])
    page.click("button[aria-label='Remove the label vip']")
    expect(tags.locator(".label-chip .label-name")).to_have_text(["billing"])
    expect(other_john.locator(".label-chip")).to_have_text(["billing"])
    _, entries = demo.call("GET", f"/chats/{john_id}/audit", token=token)
    assert [e["action"] for e in entries][:3] == [
        "label_removed", "priority_changed", "label_added",
    ]  # fmt: skip

    # the label filter: only the chats with that label
    other.locator("#filter-label").select_option("billing")
    expect(other.locator(".chat-row .name")).to_have_text(["John Doe"])
    other.locator("#filter-label").select_option("")
    expect(other.locator(".chat-row")).to_have_count(4)

    narrow = console.login("agent", "agent123", viewport=NARROW)
    expect(row(narrow, "John Doe").locator(".badge.priority")).to_have_text("Urgent")
    screenshot(narrow, "labels-list-narrow")
    open_chat(narrow, "John Doe")
    expect(narrow.locator("#priority-select")).to_be_visible()
    screenshot(narrow, "labels-chat-narrow")

    # Indonesian
    page.locator("#lang-switch").select_option("id")
    expect(page.locator("#label-picker option").first).to_have_text("Tambah label…")
    expect(row(page, "John Doe").locator(".badge.priority")).to_have_text("Mendesak")
    # put things back for the other tests of this module's demo
    demo.call("PATCH", f"/chats/{john_id}", {"priority": "high"}, token=token)
    wait_for(lambda: demo.call("POST", f"/chats/{john_id}/labels", {"label": "vip"}, token=token))
