"""Searching chats in the console (issue 22): the chat list's search box finds words in the
messages, each row shows where (a snippet, the words marked), a customer's markup stays
text; English and Indonesian, wide and narrow."""

from __future__ import annotations

from typing import Any

from tests.console.support import NARROW, WIDE, Console, Demo, expect, row, screenshot, sign_in


def _search(page: Any, text: str) -> None:
    page.fill("#chat-search", text)
    expect(page.locator("#chat-list")).to_have_attribute("aria-busy", "false")


def test_a_search_shows_where_each_chat_matched(console: Console, demo: Demo) -> None:
    demo.simulate("telegram", "Wulan Sari", "Halo kak, paket saya terlambat sampai hari ini")
    demo.simulate(
        "telegram", "Bima", '<img src=x onerror="alert(1)"> <b>paket</b> belum datang juga'
    )
    page = console.page(WIDE)
    sign_in(page, "admin", "admin123")
    page.click("#tab-all")
    _search(page, "paket terlam")  # typing: the last word is a prefix
    wulan = row(page, "Wulan Sari")
    expect(wulan).to_be_visible()
    expect(row(page, "Bima")).to_have_count(0)
    match = wulan.locator(".preview.match")
    expect(match).to_contain_text("paket saya terlambat sampai")
    expect(match.locator("mark")).to_have_text(["paket", "terlambat"])
    screenshot(page, "search-wide")
    # A new chat that fits the search joins the list live (its words, not the text as typed).
    demo.simulate("telegram", "Citra", "Paket kamu terlambat juga?")
    expect(row(page, "Citra")).to_be_visible()
    expect(row(page, "Bima")).to_have_count(0)

    _search(page, '"belum datang"')
    bima = row(page, "Bima").locator(".preview.match")
    # Cut a few words before the first word found, so that it shows on two lines.
    expect(bima).to_have_text("…<b>paket</b> belum datang juga")
    expect(bima.locator("mark")).to_have_text(["belum datang"])
    assert bima.locator("img, b").count() == 0  # text, never markup
    screenshot(page, "search-markup-wide")

    _search(page, "")  # the search cleared: the rows show their last message again
    expect(page.locator(".preview.match")).to_have_count(0)
    expect(row(page, "Wulan Sari").locator(".preview")).to_contain_text("Bot: Hi Wulan Sari")


def test_searching_in_indonesian_on_a_phone(console: Console, demo: Demo) -> None:
    demo.simulate(
        "whatsapp",
        "Rudi Hartono",
        "Mohon maaf, pesanan INV-5521 sudah dibayar tapi statusnya masih menunggu "
        "konfirmasi dari penjual sejak kemarin sore",
    )
    page = console.page(NARROW, locale="id-ID", timezone_id="Asia/Jakarta")
    sign_in(page, "admin", "admin123")
    page.click("#tab-all")
    expect(page.locator("#chat-search")).to_have_attribute(
        "placeholder", "Cari nama, telepon, email, teks"
    )
    _search(page, "inv-5521 konfirm")
    rudi = row(page, "Rudi Hartono")
    expect(rudi).to_be_visible()
    expect(rudi.locator(".preview.match mark")).to_have_text(["INV-5521", "konfirmasi"])
    label = rudi.get_attribute("aria-label") or ""
    assert "ditemukan: " in label and "INV-5521" in label
    box = rudi.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"]
    screenshot(page, "search-narrow-id")
    _search(page, "tidak ada kata seperti ini")
    expect(page.locator(".list-status .empty")).to_be_visible()
