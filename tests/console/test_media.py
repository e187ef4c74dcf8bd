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
    wait_for(lambda: audio.evaluate("(a) => a.readyState >= 1 && a.duration > 0.4"))
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
