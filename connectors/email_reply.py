"""Email replies, composed: the mail one outbound message becomes.

``compose_reply`` writes a ``multipart/alternative`` mail: the text as text/plain and a
simple HTML made from it (escaped; blank lines as paragraphs, line breaks as ``<br>``,
http(s) links clickable), UTF-8 both; the agent's signature under "-- " in both; the
files as attachments (then ``multipart/mixed``) with safe names, RFC 2231-encoded. From
names the agent beside the channel's display name; To, Subject, In-Reply-To and
References thread it. No header value can smuggle in another header.
"""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from connectors.base import UNVERIFIED_PREFIX, DeliveryError, OutboundFile, OutboundMessage
from connectors.email_address import usable_address
from connectors.email_parse import safe_filename

_MSGID = re.compile(r"<[^<>\s]+>")
UNVERIFIED_SUBJECT = "Re: your message"
# Linear: one \s* run before the colon (two adjacent \s* around an optional part backtrack).
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|antw)\s*(?:\[\d+\]\s*)?:", re.IGNORECASE)


def compose_reply(
    message: OutboundMessage, *, address: str, display_name: str
) -> tuple[EmailMessage, str]:
    """The mail for one reply, and its recipient. Header values cannot smuggle in headers.
    Reads ``message.files`` from disk: call it in a thread when there are any."""
    recipient = (message.customer_email or message.chat_external_id).strip()
    if not usable_address(recipient):  # the rule every entry point checked (email_address)
        raise DeliveryError(
            f"not a usable email address: {recipient!r}", retryable=False, code="bad_address"
        )
    # A chat of an unverified sender (handoff.usecases.ingest): its display name and subject
    # are whatever a stranger wrote (a phishing line), so a reply to that address repeats neither.
    unverified = message.chat_external_id.startswith(UNVERIFIED_PREFIX)
    name = "" if unverified else header_text(message.customer_name)
    try:
        to = Address(display_name=name, addr_spec=recipient)
        sender = Address(display_name=from_name(message, display_name), addr_spec=address)
    except (ValueError, IndexError, MessageError) as exc:
        raise DeliveryError(
            f"not a usable email address: {recipient!r}", retryable=False, code="bad_address"
        ) from exc
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = UNVERIFIED_SUBJECT if unverified else reply_subject(message.subject)
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = make_msgid(domain=address.rpartition("@")[2])
    references = [ref for ref in message.thread_external_ids if _MSGID.fullmatch(ref)]
    reply_to = message.reply_to_external_id
    if reply_to and _MSGID.fullmatch(reply_to):
        mail["In-Reply-To"] = reply_to
        if reply_to not in references:
            references.append(reply_to)
    if references:
        mail["References"] = " ".join(references[-20:])
    text = message.text.replace("\r\n", "\n").replace("\r", "\n")
    if choices := choice_links(message):  # a survey's five links, one a line
        text = f"{text}\n\n" + "\n".join(f"{title}: {url}" for title, url in choices)
    signature = (message.signature or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    plain = "\n\n".join(
        part for part in (text, signature and SIGNATURE_SEPARATOR + signature) if part
    )
    mail.set_content(plain, charset="utf-8", cte=_cte(plain))
    page = html_body(text, signature)
    mail.add_alternative(page, subtype="html", charset="utf-8", cte=_cte(page))
    for file in message.files:
        _attach(mail, file)
    return mail, recipient


def choice_links(message: OutboundMessage) -> list[tuple[str, str]]:
    """The choices offered with the message that carry a link (a survey's signed links), as
    (title, http(s) URL); a choice without one cannot be made by mail and is left out."""
    links = []
    for option in (message.interactive or {}).get("options") or []:
        if not isinstance(option, dict):
            continue
        title, url = header_text(str(option.get("title") or "")), str(option.get("url") or "")
        if title and url.startswith(("https://", "http://")) and not any(c.isspace() for c in url):
            links.append((title, url))
    return links


SIGNATURE_SEPARATOR = "-- \n"  # the signature delimiter mail clients recognise (RFC 3676)


def from_name(message: OutboundMessage, display_name: str) -> str:
    """The From display name: "Ann (Acme Support)" for an agent's reply, the channel's
    ``display_name`` for the bot's and msgcenter's."""
    team = header_text(display_name)
    agent = header_text(message.agent_name or "", 120)
    if not agent:
        return team
    return f"{agent} ({team})" if team else agent


def _cte(text: str) -> str | None:
    return None if text.isascii() else "quoted-printable"


def _attach(mail: EmailMessage, file: OutboundFile) -> None:
    """One file as a MIME part: its type, a safe name (RFC 2231 encoded when not ASCII)."""
    maintype, _, subtype = file.mime_type.partition("/")
    if not (_TOKEN.fullmatch(maintype) and _TOKEN.fullmatch(subtype)):
        maintype, subtype = "application", "octet-stream"
    name = safe_filename(file.name, file.mime_type)
    data = Path(file.path).read_bytes()
    mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)


_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
# A link in an agent's text: http(s) up to a space or a character no URL has unescaped;
# the punctuation that ends a sentence is not part of it.
_LINK = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


def html_body(text: str, signature: str = "") -> str:
    """The HTML alternative of a reply: the text escaped, blank lines as paragraphs, line
    breaks as ``<br>``, http(s) links clickable; the signature under "-- "."""
    blocks = [block for block in re.split(r"\n[ \t]*\n", text.strip("\n")) if block.strip()]
    body = "".join(f"<p>{_html_lines(block)}</p>\n" for block in blocks)
    if signature:
        body += f'<p class="signature">-- <br>\n{_html_lines(signature)}</p>\n'
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        f'<body style="font-family: sans-serif; line-height: 1.4">\n{body}</body></html>\n'
    )


def _html_lines(block: str) -> str:
    return "<br>\n".join(_html_links(line) for line in block.split("\n"))


def _html_links(line: str) -> str:
    """``line`` escaped, its http(s) links as anchors (the address escaped as an attribute)."""
    out, last = [], 0
    for found in _LINK.finditer(line):
        url = found.group().rstrip(_TRAILING)
        if "://" not in url or url.endswith("://"):
            continue
        start, end = found.start(), found.start() + len(url)
        out.append(html.escape(line[last:start], quote=False))
        shown = html.escape(url, quote=False)
        out.append(
            f'<a href="{html.escape(url, quote=True)}" rel="noopener noreferrer">{shown}</a>'
        )
        last = end
    out.append(html.escape(line[last:], quote=False))
    return "".join(out)


def reply_subject(subject: str | None) -> str:
    """ "Re: <subject>", without stacking a second "Re:"."""
    clean = header_text(subject or "", 900) or "(no subject)"
    return clean if _REPLY_PREFIX.match(clean) else f"Re: {clean}"


def header_text(value: str, limit: int = 200) -> str:
    """One line of header text: control characters (CR, LF, ...) become spaces; capped."""
    flat = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in value)
    return " ".join(flat.split())[:limit]
