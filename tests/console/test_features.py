"""The rest of the console in the browser: actions by mode, languages, sessions, users, paging
and filters (files: test_media.py)."""

from __future__ import annotations

import re

from tests.console.support import (
    Console,
    Demo,
    act,
    chat_id,
    expect,
    open_chat,
    row,
    sign_in,
)


def test_offered_actions_are_exactly_what_the_mode_table_and_its_guards_allow(
    console: Console,
) -> None:
    from handoff.domain.modes import Action, Actor, IllegalTransition, plan
    from storage.models import Mode

    me, other, third = 2, 3, 4
    cases = [
        {"chat": {"mode": str(mode), "assigned_agent_id": assignee,
                  "queued": mode == Mode.AGENT and assignee is None},
         "user": {"id": me, "role": role}}
        for mode in Mode
        for assignee in (None, me, other)
        for role in ("admin", "agent")
        if not (mode == Mode.BOT and assignee is not None)  # the invariant: bot chats have nobody
    ]  # fmt: skip
    page = console.page()
    offered = page.evaluate(
        """async (cases) => {
            const modes = await import("/static/js/modes.js");
            return cases.map((c) => modes.offeredActions(c.chat, c.user));
        }""",
        cases,
    )
    endpoints = page.evaluate(
        "async () => Object.keys((await import('/static/js/modes.js')).ENDPOINTS)"
    )
    for case, shown in zip(cases, offered, strict=True):
        chat, admin = case["chat"], case["user"]["role"] == "admin"
        assignee = chat["assigned_agent_id"]
        actor = Actor.person(me, is_admin=admin)
        allowed = []
        for name in endpoints:
            action = Action(name)
            target = third if action in (Action.ASSIGN, Action.TRANSFER) else None
            try:
                plan(mode=Mode(chat["mode"]), assignee=assignee, action=action, actor=actor,
                     to_agent_id=target)  # fmt: skip
            except IllegalTransition:
                continue
            # Who may touch it (handoff.usecases.desk.writable_chat), and the console's choice:
            # admins assign, agents transfer.
            if not admin and assignee != me and action != Action.CLAIM:
                continue
            if action == (Action.TRANSFER if admin else Action.ASSIGN):
                continue
            allowed.append(name)
        assert shown == allowed, case


def test_the_interface_speaks_indonesian_and_shows_the_agents_time_zone(
    console: Console, demo: Demo
) -> None:
    page = console.page(locale="id-ID", timezone_id="Asia/Jakarta")
    expect(page.locator("form.login-card h1")).to_have_text("Masuk ke pusat pesan")
    english, indonesian = page.evaluate(
        """async () => {
            const i18n = await import("/static/js/i18n.js");
            return [i18n.keys("en"), i18n.keys("id")];
        }"""
    )
    assert english == indonesian
    sign_in(page, "agent", "agent123")
    expect(page.locator("#tab-mine")).to_have_text("Milik saya")
    open_chat(page, "John Doe")
    token = demo.login("admin", "admin123")
    _, detail = demo.call("GET", f"/chats/{chat_id(demo, token, 'John Doe')}", token=token)
    first = detail["messages"][0]
    from datetime import datetime
    from zoneinfo import ZoneInfo

    jakarta = datetime.fromisoformat(first["created_at"]).astimezone(ZoneInfo("Asia/Jakarta"))
    shown = page.locator(f"[data-message-id='{first['id']}'] .meta time")
    expect(shown).to_have_text(jakarta.strftime("%H.%M"))  # Indonesian clocks use a dot
    page.select_option("#lang-switch", "en")
    expect(page.locator("#tab-mine")).to_have_text("Mine")
    expect(page.locator("#lang-switch")).to_be_focused()


def test_an_expired_token_returns_to_the_login_with_a_message(console: Console) -> None:
    page = console.login("agent", "agent123")
    page.evaluate(
        """() => {
            const session = JSON.parse(sessionStorage.getItem("msgcenter.session"));
            session.token = "expired.or.revoked";
            sessionStorage.setItem("msgcenter.session", JSON.stringify(session));
        }"""
    )
    page.reload()
    expect(page.locator(".notice")).to_have_text("Your session has expired. Please sign in again.")
    assert page.evaluate("sessionStorage.getItem('msgcenter.session')") is None
    sign_in(page, "agent@example.com", "agent123")  # by email this time
    page.click("button.logout")
    expect(page.locator(".notice")).to_have_text("You have signed out.")


