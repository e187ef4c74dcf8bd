"""Sender authentication of inbound mail: real DKIM signatures, SPF and DMARC records served by a
DNS stand-in on 127.0.0.1, a trusted upstream's Authentication-Results, and DNS failures."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Iterator
from email.policy import SMTP

import dkim
import pytest

from connectors.email_auth import (
    AuthConfig,
    SenderVerifier,
    aligned,
    organizational_domain,
    parse_authentication_results,
)
from connectors.mock.smtp import compose_customer_mail
from tests.dns_standin import DnsStandIn, dead_port, dns_standin, rsa_key

CLIENT = "127.0.0.1"  # where the tests' mail comes from


@pytest.fixture(scope="module")
def key() -> tuple[bytes, str]:
    return rsa_key()


@pytest.fixture
def zone(key: tuple[bytes, str]) -> Iterator[DnsStandIn]:
    _, public = key
    records = DnsStandIn(
        txt={
            # shop.example signs its mail and publishes SPF for 127.0.0.1 and DMARC reject.
            "mail._domainkey.shop.example": [f"v=DKIM1; k=rsa; p={public}"],
            "shop.example": ["v=spf1 ip4:127.0.0.1 -all"],
            "_dmarc.shop.example": ["v=DMARC1; p=reject"],
            # bank.example: strict, and its mail never comes from 127.0.0.1.
            "bank.example": ["v=spf1 ip4:192.0.2.10 -all"],
            "_dmarc.bank.example": ["v=DMARC1; p=reject; adkim=s; aspf=s"],
            # evil.example signs with its own key (valid, but not the From domain's).
            "mail._domainkey.evil.example": [f"v=DKIM1; k=rsa; p={public}"],
            "evil.example": ["v=spf1 ip4:127.0.0.1 -all"],
        }
    )
    with dns_standin(records) as served:
        yield served


def verifier(zone_port: int, **extra: object) -> SenderVerifier:
    options: dict[str, object] = {
        "mode": "verify",
        "dns_servers": (f"127.0.0.1:{zone_port}",),
        "dns_timeout": 1.0,
        "timeout": 4.0,
        **extra,
    }
    return SenderVerifier(AuthConfig(**options))  # type: ignore[arg-type]


def mail(
    sender: str, text: str = "Where is my order?", name: str = "Rina", **headers: str
) -> bytes:
    message = compose_customer_mail(name, sender, text, subject="Order 1234")
    for header, value in headers.items():
        message[header.replace("_", "-")] = value
    return message.as_bytes(policy=SMTP)


def sign(content: bytes, domain: str, private: bytes, selector: str = "mail") -> bytes:
    signature: bytes = dkim.sign(
        content, selector.encode(), domain.encode(), private,
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )  # fmt: skip
    return signature + content


async def check(
    checker: SenderVerifier, content: bytes, sender: str, mail_from: str | None = None
) -> dict[str, str]:
    try:
        auth = await checker.check(
            content, from_address=sender, mail_from=mail_from or sender,
            helo="client.test", client_ip=CLIENT,
        )  # fmt: skip
    finally:
        checker.close()
    data = auth.as_dict()
    data["verified"] = "yes" if auth.verified else "no"
    return data


async def test_an_aligned_dkim_signature_verifies_the_sender(
    zone: DnsStandIn, key: tuple[bytes, str]
) -> None:
    content = sign(mail("rina@shop.example"), "shop.example", key[0])
    # The envelope sender is a bounce address elsewhere: only DKIM can vouch here.
    auth = await check(verifier(zone.port), content, "rina@shop.example", "bounce@lists.test")
    assert auth["verified"] == "yes"
    assert auth["result"] == "pass"
    assert auth["dkim"] == "pass"
    assert auth["dkim_domain"] == "shop.example"
    assert auth["dmarc_policy"] == "reject"
    assert ("mail._domainkey.shop.example", "TXT") in zone.queries


async def test_spf_pass_for_the_from_domain_verifies_unsigned_mail(zone: DnsStandIn) -> None:
    auth = await check(verifier(zone.port), mail("rina@shop.example"), "rina@shop.example")
    assert (auth["verified"], auth["dkim"], auth["spf"]) == ("yes", "none", "pass")
    assert auth["spf_domain"] == "shop.example"


async def test_a_forged_sender_is_not_verified(zone: DnsStandIn) -> None:
    # The phishing mail of issue 16: a bank customer's address, from a host the bank's SPF
    # does not list, unsigned.
    forged = mail("victim@bank.example", name="Your order is on hold - confirm at evil.example/pay")
    auth = await check(verifier(zone.port), forged, "victim@bank.example")
    assert auth["verified"] == "no"
    assert (auth["result"], auth["spf"], auth["dkim"]) == ("fail", "fail", "none")
    assert "not authenticated for bank.example" in auth["reason"]


async def test_a_valid_signature_of_another_domain_does_not_count(
    zone: DnsStandIn, key: tuple[bytes, str]
) -> None:
    # Signed (validly) by evil.example, SPF passing for evil.example: neither is bank.example.
    content = sign(mail("victim@bank.example"), "evil.example", key[0])
    auth = await check(verifier(zone.port), content, "victim@bank.example", "x@evil.example")
    assert auth["verified"] == "no"
    assert (auth["dkim"], auth["dkim_domain"], auth["spf"]) == ("pass", "evil.example", "pass")


async def test_a_changed_body_breaks_the_signature(
    zone: DnsStandIn, key: tuple[bytes, str]
) -> None:
    content = sign(mail("rina@shop.example", "Pay to account 111"), "shop.example", key[0])
    tampered = content.replace(b"Pay to account 111", b"Pay to account 999")
    auth = await check(verifier(zone.port), tampered, "rina@shop.example", "rina@elsewhere.test")
    assert (auth["verified"], auth["dkim"]) == ("no", "fail")


async def test_relaxed_alignment_takes_the_organizational_domain_strict_does_not(
    zone: DnsStandIn, key: tuple[bytes, str]
) -> None:
    zone.txt["mail._domainkey.news.shop.example"] = zone.txt["mail._domainkey.shop.example"]
    # Signed by the parent domain, sent from a subdomain: relaxed (shop.example's default).
    content = sign(mail("offers@news.shop.example"), "shop.example", key[0])
    auth = await check(verifier(zone.port), content, "offers@news.shop.example", "a@b.test")
    assert auth["verified"] == "yes"
    # bank.example asks for strict alignment: a subdomain's signature is not enough.
    zone.txt["mail._domainkey.mail.bank.example"] = zone.txt["mail._domainkey.shop.example"]
    content = sign(mail("news@bank.example"), "mail.bank.example", key[0])
    auth = await check(verifier(zone.port), content, "news@bank.example", "a@b.test")
    assert (auth["verified"], auth["dkim"]) == ("no", "pass")


def test_alignment_uses_the_public_suffix_list() -> None:
    assert organizational_domain("mail.shop.co.uk") == "shop.co.uk"
    assert aligned("shop.co.uk", "news.shop.co.uk")
    assert not aligned("other.co.uk", "shop.co.uk")  # co.uk is a public suffix
    assert not aligned("shop.co.uk", "news.shop.co.uk", strict=True)


async def test_a_dns_failure_is_a_temperror_not_a_crash(
    zone: DnsStandIn, key: tuple[bytes, str]
) -> None:
    zone.servfail.add("mail._domainkey.shop.example")
    zone.servfail.add("shop.example")
    content = sign(mail("rina@shop.example"), "shop.example", key[0])
    auth = await check(verifier(zone.port), content, "rina@shop.example")
    assert (auth["verified"], auth["result"]) == ("no", "temperror")
    assert (auth["dkim"], auth["spf"]) == ("temperror", "temperror")


async def test_a_silent_dns_server_cannot_hold_the_mail_past_the_deadline(
    key: tuple[bytes, str],
) -> None:
    content = sign(mail("rina@shop.example"), "shop.example", key[0])
    checker = verifier(dead_port(), dns_timeout=0.3, timeout=1.5)
    started = time.monotonic()
    auth = await check(checker, content, "rina@shop.example")
    assert (auth["verified"], auth["result"]) == ("no", "temperror")
    assert time.monotonic() - started < 2.5


async def test_checks_run_off_the_event_loop(zone: DnsStandIn, key: tuple[bytes, str]) -> None:
    zone.silent.add("mail._domainkey.shop.example")  # this check waits on DNS ...
    content = sign(mail("rina@shop.example"), "shop.example", key[0])
    checker = verifier(zone.port, dns_timeout=0.8, timeout=3.0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await check(checker, content, "rina@shop.example")
    finally:
        task.cancel()
    assert ticks >= 10  # ... while the loop went on


async def test_off_checks_nothing_and_counts_every_sender_as_verified() -> None:
    checker = SenderVerifier(AuthConfig(mode="off"))
    auth = await check(checker, mail("victim@bank.example"), "victim@bank.example")
    assert (auth["verified"], auth["result"]) == ("yes", "off")


# -- trust_upstream --------------------------------------------------------------------------


def upstream(**extra: object) -> SenderVerifier:
    options: dict[str, object] = {"mode": "trust_upstream", "authserv_id": "mx.shop-host.test"}
    return SenderVerifier(AuthConfig(**{**options, **extra}))  # type: ignore[arg-type]


def with_results(content: bytes, *values: str) -> bytes:
    return b"".join(f"Authentication-Results: {v}\r\n".encode() for v in values) + content


async def test_the_upstreams_dmarc_pass_verifies_the_sender() -> None:
    content = with_results(
        mail("rina@shop.example"),
        "mx.shop-host.test; dkim=pass (2048-bit key) header.d=shop.example header.s=mail;"
        " spf=pass smtp.mailfrom=shop.example; dmarc=pass (p=reject) header.from=shop.example",
    )
    auth = await check(upstream(), content, "rina@shop.example")
    assert (auth["verified"], auth["method"], auth["dkim"]) == ("yes", "upstream", "pass")


async def test_only_the_topmost_header_of_the_upstream_counts() -> None:
    # The sender wrote a passing header with the upstream's id below the upstream's own.
    content = with_results(
        mail("victim@bank.example"),
        "mx.shop-host.test; spf=fail smtp.mailfrom=bank.example; dkim=none; dmarc=fail"
        " header.from=bank.example",
        "mx.shop-host.test; dmarc=pass header.from=bank.example",
    )
    auth = await check(upstream(), content, "victim@bank.example")
    assert (auth["verified"], auth["spf"]) == ("no", "fail")


async def test_results_of_another_server_or_from_elsewhere_do_not_count() -> None:
    content = with_results(
        mail("victim@bank.example"), "mx.evil.example; dmarc=pass header.from=bank.example"
    )
    auth = await check(upstream(), content, "victim@bank.example")
    assert auth["verified"] == "no"
    assert "no Authentication-Results from mx.shop-host.test" in auth["reason"]
    # A good header, but the mail did not come through the upstream's network.
    content = with_results(mail("rina@shop.example"), "mx.shop-host.test; dmarc=pass"
                           " header.from=shop.example")  # fmt: skip
    elsewhere = upstream(upstream_networks=(ipaddress.ip_network("192.0.2.0/24"),))
    auth = await check(elsewhere, content, "rina@shop.example")
    assert auth["verified"] == "no"
    assert "not received through the trusted upstream" in auth["reason"]


async def test_an_upstream_temperror_is_not_verified() -> None:
    content = with_results(
        mail("rina@shop.example"), "mx.shop-host.test; dkim=temperror header.d=shop.example"
    )
    auth = await check(upstream(), content, "rina@shop.example")
    assert (auth["verified"], auth["result"]) == ("no", "temperror")


def test_authentication_results_are_read_with_comments_and_quotes() -> None:
    server, results = parse_authentication_results(
        "mx.Shop-Host.test 1; (a comment; with a semicolon) dkim=pass (good (nested)) "
        'header.d=shop.example header.b="ab;cd"; spf=softfail smtp.mailfrom=x@y.example'
    )
    assert server == "mx.shop-host.test"
    assert [(r.method, r.result) for r in results] == [("dkim", "pass"), ("spf", "softfail")]
    assert results[0].props == {"header.d": "shop.example", "header.b": "ab;cd"}
    assert results[1].props["smtp.mailfrom"] == "x@y.example"


async def test_a_mail_with_two_from_fields_is_not_verified(
    zone: DnsStandIn, key: tuple[bytes, str]
) -> None:
    # A validly signed mail of shop.example with a second From put on top.
    content = b"From: Bank <alerts@bank.example>\r\n" + sign(
        mail("rina@shop.example"), "shop.example", key[0]
    )
    for checker in (verifier(zone.port), upstream()):
        auth = await check(checker, content, "alerts@bank.example")
        assert (auth["verified"], auth["reason"]) == ("no", "several From header fields")
