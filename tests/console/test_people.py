"""People in the console: the availability toggle in the header (restored after a reload;
going offline returns chats), the Assign list with everyone's status and load (online
first), "Assign anyway" past an agent's capacity for admins, the users table's status, and
the profile page (name, signature, preferences, language at once and on another device,
password)."""

from __future__ import annotations

from typing import Any

from tests.console.support import (
    NARROW,
    Console,
    Demo,
    act,
    expect,
    open_chat,
    screenshot,
    sign_in,
    wait_for,
)
from tests.console.test_newcomer import new_chat, user


def presence_of(demo: Demo, user_id: int) -> dict[str, Any]:
    _, presence = demo.call("GET", "/presence", token=demo.login("admin", "admin123"))
    return dict(next(p for p in presence["people"] if p["id"] == user_id))


def test_the_availability_toggle_is_kept_and_offline_returns_chats(
    console: Console, demo: Demo
) -> None:
    tess = user(demo, "tess", "Tess Toggle")
    admin = demo.login("admin", "admin123")
    chat = new_chat(demo, admin, "Toggle Tom", queued=True)
    assert demo.call("POST", f"/chats/{chat}/assign", {"agent_id": tess}, token=admin)[0] == 200
    page = console.login("tess", "tess-pass-1")
    toggle = page.locator("#availability")
    expect(toggle).to_have_value("online")
    expect(page.locator(".availability-wrap .status-dot")).to_have_attribute(
        "data-status", "online"
    )
    toggle.select_option("away")
    expect(page.locator(".flash-text")).to_have_text(
        "You are away: you keep your chats and get no new ones."
    )
    expect(page.locator(".availability-wrap .status-dot")).to_have_attribute("data-status", "away")
    assert wait_for(lambda: presence_of(demo, tess)["status"] == "away")
    screenshot(page, "people-away-1280")
    page.reload()
    expect(page.locator(".conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#availability")).to_have_value("away")  # restored after a reload
    page.locator("#availability").select_option("offline")
    expect(page.locator(".flash-text")).to_have_text(
        "You are offline: 1 open chats went back to the queue."
    )
    _, row = demo.call("GET", f"/chats/{chat}", token=admin)
    assert (row["assigned_agent_id"], row["queued"]) == (None, True)
    note = [m for m in row["messages"] if m.get("note")][-1]
    assert note["note"]["reason"] == "agent_offline"

    phone = console.login("tess", "tess-pass-1", NARROW)
    expect(phone.locator("#availability")).to_have_value("offline")
    expect(phone.locator(".availability-wrap .status-dot")).to_have_attribute(
        "data-status", "offline"
    )
    phone.locator("#availability").select_option("online")
    expect(phone.locator(".availability-wrap .status-dot")).to_have_attribute(
        "data-status", "online"
    )
    expect(page.locator("#availability")).to_have_value("online")  # the other tab follows
    for part in (phone.locator(".availability-wrap"), phone.locator("#profile-button")):
        box = part.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"], box
    screenshot(phone, "people-toggle-390")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the page scrolls sideways ({width}px)"


