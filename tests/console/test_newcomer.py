"""Issue 15, "a newcomer's first hour", in the browser: a chat taken away closes with a word
why, the panel and the actions at 390 px, the queue's order and waiting times, actions that
say what they do, system notes in the reader's language, presence and capacity in the
picker, editing users, and the small layout faults."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.console.support import (
    NARROW,
    Console,
    Demo,
    act,
    actions,
    expect,
    open_chat,
    row,
    screenshot,
    sign_in,
)


def new_chat(demo: Demo, token: str, name: str, *, queued: bool = False, **extra: Any) -> int:
    """A chat made through the API; `queued`: handed to a human, waiting in the queue."""
    body = {"customer_name": name, "channel": "Telegram", **extra}
    status, chat = demo.call("POST", "/chats/", body, token=token)
    assert status == 201, chat
    if queued:
        status, chat = demo.call("PATCH", f"/chats/{chat['id']}", {"mode": "agent"}, token=token)
        assert status == 200 and chat["queued"], chat
    return int(chat["id"])


def agent_chat(demo: Demo, name: str) -> int:
    """A queued chat claimed by the demo's agent (Agent Smith)."""
    chat = new_chat(demo, demo.login("admin", "admin123"), name, queued=True)
    status, claimed = demo.call(
        "POST", f"/chats/{chat}/claim", token=demo.login("agent", "agent123")
    )
    assert status == 200, claimed
    return chat


def user(demo: Demo, username: str, name: str, capacity: int = 5) -> int:
    token = demo.login("admin", "admin123")
    _, users = demo.call("GET", "/users", token=token)
    known = [u for u in users if u["username"] == username]
    if known:
        return int(known[0]["id"])
    body = {"username": username, "password": f"{username}-pass-1", "display_name": name,
            "capacity": capacity, "role": "agent"}  # fmt: skip
    status, made = demo.call("POST", "/users", body, token=token)
    assert status == 201, made
    return int(made["id"])


def test_handing_a_chat_to_the_bot_closes_it_for_the_agent_and_says_why(
    console: Console, demo: Demo
) -> None:
    agent_chat(demo, "Gone Greta")
    page = console.login("agent", "agent123")
    open_chat(page, "Gone Greta")
    act(page, "return_to_bot")
    confirm = page.locator(".actions .confirm")
    expect(confirm).to_contain_text("The bot answers again: nobody is assigned")
    screenshot(page, "handback-confirm-1280")
    page.click("[data-confirm=return_to_bot]")
    expect(page.locator(".flash")).to_have_text(
        "The chat with Gone Greta went back to the bot; it is no longer in your list."
    )
    expect(page.locator(".chat-none")).to_be_visible()  # the pane closed: no dead composer
    expect(page.locator("#composer-input")).to_be_hidden()
    expect(page.locator(".chat-body")).to_be_hidden()
    expect(row(page, "Gone Greta")).to_have_count(0)
    screenshot(page, "handback-done-1280")
    page.click(".flash-close")
    expect(page.locator(".flash")).to_be_hidden()


def test_a_chat_an_admin_transfers_away_closes_live_on_the_agents_screen(
    console: Console, demo: Demo
) -> None:
    ann = user(demo, "ann", "Ann Lee")
    chat = agent_chat(demo, "Moved Mona")
    page = console.login("agent", "agent123", NARROW)
    open_chat(page, "Moved Mona")
    expect(page.locator(".sidebar")).to_be_hidden()
    token = demo.login("admin", "admin123")
    status, _ = demo.call("POST", f"/chats/{chat}/assign", {"agent_id": ann}, token=token)
    assert status == 200
    expect(page.locator(".flash")).to_contain_text("The chat with Moved Mona is now with Ann Lee")
    expect(page.locator(".sidebar")).to_be_visible()  # back to the list at 390 px
    expect(page.locator("#composer-input")).to_be_hidden()
    expect(row(page, "Moved Mona")).to_have_count(0)
    screenshot(page, "taken-away-390")


