"""Files in the console: thumbnails with a viewer, players, download chips, pending and failed
files; the composer's attachments (button, drag and drop, paste) with previews; WhatsApp's
24-hour window and the template picker."""

from __future__ import annotations

import io
import os
import re
import struct
import wave
import zlib
from pathlib import Path
from typing import Any

from connectors.mock.smtp import compose_customer_mail
from tests.console.support import NARROW, Console, Demo, expect, open_chat, wait_for

BLOB = re.compile(r"^blob:")
SHOTS = Path(os.environ.get("MSGCENTER_TEST_SHOTS", "/tmp/shots"))


def shot(page: Any, name: str) -> None:
    """A screenshot to look at (the tests check what they can; eyes check the rest)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def png(width: int = 8, height: int = 6, rgb: bytes = b"\xff\x00\x00") -> bytes:
    """A real PNG of one colour, so the browser can decode it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + rgb * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


def wav(seconds: float = 0.5) -> bytes:
    """A real WAV file of silence, so the audio player can load it."""
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\x00\x00" * int(8000 * seconds))
    return out.getvalue()


def mail_files(demo: Demo, name: str, address: str) -> None:
    mail = compose_customer_mail(name, address, "Here are the photos", subject="Damaged parcel")
    mail.add_attachment(png(320, 200, b"\x20\x60\xc0"), maintype="image", subtype="png",
                        filename="parcel.png")  # fmt: skip
    mail.add_attachment(b"%PDF-1.4 receipt " + b"x" * 3000, maintype="application",
                        subtype="pdf", filename="receipt.pdf")  # fmt: skip
    mail.add_attachment(wav(), maintype="audio", subtype="wav", filename="voice-note.wav")
    # An MP4's first box (the player needs no more to be offered; it will not play it).
    mp4 = struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00isomiso2" + b"\x00" * 64
    mail.add_attachment(mp4, maintype="video", subtype="mp4", filename="unboxing.mp4")
    demo.mail(mail)


def test_an_image_opens_in_a_viewer_and_files_play_or_download(
    console: Console, demo: Demo
) -> None:
    mail_files(demo, "Nina Kurnia", "nina@customer.example")
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Nina Kurnia")
    message = page.locator(".msg-customer", has_text="Here are the photos")
    image = message.locator("button.thumb img[alt='parcel.png']")
    expect(image).to_be_visible()
    wait_for(lambda: image.evaluate("(img) => img.complete && img.naturalWidth") == 320)
    assert image.get_attribute("src").startswith("blob:")  # fetched with the token
    pdf = message.locator("button.download", has_text="receipt.pdf")
    expect(pdf).to_contain_text("PDF")
    expect(pdf).to_contain_text("3 KB")  # the size, for humans
    audio = message.locator("audio[controls]")
    expect(audio).to_have_attribute("src", BLOB)
    loaded = wait_for(lambda: audio.evaluate("(a) => a.readyState >= 1 && a.duration > 0.4"))
    assert loaded, audio.evaluate("(a) => [a.readyState, a.duration, a.error && a.error.message]")
    video = message.locator("video[controls]")
    expect(video).to_have_attribute("src", BLOB)
    expect(video).to_have_attribute("aria-label", "unboxing.mp4")
    expect(message.locator("button.download", has_text="unboxing.mp4")).to_contain_text("MP4")
    shot(page, "media-thread-wide")

    thumb = message.locator("button.thumb")
    thumb.click()
    viewer = page.get_by_role("dialog", name="parcel.png")
    expect(viewer).to_be_visible()
    expect(viewer.locator("img.viewer-image")).to_have_attribute("alt", "parcel.png")
    expect(viewer.locator(".viewer-close")).to_be_focused()
    save = viewer.locator("a.viewer-download")
    expect(save).to_have_attribute("download", "parcel.png")
    shot(page, "media-viewer-wide")
    with page.expect_download() as caught:
        save.click()
    assert caught.value.suggested_filename == "parcel.png"
    page.keyboard.press("Escape")
    expect(viewer).to_have_count(0)
    expect(thumb).to_be_focused()  # focus back where it was
    expect(page.locator("#customer-panel")).to_be_visible()  # Escape closed the viewer only

    with page.expect_download() as caught:
        pdf.click()
    assert caught.value.suggested_filename == "receipt.pdf"
    assert Path(caught.value.path()).read_bytes().startswith(b"%PDF-1.4 receipt")

    narrow = console.login("admin", "admin123", viewport=NARROW)
    narrow.click("#tab-all")
    open_chat(narrow, "Nina Kurnia")
    small = narrow.locator(".msg-customer button.thumb")
    small.scroll_into_view_if_needed()  # fetched as it comes near the screen
    expect(small.locator("img")).to_have_attribute("src", BLOB)
    box = small.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"]
    shot(narrow, "media-thread-narrow")
    small.click()
    dialog = narrow.get_by_role("dialog", name="parcel.png")
    expect(dialog).to_be_visible()
    full = dialog.locator("img.viewer-image").bounding_box()
    assert full and full["width"] <= NARROW["width"]
    shot(narrow, "media-viewer-narrow")
    dialog.locator(".viewer-close").click()
    expect(dialog).to_have_count(0)


