"""WhatsApp Cloud API webhook bodies turned into :class:`InboundMessage` and :class:`StatusUpdate`.

Only the envelope is strict: ``entry[].changes[].value`` with ``messages[]`` and
``statuses[]`` lists of objects, every message with an id and a sender. A body
that breaks it raises :class:`PayloadError` and is refused whole, so nothing of
it is stored. Inside a message, unknown fields and unknown types never fail: a
type we do not understand is stored as a readable placeholder.

Customers are keyed on their phone number (``wa_id`` / ``from``) when Meta
sends one, else on the business-scoped user id (``user_id`` /
``from_user_id``) that Meta adds since April 2026 and sends alone for users
who hide their number behind a username.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.base import Attachment, InboundMessage, StatusUpdate

log = logging.getLogger(__name__)

CHANNEL = "WhatsApp"
STATUSES = frozenset({"sent", "delivered", "read", "failed"})
MEDIA_LABELS = {
    "image": "photo",
    "video": "video",
    "document": "document",
    "audio": "audio",
    "voice": "voice message",
    "sticker": "sticker",
}


class PayloadError(ValueError):
    """JSON that is not a Cloud API webhook body of the expected shape; the text says where."""


@dataclass(frozen=True, slots=True)
class WebhookBatch:
    """Everything one webhook POST carried, in order, each message once."""

    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()


def parse_webhook(data: Any, error_reasons: Mapping[int, str] | None = None) -> WebhookBatch:
    """Read a webhook body (parsed JSON); ``error_reasons`` rewords failed statuses by code."""
    root = _obj(data, "body")
    if root.get("object", "whatsapp_business_account") != "whatsapp_business_account":
        return WebhookBatch()  # another product's webhook on the same app: nothing for us
    messages: dict[str, InboundMessage] = {}
    statuses: list[StatusUpdate] = []
    for e, raw_entry in enumerate(_list(root.get("entry"), "entry")):
        entry = _obj(raw_entry, f"entry[{e}]")
        for c, raw_change in enumerate(_list(entry.get("changes", []), f"entry[{e}].changes")):
            where = f"entry[{e}].changes[{c}]"
            change = _obj(raw_change, where)
            if change.get("field", "messages") != "messages":
                continue  # template, account and quality updates: not ours
            value = _obj(change.get("value"), f"{where}.value")
            raw_contacts = _list(value.get("contacts", []), f"{where}.value.contacts")
            contacts = [
                _obj(item, f"{where}.value.contacts[{i}]") for i, item in enumerate(raw_contacts)
            ]
            for m, raw in enumerate(_list(value.get("messages", []), f"{where}.value.messages")):
                path = f"{where}.value.messages[{m}]"
                message = _message(_obj(raw, path), contacts, path)
                messages.setdefault(message.message_external_id, message)
            for s, raw in enumerate(_list(value.get("statuses", []), f"{where}.value.statuses")):
                status = _status(_obj(raw, f"{where}.value.statuses[{s}]"), error_reasons or {})
                if status is not None:
                    statuses.append(status)
            for error in _dicts(value.get("errors")):
                log.warning("WhatsApp webhook reports an error: %s", error)
    return WebhookBatch(tuple(messages.values()), tuple(statuses))


# -- messages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Content:
    text: str
    attachments: tuple[Attachment, ...] = ()
    reply_to: str | None = None
    payload: str | None = None  # the id of the list row or reply button chosen


def _message(raw: dict[str, Any], contacts: list[dict[str, Any]], where: str) -> InboundMessage:
    wamid = _id(raw.get("id"))
    if wamid is None:
        raise PayloadError(f"{where}.id: missing")
    phone, user_id = _id(raw.get("from")), _id(raw.get("from_user_id"))
    contact = _contact_for(contacts, phone, user_id)
    phone = phone or _id(contact.get("wa_id"))
    user_id = user_id or _id(contact.get("user_id"))
    key = phone or user_id
    if key is None:
        raise PayloadError(f"{where}: no sender (from, from_user_id or a contact)")
    profile = _part(contact, "profile")
    username = _str(profile.get("username"))
    name = _str(profile.get("name")) or username or (f"+{phone}" if phone else "WhatsApp user")
    kind = _str(raw.get("type")) or "unknown"
    content = _CONTENT.get(kind, _unsupported)(raw)
    context = _part(raw, "context")
    return InboundMessage(
        channel=CHANNEL,
        chat_external_id=key,
        message_external_id=wamid,
        text=content.text,
        customer_name=name.strip(),
        customer_phone=f"+{phone}" if phone else None,
        customer_username=username,
        customer_ids=(user_id,) if phone and user_id else (),
        attachments=content.attachments,
        reply_to_external_id=content.reply_to or _id(context.get("id")),
        sent_at=_time(raw.get("timestamp")),
        payload=content.payload,
    )


def _contact_for(
    contacts: list[dict[str, Any]], phone: str | None, user_id: str | None
) -> dict[str, Any]:
    """The ``contacts[]`` entry of a message's sender (matched by id; a lone one is theirs)."""
    for contact in contacts:
        if phone is not None and _id(contact.get("wa_id")) == phone:
            return contact
        if user_id is not None and _id(contact.get("user_id")) == user_id:
            return contact
    if len(contacts) == 1 and (phone is None or _id(contacts[0].get("wa_id")) in (None, phone)):
        return contacts[0]
    return {}


