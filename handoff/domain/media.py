"""Files: what a file really is (by its first bytes, not by what the sender declared), what
kind of attachment that makes, and which types must never be shown in a browser inline.

Pure functions; no I/O.
"""

from __future__ import annotations

import re
import unicodedata

PENDING = "pending"
STORED = "stored"
FAILED = "failed"

OCTET = "application/octet-stream"

# Signatures at offset 0 (longest first where they share a start).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"fLaC", "audio/flac"),
    (b"#!AMR", "audio/amr"),
    (b"\x1aE\xdf\xa3", "video/webm"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # old Office files
)
# ZIP containers that are documents: the declared type is believed when it is one of these.
_ZIP_TYPES = frozenset({
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/epub+zip",
})  # fmt: skip
_OLE_TYPES = frozenset({
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
})  # fmt: skip
_MP4_BRANDS_AUDIO = (b"M4A ", b"M4B ", b"M4P ")
# Types a browser would run or render as a page: served as downloads only, never inline.
ACTIVE = frozenset({
    "text/html", "application/xhtml+xml", "image/svg+xml", "text/javascript",
    "application/javascript", "application/ecmascript", "text/xml", "application/xml",
    "application/x-shockwave-flash", "application/pdf",
})  # fmt: skip
# Shown inline by the console (images, players); everything else is a download.
INLINE = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp",
    "audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac", "audio/amr", "audio/flac",
    "audio/wav", "video/mp4", "video/webm", "video/3gpp", "video/quicktime",
})  # fmt: skip


def sniff(head: bytes, declared: str | None = None) -> str:
    """The type of a file whose first bytes are ``head``: from its content; ``declared``
    (the sender's word) only where the content cannot tell (text, ZIP or OLE documents)."""
    declared = (declared or "").split(";")[0].strip().lower()
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            if mime == "application/x-ole-storage":
                return declared if declared in _OLE_TYPES else OCTET
            return mime
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(
            head[8:12], OCTET
        )
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _MP4_BRANDS_AUDIO:
            return "audio/mp4"
        if brand.startswith(b"qt"):
            return "video/quicktime"
        if brand.startswith(b"3gp"):
            return "video/3gpp"
        return "audio/mp4" if declared.startswith("audio/") else "video/mp4"
    if head.startswith(b"PK\x03\x04"):
        return declared if declared in _ZIP_TYPES else "application/zip"
    if head[:2] in (b"\xff\xf1", b"\xff\xf9"):
        return "audio/aac"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio/mpeg"
    return _text_type(head, declared)


def _text_type(head: bytes, declared: str) -> str:
    """Text: HTML, SVG, XML and scripts are told apart as a browser would (so they are never
    served inline); other text is plain; anything else is bytes."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the head
            return OCTET
        text = head[: exc.start].decode("utf-8")
    if "\x00" in text:
        return OCTET
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith(("<!doctype html", "<html", "<head", "<body", "<script", "<iframe")):
        return "text/html"
    if "<svg" in start[:1024]:
        return "image/svg+xml"
    if start.startswith("<?xml"):
        return "text/xml"
    if declared in ACTIVE or declared in ("text/csv", "text/calendar", "text/vcard"):
        return declared
    return "text/plain"


def kind_of(mime: str) -> str:
    """The attachment kind for a file of type ``mime``: image, audio, video or document."""
    major = mime.split("/", 1)[0]
    if mime in ("image/jpeg", "image/png", "image/gif", "image/webp"):
        return "image"
    if major in ("audio", "video"):
        return major
    return "document"


def inline(mime: str) -> bool:
    """May a browser show it in the page (an image, a player)? Never an active type."""
    return mime in INLINE and mime not in ACTIVE


_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]+')


def safe_filename(name: str | None, mime: str = OCTET, fallback: str = "file") -> str:
    """A file name safe to offer for saving: no path, no control characters, no quotes, at
    most 120 characters, never empty or a dot name; an extension from ``mime`` if none."""
    cleaned = unicodedata.normalize("NFC", name or "")
    cleaned = _UNSAFE.sub("_", cleaned).strip(" .")
    if not cleaned:
        cleaned = fallback + extension(mime)
    if len(cleaned) > 120:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (stem[: 119 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else cleaned[:120]
    return cleaned


_EXTENSIONS = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
    "application/pdf": ".pdf", "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a",
    "audio/aac": ".aac", "audio/amr": ".amr", "video/mp4": ".mp4", "video/webm": ".webm",
    "video/3gpp": ".3gp", "text/plain": ".txt", "application/zip": ".zip",
}  # fmt: skip


def extension(mime: str) -> str:
    return _EXTENSIONS.get(mime, "")