def test_the_assign_list_shows_status_and_load_online_first_and_admins_assign_anyway(
    console: Console, demo: Demo
) -> None:
    olga = user(demo, "olga", "Olga Online")
    amy = user(demo, "amy", "Amy Away")
    full = user(demo, "fern", "Fern Full", capacity=1)
    admin = demo.login("admin", "admin123")
    first = new_chat(demo, admin, "Fills Fern", queued=True)
    assert demo.call("POST", f"/chats/{first}/assign", {"agent_id": full}, token=admin)[0] == 200
    new_chat(demo, admin, "Picker Polly", queued=True)
    console.login("olga", "olga-pass-1")
    away = console.login("amy", "amy-pass-1")
    away.locator("#availability").select_option("away")
    assert wait_for(lambda: presence_of(demo, amy)["status"] == "away")
    assert presence_of(demo, olga)["status"] == "online"

    page = console.login("admin", "admin123")
    page.click("#tab-queue")
    open_chat(page, "Picker Polly")
    act(page, "assign")
    people = page.locator(".picker-people li")
    expect(people.first).to_be_visible()
    statuses = [li.get_attribute("data-status") for li in people.all()]
    rank = {"online": 0, "away": 1, "offline": 2}
    assert statuses == sorted(statuses, key=rank.__getitem__), statuses  # online first
    olga_row = page.locator(f".picker-people li[data-agent='{olga}']")
    expect(olga_row.locator(".picker-status")).to_have_text("Online")
    expect(olga_row.locator(".status-dot")).to_have_attribute("data-status", "online")
    expect(olga_row.locator(".picker-load")).to_have_text("0/5")
    amy_row = page.locator(f".picker-people li[data-agent='{amy}']")
    expect(amy_row.locator(".picker-status")).to_have_text("Away")
    fern_row = page.locator(f".picker-people li[data-agent='{full}']")
    expect(fern_row.locator(".picker-status")).to_have_text("Offline")
    expect(fern_row.locator(".picker-load")).to_have_text("1/1")
    picker = page.locator("#agent-picker")
    expect(picker.locator("option", has_text="Amy Away")).to_have_text("Amy Away · away · 0/5 open")
    options = picker.locator("option").all_text_contents()[1:]
    assert options.index("Amy Away · away · 0/5 open") > options.index(
        "Olga Online · online · 0/5 open"
    )
    screenshot(page, "people-assign-list-1280")

    # Fern is full: the admin is told and may assign anyway.
    picker.select_option(label="Fern Full · offline · 1/1 open")
    page.click("form.picker button[type=submit]")
    confirm = page.locator(".actions .confirm")
    expect(confirm).to_contain_text("Fern Full has 1 of 1 open chats. Assign anyway?")
    screenshot(page, "people-assign-anyway-1280")
    page.click("[data-confirm=assign]")
    expect(page.locator(".assignee")).to_have_text("Assigned to Fern Full")
    expect(page.locator(".msg-internal", has_text="Assigned to Fern Full")).to_contain_text(
        "(over capacity)"
    )

    # The users table shows each person's status.
    page.click("[data-view=users]")
    status = page.locator("tr[data-username=amy] .user-status")
    expect(status).to_have_text("Away")
    expect(page.locator("tr[data-username=olga] .user-status")).to_have_text("Online")
    screenshot(page, "people-users-1280")

    phone = console.login("admin", "admin123", NARROW)
    phone.click("#tab-queue")
    new_chat(demo, admin, "Phone Pia", queued=True)
    open_chat(phone, "Phone Pia")
    act(phone, "assign")
    expect(phone.locator(".picker-people li").first).to_be_visible()
    box = phone.locator(".picker-people").bounding_box()
    assert box and box["x"] + box["width"] <= NARROW["width"], box
    screenshot(phone, "people-assign-list-390")


