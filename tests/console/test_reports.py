"""The Reports page in the browser: an admin reads the desk's week against the week before
(totals and their change, the charts drawn from the numbers, the tables per agent and per
label, CSV downloads), narrows it to one agent and asks for an impossible range; an agent
sees their own numbers only, in Indonesian; the page on a 390 px phone; the numbers without
the chart library.

The account is in Jakarta (UTC+7): days and hours are Jakarta's. The facts are written
straight into the demo's database at known times (docs/api.md "Reports", the table of
facts), on chats made through the API, so every number on the page is known here."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.console.support import (
    NARROW,
    Console,
    Demo,
    expect,
    screenshot,
    sign_in,
    start_demo,
    stop_demo,
    wait_for,
)
from tests.console.test_newcomer import new_chat, user

ZONE = ZoneInfo("Asia/Jakarta")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo with the account's reports in Jakarta's time."""
    folder = tmp_path_factory.mktemp("reports-demo")
    running = start_demo(folder / "data", folder / "demo.log", REPORTS__TIMEZONE="Asia/Jakarta")
    yield running
    stop_demo(running)


@dataclass
class Desk:
    today: date  # Jakarta's
    rina: int
    smith: int  # the demo's agent

    def day(self, days_ago: int) -> str:
        return (self.today - timedelta(days=days_ago)).isoformat()


def stamp(day: date, hour: int, minute: int) -> str:
    """A Jakarta time as the database keeps it (UTC)."""
    moment = datetime.combine(day, time(hour, minute), ZONE).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


