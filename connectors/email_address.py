"""Which customer email addresses we can reply to: the rule the outbound relay applies.

A chat's ``customer_email`` is what a reply is sent to, so every way an address enters
(an inbound mail's From, ``POST /chats/`` by an agent) checks it with :func:`usable_address`:
the address must be a plain ``local@domain`` that the ``email`` package builds a ``To``
header from (as :func:`connectors.email.compose_reply` does) and that aiosmtplib's own
check accepts for the RCPT command (no whitespace of any kind, e.g. a non-breaking space,
no angle brackets or quotes outside a quoted local part). An address that passed here
cannot make the relay library refuse it later.
"""

from __future__ import annotations

from email.errors import MessageError
from email.headerregistry import Address

from aiosmtplib.email import parse_address

MAX_LENGTH = 254  # RFC 5321's limit on a path, and the column's


def usable_address(address: str) -> bool:
    """Whether a reply can be mailed to ``address`` (exactly as given)."""
    if not address or len(address) > MAX_LENGTH or address != address.strip():
        return False
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in address):
        return False
    try:
        spec = Address(addr_spec=address).addr_spec
        relay = parse_address(address)  # what aiosmtplib.send does with each recipient
    except (ValueError, IndexError, TypeError, MessageError):
        return False
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or spec != address or relay != address:
        return False
    # A domain we can mail: dot-separated labels, none empty (no "a@b", "a@.com", "a@b..c").
    labels = domain.split(".")
    return len(labels) >= 2 and all(labels) and not domain.startswith("[")


def address_problem(address: str) -> str | None:
    """Why ``address`` is not usable (for an API's 422), or None when it is."""
    if usable_address(address):
        return None
    return "not an email address we can reply to (expected name@domain.tld, no spaces)"