def test_an_admin_adds_an_agent_sets_capacity_and_deactivates(console: Console, demo: Demo) -> None:
    page = console.login("admin", "admin123")
    page.click("[data-view=users]")
    expect(page.locator("table.users tbody tr")).to_have_count(2)
    page.fill("#new-username", "siti")
    page.fill("#new-display_name", "Siti Rahma")
    page.fill("#new-email", "siti@example.com")
    page.fill("#new-password", "siti-pass-1")
    page.fill("#new-capacity", "3")
    page.click("form.add-user button[type=submit]")
    siti = page.locator("tr[data-username=siti]")
    expect(siti).to_be_visible()
    siti.locator("input.capacity").fill("7")
    siti.locator("form.inline button").click()
    expect(page.locator(".status-line")).to_have_text("Saved.")
    page.locator("[data-toggle=siti]").click()
    expect(page.locator("tr[data-username=siti]")).to_contain_text("Inactive")
    token = demo.login("admin", "admin123")
    _, users = demo.call("GET", "/users", token=token)
    saved = next(u for u in users if u["username"] == "siti")
    assert (saved["capacity"], saved["active"], saved["display_name"]) == (7, False, "Siti Rahma")
    assert page.locator("[data-toggle=admin]").count() == 0  # no deactivating yourself


def test_older_messages_load_when_the_history_is_scrolled_up(console: Console, demo: Demo) -> None:
    for n in range(1, 61):
        says = {"name": "Long Talker", "phone": "6285500000001", "text": f"line {n}"}
        demo.mock("whatsapp", "POST", "/_mock/customer", says)
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Long Talker")
    messages = page.locator(".msg")
    expect(messages).to_have_count(50)
    expect(page.locator("button.older")).to_be_visible()
    page.locator(".messages").evaluate("(box) => { box.scrollTop = 0; }")
    expect(page.locator(".history-start")).to_be_visible()
    expect(page.locator(".msg-customer .text").get_by_text("line 1", exact=True)).to_be_visible()
    assert messages.count() > 60


def test_filters_search_and_assignment_by_an_admin(console: Console, demo: Demo) -> None:
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    page.select_option("#filter-mode", "paused")
    expect(row(page, "Ahmed Hassan")).to_be_visible()
    expect(row(page, "John Doe")).to_have_count(0)
    page.select_option("#filter-mode", "")
    page.select_option("#filter-channel", "Email")
    expect(row(page, "Maria Lopez")).to_be_visible()
    expect(row(page, "Sarah Williams")).to_have_count(0)
    page.select_option("#filter-channel", "")
    page.fill("#chat-search", "Surabaya")  # in a message's text, found by the API
    expect(page.locator(".chat-row")).to_have_count(1)
    expect(row(page, "Maria Lopez")).to_be_visible()
    page.fill("#chat-search", "nobody-by-this-name")
    expect(page.locator(".empty")).to_have_text("No chats match these filters.")
    page.fill("#chat-search", "")
    open_chat(page, "Maria Lopez")
    act(page, "assign")
    smith = page.locator("#agent-picker option", has_text="Agent Smith").get_attribute("value")
    page.select_option("#agent-picker", smith)
    demo.simulate("telegram", "Meanwhile Someone", "hello?")  # live frames while picking
    expect(row(page, "Meanwhile Someone")).to_be_visible()
    expect(page.locator("#agent-picker")).to_have_value(smith)  # the picker was left alone
    page.click("form.picker button[type=submit]")
    expect(page.locator(".assignee")).to_have_text("Assigned to Agent Smith")
    expect(page.locator(".chat-head .badge.mode")).to_have_attribute("data-mode", "agent")


def test_the_customer_panel_and_the_keyboard(console: Console) -> None:
    page = console.login("agent", "agent123")
    page.focus("#tab-mine")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-queue")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#tab-queue")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#tab-mine")).to_have_attribute("aria-selected", "true")
    row(page, "John Doe").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#chat-name")).to_have_text("John Doe")
    panel = page.locator("#customer-panel")
    expect(panel.locator("[data-field=phone]")).to_have_text("+62 812-3456-7890")
    expect(panel.locator("[data-field=email]")).to_have_text("john.doe@email.com")
    expect(panel.locator("[data-field=address]")).to_have_text("Jakarta Selatan")
    expect(panel.locator("[data-field=presence]")).to_have_text("Online")
    expect(panel.locator("[data-field=created] time")).to_have_attribute(
        "datetime", re.compile("T")
    )
    toggle = page.locator("button.panel-toggle")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(panel).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    page.focus("#composer-input")
    page.keyboard.type("First line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(page.locator("#composer-input")).to_have_value("First line\nsecond line")


def test_the_list_pages_in_as_it_is_scrolled(console: Console, demo: Demo) -> None:
    """Last in the module: it adds many chats."""
    token = demo.login("admin", "admin123")
    for n in range(55):
        body = {"customer_name": f"Pager {n:02d}", "channel": "Telegram"}
        assert demo.call("POST", "/chats/", body, token=token)[0] == 201
    _, everyone = demo.call("GET", "/chats/?limit=200", token=token)
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    expect(page.locator(".chat-row")).to_have_count(50)
    with page.expect_request(re.compile(r"/chats/\?.*cursor=")):
        page.locator("button.more").scroll_into_view_if_needed()
    expect(page.locator(".chat-row")).to_have_count(len(everyone))
    expect(page.locator("button.more")).to_be_hidden()