@pytest.fixture(scope="module")
def desk(demo: Demo) -> Desk:
    """Four chats: people took part in four conversations last week (two of them in one
    chat) and one the week before; with their facts and surveys, and the chats the bot
    settled alone; nothing else in either period."""
    admin = demo.login("admin", "admin123")
    rina = user(demo, "rina", "Rina Reports")
    smith = user(demo, "agent", "Agent Smith")  # the demo's own
    chats = [new_chat(demo, admin, f"Report Customer {n}") for n in range(1, 5)]
    for chat, label in ((chats[0], "billing"), (chats[1], "complaint")):
        status, row = demo.call("POST", f"/chats/{chat}/labels", {"label": label}, token=admin)
        assert status == 200, row
    today = datetime.now(ZONE).date()
    c1, c2, c3, c4 = chats

    def at(days_ago: int, hour: int, minute: int) -> str:
        return stamp(today - timedelta(days=days_ago), hour, minute)

    created = {c1: at(6, 9, 15), c2: at(5, 14, 30), c3: at(3, 9, 45), c4: at(10, 11, 0)}
    # The bot settles chats alone: last week 3, 5, 2, 4, 3 and 2 of them 1 to 6 days ago, at
    # 9:00, 11:00, 13:00...; the week before one a day at 10:00. Each closes ten minutes
    # later, but every second one of last week the next day at 8:30.
    settled = [(k, 9 + 2 * j) for k, n in enumerate((3, 5, 2, 4, 3, 2), 1) for j in range(n)]
    settled += [(k, 10) for k in range(8, 14)]
    bot_chats = [new_chat(demo, admin, f"Bot Customer {n}") for n in range(len(settled))]
    created |= {chat: at(k, hour, 0) for chat, (k, hour) in zip(bot_chats, settled, strict=True)}
    # (name, at, chat, agent, value, detail)
    facts: list[tuple[str, str, int, int | None, float | None, str | None]] = [
        ("reopened", at(4, 9, 5), c1, rina, None, "take_over"),
        ("reopened", at(2, 20, 10), c2, None, None, "customer_wrote"),
        ("handed_off", at(6, 9, 20), c1, rina, None, "customer_asked"),
        ("handed_off", at(5, 14, 40), c2, smith, None, "intent_handoff"),
        ("handed_off", at(4, 9, 10), c1, rina, None, "take_over"),
        ("assigned", at(6, 9, 21), c1, rina, 60, "assign"),
        ("assigned", at(5, 14, 42), c2, smith, 120, "claim"),
        ("assigned", at(4, 9, 10), c1, rina, 30, "take_over"),
        ("first_response", at(6, 9, 22), c1, rina, 120, None),
        ("first_response", at(5, 14, 45), c2, smith, 300, None),
        ("first_response", at(4, 9, 11), c1, rina, 60, None),
        ("reply", at(6, 9, 22), c1, rina, 120, None),
        ("reply", at(6, 9, 30), c1, rina, 30, None),
        ("reply", at(5, 14, 45), c2, smith, 300, None),
        ("reply", at(4, 9, 11), c1, rina, 60, None),
        ("resolved", at(6, 10, 0), c1, rina, 2400, "human"),
        ("resolved", at(5, 16, 40), c2, smith, 7200, "human"),
        ("resolved", at(3, 10, 0), c3, None, None, "bot"),
        ("resolved", at(4, 9, 40), c1, rina, 1800, "human"),
        ("resolved", at(2, 20, 30), c2, None, None, "bot"),
        ("bot_answer", at(6, 9, 16), c1, None, 1.5, None),
        ("bot_answer", at(5, 14, 31), c2, None, 2.0, "billing"),
        ("bot_answer", at(3, 9, 46), c3, None, 1.0, "billing"),
        ("bot_answer", at(3, 9, 50), c3, None, 1.0, "shipping"),
        ("bot_fallback", at(5, 14, 35), c2, None, 1.0, "where is my refund"),
        ("bot_fallback", at(2, 20, 11), c2, None, 1.0, "Where is my REFUND"),
        ("bot_fallback", at(6, 9, 18), c1, None, 1.0, "do you ship to Bali"),
        # the week before
        ("reopened", at(12, 10, 0), c4, smith, None, "take_over"),
        ("reopened", at(8, 10, 0), c4, smith, None, "take_over"),
        ("handed_off", at(10, 11, 5), c4, smith, None, "not_understood"),
        ("assigned", at(10, 11, 10), c4, smith, 240, "claim"),
        ("first_response", at(10, 11, 15), c4, smith, 600, None),
        ("reply", at(10, 11, 15), c4, smith, 600, None),
        ("resolved", at(10, 12, 5), c4, smith, 3600, "human"),
    ]
    facts += [
        ("resolved", at(k - 1, 8, 30) if hour % 4 == 3 else at(k, hour, 10), chat, None, None,
         "bot")
        for chat, (k, hour) in zip(bot_chats, settled, strict=True)
    ]  # fmt: skip
    # (chat, agent, opened_at, sent_at, status, rating, rated_at)
    surveys: list[tuple[int, int | None, str, str, str, int | None, str | None]] = [
        (c1, rina, created[c1], at(6, 10, 0), "rated", 5, at(6, 10, 30)),
        (c2, smith, created[c2], at(5, 16, 40), "rated", 3, at(5, 17, 0)),
        (c1, rina, at(4, 9, 5), at(4, 9, 40), "rated", 4, at(4, 10, 0)),
        (c3, None, created[c3], at(3, 10, 0), "sent", None, None),
        (c4, smith, created[c4], at(10, 12, 5), "rated", 2, at(10, 12, 30)),
    ]
    database = Path(demo.env["MSGCENTER_STORAGE__DATA_DIR"]) / "demo" / "msgcenter.db"
    with sqlite3.connect(database, timeout=30) as db:
        # Only these facts: none of the demo's own chats, nothing the flows wrote meanwhile.
        db.execute("DELETE FROM report_events")
        db.execute("DELETE FROM csat_surveys")
        db.execute("UPDATE chats SET created_at = ?", (stamp(today - timedelta(days=60), 12, 0),))
        db.executemany(
            "UPDATE chats SET created_at = ? WHERE id = ?", [(v, k) for k, v in created.items()]
        )
        db.executemany(
            "INSERT INTO report_events (name, at, chat_id, channel, agent_id, value, "
            "business_value, detail) VALUES (?, ?, ?, 'Telegram', ?, ?, ?, ?)",
            [
                (n, when, chat, who, value, value, detail)
                for n, when, chat, who, value, detail in facts
            ],
        )
        db.executemany(
            "INSERT INTO csat_surveys (chat_id, channel, agent_id, opened_at, sent_at, status, "
            "rating, rated_at) VALUES (?, 'Telegram', ?, ?, ?, ?, ?, ?)",
            surveys,
        )
    return Desk(today, rina, smith)


