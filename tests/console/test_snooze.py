"""Snooze in the console (issue 19): the header's Snooze menu (times in the agent's local
time), the banner with "Wake now", the Snoozed tab with when each chat wakes, the notes in
the thread, waking live when the customer writes; English and Indonesian, wide and narrow."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.console.support import (
    NARROW,
    WIDE,
    Console,
    Demo,
    chat_id,
    expect,
    names,
    open_chat,
    row,
    screenshot,
    sign_in,
    wait_for,
)

JAKARTA = ZoneInfo("Asia/Jakarta")


def _chat(demo: Demo, token: str, chat: int) -> dict[str, Any]:
    status, detail = demo.call("GET", f"/chats/{chat}", token=token)
    assert status == 200, detail
    return dict(detail)


def _wakes(demo: Demo, token: str, chat: int) -> datetime:
    until = _chat(demo, token, chat)["snoozed_until"]
    assert until, "the chat is not snoozed until a time"
    return datetime.fromisoformat(until).astimezone(JAKARTA)


def _note(page: Any, text: str) -> Any:
    """The newest note in the thread with this text."""
    return page.locator(".msg-internal", has_text=text).last


def _menu(page: Any) -> Any:
    page.click(".snooze-toggle")
    menu = page.locator("#snooze-menu")
    expect(menu).to_be_visible()
    return menu


def test_an_agent_snoozes_wakes_and_finds_the_chat_in_snoozed(console: Console, demo: Demo) -> None:
    token = demo.login("agent", "agent123")
    john = chat_id(demo, token, "John Doe")
    page = console.page(WIDE, timezone_id="Asia/Jakarta")  # the agent's local time
    sign_in(page, "agent", "agent123")
    open_chat(page, "John Doe")
    expect(page.locator(".snooze-banner")).to_be_hidden()
    menu = _menu(page)
    expect(menu.locator(".menu-label")).to_have_text([
        "1 hour", "Tomorrow 9:00", "Next week (Monday 9:00)", "Pick a time...",
        "Until the customer replies",
    ])  # fmt: skip
    screenshot(page, "snooze-menu-wide")

    # Tomorrow 9:00 in Jakarta.
    menu.locator("[data-snooze=tomorrow]").click()
    banner = page.locator(".snooze-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Snoozed until")
    wakes = wait_for(lambda: _chat(demo, token, john)["snoozed"] and _wakes(demo, token, john))
    now = datetime.now(JAKARTA)
    assert (wakes.date(), wakes.hour, wakes.minute) == ((now + timedelta(days=1)).date(), 9, 0)
    expect(page.locator(".msg-internal", has_text="Snoozed by Agent Smith until")).to_be_visible()
    expect(row(page, "John Doe")).to_have_count(0)  # out of Mine
    page.click("#tab-snoozed")
    expect(row(page, "John Doe")).to_be_visible()
    assert names(page) == {"John Doe"}
    expect(row(page, "John Doe").locator(".wakes")).to_contain_text("09:00")
    screenshot(page, "snooze-banner-wide")

    # Next Monday 9:00 replaces it.
    _menu(page).locator("[data-snooze=monday]").click()
    wakes = wait_for(lambda: (w := _wakes(demo, token, john)).weekday() == 0 and w)
    assert (wakes.hour, wakes.minute) == (9, 0) and wakes.date() > now.date()
    assert wakes.date() - now.date() <= timedelta(days=7)

    # Wake now: back in Mine, a note says who woke it.
    page.click(".snooze-banner .wake-now")
    expect(banner).to_be_hidden()
    expect(_note(page, "Snooze ended: woken by Agent Smith")).to_be_visible()
    expect(row(page, "John Doe")).to_have_count(0)  # the Snoozed tab empties
    expect(page.locator(".list-status .empty")).to_contain_text("No snoozed chats")
    page.click("#tab-mine")
    expect(row(page, "John Doe")).to_be_visible()

    # Pick a time: the datetime-local input, in local time.
    menu = _menu(page)
    menu.locator("[data-snooze=pick]").click()
    target = (now + timedelta(days=2)).replace(hour=14, minute=30)
    menu.locator("#snooze-at").fill(target.strftime("%Y-%m-%dT%H:%M"))
    menu.locator(".snooze-pick button[type=submit]").click()
    expect(banner).to_be_visible()
    wakes = wait_for(lambda: (w := _wakes(demo, token, john)).hour == 14 and w)
    assert (wakes.date(), wakes.minute) == (target.date(), 30)

    # 1 hour.
    _menu(page).locator("[data-snooze=hour]").click()
    wakes = wait_for(lambda: (w := _wakes(demo, token, john)) < now + timedelta(hours=2) and w)
    assert abs((wakes - now - timedelta(hours=1)).total_seconds()) < 120
    assert demo.call("POST", f"/chats/{john}/unsnooze", token=token)[0] == 200  # for the next


def test_until_the_customer_replies_wakes_live_with_a_note(console: Console, demo: Demo) -> None:
    page = console.login("agent", "agent123")
    open_chat(page, "Ahmed Hassan")  # paused, the agent's
    _menu(page).locator("[data-snooze=reply]").click()
    banner = page.locator(".snooze-banner")
    expect(banner.locator(".snooze-text")).to_have_text("Snoozed until the customer replies")
    expect(page.locator(".msg-internal", has_text="until the customer replies")).to_be_visible()
    page.click("#tab-snoozed")
    expect(row(page, "Ahmed Hassan").locator(".wakes")).to_have_text("until reply")
    says = {"name": "Ahmed Hassan", "phone": "6289876543210", "text": "Any update?"}
    demo.mock("whatsapp", "POST", "/_mock/customer", says)
    expect(page.locator(".msg-customer", has_text="Any update?")).to_be_visible()
    expect(banner).to_be_hidden()
    expect(_note(page, "Snooze ended: the customer replied")).to_be_visible()
    expect(row(page, "Ahmed Hassan")).to_have_count(0)  # awake: back in Mine
    page.click("#tab-mine")
    expect(row(page, "Ahmed Hassan")).to_be_visible()


def test_snooze_in_indonesian_on_a_phone(console: Console, demo: Demo) -> None:
    page = console.page(NARROW, locale="id-ID", timezone_id="Asia/Jakarta")
    sign_in(page, "agent", "agent123")
    expect(page.locator("#tab-snoozed")).to_have_text("Ditunda")
    open_chat(page, "John Doe")
    menu = _menu(page)
    expect(menu.locator(".menu-label")).to_have_text([
        "1 jam", "Besok 9.00", "Minggu depan (Senin 9.00)", "Pilih waktu...",
        "Sampai pelanggan membalas",
    ])  # fmt: skip
    for box in (menu.bounding_box(), page.locator(".snooze-toggle").bounding_box()):
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"]
    screenshot(page, "snooze-menu-narrow-id")
    menu.locator("[data-snooze=tomorrow]").click()
    banner = page.locator(".snooze-banner")
    expect(banner).to_contain_text("Ditunda sampai")
    expect(banner.locator(".wake-now")).to_have_text("Bangunkan sekarang")
    expect(_note(page, "Ditunda oleh Agent Smith sampai")).to_be_visible()
    screenshot(page, "snooze-banner-narrow-id")
    banner.locator(".wake-now").click()
    expect(_note(page, "Penundaan berakhir: dibangunkan oleh Agent Smith")).to_be_visible()
    expect(banner).to_be_hidden()


def test_no_snooze_for_a_chat_nobody_holds(console: Console, demo: Demo) -> None:
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Maria Lopez")  # the bot's
    expect(page.locator(".snooze-toggle")).to_be_hidden()
    expect(page.locator(".snooze-banner")).to_be_hidden()