def test_leaving_a_chat_lets_go_of_its_files(console: Console, demo: Demo) -> None:
    mail_files(demo, "Oki Prasetyo", "oki@customer.example")
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Oki Prasetyo")
    image = page.locator(".msg-customer button.thumb img")
    expect(image).to_have_attribute("src", BLOB)
    url = image.get_attribute("src")
    loads = """(u) => new Promise((done) => {
        const probe = new Image();
        probe.onload = () => done(true);
        probe.onerror = () => done(false);
        probe.src = u;
    })"""
    assert page.evaluate(loads, url)
    open_chat(page, "Maria Lopez")
    assert not page.evaluate(loads, url)  # revoked


DROP = """([selector, files]) => {
    const transfer = new DataTransfer();
    const event = (kind) => new DragEvent(kind, {
        bubbles: true, cancelable: true, dataTransfer: transfer,
    });
    for (const [name, type, text] of files) transfer.items.add(new File([text], name, { type }));
    const target = document.querySelector(selector);
    for (const kind of ["dragenter", "dragover"]) {
        target.dispatchEvent(event(kind));
    }
    const dragging = document.querySelector(".conversation").classList.contains("dragging");
    target.dispatchEvent(event("drop"));
    return dragging;
}"""

PASTE = """async ([base64]) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], "image.png", { type: "image/png" }));
    const input = document.querySelector("#composer-input");
    input.dispatchEvent(new ClipboardEvent("paste", {
        bubbles: true, cancelable: true, clipboardData: transfer,
    }));
}"""


def attach_three(page: Any) -> None:
    """A file by the attach button, one dropped on the thread, a screenshot pasted."""
    import base64

    with page.expect_file_chooser() as chooser:
        page.click(".composer button.attach")
    chooser.value.set_files(
        [{"name": "invoice-42.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 " * 300}]
    )
    assert page.evaluate(DROP, [".messages", [["notes.txt", "text/plain", "hello there"]]])
    page.evaluate(PASTE, [base64.b64encode(png(64, 48, b"\x10\xa0\x40")).decode()])


