"""Inbound mail, parsed: the customer's text, who wrote, which thread, and the files.

:func:`parse_mail` reads a message with the ``email`` package's modern policy
and never trusts it: any charset (unknown or wrong ones decode with
replacement), HTML-only mail becomes readable text, broken MIME is read as far
as it goes. What cannot be read at all raises :class:`MailRejected` with the
reason the SMTP server answers (550).

The chat view gets the reply without the quoted conversation at its end
(``>`` lines and the "On ... wrote:" line above them). When that trimming (or
the length cap) removed anything, the whole body is kept as an extra part
named ``full-message.txt`` whose attachment record carries
``meta = {"role": "full_body"}``.

An image the HTML body shows (``<img src="cid:...">`` naming the image part's
Content-ID) stays in place: the text is then read from the HTML, with
``[image: <name>]`` where the image was, and the part carries
``meta = {"content_id": ..., "inline": True}`` (docs/api.md says how a client
shows it).

Hostile mail must cost little: :class:`MailLimits` bounds the MIME parts (the
parser stops at the first part over the limit), the attachments, the nesting
depth and the decoded text, all checked before any pattern or the HTML parser
sees the text; over a limit the mail is refused with 552. Every pattern here
runs in linear time (tests/test_email_parse.py times the worst inputs), and the
HTML parser is never asked to finish a construct left open at the end (that is
where ``html.parser`` goes quadratic). The SMTP server runs all of this in a
pool of worker processes with a time budget (``connectors.parsing``).
"""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.errors import MessageError
from email.feedparser import BytesFeedParser
from email.message import EmailMessage, Message
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote

# What the stdlib parser is known to raise on hostile input, besides its defects
# (RecursionError: nesting deeper than the limit check could see, e.g. in a header).
PARSE_ERRORS = (MessageError, ValueError, LookupError, TypeError, AttributeError, RecursionError)

FULL_BODY_NAME = "full-message.txt"
MAX_TEXT_CHARS = 100_000
MAX_BODY_CHARS = 1_000_000
MAX_ID_CHARS = 255  # the database column of external ids
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MSGID = re.compile(r"<[^<>\s]+>")
# Linear: one ``.*`` per branch; German's name after "schrieb" follows an atomic group, so a
# line of many "schrieb" without the colon is not tried once per "schrieb" (it was quadratic:
# 52 s for one 350 KB line). Lines longer than _MAX_ATTRIBUTION_CHARS are never tried.
_ATTRIBUTION = re.compile(
    r"^(?:on\b.*\bwrote|am\b(?>.*\bschrieb\b).*|le\b.*\ba écrit|el\b.*\bescribió"
    r"|il\b.*\bscritto)\s*:\s*$",
    re.IGNORECASE | re.DOTALL,
)
_MAX_ATTRIBUTION_CHARS = 1000
# "<![" must name a keyword html.parser knows, else it raises AssertionError: show it as text.
_BAD_MARKED_SECTION = re.compile(
    r"<!\[(?!(?:if|else|endif|cdata|temp|ignore|include|rcdata)(?![-_.a-z0-9]))", re.IGNORECASE
)
_TAG = re.compile(r"<[^<>]*>")  # the fallback's tag stripper: stops at the next "<" (linear)
_FORWARD_MARKERS = ("-----original message-----", "________________________________")
# Codecs Python accepts that no mail charset means (and that are slow or odd on big input).
_NOT_CHARSETS = frozenset({"idna", "punycode", "raw-unicode-escape", "unicode-escape", "uu"})


class MailRejected(Exception):
    """The message cannot be taken; ``code`` and ``reason`` are the SMTP answer (550 ...)."""

    def __init__(self, reason: str, code: int = 550) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    def __reduce__(self) -> tuple[type[MailRejected], tuple[str, int]]:
        return MailRejected, (self.reason, self.code)  # crosses from the parsing worker