def test_an_agent_who_transfers_a_chat_sees_it_leave(console: Console, demo: Demo) -> None:
    user(demo, "ann", "Ann Lee")
    agent_chat(demo, "Handed Hana")
    page = console.login("agent", "agent123")
    open_chat(page, "Handed Hana")
    act(page, "transfer")
    expect(page.locator(".picker-help")).to_have_text(
        "Give the chat to another agent; it leaves your list."
    )
    ann = page.locator("#agent-picker option", has_text="Ann Lee").get_attribute("value")
    page.select_option("#agent-picker", ann)
    page.click("form.picker button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("The chat with Handed Hana is now with Ann Lee")
    expect(page.locator(".chat-none")).to_be_visible()
    expect(row(page, "Handed Hana")).to_have_count(0)


def test_resume_on_a_paused_chat_at_390_asks_then_returns_to_the_list(
    console: Console, demo: Demo
) -> None:
    chat = agent_chat(demo, "Paused Pia")
    agent = demo.login("agent", "agent123")
    assert demo.call("POST", f"/chats/{chat}/pause", token=agent)[0] == 200
    page = console.login("agent", "agent123", NARROW)
    open_chat(page, "Paused Pia")
    page.click(".more-actions")
    item = page.locator(".more-menu [data-action=resume]")
    expect(item.locator(".menu-label")).to_have_text("Resume bot")
    expect(item.locator(".menu-help")).to_contain_text("Hand the chat back to the bot")
    screenshot(page, "paused-menu-390")
    item.click()
    expect(page.locator(".confirm-text")).to_contain_text("nobody is assigned")
    page.locator(".confirm .cancel").click()  # nothing happened
    assert demo.call("GET", f"/chats/{chat}", token=agent)[1]["mode"] == "paused"
    act(page, "resume")
    page.click("[data-confirm=resume]")
    expect(page.locator(".flash")).to_contain_text("went back to the bot")
    expect(page.locator(".sidebar")).to_be_visible()
    assert demo.call("GET", f"/chats/{chat}", token=agent)[0] == 404


def test_a_send_refused_because_the_chat_is_gone_closes_it(console: Console, demo: Demo) -> None:
    chat = agent_chat(demo, "Silent Sam")
    page = console.page()
    link = {"up": True}

    def route(socket: Any) -> None:
        server = socket.connect_to_server()
        server.on_message(lambda message: link["up"] and socket.send(message))

    page.context.route_web_socket(re.compile(r"/ws(\?|$)"), route)
    page.reload()
    sign_in(page, "agent", "agent123")
    open_chat(page, "Silent Sam")
    link["up"] = False  # the change reaches the server, not this screen
    token = demo.login("admin", "admin123")
    ann = user(demo, "ann", "Ann Lee")
    assert demo.call("POST", f"/chats/{chat}/assign", {"agent_id": ann}, token=token)[0] == 200
    page.fill("#composer-input", "Are you still there?")
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_contain_text(
        "The chat with Silent Sam is no longer in your list"
    )
    expect(page.locator("#composer-input")).to_be_hidden()
    expect(page.locator(".chat-none")).to_be_visible()


def test_at_390_the_customer_panel_closes_every_way_and_the_actions_fit(
    console: Console, demo: Demo
) -> None:
    agent_chat(demo, "Narrow Nadia")
    page = console.login("agent", "agent123", NARROW)
    open_chat(page, "John Doe")
    panel = page.locator("#customer-panel")
    toggle = page.locator("button.panel-toggle")
    expect(panel).to_be_hidden()  # closed at first on a phone
    toggle.click()
    expect(panel).to_be_visible()
    close = panel.locator("button.panel-close")
    expect(close).to_be_visible()
    box = close.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"]
    screenshot(page, "panel-open-390")
    close.click()
    expect(panel).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(panel).to_be_visible()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    toggle.click()
    expect(panel).to_be_visible()
    page.mouse.click(30, 780)  # a tap on the chat, outside the panel
    expect(panel).to_be_hidden()
    toggle.click()
    expect(panel).to_be_visible()
    page.click("button.back")
    open_chat(page, "Narrow Nadia")
    expect(panel).to_be_hidden()  # another chat: the panel does not stay over it

    # Every action is reachable and nothing runs off the screen.
    bar = page.locator(".actions")
    bar_box = bar.bounding_box()
    assert bar_box and bar_box["width"] <= NARROW["width"]
    assert page.evaluate("(bar) => bar.scrollWidth <= bar.clientWidth", bar.element_handle())
    expect(page.locator(".actions > [data-action=close]")).to_be_visible()
    for button in page.locator(".actions > button, .actions .more-actions").all():
        b = button.bounding_box()
        assert b and b["x"] >= 0 and b["x"] + b["width"] <= NARROW["width"], b
    page.click(".more-actions")
    menu = page.locator(".more-menu")
    expect(menu).to_be_visible()
    for item in menu.locator("[data-action]").all():
        expect(item).to_be_visible()
        b = item.bounding_box()
        assert b and b["x"] >= 0 and b["x"] + b["width"] <= NARROW["width"], b
    assert set(actions(page)) == {"transfer", "unassign", "pause", "return_to_bot", "close"}
    # The button beside the menu is explained in it too (no hover on a phone).
    expect(menu.locator(".menu-notes")).to_contain_text(
        "CloseEnd the conversation. If the customer writes again, the bot answers."
    )
    screenshot(page, "actions-menu-390")
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the page scrolls sideways ({width}px)"


def test_the_queue_is_longest_waiting_first_and_says_for_how_long(
    console: Console, demo: Demo
) -> None:
    token = demo.login("admin", "admin123")
    for name in ("Queue First", "Queue Second", "Queue Third"):
        new_chat(demo, token, name, queued=True)
    page = console.page()
    page.clock.install()
    page.reload()
    page.fill("#login-identifier", "agent")
    page.fill("#login-password", "agent123")
    page.click("form.login-card button[type=submit]")
    expect(page.locator(".conn")).to_have_attribute("data-state", "live")
    page.click("#tab-queue")
    names = page.locator(".chat-row .name")
    expect(names).to_have_text(["Queue First", "Queue Second", "Queue Third"])
    _, queue = demo.call("GET", "/chats/queue", token=token)
    assert [c["name"] for c in queue] == ["Queue First", "Queue Second", "Queue Third"]
    new_chat(demo, token, "Queue Fourth", queued=True)  # arrives live: last, not first
    expect(names).to_have_text(["Queue First", "Queue Second", "Queue Third", "Queue Fourth"])
    waiting = row(page, "Queue First").locator("time.waiting")
    expect(waiting).to_have_text(re.compile(r"^waiting (<1|\d) min$"))
    page.clock.fast_forward("12:00")
    expect(waiting).to_have_text(re.compile(r"^waiting 1[23] min$"))
    page.clock.fast_forward("01:00:00")
    expect(waiting).to_have_text(re.compile(r"^waiting 1 hr 1[23] min$"))
    screenshot(page, "queue-1280")
    page.select_option("#lang-switch", "id")
    page.click("#tab-queue")
    expect(row(page, "Queue First").locator("time.waiting")).to_have_text(
        re.compile(r"^menunggu 1 j 1[23] mnt$")
    )


def test_actions_say_what_they_do_before_the_click(console: Console, demo: Demo) -> None:
    page = console.login("agent", "agent123")
    open_chat(page, "Ahmed Hassan")  # paused, the agent's
    expect(page.locator(".actions > [data-action=take_over]")).to_have_attribute(
        "title", "Continue the chat yourself: it becomes yours; the bot stays off."
    )
    page.click(".more-actions")
    expect(page.locator(".more-menu [data-action=resume] .menu-label")).to_have_text("Resume bot")
    page.keyboard.press("Escape")
    chat = agent_chat(demo, "Closed Clara")
    assert (
        demo.call("POST", f"/chats/{chat}/close", token=demo.login("agent", "agent123"))[0] == 200
    )
    open_chat(page, "Closed Clara")
    assert page.locator(".actions > [data-action]").count() == 0  # both in the menu
    page.click(".more-actions")
    menu = page.locator(".more-menu")
    expect(menu.locator("[data-action=take_over] .menu-help")).to_have_text(
        "Reopen the chat and make it yours; the bot stays off."
    )
    expect(menu.locator("[data-action=reopen] .menu-help")).to_contain_text("with the agent it had")
    screenshot(page, "closed-menu-1280")
    page.keyboard.press("Escape")
    page.select_option("#lang-switch", "id")
    open_chat(page, "Closed Clara")
    page.click(".more-actions")
    expect(menu.locator("[data-action=take_over] .menu-label")).to_have_text("Ambil alih")
    expect(menu.locator("[data-action=take_over] .menu-help")).to_have_text(
        "Buka kembali chat dan jadikan milik Anda; bot tetap nonaktif."
    )
    screenshot(page, "closed-menu-id-1280")
    page.mouse.click(700, 500)  # a click elsewhere closes the menu
    expect(menu).to_be_hidden()


def test_system_notes_follow_the_readers_language(console: Console, demo: Demo) -> None:
    page = console.login("admin", "admin123")
    notes = page.evaluate(
        """async () => {
            const i18n = await import("/static/js/i18n.js");
            const { noteText } = await import("/static/js/views/messages.js");
            const notes = [
                {action: "handoff", by: null, by_kind: "bot", to: null, from: null,
                 reason: "customer_asked",
                 reason_text: "customer asked for a human ('cs'); outside business hours"},
                {action: "assign", by: null, by_kind: "system", to: "Ann", from: null,
                 reason: "automatic", reason_text: "automatic"},
                {action: "handoff", by: "Budi", by_kind: "admin", to: null, from: null,
                 reason: null, reason_text: "VIP customer"},
                {action: "transfer", by: "Ann", by_kind: "agent", to: "Budi", from: "Ann",
                 reason: null, reason_text: null},
            ];
            const out = {};
            for (const lang of ["en", "id"]) {
                i18n.setLanguage(lang);
                out[lang] = notes.map((note) => noteText({ note, text: "English" }));
            }
            out.none = noteText({ note: null, text: "Claimed by Ann" });
            i18n.setLanguage("en");
            return out;
        }"""
    )
    assert notes["en"] == [
        "Handed to a human by the bot (the customer asked for a human; outside business hours);"
        " waiting for an agent",
        "Assigned to Ann by the system (automatic)",
        "Handed to a human by Budi (VIP customer); waiting for an agent",
        "Transferred from Ann to Budi by Ann",
    ]
    assert notes["id"] == [
        "Dialihkan ke manusia oleh bot (pelanggan meminta bicara dengan manusia; di luar jam"
        " kerja); menunggu agen",
        "Ditugaskan ke Ann oleh sistem (otomatis)",
        "Dialihkan ke manusia oleh Budi (VIP customer); menunggu agen",
        "Dialihkan dari Ann ke Budi oleh Ann",
    ]
    assert notes["none"] is None  # old messages: their English text is shown


def test_the_agent_picker_shows_presence_and_load_and_picks_nobody_first(
    console: Console, demo: Demo
) -> None:
    full = user(demo, "fay", "Fay Full", capacity=1)
    token = demo.login("admin", "admin123")
    first = new_chat(demo, token, "Fills Fay", queued=True)
    assert demo.call("POST", f"/chats/{first}/assign", {"agent_id": full}, token=token)[0] == 200
    new_chat(demo, token, "Picker Pat", queued=True)
    agent = console.login("agent", "agent123")  # Agent Smith is online
    expect(agent.locator(".conn")).to_have_attribute("data-state", "live")
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Picker Pat")
    act(page, "assign")
    picker = page.locator("#agent-picker")
    expect(picker).to_have_value("")
    expect(picker.locator("option").first).to_have_text("Choose an agent")
    submit = page.locator("form.picker button[type=submit]")
    expect(submit).to_be_disabled()
    expect(picker.locator("option", has_text="Agent Smith")).to_have_text(
        re.compile(r"^Agent Smith · online · \d+/\d+ open$")
    )
    fay = "Fay Full · offline · 1/1 open"
    expect(picker.locator("option", has_text="Fay Full")).to_have_text(fay)
    screenshot(page, "picker-1280")
    picker.select_option(label=fay)
    expect(submit).to_be_enabled()
    submit.click()
    confirm = page.locator(".actions .confirm")
    expect(confirm).to_contain_text("Fay Full has 1 of 1 open chats. Assign anyway?")
    screenshot(page, "over-capacity-1280")
    page.locator(".confirm .cancel").click()
    expect(page.locator(".assignee")).to_have_text("Waiting in the queue")
    act(page, "assign")
    picker.select_option(label=fay)
    submit.click()
    page.click("[data-confirm=assign]")  # "Assign anyway": again, with force
    expect(page.locator(".assignee")).to_have_text("Assigned to Fay Full")
    expect(page.locator(".msg-internal", has_text="Assigned to Fay Full")).to_contain_text(
        "(over capacity)"
    )

    # An agent cannot force: the refusal is simply shown.
    open_chat(agent, "John Doe")
    act(agent, "transfer")
    agent.locator("#agent-picker").select_option(label=fay.replace("1/1", "2/1"))
    agent.click("form.picker button[type=submit]")
    expect(agent.locator(".action-error")).to_have_text(
        "Transfer failed: Fay Full is at capacity (2 of 1 open chats)"
    )
    expect(agent.locator(".actions .confirm")).to_have_count(0)


def test_an_admin_edits_a_user_and_sets_a_new_password(console: Console, demo: Demo) -> None:
    user(demo, "edna", "Edna Edit")
    page = console.login("admin", "admin123")
    page.click("[data-view=users]")
    page.locator("tr[data-username=edna] button.edit").click()
    form = page.locator("form.edit-user")
    expect(form).to_be_visible()
    expect(form.locator("#edit-display_name")).to_have_value("Edna Edit")
    form.locator("#edit-email").fill("not an address")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=email]")).to_have_text(
        "Enter an email address like name@example.com."
    )
    form.locator("#edit-email").fill("edna@example.com")
    form.locator("#edit-capacity").fill("5000")  # the API refuses it: its message is shown
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=capacity]")).not_to_be_empty()
    screenshot(page, "user-edit-error-1280")
    expect(page.locator(".status-line")).to_contain_text("Not saved")
    form.locator("#edit-capacity").fill("6")
    form.locator("#edit-display_name").fill("Edna Admin")
    form.locator("#edit-role").select_option("admin")
    form.locator("button[type=submit]").click()
    expect(page.locator(".status-line")).to_have_text("Saved.")
    edna = page.locator("tr[data-username=edna]")
    expect(edna).to_contain_text("Edna Admin")
    expect(edna).to_contain_text("edna@example.com")
    expect(edna).to_contain_text("admin")
    page.locator("tr[data-username=edna] button.edit").click()
    password = page.locator("#reset-password")
    password.fill("short")
    page.locator("form.reset-password button[type=submit]").click()
    expect(page.locator("form.reset-password [data-error-for=password]")).not_to_be_empty()
    password.fill("edna-new-pass-2")
    page.locator("form.reset-password button[type=submit]").click()
    expect(page.locator(".status-line")).to_have_text("The password of Edna Admin was changed.")
    demo.login("edna", "edna-new-pass-2")
    page.fill("#new-username", "edna")  # taken: said beside the field
    page.fill("#new-password", "another-pass-3")
    page.click("form.add-user button[type=submit]")
    expect(page.locator("form.add-user [data-error-for=username]")).to_have_text(
        "username 'edna' is taken"
    )
    screenshot(page, "users-1280")