def test_files_are_attached_by_button_drop_and_paste_with_previews(console: Console) -> None:
    page = console.login("agent", "agent123")
    open_chat(page, "John Doe")
    attach_three(page)
    tray = page.locator(".attach-tray .tray-item")
    expect(tray).to_have_count(3)
    expect(tray.nth(0)).to_contain_text("invoice-42.pdf")
    expect(tray.nth(0)).to_contain_text("PDF · 3 KB")
    expect(tray.nth(1)).to_contain_text("notes.txt")
    expect(tray.nth(1)).to_contain_text("Text · 11 B")
    pasted = tray.nth(2)
    expect(pasted).to_contain_text(re.compile(r"pasted-[\d-]+\.png"))  # a name of its own
    expect(pasted.locator("img.tray-thumb")).to_have_attribute("src", BLOB)
    assert pasted.locator("img.tray-thumb").evaluate("(img) => img.naturalWidth") == 64
    expect(page.locator("#composer-input")).to_have_attribute("placeholder", re.compile("caption"))
    expect(page.locator(".conversation")).not_to_have_class(re.compile("dragging"))
    shot(page, "composer-tray-wide")
    page.get_by_role("button", name="Remove notes.txt").click()
    expect(tray).to_have_count(2)
    expect(page.get_by_role("button", name="Remove invoice-42.pdf")).to_be_visible()

    narrow = console.login("agent", "agent123", viewport=NARROW)
    open_chat(narrow, "John Doe")
    attach_three(narrow)
    expect(narrow.locator(".attach-tray .tray-item")).to_have_count(3)
    # One row that scrolls sideways: the thread keeps its height, the page does not widen.
    assert narrow.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    tray_box = narrow.locator(".attach-tray").bounding_box()
    assert tray_box and tray_box["height"] < 70
    shot(narrow, "composer-tray-narrow")


def test_nothing_is_attached_where_the_agent_cannot_write(console: Console, demo: Demo) -> None:
    token = demo.login("admin", "admin123")
    status, chat = demo.call(
        "POST", "/chats/", {"customer_name": "Queued Qori", "channel": "Telegram"}, token=token
    )
    assert status == 201, chat
    status, chat = demo.call("PATCH", f"/chats/{chat['id']}", {"mode": "agent"}, token=token)
    assert status == 200 and chat["queued"], chat
    page = console.login("agent", "agent123")
    page.click("#tab-queue")
    open_chat(page, "Queued Qori")
    expect(page.locator(".composer button.attach")).to_be_disabled()
    page.evaluate(DROP, [".messages", [["notes.txt", "text/plain", "hello"]]])
    expect(page.locator(".attach-tray .tray-item")).to_have_count(0)


def whatsapp_chat(demo: Demo, name: str, phone: str) -> int:
    """A WhatsApp chat an admin starts: the customer has not written, the window is closed."""
    token = demo.login("admin", "admin123")
    body = {"customer_name": name, "channel": "WhatsApp", "customer_phone": phone}
    status, chat = demo.call("POST", "/chats/", body, token=token)
    assert status == 201, chat
    return int(chat["id"])