@dataclass(frozen=True, slots=True)
class MailLimits:
    """What one mail may cost: over any of these it is refused (552), nothing stored."""

    max_parts: int = 100  # MIME parts, the message itself and nested messages included
    max_attachments: int = 20
    max_depth: int = 10  # multipart and message/rfc822 levels
    max_body_chars: int = MAX_BODY_CHARS  # decoded body kept; cut before HTML or patterns see it


def _too_complex(what: str) -> MailRejected:
    return MailRejected(f"5.3.4 message too complex: {what}", code=552)


@dataclass(frozen=True, slots=True)
class MailPart:
    """A file that came with the mail (not yet in the blob store); ``mime_type`` is the
    sender's word (the connector sniffs the content)."""

    name: str
    mime_type: str
    data: bytes
    kind: str  # image, audio, video, document, file
    meta: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParsedMail:
    sender: str  # lowercased address
    name: str
    message_id: str
    subject: str
    thread_refs: tuple[str, ...]  # References, then In-Reply-To
    in_reply_to: str | None
    text: str  # for the chat view: quotes trimmed; "" when the mail had no text
    parts: tuple[MailPart, ...]
    sent_at: datetime | None = None
    automatic: str | None = None  # why no person wrote this (a bounce, an auto-reply), if so


def parse_mail(
    content: bytes, envelope_from: str | None = None, limits: MailLimits = MailLimits()
) -> ParsedMail:
    """Read one message (RFC 5322 bytes as received); raise MailRejected if it is unusable."""
    try:
        message = _parse_bounded(content, limits)
        sender, name = _sender(message, envelope_from)
        parts = list(_attachments(message))
        if len(parts) > limits.max_attachments:
            raise _too_complex(f"more than {limits.max_attachments} attachments")
        full, parts = _text_and_images(message, parts, limits.max_body_chars)
        subject = _clean_line(str(message.get("Subject") or ""))[:998]
        message_id = _message_id(message, content)
        in_reply_to = _ids(message, "In-Reply-To")
        refs = _ids(message, "References") + in_reply_to
        sent_at = _date(message)
        automatic = _automatic(message, envelope_from)
    except PARSE_ERRORS as exc:
        raise MailRejected(f"5.6.0 message could not be parsed ({type(exc).__name__})") from exc
    # Cut before trimming: no pattern ever sees more than MAX_TEXT_CHARS.
    text = trim_quoted(full[:MAX_TEXT_CHARS])
    if len(full) > MAX_TEXT_CHARS:
        text += "\n[…]"  # the rest is in the full-body part
    if text != full.strip():
        data = full.encode("utf-8")
        parts.append(MailPart(FULL_BODY_NAME, "text/plain", data, "file", {"role": "full_body"}))
    return ParsedMail(
        sender=sender,
        name=name,
        message_id=message_id,
        subject=subject,
        thread_refs=tuple(dict.fromkeys(ref for ref in refs if ref != message_id)),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        text=text,
        parts=tuple(parts),
        sent_at=sent_at,
        automatic=automatic,
    )


def _parse_bounded(content: bytes, limits: MailLimits) -> EmailMessage:
    """The message tree; the parser stops at the first part over ``max_parts`` (50,000 tiny
    parts took it 30 s), and a tree deeper than ``max_depth`` is refused before anything
    recursive (``get_body``) walks it."""
    count = 0

    def new_part(**kwargs: Any) -> EmailMessage:  # the parser passes policy=...
        nonlocal count
        count += 1
        if count > limits.max_parts:
            raise _too_complex(f"more than {limits.max_parts} MIME parts")
        return EmailMessage(**kwargs)

    parser = BytesFeedParser(_factory=new_part, policy=policy.default)
    count = 0  # the parser made one part to try the factory
    parser.feed(content)
    message = parser.close()
    assert isinstance(message, EmailMessage)
    if _depth(message) > limits.max_depth:
        raise _too_complex(f"nested more than {limits.max_depth} levels deep")
    return message