def test_the_panel_wraps_addresses_and_short_histories_sit_under_their_start(
    console: Console, demo: Demo
) -> None:
    token = demo.login("admin", "admin123")
    address = "maria.lopez@accounts-department.customer-example.com"
    new_chat(demo, token, "Long Address", queued=True, channel="Email", customer_email=address)
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Long Address")
    shown = page.locator("#customer-panel [data-field=email] .email")
    expect(shown).to_have_attribute("title", address)
    lines = shown.evaluate(
        """(el) => {
            const range = document.createRange();
            range.selectNodeContents(el);
            return [...range.getClientRects()].length;
        }"""
    )
    assert lines >= 2  # wrapped after the "@": the name before it stays whole on its line
    split = shown.evaluate(
        """(el) => [...el.childNodes].filter((node) => node.nodeType === Node.TEXT_NODE)
            .filter((node) => {
                const range = document.createRange();
                range.selectNodeContents(node);
                return range.getClientRects().length > 1;
            }).map((node) => node.textContent)"""
    )
    # Parts break only where a line may break anyway (after a hyphen), never mid-word.
    assert all("-" in part for part in split), split
    expect(page.locator("#customer-panel [data-field=presence]")).to_have_count(0)  # email
    expect(page.locator(".msg").first).to_be_visible()
    start = page.locator(".history-start").bounding_box()
    first = page.locator(".msg").first.bounding_box()
    assert start and first
    gap = first["y"] - (start["y"] + start["height"])
    assert 0 <= gap < 30, f"{gap}px between the start and the first message"
    screenshot(page, "panel-email-1280")


