"""WhatsApp Cloud API wire formats for the mock and for tests and benchmarks: webhook bodies
(customer messages, statuses), the ``X-Hub-Signature-256`` signature and Graph API errors.

Shapes follow Meta's webhook reference: ``entry[].changes[].value`` holding
``contacts[]`` (``wa_id`` and/or the business-scoped ``user_id``), ``messages[]``
(``from`` and/or ``from_user_id``) and ``statuses[]``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

WABA_ID = "102290129340398"  # placeholder business account id
PHONE_NUMBER_ID = "106540352242922"  # placeholder business phone number id
DISPLAY_PHONE = "15550783881"
ERRORS = {  # code -> (title, details) as Meta words them
    100: ("Invalid parameter", "Invalid parameter"),
    190: ("Invalid OAuth access token", "Invalid OAuth access token - Cannot parse access token"),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    131000: ("Something went wrong", "Message failed to send due to an unknown error."),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
    132000: (
        "Number of parameters does not match the expected number of params",
        "The number of parameters does not match the template.",
    ),
    132001: (
        "Template name does not exist in the translation",
        "The template does not exist in this language, or it is not approved.",
    ),
    131056: (
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from the sender phone number to the same recipient "
        "phone number in a short period of time.",
    ),
}


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` header Meta sends: HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict[str, Any]) -> bytes:
    """Compact JSON with non-ASCII escaped, as Meta sends (and signs) it."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()


def new_wamid() -> str:
    return f"wamid.HBgM{uuid.uuid4().hex.upper()}"


def phone_for(name: str) -> str:
    """A stable made-up Indonesian mobile number for a customer name (digits, no '+')."""
    digest = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    return f"62812{digest % 10**8:08d}"


def webhook_body(
    *,
    contacts: list[dict[str, Any]] | None = None,
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    phone_number_id: str = PHONE_NUMBER_ID,
) -> dict[str, Any]:
    """A whole webhook body with one ``changes[].value``."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_PHONE, "phone_number_id": phone_number_id},
    }
    if contacts is not None:
        value["contacts"] = contacts
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    change = {"value": value, "field": "messages"}
    return {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [change]}]}


def contact(name: str, phone: str | None = None, user_id: str | None = None) -> dict[str, Any]:
    """A ``contacts[]`` entry: ``wa_id`` (phone), ``user_id`` (business-scoped id), or both."""
    entry: dict[str, Any] = {"profile": {"name": name}}
    if phone is not None:
        entry["wa_id"] = phone
    if user_id is not None:
        entry["user_id"] = user_id
    return entry


def message(
    kind: str,
    content: Any,
    *,
    phone: str | None = None,
    user_id: str | None = None,
    wamid: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A ``messages[]`` entry of type ``kind`` whose ``kind`` field is ``content``."""
    entry: dict[str, Any] = {
        "id": wamid or new_wamid(),
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "type": kind,
        kind: content,
    }
    if phone is not None:
        entry["from"] = phone
    if user_id is not None:
        entry["from_user_id"] = user_id
    return entry


def customer_payload(
    name: str,
    text: str,
    *,
    phone: str | None = None,
    wamid: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """The webhook body Meta posts when customer ``name`` sends a text message."""
    if phone is None and user_id is None:
        phone = phone_for(name)
    return webhook_body(
        contacts=[contact(name, phone, user_id)],
        messages=[message("text", {"body": text}, phone=phone, user_id=user_id, wamid=wamid)],
    )


def choice_payload(
    name: str,
    reply_id: str,
    title: str,
    *,
    kind: str = "list_reply",
    phone: str | None = None,
    context_wamid: str | None = None,
    wamid: str | None = None,
) -> dict[str, Any]:
    """The webhook body Meta posts when customer ``name`` picks a row of an interactive list
    (``list_reply``) or taps a reply button (``button_reply``) of the message
    ``context_wamid``."""
    phone = phone or phone_for(name)
    entry = message("interactive", {"type": kind, kind: {"id": reply_id, "title": title}},
                    phone=phone, wamid=wamid)  # fmt: skip
    if context_wamid is not None:
        entry["context"] = {"from": DISPLAY_PHONE, "id": context_wamid}
    return webhook_body(contacts=[contact(name, phone)], messages=[entry])


def status_payload(
    wamid: str, status: str, recipient: str, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The webhook body Meta posts when a message we sent is sent/delivered/read/failed."""
    entry: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient,
    }
    if errors:
        entry["errors"] = errors
    return webhook_body(statuses=[entry])


def meta_error(code: int, message: str | None = None) -> dict[str, Any]:
    """A Graph API error body, e.g. ``{"error": {"message", "type", "code", ...}}``."""
    title, details = ERRORS.get(code, ("Mock failure", "The mock was told to fail."))
    return {
        "error": {
            "message": message or f"(#{code}) {title}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "fbtrace_id": uuid.uuid4().hex[:20],
        }
    }


# -- customer media ------------------------------------------------------------------------


def media_payload(
    name: str,
    kind: str,
    media_id: str,
    *,
    mime_type: str,
    caption: str | None = None,
    filename: str | None = None,
    sha256: str | None = None,
    phone: str | None = None,
    wamid: str | None = None,
    voice: bool = False,
) -> dict[str, Any]:
    """The webhook body Meta posts when customer ``name`` sends a file: ``kind`` is image,
    audio, video, document or sticker; the bytes stay with Meta under ``media_id``."""
    phone = phone or phone_for(name)
    content: dict[str, Any] = {"id": media_id, "mime_type": mime_type}
    if sha256 is not None:
        content["sha256"] = sha256
    if caption and kind in ("image", "video", "document"):
        content["caption"] = caption
    if filename and kind == "document":
        content["filename"] = filename
    if kind == "audio":
        content["voice"] = voice
    if kind == "sticker":
        content["animated"] = False
    return webhook_body(
        contacts=[contact(name, phone)],
        messages=[message(kind, content, phone=phone, wamid=wamid)],
    )