def _text(raw: dict[str, Any]) -> _Content:
    return _Content(_str(_part(raw, "text").get("body"), strip=False) or "")


def _media(raw: dict[str, Any]) -> _Content:
    kind = str(raw["type"])
    media = _part(raw, kind)
    label = "voice" if kind == "audio" and media.get("voice") is True else kind
    name = _str(media.get("filename"))
    meta: dict[str, Any] = {key: media[key] for key in ("sha256", "animated") if key in media}
    ref = _id(media.get("id"))
    # Fetched from the Graph API after the message is stored (handoff.usecases.media).
    attachment = Attachment(
        kind=label, name=name, mime_type=_str(media.get("mime_type")), ref=ref, meta=meta,
        status="pending" if ref else "failed",
        error=None if ref else "WhatsApp sent no media id for this file",
    )  # fmt: skip
    placeholder = f"[{MEDIA_LABELS[label]}{': ' + name if name else ''}]"
    return _Content(_str(media.get("caption"), strip=False) or placeholder, (attachment,))


def _location(raw: dict[str, Any]) -> _Content:
    place = _part(raw, "location")
    lat, lon = place.get("latitude"), place.get("longitude")
    name, address = _str(place.get("name")), _str(place.get("address"))
    meta = {
        key: value
        for key, value in (("latitude", lat), ("longitude", lon), ("address", address),
                           ("url", _str(place.get("url"))))
        if value is not None
    }  # fmt: skip
    where = ", ".join(part for part in (name, address) if part)
    at = f"({lat}, {lon})" if lat is not None and lon is not None else ""
    text = " ".join(part for part in ("[location]", where, at) if part)
    return _Content(text, (Attachment(kind="location", name=name, meta=meta),))


def _contacts(raw: dict[str, Any]) -> _Content:
    attachments, lines = [], []
    for card in _dicts(raw.get("contacts")):
        names = _part(card, "name")
        name = _str(names.get("formatted_name")) or " ".join(
            part for part in (_str(names.get("first_name")), _str(names.get("last_name"))) if part
        )
        phones = [_str(p.get("phone")) for p in _dicts(card.get("phones"))]
        emails = [_str(e.get("email")) for e in _dicts(card.get("emails"))]
        meta = {"phones": [p for p in phones if p], "emails": [e for e in emails if e]}
        attachments.append(Attachment(kind="contact", name=name or None, meta=meta))
        lines.append(" ".join(part for part in (name, ", ".join(meta["phones"])) if part))
    text = "[contact] " + "; ".join(line for line in lines if line) if lines else "[contact]"
    return _Content(text.strip(), tuple(attachments))


