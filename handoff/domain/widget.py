"""The website widget's rules (docs/api.md, "Website widget"): origins, visitor tokens,
identity hashes, file links, what a visitor sees. No I/O.

A visitor is known by a token msgcenter signs (HMAC-SHA256, a key derived from the
service's secret ``auth.jwt_secret``, as the survey links are: ``handoff.domain.csat``):
``<payload>.<mac>``, the payload the base64url of ``{"w": widget id, "v": visitor id,
"e": expiry (Unix seconds)}``. An anonymous visitor's id is ``v`` and 22 random
characters; a visitor the site vouched for (``user_id`` with a valid ``user_hash``) is
``u:<user id>``, so the same user finds the same chat on every device. A chat's external id
is ``"<widget id>:<visitor id>"``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

_TOKEN_LABEL = b"msgcenter widget visitors v1"
_FILE_LABEL = b"msgcenter widget files v1"
_MAC_BYTES = 20
MAX_TOKEN_CHARS = 512
USER_PREFIX = "u:"
# A site's user id: what a site's own ids look like (numbers, UUIDs, e-mail addresses).
USER_ID = re.compile(r"[A-Za-z0-9._@+\-:]{1,128}")
_VISITOR = re.compile(r"v[A-Za-z0-9_\-]{22}")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
POSITIONS = ("right", "left")
LANGUAGES = ("en", "id")
MAX_ORIGINS = 20
# A client's id for one message it sends (the message's external id: sent twice, stored once).
REF = re.compile(r"[A-Za-z0-9_\-]{8,64}")
# Senders as the visitor sees them.
VISITOR, AGENT, BOT, SYSTEM = "visitor", "agent", "bot", "system"
SHOWN_STATUSES = frozenset({"sent", "delivered", "read"})


class OriginError(ValueError):
    """Not an origin a widget may be allowed on."""


def origin(raw: str) -> str:
    """``raw`` as an origin, ``scheme://host[:port]`` lower-cased without a default port;
    OriginError when it is not ``http(s)`` with a host and nothing after it."""
    text = raw.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise OriginError(f"not an origin: {raw!r}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OriginError(f"not an http(s) origin: {raw!r}")
    if parts.username or parts.password or parts.path not in ("", "/"):
        raise OriginError(f"an origin has no user, path, query or fragment: {raw!r}")
    if parts.query or parts.fragment or len(text) > 255:
        raise OriginError(f"an origin has no user, path, query or fragment: {raw!r}")
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def allowed(header: str | None, origins: list[str]) -> bool:
    """Whether a request's ``Origin`` header is one of the widget's allowed origins."""
    if not header or header == "null":
        return False
    try:
        return origin(header) in origins
    except OriginError:
        return False


def color(raw: str) -> str:
    if not _COLOR.fullmatch(raw):
        raise ValueError("a colour is #rrggbb")
    return raw.lower()


def derive_key(secret: str, label: bytes = _TOKEN_LABEL) -> bytes:
    """A key for the visitors' tokens (or, with the files' label, the file links), derived
    from the service's secret (never a default)."""
    if len(secret.encode()) < 32:
        raise ValueError("the widget's tokens need a secret of at least 32 bytes")
    return hmac.new(secret.encode(), label, hashlib.sha256).digest()


def file_key(secret: str) -> bytes:
    return derive_key(secret, _FILE_LABEL)


def new_visitor_id() -> str:
    return "v" + secrets.token_urlsafe(16)[:22]


def user_visitor_id(user_id: str) -> str:
    return USER_PREFIX + user_id


def is_user(visitor_id: str) -> bool:
    return visitor_id.startswith(USER_PREFIX)


def chat_key(widget_id: int, visitor_id: str) -> str:
    """The external id of a visitor's chat."""
    return f"{widget_id}:{visitor_id}"


def split_key(key: str) -> tuple[int, str] | None:
    """(widget id, visitor id) of a chat's external id, or None."""
    widget, _, visitor = key.partition(":")
    if not (widget.isdigit() and len(widget) <= 10) or not visitor:
        return None
    return int(widget), visitor


def user_hash(identity_secret: str, user_id: str) -> str:
    """What the site's backend computes: hex HMAC-SHA256 of ``user_id`` keyed with the
    widget's identity secret (as Intercom's user hash)."""
    return hmac.new(identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def hash_valid(identity_secret: str, user_id: str, given: str) -> bool:
    expected = user_hash(identity_secret, user_id)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode()[:128])


@dataclass(frozen=True, slots=True)
class Visitor:
    widget_id: int
    visitor_id: str
    expires: int  # Unix seconds

    @property
    def chat_key(self) -> str:
        return chat_key(self.widget_id, self.visitor_id)

    @property
    def identified(self) -> bool:
        return is_user(self.visitor_id)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest()[:_MAC_BYTES])


def sign_visitor(key: bytes, visitor: Visitor) -> str:
    body = {"w": visitor.widget_id, "v": visitor.visitor_id, "e": visitor.expires}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_mac(key, payload)}"


def read_visitor(key: bytes, token: str, now: float) -> Visitor | None:
    """The visitor a token names, if msgcenter signed it and it has not expired."""
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        return None
    payload, _, mac = token.partition(".")
    if not hmac.compare_digest(_mac(key, payload).encode(), mac.encode()):
        return None
    try:
        body: Any = json.loads(_unb64(payload))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(body, dict):
        return None
    widget, visitor, expires = body.get("w"), body.get("v"), body.get("e")
    if not (isinstance(widget, int) and isinstance(visitor, str) and isinstance(expires, int)):
        return None
    if expires <= now or not valid_visitor_id(visitor):
        return None
    return Visitor(widget, visitor, expires)


def valid_visitor_id(visitor_id: str) -> bool:
    if is_user(visitor_id):
        return USER_ID.fullmatch(visitor_id[len(USER_PREFIX) :]) is not None
    return _VISITOR.fullmatch(visitor_id) is not None


def sign_file(key: bytes, chat_id: int, message_id: int, index: int, expires: int) -> str:
    """A link's token to one file of one message of one chat, until ``expires``."""
    payload = f"{chat_id}.{message_id}.{index}.{expires}"
    return f"{payload}.{_mac(key, payload)}"


def read_file(key: bytes, token: str, now: float) -> tuple[int, int, int] | None:
    """(chat id, message id, index) a file token names, if valid and not expired."""
    if len(token) > 128 or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 5 or not all(part.isdigit() and len(part) <= 12 for part in parts[:4]):
        return None
    payload = ".".join(parts[:4])
    if not hmac.compare_digest(_mac(key, payload).encode(), parts[4].encode()):
        return None
    chat_id, message_id, index, expires = (int(part) for part in parts[:4])
    if expires <= now:
        return None
    return chat_id, message_id, index


def shown(message: dict[str, Any]) -> bool:
    """Whether a visitor sees a message (the API's message shape): their own, and replies
    (an agent's, the bot's, what msgcenter tells them) once sent; never a private or
    system note, a reply still queued, failed or cancelled."""
    if message.get("internal") or message.get("note"):
        return False
    if message.get("sender") == "customer":
        return True
    return message.get("status") in SHOWN_STATUSES


def sender(message: dict[str, Any]) -> str:
    kind = str(message.get("sender"))
    return VISITOR if kind == "customer" else kind