def test_a_closed_whatsapp_window_says_so_and_offers_templates(
    console: Console, demo: Demo
) -> None:
    whatsapp_chat(demo, "Rina Wijaya", "+6281100000042")
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "John Doe")  # the customer wrote today: free text and files
    expect(page.locator(".window-note")).to_be_hidden()
    expect(page.locator("#composer-input")).to_be_enabled()
    expect(page.locator(".composer .templates-button")).to_be_visible()
    open_chat(page, "Rina Wijaya")
    note = page.locator(".window-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("24-hour window is closed")
    expect(note).to_contain_text("has not written yet")
    expect(page.locator("#composer-input")).to_be_disabled()
    expect(page.locator(".composer button.attach")).to_be_disabled()
    expect(page.locator(".composer button.send")).to_be_disabled()
    shot(page, "window-closed-wide")
    narrow = console.login("admin", "admin123", viewport=NARROW)
    narrow.click("#tab-all")
    open_chat(narrow, "Rina Wijaya")
    expect(narrow.locator(".window-note")).to_be_visible()
    assert narrow.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    shot(narrow, "window-closed-narrow")


RENDER = """async ([message]) => {
    const { renderMessage } = await import("/static/js/views/messages.js");
    const li = document.createElement("li");
    renderMessage(li, message);
    document.querySelector(".message-list").append(li);
    li.scrollIntoView();
}"""


def test_each_state_of_a_file_is_shown_as_such(console: Console) -> None:
    """Pending, failed, stored-not-inline and places as the message JSON gives them (the
    message view itself, fed the API's shapes)."""
    page = console.login("agent", "agent123")
    open_chat(page, "John Doe")
    attachments = [
        {"kind": "image", "filename": None, "content_type": None, "size": None,
         "status": "pending", "error": None, "url": None, "inline": False},
        {"kind": "voice", "filename": "voice.ogg", "content_type": "audio/ogg", "size": 2048,
         "status": "failed", "error": "the media expired at WhatsApp (404)", "url": None,
         "inline": False},
        {"kind": "document", "filename": "page.html", "content_type": "text/html",
         "size": 5_300_000, "status": "stored", "error": None,
         "url": "/chats/1/messages/1/attachments/3", "inline": False},
        {"kind": "location", "filename": "Toko Senja", "content_type": None, "size": None,
         "status": None, "error": None, "url": None, "inline": False,
         "meta": {"latitude": -6.2, "longitude": 106.8, "address": "Jl. Sudirman 1"}},
    ]  # fmt: skip
    message = {"id": 999_999, "chat_id": 1, "text": "States", "sender": "customer",
               "status": "delivered", "created_at": "2026-12-06T08:00:00+00:00",
               "internal": False, "agent_id": None, "attachments": attachments}  # fmt: skip
    page.evaluate(RENDER, [message])
    shown = page.locator("[data-message-id='999999'] .attachments > li")
    expect(shown).to_have_count(4)
    expect(shown.nth(0)).to_have_attribute("data-status", "pending")
    expect(shown.nth(0).locator("[role=status]")).to_have_text(re.compile("Photo.*fetching…"))
    expect(shown.nth(1).locator(".file-failed")).to_have_text(
        re.compile("voice.ogg.*not received: the media expired at WhatsApp \\(404\\)")
    )
    html = shown.nth(2).locator("button.download")  # an active type: a download, never inline
    expect(html).to_contain_text("page.html")
    expect(html).to_contain_text("HTML · 5.1 MB")
    expect(shown.nth(2).locator("img, iframe, audio, video")).to_have_count(0)
    expect(shown.nth(3)).to_contain_text("Location · Toko Senja, Jl. Sudirman 1 · -6.2, 106.8")
    shot(page, "states-wide")


def test_a_mails_inline_image_shows_in_place(console: Console, demo: Demo) -> None:
    from email.message import EmailMessage

    mail = EmailMessage()
    mail["From"] = "Sinta Dewi <sinta@customer.example>"
    mail["To"] = "support@support.example.com"
    mail["Subject"] = "Broken lid"
    mail.set_content("The box:\n\n(picture)\n\nand the invoice attached.")
    mail.add_alternative(
        '<p>The box:</p><p><img src="cid:box@mail.example" alt="box"></p>'
        "<p>and the invoice attached.</p>",
        subtype="html",
    )
    html = mail.get_payload()[1]
    html.add_related(png(120, 90, b"\xe0\xa0\x20"), "image", "png", cid="<box@mail.example>",
                     filename="box.png")  # fmt: skip
    mail.add_attachment(b"%PDF-1.4 invoice", maintype="application", subtype="pdf",
                        filename="invoice.pdf")  # fmt: skip
    demo.mail(mail)
    page = console.login("admin", "admin123")
    page.click("#tab-all")
    open_chat(page, "Sinta Dewi")
    message = page.locator(".msg-customer", has_text="and the invoice attached")
    placed = message.locator(".text .inline-image button.thumb img[alt='box.png']")
    expect(placed).to_have_attribute("src", BLOB)
    expect(message.locator(".text")).not_to_contain_text("[image:")
    listed = message.locator(".attachments > li")
    expect(listed).to_have_count(1)  # the invoice; the picture is in the text
    expect(listed).to_contain_text("invoice.pdf")
    shot(page, "inline-image-wide")
