"""Agents send files from the console: previews, upload progress, the files reaching the
mock providers, and the API's refusals shown with the files kept."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from tests.console.support import NARROW, Console, Demo, expect, open_chat, wait_for
from tests.console.test_media import BLOB, png, shot

RECORD = """() => {
    window.__progress = [];
    const bar = document.querySelector(".upload-bar");
    new MutationObserver(() => {
        const box = document.querySelector(".upload-progress");
        if (!box.hidden) window.__progress.push(Number(bar.value));
    }).observe(document.querySelector(".composer"),
               { subtree: true, attributes: true, childList: true, characterData: true });
}"""


def whatsapp_media_sent(demo: Demo, phone: str) -> list[dict[str, Any]]:
    """The file sends to ``phone``: {"request": the Graph API body, "media": the upload}."""
    return [
        s
        for s in demo.mock("whatsapp", "GET", "/_mock/sent")
        if s["request"].get("to") == phone and s["request"].get("type") != "text"
    ]


def test_an_agent_sends_a_photo_and_a_document_with_progress(console: Console, demo: Demo) -> None:
    photo = png(300, 200, b"\xc0\x40\x40")
    pdf = b"%PDF-1.4 invoice " + b"x" * 400_000
    page = console.login("agent", "agent123")
    open_chat(page, "John Doe")
    page.evaluate(RECORD)
    # A slow uplink, so the progress bar has time to move.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 200_000,
    })  # fmt: skip
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach files").click()
    chooser.value.set_files([
        {"name": "parcel.png", "mimeType": "image/png", "buffer": photo},
        {"name": "invoice-42.pdf", "mimeType": "application/pdf", "buffer": pdf},
    ])  # fmt: skip
    page.fill("#composer-input", "Here is your invoice")
    page.click("button.send")
    expect(page.locator(".upload-progress")).to_be_visible()
    shot(page, "upload-progress-wide")
    expect(page.locator(".upload-progress")).to_be_hidden(timeout=20_000)
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
    })  # fmt: skip
    seen = page.evaluate("window.__progress")
    assert any(0 < value < 100 for value in seen), seen  # it moved on the way
    expect(page.locator(".attach-tray .tray-item")).to_have_count(0)
    expect(page.locator("#composer-input")).to_have_value("")
    first = page.locator(".msg-agent", has_text="Here is your invoice")
    expect(first.locator("button.thumb img[alt='parcel.png']")).to_have_attribute("src", BLOB)
    expect(page.locator(".msg-agent button.download", has_text="invoice-42.pdf")).to_be_visible()
    shot(page, "upload-sent-wide")
    sent = wait_for(lambda: len(whatsapp_media_sent(demo, "6281234567890")) >= 2
                    and whatsapp_media_sent(demo, "6281234567890"))  # fmt: skip
    assert sent, demo.mock("whatsapp", "GET", "/_mock/sent")
    image = next(s for s in sent if s["request"]["type"] == "image")
    document = next(s for s in sent if s["request"]["type"] == "document")
    assert image["request"]["image"].get("caption") == "Here is your invoice"
    assert image["media"]["sha256"] == hashlib.sha256(photo).hexdigest()
    assert document["media"]["sha256"] == hashlib.sha256(pdf).hexdigest()


def test_refused_files_say_why_and_stay_in_the_composer(console: Console) -> None:
    page = console.login("agent", "agent123", viewport=NARROW)
    open_chat(page, "John Doe")
    files_before = page.locator(".msg-agent .attachments").count()
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach files").click()
    chooser.value.set_files(
        [{"name": "page.html", "mimeType": "text/html", "buffer": b"<!doctype html><p>hi</p>"}]
    )
    page.click("button.send")
    error = page.locator(".send-error")
    expect(error).to_have_text(
        "This type of file cannot be sent here: page.html is HTML. This channel takes Word, "
        "PDF, Excel, PowerPoint, AAC, AMR, M4A, MP3, Ogg, JPEG, PNG, Text, 3GPP, MP4."
    )
    expect(error).to_have_attribute("title", re.compile("text/html"))  # the API's words
    expect(page.locator(".attach-tray .tray-item")).to_have_count(1)  # kept for another try
    expect(page.locator(".tray-item.refused")).to_contain_text("page.html")
    shot(page, "upload-refused-narrow")
    page.get_by_role("button", name="Remove page.html").click()
    big = b"\xff\xd8\xff\xe0" + b"\x00" * (6 * 1024 * 1024)  # a "JPEG" over WhatsApp's 5 MB
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach files").click()
    chooser.value.set_files([{"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": big}])
    page.click("button.send")
    expect(error).to_have_text(
        "Too large to send: huge.jpg is over the 5.0 MB this channel takes for its type."
    )
    expect(page.locator(".tray-item.refused")).to_contain_text("huge.jpg")
    expect(page.locator(".msg-agent .attachments")).to_have_count(files_before)  # none sent


def test_an_upload_can_be_cancelled_and_the_files_stay(console: Console) -> None:
    page = console.login("agent", "agent123")
    open_chat(page, "John Doe")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 50_000,
    })  # fmt: skip
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach files").click()
    big = b"%PDF-1.4 manual " + b"y" * 1_000_000
    chooser.value.set_files([{"name": "manual.pdf", "mimeType": "application/pdf", "buffer": big}])
    messages = page.locator(".msg").count()
    page.click("button.send")
    page.get_by_role("button", name="Cancel upload").click()
    expect(page.locator(".send-error")).to_have_text(
        "Upload cancelled: the files are still here to send."
    )
    expect(page.locator(".upload-progress")).to_be_hidden()
    expect(page.locator(".attach-tray .tray-item")).to_have_count(1)
    expect(page.locator(".msg")).to_have_count(messages)
