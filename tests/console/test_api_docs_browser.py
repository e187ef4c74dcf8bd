"""The interactive API docs (/docs) in the browser: log in, read, try an operation."""

from __future__ import annotations

import json

from tests.console.support import NARROW, WIDE, Console, Demo, expect, screenshot, sign_in


def test_a_newcomer_logs_in_on_docs_and_tries_an_operation(console: Console, demo: Demo) -> None:
    page = console.page(WIDE)
    page.goto(demo.base + "/docs")
    expect(page.locator("#docs-login")).to_be_visible()
    screenshot(page, "docs-1280-login")
    page.fill("#docs-identifier", "agent")
    page.fill("#docs-password", "wrong-password")
    page.click("#docs-login button[type=submit]")
    expect(page.locator("#docs-error")).to_have_text("wrong username/email or password")
    page.fill("#docs-password", "agent123")
    page.click("#docs-login button[type=submit]")
    expect(page.locator("#docs-login")).to_be_hidden()
    chats = page.locator(".opblock-get .opblock-summary-path[data-path='/chats/']")
    expect(chats).to_be_visible()
    login = page.locator(".opblock-post .opblock-summary-path[data-path='/auth/login']")
    expect(login).to_be_visible()
    expect(page.locator("#docs-user")).to_have_text("Agent Smith (agent)")
    # "Authorize" is preset with the token: the lock shows logged in, and Try it out works.
    expect(page.locator(".auth-wrapper .authorize.locked")).to_be_visible()
    screenshot(page, "docs-1280")

    me = page.locator("#operations-auth-get__auth_me")
    me.locator(".opblock-summary").click()
    me.locator("button.try-out__btn").click()
    me.locator("button.execute").click()
    answer = me.locator(".responses-wrapper .live-responses-table .response-col_description pre")
    expect(answer.first).to_contain_text('"username": "agent"')
    body = json.loads(answer.first.inner_text())
    assert body["role"] == "agent"
    answer.first.scroll_into_view_if_needed()
    screenshot(page, "docs-1280-try-it-out")

    # The console in the same tab is logged in by the same login.
    page.goto(demo.base + "/")
    expect(page.locator(".conn")).to_have_attribute("data-state", "live")


def test_docs_uses_the_consoles_login_and_fits_a_phone(console: Console, demo: Demo) -> None:
    page = console.page(NARROW)
    sign_in(page, "admin", "admin123")
    page.goto(demo.base + "/docs")
    expect(page.locator(".opblock-summary-path[data-path='/users']").first).to_be_visible()
    expect(page.locator("#docs-login")).to_be_hidden()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the page scrolls sideways: {width}px"
    screenshot(page, "docs-390")
    page.click("#docs-logout")
    expect(page.locator("#docs-login")).to_be_visible()
    expect(page.locator(".opblock")).to_have_count(0)
    screenshot(page, "docs-390-login")