def open_reports(page: Any) -> None:
    page.click("[data-view=reports]")
    expect(page.locator(".reports-page")).to_have_attribute("aria-busy", "false")
    expect(page.locator(".report-chart canvas").first).to_be_visible()


def kpi(page: Any, key: str) -> Any:
    return page.locator(f".kpi[data-kpi={key}]")


def hover(page: Any, chart: str, index: int) -> Any:
    """Point at the chart's `index`th x value (drawn evenly across it); returns its legend's
    values: the x value, then each series' value there."""
    page.locator(f"#chart-{chart}").scroll_into_view_if_needed()
    box = page.locator(f"#chart-{chart} .u-over").bounding_box()
    # days span from half a day before the first to half a day after the last; bars from
    # 0.6 of a bar before the first to 0.6 after the last
    count, offset = {"volume": (7, 0.5), "hours": (24.2, 0.6), "first": (8.2, 0.6)}[chart]
    x = box["x"] + box["width"] * (index + offset) / count
    page.mouse.move(x, box["y"] + box["height"] / 2)
    return page.locator(f"#chart-{chart} .u-legend .u-series .u-value")


def test_an_admin_reads_the_week_against_the_week_before(
    console: Console, demo: Demo, desk: Desk
) -> None:
    page = console.login("admin", "admin123")
    open_reports(page)
    expect(page.locator("#reports-preset")).to_have_value("7d")
    expect(page.locator("#reports-from")).to_have_value(desk.day(6))
    expect(page.locator("#reports-to")).to_have_value(desk.day(0))
    expect(page.locator("#reports-scope")).to_have_text("The whole desk")
    expect(page.locator(".reports-period")).to_contain_text("times in Asia/Jakarta")

    # Opened: 3 + 19 chats created and 2 reopened (the week before: 1 + 6 and 2); handed
    # off 3 (1); resolved 5 + 19, 2 + 19 of them by the bot (1 + 6, 6); first responses 60,
    # 120, 300 s (600); resolutions 1800, 2400, 7200 s (3600); replies 120, 30, 300, 60 s;
    # waits in the queue 30, 60, 120 s (240); ratings 5, 3, 4 of 4 surveys (2 of 1).
    expected = {
        "opened": ["24", "2 reopened", "+167% vs previous"],
        "handed_off": ["3", "13% of those opened", "+200% vs previous"],
        "resolved": ["24", "21 by the bot alone", "+243% vs previous"],
        "containment": ["88%", "+1.8 pts vs previous"],
        "first_response": ["2m", "90% within 4m 24s", "average reply 2m 8s", "−80% vs previous"],
        "resolution": ["40m", "90% within 1h 44m", "−33% vs previous"],
        "queue": ["1m", "90% within 1m 48s", "−75% vs previous"],
        "csat": ["4 / 5", "3 ratings · 75% answered", "+2 vs previous"],
    }
    for key, texts in expected.items():
        for text in texts:
            expect(kpi(page, key)).to_contain_text(text)
    trends = {"first_response": "better", "resolution": "better", "containment": "better",
              "queue": "better", "csat": "better", "opened": "neutral"}  # fmt: skip
    for key, trend in trends.items():
        expect(kpi(page, key).locator(".kpi-delta")).to_have_attribute("data-trend", trend)

    # The charts hold the numbers: two days ago one reopened and five the bot settled, and
    # five resolved by the bot (one of them from the day before; the same day the week
    # before: one opened); nine opened at 9:00; one first response within a minute.
    expect(page.locator(".report-chart canvas")).to_have_count(7)
    expect(hover(page, "volume", 4)).to_have_text([short_day(desk.today, 2), "6", "0", "5", "1"])
    expect(hover(page, "hours", 9)).to_have_text(["09:00", "9"])
    expect(hover(page, "first", 0)).to_have_text(["up to 1 minute", "1"])
    for key in ("volume", "hours", "containment", "first", "resolution", "csat", "ratings"):
        expect(page.locator(f"[data-report={key}] .chart-note")).to_be_hidden()  # not empty

    agents = page.locator("#reports-agents tbody tr")
    rina = page.locator(f"#reports-agents tr[data-agent='{desk.rina}']")
    expect(rina.locator("th")).to_have_text("Rina Reports")
    # handled (chats replied in or resolved: Rina's two conversations are one chat),
    # replies, resolved, first response, resolution, average reply, CSAT
    expect(rina.locator("td")).to_have_text(["1", "3", "2", "1m 30s", "35m", "1m 10s", "4.5 (2)"])
    smith = page.locator(f"#reports-agents tr[data-agent='{desk.smith}']")
    expect(smith.locator("td")).to_have_text(["1", "1", "1", "5m", "2h", "5m", "3 (1)"])
    labels = page.locator("#reports-labels")
    expect(labels.locator("tr[data-label-key=none] td")).to_have_text(
        ["20", "0", "20", "20", "–", "–"]
    )
    billing = labels.locator("tr", has=page.locator(".label-chip[data-label=billing]"))
    expect(billing.locator("td")).to_have_text(["2", "2", "2", "0", "1m 30s", "35m"])
    complaint = labels.locator("tr", has=page.locator(".label-chip[data-label=complaint]"))
    expect(complaint.locator("td")).to_have_text(["2", "1", "2", "1", "5m", "2h"])
    # the bot: 4 answers, 3 not understood (3 of 7), 3 of 24 opened handed off, why, what
    bot = page.locator("[data-report=bot]")
    facts = bot.locator(".bot-facts dd")
    expect(facts).to_have_text(["4", "3", "43%", "13%"])
    expect(bot.locator("[data-list=reasons] li")).to_have_count(3)
    reasons = bot.locator("[data-list=reasons]")
    for reason in ("the customer asked for a human1", "the question needs a human1", "taken over1"):
        expect(reasons).to_contain_text(reason)  # the codes in words
    intents = bot.locator("[data-list=intents] li")
    expect(intents).to_have_count(3)
    expect(intents.first).to_have_text("billing2")  # the most first
    expect(bot.locator("[data-list=intents]")).to_contain_text("greeting1")  # no intent
    unmatched = bot.locator("[data-list=unmatched] tbody tr")
    expect(unmatched).to_have_count(2)
    expect(unmatched.first.locator("td").nth(1)).to_have_text("2")  # case folded
    expect(unmatched.nth(1).locator("td").first).to_have_text("do you ship to Bali")
    bot.scroll_into_view_if_needed()
    screenshot(page, "reports-bot-1280")
    page.locator(".reports-top").scroll_into_view_if_needed()
    screenshot(page, "reports-1280")  # docs/screenshots/reports.png

    # CSV: what is on screen, fetched with the token and saved under a name saying what
    with page.expect_download() as download:
        page.click("[data-csv=agents]")
    assert download.value.suggested_filename == f"report-agents-{desk.day(6)}-{desk.day(0)}.csv"
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("agent_id,name,handled,replies,resolved")
    assert any(line.startswith(f"{desk.rina},Rina Reports,1,3,2,") for line in lines)
    with page.expect_download() as download:
        page.click("[data-csv=labels]")
    assert "complaint" in Path(download.value.path()).read_text()

    # Narrowed to Rina: her numbers, her row, her ratings
    page.locator("#reports-agent").select_option(str(desk.rina))
    expect(page.locator("#reports-scope")).to_have_text("Rina Reports only")
    expect(agents).to_have_count(1)
    expect(kpi(page, "first_response").locator(".kpi-value")).to_have_text("1m 30s")
    expect(kpi(page, "csat").locator(".kpi-value")).to_have_text("4.5 / 5")
    # the bot's containment is no person's: their replies instead
    expect(page.locator("[data-report=containment]")).to_be_hidden()
    expect(kpi(page, "containment")).to_have_count(0)
    expect(kpi(page, "replies")).to_contain_text("3")
    expect(kpi(page, "replies")).to_contain_text("average reply 1m 10s")
    expect(page.locator(".report-chart canvas")).to_have_count(6)
    expect(page.locator("[data-report=bot]")).to_be_hidden()  # the bot is the desk's
    screenshot(page, "reports-agent-1280")

    # The previous period alone, as two dates; then a range that cannot be asked for
    page.locator("#reports-agent").select_option("")
    expect(page.locator("[data-report=containment]")).to_be_visible()
    page.fill("#reports-from", desk.day(13))
    page.fill("#reports-to", desk.day(7))
    expect(page.locator("#reports-preset")).to_have_value("custom")
    expect(kpi(page, "opened").locator(".kpi-value")).to_have_text("9")
    expect(kpi(page, "containment").locator(".kpi-value")).to_have_text("86%")
    expect(kpi(page, "csat").locator(".kpi-value")).to_have_text("2 / 5")
    page.uncheck("#reports-compare")
    expect(kpi(page, "opened").locator(".kpi-delta")).to_have_count(0)
    expect(page.locator("#chart-volume .u-legend .u-series")).to_have_count(4)  # no dashes
    page.fill("#reports-from", desk.day(0))
    expect(page.locator(".reports-page > .status-line")).to_have_text(
        "The start date is after the end date."
    )
    expect(page.locator("#reports-from")).to_have_attribute("aria-invalid", "true")
    page.locator("#reports-preset").select_option("7d")
    page.check("#reports-compare")
    expect(kpi(page, "opened").locator(".kpi-value")).to_have_text("24")
    expect(page.locator(".reports-page > .status-line")).to_be_hidden()

    # business hours only: every report asked again so
    with page.expect_request(
        lambda r: "/reports/agents?" in r.url and "business_hours=true" in r.url
    ):
        page.check("#reports-business")
    expect(page.locator(".reports-page")).to_have_attribute("aria-busy", "false")
    page.uncheck("#reports-business")

    # a window narrowed to a phone's width: the charts follow their boxes
    page.set_viewport_size(NARROW)
    canvas = page.locator("#chart-volume canvas")
    assert wait_for(lambda: (canvas.bounding_box() or {"width": 9999})["width"] < NARROW["width"])