def test_the_panel_says_online_then_when_the_customer_was_last_active(
    console: Console, demo: Demo
) -> None:
    demo.simulate("telegram", "Active Andi", "halo")
    page = console.page()
    page.clock.install()
    page.reload()
    sign_in(page, "admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Active Andi")
    presence = page.locator("#customer-panel [data-field=presence]")
    expect(presence).to_have_text("Online")
    page.clock.fast_forward("06:00")
    expect(presence).to_have_text("last active 6 minutes ago")
    page.select_option("#lang-switch", "id")
    expect(presence).to_have_text("terakhir aktif 6 menit yang lalu")
    when = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    assert (
        page.evaluate("async (when) => (await import('/static/js/i18n.js')).ago(when)", when)
        == "3 jam yang lalu"
    )


def test_a_handoff_note_reads_in_indonesian(console: Console, demo: Demo) -> None:
    page = console.login("admin", "admin123", locale="id-ID")
    demo.simulate("telegram", "Sari Dewi", "saya mau bicara dengan manusia")
    page.click("#tab-all")
    open_chat(page, "Sari Dewi")
    note = page.locator(".msg-internal .text").first
    expect(note).to_have_text(
        re.compile(
            r"^Dialihkan ke manusia oleh bot \(pelanggan meminta bicara dengan manusia"
            r"(; di luar jam kerja)?\); menunggu agen$"
        )
    )
    reason = page.locator("#customer-panel [data-field=reason]")
    expect(reason).to_have_text(
        re.compile(r"^pelanggan meminta bicara dengan manusia(; di luar jam kerja)?$")
    )
    screenshot(page, "note-id-1280")
    page.select_option("#lang-switch", "en")
    expect(note).to_have_text(re.compile(r"^Handed to a human by the bot \(the customer asked"))
    expect(reason).to_have_text(re.compile(r"^the customer asked for a human"))
    new_chat(demo, demo.login("admin", "admin123"), "Reasonless Rita", queued=True)
    open_chat(page, "Reasonless Rita")  # handed over by a person, with no reason
    expect(reason).to_have_text("handed to a human")


