"""The widget's rules without I/O (handoff/domain/widget.py): origins, visitor tokens, file
links, identity hashes, what a visitor sees."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from handoff.domain import widget as rules

KEY = rules.derive_key("s" * 40)


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("https://Shop.Example", "https://shop.example"),
        ("https://shop.example:443/", "https://shop.example"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:81", "http://[::1]:81"),
    ],
)
def test_origins_are_normalised(raw: str, origin: str) -> None:
    assert rules.origin(raw) == origin


@pytest.mark.parametrize(
    "raw",
    ["shop.example", "ftp://shop.example", "https://shop.example/cart", "https://a@shop.example",
     "https://shop.example?x=1", "https://shop.example:99999", "javascript:alert(1)"],
)  # fmt: skip
def test_what_is_not_an_origin_is_refused(raw: str) -> None:
    with pytest.raises(rules.OriginError):
        rules.origin(raw)


def test_an_origin_header_is_allowed_only_when_listed() -> None:
    allowed = ["https://shop.example"]
    assert rules.allowed("https://shop.example", allowed)
    assert rules.allowed("https://SHOP.example:443", allowed)
    for header in (None, "", "null", "https://shop.example.evil", "http://shop.example"):
        assert not rules.allowed(header, allowed)


def test_a_visitor_token_holds_until_it_expires_and_cannot_be_altered() -> None:
    visitor = rules.Visitor(3, rules.new_visitor_id(), 2_000)
    token = rules.sign_visitor(KEY, visitor)
    assert rules.read_visitor(KEY, token, 1_999) == visitor
    assert rules.read_visitor(KEY, token, 2_000) is None  # expired
    assert rules.read_visitor(rules.derive_key("t" * 40), token, 1_000) is None
    payload, _, mac = token.partition(".")
    assert rules.read_visitor(KEY, payload + "." + mac[:-1] + "A", 1_000) is None
    assert rules.read_visitor(KEY, "x" * 600, 1_000) is None


def test_a_file_link_names_one_file_of_one_chat_until_it_expires() -> None:
    key = rules.file_key("s" * 40)
    token = rules.sign_file(key, 7, 42, 0, 5_000)
    assert rules.read_file(key, token, 4_000) == (7, 42, 0)
    assert rules.read_file(key, token, 5_000) is None
    assert rules.read_file(key, token.replace("7.42", "8.42", 1), 4_000) is None
    assert rules.read_file(KEY, token, 4_000) is None  # the visitors' key is another


def test_the_identity_hash_is_intercoms() -> None:
    expected = hmac.new(b"secret", b"user-42", hashlib.sha256).hexdigest()
    assert rules.user_hash("secret", "user-42") == expected
    assert rules.hash_valid("secret", "user-42", expected.upper())
    assert not rules.hash_valid("secret", "user-43", expected)


def test_a_visitor_sees_their_messages_and_replies_once_sent() -> None:
    assert rules.shown({"sender": "customer", "status": "sent", "internal": False})
    assert rules.shown({"sender": "agent", "status": "sent", "internal": False})
    assert rules.shown({"sender": "system", "status": "read", "internal": False})
    assert not rules.shown({"sender": "agent", "status": "queued", "internal": False})
    assert not rules.shown({"sender": "bot", "status": "failed", "internal": False})
    assert not rules.shown({"sender": "agent", "status": "sent", "internal": True})
    assert not rules.shown({"sender": "system", "status": "sent", "note": {"action": "x"}})