def test_the_profile_page_saves_and_switches_language_here_and_on_another_device(
    console: Console, demo: Demo
) -> None:
    user(demo, "pia", "Pia Profile")
    page = console.login("pia", "pia-pass-1")
    page.click("#profile-button")
    expect(page.locator(".profile-view h2")).to_have_text("Your profile")
    expect(page.locator("#profile-button")).to_have_attribute("aria-pressed", "true")
    page.fill("#profile-display_name", "Pia P.")
    page.fill("#profile-signature", "Pia from support")
    page.uncheck("#profile-sound")
    screenshot(page, "people-profile-1280")
    page.click("form.profile-form button[type=submit]")
    expect(page.locator(".status-line")).to_have_text("Your profile was saved.")
    token = demo.login("pia", "pia-pass-1")
    _, me = demo.call("GET", "/auth/me", token=token)
    assert (me["display_name"], me["signature"], me["preferences"]) == (
        "Pia P.", "Pia from support", {"sound": False, "browser": True},
    )  # fmt: skip
    expect(page.locator("#profile-sound")).not_to_be_checked()

    page.locator("#profile-language").select_option("id")
    page.click("form.profile-form button[type=submit]")
    expect(page.locator(".profile-view h2")).to_have_text("Profil Anda")  # at once
    expect(page.locator(".logout")).to_have_attribute("aria-label", "Keluar")
    assert demo.call("GET", "/auth/me", token=token)[1]["language"] == "id"

    # Another device, an English browser: the stored language wins after the login.
    other = console.page(NARROW)
    expect(other.locator("form.login-card button[type=submit]")).to_have_text("Sign in")
    sign_in(other, "pia", "pia-pass-1")
    expect(other.locator(".logout")).to_have_attribute("aria-label", "Keluar")
    other.click("#profile-button")
    expect(other.locator(".profile-view h2")).to_have_text("Profil Anda")
    screenshot(other, "people-profile-390")
    width = other.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the page scrolls sideways ({width}px)"

    # The password: the current one is needed; the change ends the other device's session.
    page.fill("#profile-current_password", "wrong-password-1")
    page.fill("#profile-new_password", "pia-new-pass-2")
    page.fill("#profile-confirm", "pia-new-pass-2")
    page.click("form.password-form button[type=submit]")
    expect(page.locator("#profile-current_password-error")).to_have_text(
        "the current password is wrong"
    )
    page.fill("#profile-current_password", "pia-pass-1")
    page.click("form.password-form button[type=submit]")
    expect(page.locator(".flash-text")).to_have_text(
        "Kata sandi Anda telah diubah. Sesi Anda yang lain telah berakhir."
    )
    expect(page.locator(".conn")).to_have_attribute("data-state", "live")  # this one goes on
    expect(other.locator("form.login-card")).to_be_visible()  # the other one ended
    page.reload()
    expect(page.locator(".conn")).to_have_attribute("data-state", "live")  # the new token kept
    assert (
        demo.call("POST", "/auth/login", {"identifier": "pia", "password": "pia-new-pass-2"})[0]
        == 200
    )


def test_deactivating_a_user_returns_their_chats_and_reactivating_lets_them_back(
    console: Console, demo: Demo
) -> None:
    dora = user(demo, "dora", "Dora Gone")
    admin = demo.login("admin", "admin123")
    chat = new_chat(demo, admin, "Left Lena", queued=True)
    assert demo.call("POST", f"/chats/{chat}/assign", {"agent_id": dora}, token=admin)[0] == 200
    away = console.login("dora", "dora-pass-1")
    page = console.login("admin", "admin123")
    page.click("[data-view=users]")
    page.click("button[data-toggle=dora]")
    expect(page.locator(".status-line")).to_have_text(
        "Dora Gone was deactivated: their sessions ended and their open chats went back to "
        "the queue."
    )
    expect(page.locator("tr[data-username=dora]")).to_have_class("inactive")
    expect(away.locator("form.login-card")).to_be_visible()  # her session ended
    _, row = demo.call("GET", f"/chats/{chat}", token=admin)
    assert (row["assigned_agent_id"], row["queued"]) == (None, True)
    assert [m for m in row["messages"] if m.get("note")][-1]["note"]["reason"] == (
        "agent_deactivated"
    )
    page.click("[data-view=chats]")
    page.click("#tab-queue")
    open_chat(page, "Left Lena")
    note = page.locator(".msg-internal", has_text="Returned to the queue")
    expect(note.last).to_contain_text("(the agent's account was deactivated)")
    page.click("[data-view=users]")
    page.click("button[data-toggle=dora]")
    expect(page.locator("tr[data-username=dora]")).not_to_have_class("inactive")
    sign_in(away, "dora", "dora-pass-1")
