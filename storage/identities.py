"""Who a customer is, in the forms the contact tables store (docs/api.md, "Contacts").

An *identity* is a verified key of one person on one channel, ``(channel, external_id)``,
and belongs to one contact only (a unique key of ``contact_identities``):

- Telegram: the user's id (``"Telegram", "123456789"``);
- WhatsApp: the phone number in E.164 (``"WhatsApp", "+6281234567890"``) and the
  business-scoped user id Meta states beside it or alone (``"WhatsApp", "ID.1349..."``): a
  message that states both ties them to one contact;
- Widget: the chat's key, ``<widget id>:<visitor id>`` (a signed-in user's ``u:<user id>``
  is the same on every device);
- Email: the sender's address, normalized (:func:`email`), when the sender was
  authenticated; an unauthenticated sender's address is kept apart as
  ``"unverified:<address>"`` (its own contact, never linked).

A *point* is a phone number or an e-mail address of a contact (``contact_points``, not
unique): ``verified`` when a provider stated it (a WhatsApp number, a Telegram user sharing
their own number, an authenticated sender, the address a site gave with a valid identity
hash for its signed-in user), else typed by an agent or imported. A new chat
joins the contact that holds one of its identities, else the one that holds one of its
verified points; contacts that share a point are offered for merging. Display names never
link anything.

Pure functions: the ingest plan (``storage.ingest``) and the migration that gave existing
chats their contacts (``storage.contacts_backfill``) compute the same keys.
"""

from __future__ import annotations

import re

TELEGRAM, WHATSAPP, EMAIL, WIDGET = "Telegram", "WhatsApp", "Email", "Widget"
# A widget visitor the site vouched for (an identity hash): ``<widget id>:u:<user id>``.
WIDGET_USER = ":u:"
PHONE, MAIL = "phone", "email"
UNVERIFIED = "unverified:"  # connectors.base.UNVERIFIED_PREFIX

Key = tuple[str, str]  # (channel, external id) of an identity; (kind, value) of a point

_PHONE_NOISE = re.compile(r"[\s().\-/]")
_DIGITS = re.compile(r"[1-9][0-9]{4,14}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+\.[^@\s]+$")


def e164(raw: str | None, *, international: bool = True) -> str | None:
    """``raw`` as an E.164 number (``"+6281234567890"``), or None when it is not one.

    Spaces, dots, dashes, slashes and brackets are dropped; ``+`` or ``00`` starts the
    country code. ``international``: digits alone are taken to start with it (WhatsApp and
    Telegram give numbers so); otherwise (typed, imported) a number must start with ``+`` or
    ``00``, since a national number names no one country."""
    if not raw:
        return None
    text = _PHONE_NOISE.sub("", raw.strip())
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):
        text = text[2:]
    elif not international:
        return None
    return f"+{text}" if _DIGITS.fullmatch(text) else None


def email(raw: str | None) -> str | None:
    """An e-mail address normalized: trimmed and lower-cased, ``+tags`` kept (``a+b@x`` and
    ``a@x`` are two addresses); None when it is not an address."""
    if not raw:
        return None
    text = raw.strip().lower()
    return text if len(text) <= 254 and _EMAIL.fullmatch(text) else None


def whatsapp(key: str) -> str:
    """A WhatsApp id as an identity: a phone number (digits) in E.164, a BSUID as given."""
    return f"+{key}" if key.isdigit() else key


def identities(channel: str, key: str, also: tuple[str, ...] = ()) -> list[Key]:
    """The identities a message states: its chat's key on ``channel`` first, then the other
    ids of the same person the provider gave (``also``: WhatsApp's BSUID beside a number)."""
    if channel == WHATSAPP:
        found = [(WHATSAPP, whatsapp(key))]
        found += [(WHATSAPP, whatsapp(other)) for other in also if other and other != key]
        return found
    if channel == EMAIL:
        if key.startswith(UNVERIFIED):
            return [(EMAIL, UNVERIFIED + (email(key[len(UNVERIFIED) :]) or key))]
        return [(EMAIL, email(key) or key.strip().lower())]
    return [(channel, key)]


def points(channel: str, key: str, phone: str | None, address: str | None) -> list[Key]:
    """The verified phone numbers and addresses a message states (see the module text)."""
    found: list[Key] = []
    number = e164(phone)
    if number is None and channel == WHATSAPP and key.isdigit():
        number = e164(key)
    if number is not None:
        found.append((PHONE, number))
    if channel == WIDGET and WIDGET_USER in key:  # the site vouched for its user's address
        mail = email(address)
        if mail is not None:
            found.append((MAIL, mail))
    if channel == EMAIL and not key.startswith(UNVERIFIED):
        mail = email(address or key)
        if mail is not None:
            found.append((MAIL, mail))
    return found
