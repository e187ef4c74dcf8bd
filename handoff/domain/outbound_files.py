"""Files agents send: which types each channel can send, how large, and how a reply with
files becomes messages (WhatsApp and Telegram: one file per message; email: one mail).

Pure; no I/O. The limits are the providers' own (WhatsApp Cloud API's supported media,
Telegram's 50 MB for bots' uploads) and the email reply's budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MB = 1024 * 1024
MAX_FILES = 10  # file parts in one request
CAPTION_LIMIT = 1024  # WhatsApp and Telegram captions (UTF-16 code units on Telegram)

# WhatsApp Cloud API, supported media types and sizes (stickers are not sent by agents).
WHATSAPP_TYPES: dict[str, tuple[str, int]] = {
    "image/jpeg": ("image", 5 * MB),
    "image/png": ("image", 5 * MB),
    "audio/aac": ("audio", 16 * MB),
    "audio/amr": ("audio", 16 * MB),
    "audio/mpeg": ("audio", 16 * MB),
    "audio/mp4": ("audio", 16 * MB),
    "audio/ogg": ("audio", 16 * MB),  # Opus only, says Meta
    "video/mp4": ("video", 16 * MB),
    "video/3gpp": ("video", 16 * MB),
    "text/plain": ("document", 100 * MB),
    "application/pdf": ("document", 100 * MB),
    "application/msword": ("document", 100 * MB),
    "application/vnd.ms-excel": ("document", 100 * MB),
    "application/vnd.ms-powerpoint": ("document", 100 * MB),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
        "document", 100 * MB),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("document", 100 * MB),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (
        "document", 100 * MB),
}  # fmt: skip


class FileRefused(Exception):
    """A file the channel cannot send: ``too_large`` (413) or an unsupported type (422)."""

    def __init__(self, message: str, *, too_large: bool, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.too_large = too_large
        self.details = details


@dataclass(frozen=True, slots=True)
class FileRules:
    """What one channel accepts from agents."""

    channel: str
    # mime -> (kind the provider sends it as, largest size); None: any type, up to max_file.
    types: dict[str, tuple[str, int]] | None = None
    max_file: int = 0  # bytes, for one file (the largest of ``types`` when given)
    max_total: int | None = None  # bytes, all files of one reply together
    one_per_message: bool = True  # each file its own message (the caption on the first)
    caption_limit: int | None = CAPTION_LIMIT
    no_caption: frozenset[str] = field(default_factory=frozenset)  # kinds sent without one
    opus_only: bool = False  # Ogg audio must be Opus (WhatsApp refuses Vorbis)

    @property
    def largest(self) -> int:
        """The most bytes one file may have, whatever its type (to stop reading early)."""
        if self.types:
            return max(limit for _, limit in self.types.values())
        return self.max_file

    def limit(self, name: str, mime: str) -> int:
        """The most bytes a file of this type may have; FileRefused when it cannot be sent."""
        if self.types is None:
            return self.max_file
        found = self.types.get(mime)
        if found is None:
            accepted = ", ".join(sorted(self.types))
            raise FileRefused(
                f"{self.channel} cannot send {name!r}: its type {mime} is not one it accepts "
                f"({accepted})",
                too_large=False, file=name, content_type=mime, accepted=sorted(self.types),
            )  # fmt: skip
        return found[1]

    def check(self, name: str, mime: str, size: int) -> None:
        """FileRefused when ``size`` bytes of type ``mime`` are too many (or the type cannot
        be sent)."""
        limit = self.limit(name, mime)
        if size > limit:
            raise too_large(self.channel, name, mime, limit)

    def check_content(self, name: str, mime: str, head: bytes) -> None:
        """FileRefused when the file's first bytes show the channel cannot play it."""
        if self.opus_only and mime == "audio/ogg" and b"OpusHead" not in head[:512]:
            raise FileRefused(
                f"{self.channel} cannot send {name!r}: Ogg audio must be Opus-encoded",
                too_large=False, file=name, content_type=mime, accepted=["audio/ogg (Opus)"],
            )  # fmt: skip

    def captioned(self, mime: str) -> bool:
        """Can a file of this type carry the reply's text as its caption?"""
        kind = self.types[mime][0] if self.types and mime in self.types else ""
        return self.caption_limit is not None and kind not in self.no_caption


def too_large(channel: str, name: str, mime: str, limit: int) -> FileRefused:
    return FileRefused(
        f"{name!r} is too large for {channel}: at most {_size(limit)} for {mime}",
        too_large=True, file=name, content_type=mime, max_bytes=limit,
    )  # fmt: skip


def total_too_large(channel: str, limit: int) -> FileRefused:
    return FileRefused(
        f"the files are too large for {channel}: at most {_size(limit)} together",
        too_large=True, max_total_bytes=limit,
    )  # fmt: skip


def _size(count: int) -> str:
    return f"{count // MB} MB" if count % MB == 0 else f"{count} bytes"


RULES: dict[str, FileRules] = {
    "WhatsApp": FileRules(
        "WhatsApp",
        types=WHATSAPP_TYPES,
        max_file=100 * MB,
        no_caption=frozenset({"audio"}),
        opus_only=True,
    ),
    "Telegram": FileRules("Telegram", max_file=50 * MB),
    "Email": FileRules(
        "Email", max_file=20 * MB, max_total=20 * MB, one_per_message=False, caption_limit=None
    ),
    # The website widget: msgcenter serves the files itself (signed links, docs/api.md).
    "Widget": FileRules(
        "Widget", max_file=20 * MB, max_total=20 * MB, one_per_message=False, caption_limit=None
    ),
}


def rules_for(channel: str) -> FileRules | None:
    """The channel's rules, or None when it sends no files."""
    return RULES.get(channel)


@dataclass(frozen=True, slots=True)
class Part:
    """One message of a reply with files: its text and the indexes of its files."""

    text: str
    files: tuple[int, ...] = ()


def plan_parts(rules: FileRules, text: str, mimes: list[str]) -> list[Part]:
    """The messages a reply of ``text`` with files of types ``mimes`` becomes.

    Email: one message with every file. WhatsApp and Telegram: one message per file, the
    text as the first file's caption; a text longer than a caption may be, or a first file
    that takes none (a WhatsApp audio), goes first as a text message of its own.
    """
    if not mimes:
        return [Part(text)]
    if not rules.one_per_message:
        return [Part(text, tuple(range(len(mimes))))]
    parts = [Part("", (index,)) for index in range(len(mimes))]
    if not text:
        return parts
    fits = rules.caption_limit is not None and utf16_length(text) <= rules.caption_limit
    if fits and rules.captioned(mimes[0]):
        return [Part(text, (0,)), *parts[1:]]
    return [Part(text), *parts]


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