def _depth(message: Message) -> int:
    """How deep the tree goes (1: no subparts), without recursion."""
    deepest, stack = 0, [(message, 1)]
    while stack:
        part, depth = stack.pop()
        deepest = max(deepest, depth)
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((sub, depth + 1) for sub in payload if isinstance(sub, Message))
    return deepest


# -- who and which thread ----------------------------------------------------------------


def _sender(message: EmailMessage, envelope_from: str | None) -> tuple[str, str]:
    """The From address (else the envelope's), lowercased, and a name to show."""
    header = message.get("From")
    for address in getattr(header, "addresses", ()):
        addr = _clean_line(address.addr_spec).lower()
        if _plausible(addr):
            name = _clean_line(address.display_name) or addr.rpartition("@")[0]
            return addr, name[:255]
    addr = _clean_line(envelope_from or "").lower()
    if _plausible(addr):
        return addr, addr.rpartition("@")[0][:255]
    raise MailRejected("5.1.7 no usable sender address (From header or MAIL FROM)")


def _automatic(message: EmailMessage, envelope_from: str | None) -> str | None:
    """Mail no person wrote (RFC 3834): answering it could start a mail loop."""
    if envelope_from is not None and not envelope_from.strip("<> "):
        return "a bounce (null sender)"
    if message.get_content_type() == "multipart/report":
        return "a delivery or read report"
    submitted = _clean_line(str(message.get("Auto-Submitted") or "no")).lower()
    if submitted.split(";")[0].strip() != "no":
        return f"automatic mail (Auto-Submitted: {submitted[:40]})"
    return None


def _plausible(addr: str) -> bool:
    local, at, domain = addr.rpartition("@")
    return (
        bool(at and local and domain)
        and len(addr) <= 254
        and not any(c.isspace() or c in '<>()[]\\,;:"' for c in domain)
    )


def _message_id(message: EmailMessage, content: bytes) -> str:
    ids = _ids(message, "Message-ID")
    if ids:
        return ids[0]
    raw = _clean_line(str(message.get("Message-ID") or "")).replace(" ", "")
    if raw and "<" not in raw and ">" not in raw:
        return _fit(f"<{raw}>")
    # None given: derive one from what a retrying MTA sends again unchanged (not Received:).
    digest = hashlib.sha256()
    for name in ("From", "To", "Date", "Subject"):
        digest.update(str(message.get(name) or "").encode("utf-8", "surrogateescape") + b"\0")
    _, _, body = content.partition(b"\r\n\r\n")
    digest.update(body)
    return f"<{digest.hexdigest()[:40]}@msgcenter.invalid>"


def _ids(message: EmailMessage, header: str) -> list[str]:
    values = message.get_all(header) or []
    return [_fit(found) for value in values for found in _MSGID.findall(_clean(str(value)))]


def _fit(message_id: str) -> str:
    """Message-IDs longer than the column become a hash of themselves (stable, unique)."""
    if len(message_id) <= MAX_ID_CHARS:
        return message_id
    return f"<{hashlib.sha256(message_id.encode()).hexdigest()}@long-id.invalid>"


def _date(message: EmailMessage) -> datetime | None:
    when = getattr(message.get("Date"), "datetime", None)
    return when if isinstance(when, datetime) and when.tzinfo is not None else None


# -- text -------------------------------------------------------------------------------


