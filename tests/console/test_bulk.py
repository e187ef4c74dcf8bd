"""Bulk actions in the console: the list's selection mode, select all, an action on the
selected chats through POST /chats/bulk, and what came of it (failures listed)."""

from __future__ import annotations

from tests.console.support import NARROW, Console, Demo, chat_id, expect, row, screenshot


def test_an_admin_sets_the_priority_of_every_chat_shown_and_sees_what_failed(
    console: Console, demo: Demo
) -> None:
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    expect(page.locator(".chat-row")).to_have_count(4)
    expect(page.locator("#bulk-bar")).to_be_hidden()
    page.click("#select-toggle")
    expect(page.locator("#select-toggle")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".row-select")).to_have_count(4)
    expect(page.locator(".bulk-count")).to_have_text("0 selected")
    expect(page.locator("[data-bulk=close]")).to_be_disabled()
    page.check("#bulk-all")
    expect(page.locator(".bulk-count")).to_have_text("4 selected")
    page.click("[data-bulk=priority]")
    page.locator("#bulk-priority").select_option("urgent")
    page.click("[data-apply=priority]")
    expect(page.locator(".bulk-result")).to_have_text("Priority: 4 done, 0 failed.")
    expect(page.locator(".chat-row .badge.priority")).to_have_text(["Urgent"] * 4)
    token = demo.login("admin", "admin123")
    _, rows = demo.call("GET", "/chats/", token=token)
    assert {r["priority"] for r in rows} == {"urgent"}
    expect(page.locator(".bulk-count")).to_have_text("0 selected")  # all done: none left

    # assign everything to Agent Smith: the chat he has open already cannot be given to him
    # again (his paused one can: it becomes an agent chat again)
    page.check("#bulk-all")
    page.click("[data-bulk=assign]")
    page.locator("#bulk-agent").select_option(label="Agent Smith")
    page.click("[data-apply=assign]")
    expect(page.locator(".bulk-result > p")).to_have_text("Assign: 3 done, 1 failed.")
    failures = page.locator(".bulk-failures li")
    expect(failures).to_have_count(1)
    expect(failures.locator("strong")).to_have_text(["John Doe"])
    expect(page.locator(".bulk-count")).to_have_text("1 selected")  # the failed stay selected
    screenshot(page, "bulk-wide")
    _, rows = demo.call("GET", "/chats/", token=token)
    agent_id = next(r["assigned_agent_id"] for r in rows if r["name"] == "John Doe")
    assert {r["name"]: r["assigned_agent_id"] for r in rows} == dict.fromkeys(
        ["John Doe", "Sarah Williams", "Maria Lopez", "Ahmed Hassan"], agent_id
    )
    page.click("#select-toggle")
    expect(page.locator(".row-select")).to_have_count(0)
    expect(page.locator("#bulk-bar")).to_be_hidden()


def test_an_agent_labels_and_closes_their_chats_on_a_phone(console: Console, demo: Demo) -> None:
    page = console.login("agent", "agent123", viewport=NARROW)
    page.click("#select-toggle")
    names = page.locator(".chat-row .name").all_text_contents()
    assert names  # the agent's own chats
    first = names[0]
    row_of = page.locator(".chat-item", has=row(page, first))
    row_of.locator(".row-select").check()
    expect(page.locator(".bulk-count")).to_have_text("1 selected")
    page.click("[data-bulk=label]")
    page.locator("#bulk-label").select_option("complaint")
    page.click("[data-apply=label]")
    expect(page.locator(".bulk-result > p")).to_have_text("Label: 1 done, 0 failed.")
    expect(row(page, first).locator(".label-chip", has_text="complaint")).to_be_visible()
    token = demo.login("agent", "agent123")
    _, detail = demo.call("GET", f"/chats/{chat_id(demo, token, first)}", token=token)
    assert "complaint" in detail["labels"]
    screenshot(page, "bulk-narrow")

    page.check("#bulk-all")
    page.click("[data-bulk=close]")
    expect(page.locator(".bulk-note")).to_have_text(f"Close {len(names)} chats?")
    page.click("[data-apply=close]")
    expect(page.locator(".bulk-result > p")).to_have_text(f"Close: {len(names)} done, 0 failed.")
    _, rows = demo.call("GET", "/chats/", token=token)
    assert {r["mode"] for r in rows} == {"closed"}
    # closed chats cannot be snoozed: each fails with its reason
    page.check("#bulk-all")
    page.click("[data-bulk=snooze]")
    page.check("#bulk-reply")
    page.click("[data-apply=snooze]")
    expect(page.locator(".bulk-result > p")).to_have_text(f"Snooze: 0 done, {len(names)} failed.")
    page.locator("#lang-switch").select_option("id")
    expect(page.locator("#select-toggle")).to_have_text("Selesai")
