"""A customer's WhatsApp files in the console, through the mock Graph API: the photo turns up
in the open chat when it has been fetched (message.updated), a file the provider no longer
has says so."""

from __future__ import annotations

import json
import urllib.request

from tests.console.support import Console, Demo, expect, open_chat
from tests.console.test_media import BLOB, png, shot, wav

# Every state the message's files go through in the page, as they are drawn.
RECORD = """() => {
    window.__states = [];
    new MutationObserver(() => {
        for (const li of document.querySelectorAll(".attachments > li[data-status]")) {
            const state = li.dataset.status;
            if (window.__states.at(-1) !== state) window.__states.push(state);
        }
    }).observe(document.querySelector(".message-list"), { subtree: true, childList: true });
}"""


def upload_media(demo: Demo, data: bytes, mime: str, filename: str) -> str:
    url = f"http://127.0.0.1:{demo.mock_ports['whatsapp']}/_mock/media?filename={filename}"
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", mime)
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        return str(json.loads(response.read())["id"])


def test_a_customers_photo_and_voice_note_arrive_live(console: Console, demo: Demo) -> None:
    phone = "6281200000055"
    hello = {"name": "Putri Ayu", "phone": phone, "text": "I will send a photo"}
    demo.mock("whatsapp", "POST", "/_mock/customer", hello)
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Putri Ayu")
    page.evaluate(RECORD)
    photo = upload_media(demo, png(400, 300, b"\x30\x90\x50"), "image/png", "photo.png")
    says = {"name": "Putri Ayu", "phone": phone, "text": "The box was crushed",
            "media": {"id": photo, "type": "image"}}  # fmt: skip
    demo.mock("whatsapp", "POST", "/_mock/customer", says)
    message = page.locator(".msg-customer", has_text="The box was crushed")
    image = message.locator("button.thumb img")
    # Without a reload; files are fetched once the customer's burst of messages has ended.
    expect(image).to_have_attribute("src", BLOB, timeout=15_000)
    expect(message.locator(".attachments > li")).to_have_attribute("data-status", "stored")
    # "fetching…" while the file comes from the provider (seen on this machine every time,
    # but the event and the fetch race, so not required), then the photo.
    states = page.evaluate("window.__states")
    assert states[-1] == "stored" and set(states) <= {"pending", "stored"}, states
    voice = upload_media(demo, wav(1.0), "audio/ogg", "voice.ogg")
    voice_note = {"name": "Putri Ayu", "phone": phone, "media": {"id": voice, "type": "audio"}}
    demo.mock("whatsapp", "POST", "/_mock/customer", voice_note)
    audio = page.locator(".msg-customer audio[controls]")
    expect(audio).to_have_attribute("src", BLOB, timeout=15_000)
    shot(page, "inbound-photo-wide")
    image.click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")


def test_a_file_the_provider_no_longer_has_says_why(console: Console, demo: Demo) -> None:
    phone = "6281200000066"
    gone = {"name": "Hendra Gunawan", "phone": phone, "text": "my receipt",
            "media": {"id": "1999999999999999", "type": "document"}}  # fmt: skip
    demo.mock("whatsapp", "POST", "/_mock/customer", gone)
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Hendra Gunawan")
    failed = page.locator(".msg-customer .file-failed")
    expect(failed).to_be_visible(timeout=20_000)
    expect(failed).to_contain_text("not received:")
    shot(page, "inbound-failed-wide")
