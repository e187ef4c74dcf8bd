"""What a file is, by its first bytes; what it may be called; how the spool keeps it."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from handoff.domain import media
from storage.blobs import DiskBlobs, Spool, TooLarge


@pytest.mark.parametrize(
    ("head", "declared", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "application/pdf", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n....", "image/jpeg", "image/png"),
        (b"GIF89a....", None, "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/png", "image/webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None, "audio/wav"),
        (b"%PDF-1.7\n", "image/png", "application/pdf"),
        (b"OggS\x00\x02", "audio/ogg; codecs=opus", "audio/ogg"),
        (b"ID3\x04\x00", None, "audio/mpeg"),
        (b"\x00\x00\x00\x18ftypmp42", "video/mp4", "video/mp4"),
        (b"\x00\x00\x00\x18ftypM4A ", None, "audio/mp4"),
        (b"\x00\x00\x00\x14ftyp3gp4", None, "video/3gpp"),
        (b"\x1aE\xdf\xa3\x9fB\x86", None, "video/webm"),
        (b"#!AMR\n", None, "audio/amr"),
        # Containers: the declared type only where the content cannot tell.
        (
            b"PK\x03\x04\x14\x00",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (b"PK\x03\x04\x14\x00", "image/png", "application/zip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/msword", "application/msword"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "image/png", "application/octet-stream"),
        # Text: what a browser would run is told apart, whatever was declared.
        (b"\xef\xbb\xbf  <!DOCTYPE html><p>hi", "image/png", "text/html"),
        (b"<script>alert(1)</script>", "text/plain", "text/html"),
        (
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
            None,
            "image/svg+xml",
        ),
        (b"<svg onload=alert(1)>", "image/png", "image/svg+xml"),
        (b'<?xml version="1.0"?><note/>', None, "text/xml"),
        (b"name,total\nBudi,42\n", "text/csv", "text/csv"),
        (b"hello there\n", "image/jpeg", "text/plain"),
        ("halo, apa kabar? \u00e9".encode()[:-1], None, "text/plain"),  # cut mid-character
        (b"\x00\x01\x02\x03binary", "image/png", "application/octet-stream"),
        (b"", "image/png", "text/plain"),
    ],
)
def test_the_type_comes_from_the_content(head: bytes, declared: str | None, expected: str) -> None:
    assert media.sniff(head, declared) == expected


def test_only_images_audio_and_video_are_shown_inline() -> None:
    assert media.inline("image/png") and media.inline("audio/ogg") and media.inline("video/mp4")
    for mime in ("text/html", "image/svg+xml", "application/pdf", "text/plain", "text/xml"):
        assert not media.inline(mime)
    assert [media.kind_of(m) for m in ("image/webp", "image/svg+xml", "audio/ogg", "video/mp4",
                                       "application/pdf")] == [
        "image", "document", "audio", "video", "document",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "mime", "expected"),
    [
        ("invoice.pdf", "application/pdf", "invoice.pdf"),
        ("../../etc/passwd", "text/plain", "_.._etc_passwd"),
        ('a\\b:c*d?e<f>g|h"i', "text/plain", "a_b_c_d_e_f_g_h_i"),
        ("\r\nX-Header: 1", "text/plain", "_X-Header_ 1"),
        ("...", "image/png", "file.png"),
        ("", "image/jpeg", "file.jpg"),
        (None, "application/x-unknown", "file"),
        ("n" * 200 + ".jpeg", "image/jpeg", "n" * 115 + ".jpeg"),
        ("foto bukti transfer ✓.jpg", "image/jpeg", "foto bukti transfer ✓.jpg"),
    ],
)
def test_file_names_are_safe(name: str | None, mime: str, expected: str) -> None:
    assert media.safe_filename(name, mime) == expected


async def test_the_same_file_is_kept_once_by_its_hash(tmp_path: Path) -> None:
    blobs = DiskBlobs(tmp_path / "blobs")
    data = os.urandom(700_000)  # several chunks, one write off the event loop
    kept = []
    for _ in range(2):
        async with Spool(blobs.spool_dir, len(data)) as spool:
            await spool.write(data[:1000])
            await spool.write(data[1000:])
            await blobs.keep(spool)
        kept.append(spool.sha256)
    assert kept == [hashlib.sha256(data).hexdigest()] * 2
    assert spool.size == len(data) and spool.head == data[:4096]
    path = blobs.path(kept[0])
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert list(blobs.spool_dir.iterdir()) == []  # no spool left behind
    assert await blobs.size(kept[0]) == len(data)
    assert b"".join([c async for c in blobs.read(kept[0], 10, 20)]) == data[10:20]
    async with blobs.local(kept[0]) as local:
        assert local == path
    assert await blobs.size("0" * 64) is None
    with pytest.raises(ValueError, match="sha256"):
        blobs.path("../x")


async def test_a_file_past_its_limit_leaves_nothing(tmp_path: Path) -> None:
    blobs = DiskBlobs(tmp_path / "blobs")
    async with Spool(blobs.spool_dir, 10) as spool:
        await spool.write(b"12345")
        with pytest.raises(TooLarge):
            await spool.write(b"678901")
        assert spool.size == 5
    assert list(blobs.spool_dir.iterdir()) == []
    assert [p for p in blobs.root.rglob("*") if p.is_file()] == []