def _text_and_images(
    message: EmailMessage, parts: list[MailPart], max_chars: int
) -> tuple[str, list[MailPart]]:
    """The body text, and the parts with the images the HTML body shows in place marked.

    An image part with a Content-ID that the HTML body shows (``<img src="cid:...">``)
    gets ``meta = {"content_id": ..., "inline": True}`` and the text is then read from
    the HTML (the plain alternative does not say where the image was), with
    ``[image: <name>]`` at the image's place; inline images' names are made unique so
    each marker names one attachment."""
    html = message.get_body(preferencelist=("html",))
    images = {
        str(part.meta["content_id"]): index
        for index, part in enumerate(parts)
        if part.kind == "image" and part.meta.get("content_id")
    }
    if html is None or not images:
        return _body_text(message, max_chars), parts
    parts = _unique_image_names(parts, images.values())
    names = {cid: parts[index].name for cid, index in images.items()}
    text, shown = html_text_with_images(part_text(html, max_chars), names)
    if not shown:
        return _body_text(message, max_chars), parts
    for cid in shown:
        index = images[cid]
        part = parts[index]
        meta = {**part.meta, "content_id": cid, "inline": True}
        parts[index] = MailPart(part.name, part.mime_type, part.data, part.kind, meta)
    return text, parts


def _unique_image_names(parts: list[MailPart], indexes: Iterable[int]) -> list[MailPart]:
    """``parts`` with the names of the parts at ``indexes`` unique among them
    (``image.png``, ``image-2.png``, ...) and without brackets (a marker ``[image: x]``
    names exactly one)."""
    parts = list(parts)
    taken: set[str] = set()
    for index in indexes:
        part = parts[index]
        name, number = part.name.replace("[", "(").replace("]", ")"), 1
        stem, dot, extension = name.rpartition(".")
        if not dot:
            stem, extension = name, ""
        while name.lower() in taken:
            number += 1
            name = f"{stem}-{number}{dot}{extension}"
        taken.add(name.lower())
        if name != part.name:
            parts[index] = MailPart(name, part.mime_type, part.data, part.kind, dict(part.meta))
    return parts


def _body_text(message: EmailMessage, max_chars: int = MAX_BODY_CHARS) -> str:
    plain = message.get_body(preferencelist=("plain",))
    if plain is not None:
        return part_text(plain, max_chars)
    html = message.get_body(preferencelist=("html",))
    if html is not None:
        return html_to_text(part_text(html, max_chars))
    if message.get_content_maintype() == "multipart" and isinstance(message.get_payload(), str):
        return part_text(message, max_chars)  # a multipart without a boundary: all there is
    return ""