def short_day(today: date, days_ago: int) -> str:
    """The volume chart's day as the console writes it in English: "4 Dec"."""
    day = today - timedelta(days=days_ago)
    return f"{day.day} {day.strftime('%b')}"


def test_an_agent_sees_their_own_numbers(console: Console, demo: Demo, desk: Desk) -> None:
    # after an admin who had picked someone signed out in the same browser
    page = console.login("admin", "admin123")
    open_reports(page)
    page.locator("#reports-agent").select_option(str(desk.rina))
    expect(page.locator("#reports-scope")).to_have_text("Rina Reports only")
    page.click("button.logout")
    sign_in(page, "agent", "agent123")
    open_reports(page)
    expect(page.locator("#reports-scope")).to_contain_text("Your numbers")
    expect(page.locator("#reports-agent")).to_have_count(0)  # no one else to pick
    expect(page.locator("[data-report=bot]")).to_be_hidden()
    rows = page.locator("#reports-agents tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.locator("th")).to_have_text("Agent Smith")
    expect(kpi(page, "csat").locator(".kpi-value")).to_have_text("3 / 5")
    expect(kpi(page, "csat")).to_contain_text("1 rating · 100% answered")
    expect(kpi(page, "first_response").locator(".kpi-value")).to_have_text("5m")
    expect(kpi(page, "replies").locator(".kpi-value")).to_have_text("1")
    expect(page.locator("[data-report=containment]")).to_be_hidden()
    token = demo.login("agent", "agent123")
    status, own = demo.call(
        "GET", f"/reports/summary?from={desk.day(6)}&to={desk.day(0)}", token=token
    )
    assert status == 200, own
    expect(kpi(page, "opened").locator(".kpi-value")).to_have_text(str(own["totals"]["opened"]))
    expect(kpi(page, "resolved").locator(".kpi-value")).to_have_text(str(own["totals"]["resolved"]))
    screenshot(page, "reports-own-1280")
    page.locator("#lang-switch").select_option("id")
    expect(page.locator(".reports-top h2")).to_have_text("Laporan")
    expect(kpi(page, "csat").locator(".kpi-label")).to_have_text("Kepuasan pelanggan")
    expect(page.locator("#reports-preset")).to_have_value("7d")  # the choice outlived it
    expect(page.locator("#reports-agents thead th").first).to_have_text("Agen")
    screenshot(page, "reports-own-id-1280")


def test_the_reports_page_on_a_phone(console: Console, demo: Demo, desk: Desk) -> None:
    phone = console.login("admin", "admin123", NARROW)
    open_reports(phone)
    expect(kpi(phone, "opened").locator(".kpi-value")).to_have_text("24")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the page scrolls sideways ({width}px)"
    height = phone.evaluate("document.documentElement.scrollHeight")
    assert height <= NARROW["height"], f"the page, not its main part, scrolls ({height}px)"
    for key in ("volume", "hours", "first", "csat"):
        card = phone.locator(f"[data-report={key}]").bounding_box()
        chart = phone.locator(f"#chart-{key} canvas").bounding_box()
        assert card and chart and chart["width"] <= card["width"], (key, card, chart)
        assert chart["x"] >= card["x"] and chart["x"] + chart["width"] <= card["x"] + card["width"]
    # the per agent table stacks: each value after its column's name
    rina = phone.locator(f"#reports-agents tr[data-agent='{desk.rina}']")
    expect(rina.locator("td").first).to_have_attribute("data-column", "Handled")
    box = rina.bounding_box()
    assert box and box["x"] + box["width"] <= NARROW["width"], box
    phone.locator(".reports-period").evaluate("(el) => el.scrollIntoView()")
    screenshot(phone, "reports-390")  # docs/screenshots/reports-mobile.png
    phone.locator("#chart-volume").evaluate("(el) => el.scrollIntoView()")
    screenshot(phone, "reports-charts-390")
    # Indonesian's longer words fit too
    phone.locator("#lang-switch").select_option("id")
    expect(kpi(phone, "opened").locator(".kpi-label")).to_have_text("Percakapan dibuka")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the page scrolls sideways in Indonesian ({width}px)"
    screenshot(phone, "reports-id-390")
    phone.locator("#reports-agents").evaluate("(el) => el.scrollIntoView()")
    screenshot(phone, "reports-tables-id-390")
    phone.locator("[data-report=bot]").evaluate("(el) => el.scrollIntoView()")
    screenshot(phone, "reports-bot-id-390")


def test_without_the_chart_library_the_numbers_still_show(
    console: Console, demo: Demo, desk: Desk
) -> None:
    page = console.page()
    page.route("**/static/vendor/uplot/**", lambda route: route.abort())
    sign_in(page, "admin", "admin123")
    page.click("[data-view=reports]")
    expect(page.locator(".reports-page > .status-line")).to_have_text(
        "The charts could not be drawn; the numbers and tables below are complete."
    )
    expect(kpi(page, "opened").locator(".kpi-value")).to_have_text("24")
    expect(page.locator(f"#reports-agents tr[data-agent='{desk.rina}'] td").nth(2)).to_have_text(
        "2"
    )
    expect(page.locator(".report-chart canvas")).to_have_count(0)