def test_an_admin_at_390_assigns_from_the_menu_and_edits_a_user(
    console: Console, demo: Demo
) -> None:
    new_chat(demo, demo.login("admin", "admin123"), "Phone Admin Case", queued=True)
    page = console.login("admin", "admin123", NARROW)
    page.click("#tab-queue")
    open_chat(page, "Phone Admin Case")
    screenshot(page, "admin-chat-390")
    act(page, "assign")
    picker = page.locator("#agent-picker")
    expect(picker).to_be_visible()
    for part in (picker, page.locator("form.picker button[type=submit]")):
        box = part.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"], box
    screenshot(page, "admin-picker-390")
    smith = picker.locator("option", has_text="Agent Smith").get_attribute("value")
    picker.select_option(smith)
    page.click("form.picker button[type=submit]")
    expect(page.locator(".assignee")).to_have_text("Assigned to Agent Smith")
    page.click("[data-view=users]")
    page.locator("tr[data-username=agent] button.edit").click()
    form = page.locator("form.edit-user")
    expect(form).to_be_visible()
    box = form.bounding_box()
    assert box and box["x"] + box["width"] <= NARROW["width"], box
    screenshot(page, "users-edit-390")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the page scrolls sideways ({width}px)"


def test_at_1024_the_panel_floats_and_closes_like_on_a_phone(console: Console) -> None:
    page = console.login("agent", "agent123", {"width": 1024, "height": 768})
    open_chat(page, "John Doe")
    panel = page.locator("#customer-panel")
    expect(panel).to_be_hidden()
    page.click("button.panel-toggle")
    expect(panel).to_be_visible()
    screenshot(page, "panel-1024")
    page.locator(".chat-row", has_text="Ahmed Hassan").click()  # another chat
    expect(page.locator("#chat-name")).to_have_text("Ahmed Hassan")
    expect(panel).to_be_hidden()
    page.click("button.panel-toggle")
    expect(panel).to_be_visible()
    page.locator(".messages").click(position={"x": 20, "y": 20})
    expect(panel).to_be_hidden()