def part_text(part: Message, max_chars: int = MAX_BODY_CHARS) -> str:
    """A text part decoded from its transfer encoding and charset, cut at ``max_chars``;
    never raises on bad bytes."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    # Four bytes at most per character in any mail charset (UTF-8); the cut is exact below.
    text = decode_bytes(data[: max_chars * 4], part.get_content_charset() or "us-ascii")
    text = text[:max_chars]
    text = _clean(text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROLS.sub("", text)


def decode_bytes(data: bytes, charset: str) -> str:
    """Decode by the declared charset, else UTF-8, else the best we can with replacement."""
    try:
        if codecs.lookup(charset).name in _NOT_CHARSETS:
            charset = "utf-8"
    except LookupError:  # unknown
        charset = "utf-8"
    for candidate in (charset, "utf-8"):
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeError):  # LookupError: not a text encoding ("base64")
            continue
    try:
        return data.decode(charset, errors="replace")
    except (LookupError, UnicodeError):
        return data.decode("utf-8", errors="replace")


def trim_quoted(text: str) -> str:
    """Drop the quoted conversation at the end of a reply; keep the reply (all of it if empty)."""
    lines = text.strip().split("\n")
    end = len(lines)
    for index, line in enumerate(lines[1:-1], start=1):
        if line.strip().lower() in _FORWARD_MARKERS and _is_header_line(lines[index + 1]):
            end = index  # Outlook: below the marker and its "From:" line is the earlier mail
            break
    while end > 0 and (lines[end - 1].lstrip().startswith(">") or not lines[end - 1].strip()):
        end -= 1
    if end < len(lines):
        for start in range(end - 1, max(end - 4, -1), -1):  # attributions wrap over 1-3 lines
            candidate = " ".join(line.strip() for line in lines[start:end])
            if len(candidate) <= _MAX_ATTRIBUTION_CHARS and _ATTRIBUTION.match(candidate):
                end = start
                break
    trimmed = "\n".join(lines[:end]).strip()
    return trimmed or text.strip()


def _is_header_line(line: str) -> bool:
    return line.strip().lower().startswith(("from:", "von:", "de:", "**from:**"))


class _HtmlText(HTMLParser):
    """Readable text from HTML: blocks on their own lines, links kept, quotes marked with >."""

    PARAGRAPHS = frozenset(
        {
            "address", "article", "aside", "blockquote", "div", "dl", "footer", "h1", "h2", "h3",
            "h4", "h5", "h6", "header", "hr", "ol", "p", "pre", "section", "table", "ul",
        }
    )  # fmt: skip
    LINES = frozenset({"br", "dd", "dt", "li", "tr"})
    HIDDEN = frozenset({"head", "script", "style", "title", "template"})

    def __init__(self, images: Mapping[str, str] | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.images = images or {}  # Content-ID -> the name of the image part
        self.shown: dict[str, None] = {}  # the Content-IDs of the images shown, in order
        self.lines: list[str] = []
        self.words: list[str] = []
        self.quote = 0
        self.hidden = 0
        self.pre = 0
        self.href: str | None = None
        self.link_text: list[str] = []

    def flush(self, blank: bool = False) -> None:
        """End the current line; ``blank`` also leaves an empty line (between paragraphs)."""
        line = "".join(self.words) if self.pre else " ".join("".join(self.words).split())
        self.words = []
        if line.strip():
            self.lines.append("> " * self.quote + line)
        if blank and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def block(self, tag: str) -> None:
        if tag in self.PARAGRAPHS:
            self.flush(blank=True)
        elif tag == "br" and not "".join(self.words).strip():
            self.flush(blank=True)  # <br><br>: an empty line
        elif tag in self.LINES:
            self.flush()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        self.block(tag)
        if tag == "blockquote":
            self.quote += 1
        elif tag == "pre":
            self.pre += 1
        elif tag == "li":
            self.words.append("- ")
        elif tag == "a":
            self.href, self.link_text = dict(attrs).get("href"), []
        elif tag == "img":
            found = dict(attrs)
            cid = content_id_of(found.get("src") or "")
            if cid in self.images:
                self.shown[cid] = None
                self.words.append(f"{IMAGE_MARKER_START}{self.images[cid]}]")
            elif alt := found.get("alt"):
                self.words.append(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
        if tag == "a" and self.href:
            shown = " ".join("".join(self.link_text).split())
            target = self.href.removeprefix("mailto:")
            if self.href.startswith(("http:", "https:", "mailto:")) and target != shown:
                self.words.append(f" ({target})")
            self.href = None
        if tag != "br":
            self.block(tag)
        if tag == "blockquote":
            self.quote = max(self.quote - 1, 0)
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        self.words.append(data)
        if self.href is not None:
            self.link_text.append(data)


def html_to_text(html: str) -> str:
    """Readable text from HTML, in time linear in its length.

    ``close()`` is called only when what is left is plain text: html.parser, asked to
    finish a tag or comment left open at the end, rescans the rest once per ``<`` (a
    90 KB mail of ``<a<a<a...`` took a minute). A browser drops such a construct too.
    """
    return html_text_with_images(html, {})[0]


def html_text_with_images(html: str, images: Mapping[str, str]) -> tuple[str, list[str]]:
    """:func:`html_to_text`, with ``[image: <name>]`` where the HTML shows one of
    ``images`` (Content-ID -> name); also the Content-IDs shown, in order."""
    parser = _HtmlText(images)
    try:
        parser.feed(_BAD_MARKED_SECTION.sub("&lt;![", html))
        if "<" not in parser.rawdata:
            parser.close()  # the text held back for a character reference cut at the end
    except AssertionError:  # html.parser's "should not happen" on markup it cannot read
        lines = (" ".join(line.split()) for line in unescape(_TAG.sub(" ", html)).splitlines())
        return "\n".join(line for line in lines if line), []
    parser.flush()
    return "\n".join(parser.lines).strip(), list(parser.shown)


IMAGE_MARKER_START = "[image: "


def content_id_of(url: str) -> str:
    """The Content-ID a ``cid:`` URL names (RFC 2392: URL-encoded, without the angle
    brackets); "" for any other URL."""
    url = url.strip()
    if url[:4].lower() != "cid:":
        return ""
    return _clean_line(unquote(url[4:])).strip("<>")[:255]


# -- files ------------------------------------------------------------------------------


def _attachments(message: EmailMessage) -> list[MailPart]:
    bodies = {
        id(body)
        for body in (
            message.get_body(preferencelist=("plain",)),
            message.get_body(preferencelist=("html",)),
        )
        if body is not None
    }
    parts = []
    for index, part in enumerate(_leaves(message), start=1):
        if id(part) in bodies or part.get_content_maintype() == "multipart":
            continue  # the body, or a multipart without a boundary (read as the body)
        filename = part.get_filename()
        disposition = part.get_content_disposition()
        if part.get_content_maintype() == "text" and not filename and disposition != "attachment":
            continue  # an alternative or extra text fragment, not a file
        mime_type = part.get_content_type()
        if mime_type == "message/rfc822":
            data = _forwarded_bytes(part)
            filename = filename or "forwarded.eml"
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
        meta: dict[str, object] = {}
        if content_id := _clean_line(str(part.get("Content-ID") or "")).strip("<>")[:255]:
            meta["content_id"] = content_id  # "inline" too once the HTML body shows it
        name = safe_filename(_clean(filename or ""), mime_type, index)
        parts.append(MailPart(name, mime_type, data, _kind(mime_type), meta))
    return parts


def _forwarded_bytes(part: Message) -> bytes:
    inner = part.get_payload(0)
    try:
        return inner.as_bytes() if isinstance(inner, Message) else b""
    except PARSE_ERRORS:  # a forwarded mail too broken to write out again: keep its text
        return _clean(str(part.get_payload())).encode("utf-8")


def _leaves(part: Message) -> list[Message]:
    payload = part.get_payload()
    if part.get_content_maintype() != "multipart" or not isinstance(payload, list):
        return [part]
    return [leaf for sub in payload if isinstance(sub, Message) for leaf in _leaves(sub)]


def _kind(mime_type: str) -> str:
    major = mime_type.partition("/")[0]
    return major if major in ("image", "audio", "video") else "document"


def safe_filename(name: str, mime_type: str = "", index: int = 1, limit: int = 120) -> str:
    """A name safe to create in a folder of ours: no path, no control characters, capped."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join("_" if c in '<>:"|?*' else c for c in name if unicodedata.category(c)[0] != "C")
    name = " ".join(name.split()).strip(" .")
    if not name:
        subtype = mime_type.partition("/")[2]
        extension = subtype if subtype.isalnum() and len(subtype) <= 8 else "bin"
        name = f"attachment-{index}.{extension}"
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 16:
        stem, dot, extension = name, "", ""
    while len(stem.encode("utf-8")) + len(dot + extension) > limit:
        stem = stem[:-1]
    return (stem.rstrip(" .") or "attachment") + dot + extension


def _clean(text: str) -> str:
    """Valid Unicode for the database: undecodable bytes replaced, NUL removed."""
    try:
        repaired = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # surrogates that are no escaped bytes
        repaired = text.encode("utf-8", "replace").decode("utf-8")
    return repaired.replace("\x00", "")


def _clean_line(text: str) -> str:
    return " ".join(_clean(text).split())