def _interactive(raw: dict[str, Any]) -> _Content:
    reply = _part(raw, "interactive")
    kind = _str(reply.get("type")) or ""
    chosen = _part(reply, kind)
    if kind in ("button_reply", "list_reply"):
        # {"type": "list_reply", "list_reply": {"id", "title", "description"?}}; the id is
        # ours (a survey's csat:<id>:<rating>), the title what the customer saw.
        chosen_id = _str(chosen.get("id"))
        text = _str(chosen.get("title")) or chosen_id or "[button reply]"
        return _Content(text, payload=chosen_id[:255] if chosen_id else None)
    if kind == "nfm_reply":  # a WhatsApp Flow's form
        return _Content(_str(chosen.get("body")) or "[form reply]")
    return _Content(f"[interactive reply{': ' + kind if kind else ''}]")


def _button(raw: dict[str, Any]) -> _Content:
    button = _part(raw, "button")
    return _Content(_str(button.get("text")) or _str(button.get("payload")) or "[button]")


def _reaction(raw: dict[str, Any]) -> _Content:
    reaction = _part(raw, "reaction")
    emoji, target = _str(reaction.get("emoji")), _id(reaction.get("message_id"))
    text = f"reacted {emoji} to a message" if emoji else "removed a reaction from a message"
    return _Content(text, reply_to=target)


def _order(raw: dict[str, Any]) -> _Content:
    order = _part(raw, "order")
    items, note = _dicts(order.get("product_items")), _str(order.get("text"))
    return _Content(f"[order: {len(items)} item(s)]" + (f" {note}" if note else ""))


def _system(raw: dict[str, Any]) -> _Content:
    return _Content(_str(_part(raw, "system").get("body")) or "[system message]")


def _unsupported(raw: dict[str, Any]) -> _Content:
    kind = _str(raw.get("type")) or "unknown"
    errors = _dicts(raw.get("errors"))
    title = _str(errors[0].get("title")) if errors else None
    what = f"{kind} message" if kind not in ("unknown", "unsupported") else "message"
    return _Content(f"[{what} not supported here yet{': ' + title if title else ''}]")


_CONTENT: dict[str, Callable[[dict[str, Any]], _Content]] = {
    "text": _text,
    **{kind: _media for kind in ("image", "video", "document", "audio", "sticker")},
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _button,
    "reaction": _reaction,
    "order": _order,
    "system": _system,
}


# -- statuses ---------------------------------------------------------------------------


def _status(raw: dict[str, Any], error_reasons: Mapping[int, str]) -> StatusUpdate | None:
    wamid, status = _id(raw.get("id")), _str(raw.get("status"))
    if wamid is None or status not in STATUSES:
        return None  # "deleted", "warning" and the like change nothing of ours
    error = _failure(_dicts(raw.get("errors")), error_reasons) if status == "failed" else None
    return StatusUpdate(CHANNEL, wamid, status, error, _time(raw.get("timestamp")))


def _failure(errors: list[dict[str, Any]], error_reasons: Mapping[int, str]) -> str:
    if not errors:
        return "WhatsApp reported the message as failed"
    error = errors[0]
    code = error.get("code") if isinstance(error.get("code"), int) else None
    if code is not None and code in error_reasons:
        return error_reasons[code]
    data = _part(error, "error_data")
    title = _str(error.get("title")) or _str(error.get("message")) or "failed"
    details = _str(data.get("details"))
    text = f"WhatsApp error {code}: {title}" if code is not None else f"WhatsApp error: {title}"
    return f"{text} ({details})" if details and details != title else text


# -- tolerant readers -------------------------------------------------------------------


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where}: expected an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise PayloadError(f"{where}: expected a list")
    return value


def _part(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _str(value: Any, *, strip: bool = True) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip() if strip else value


def _id(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _str(value)


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
