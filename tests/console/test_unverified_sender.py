"""The console marks mail whose sender could not be authenticated (issue 16, item 6).

The demo runs with sender authentication on ([mock] sender_auth = "verify") and its DNS
pointed at a stand-in on 127.0.0.1 that knows no records: the mail of a stranger using
someone's address has no DKIM signature and no SPF pass, so it is unverified.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.mock.smtp import compose_customer_mail
from tests.console.support import (
    Console,
    Demo,
    expect,
    open_chat,
    screenshot,
    start_demo,
    stop_demo,
)
from tests.dns_standin import DnsStandIn, dns_standin

PHISH = "Your order is on hold - confirm payment at evil.example/pay"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("console-unverified")
    with dns_standin(DnsStandIn()) as zone:
        running = start_demo(
            folder / "data",
            folder / "demo.log",
            MOCK__SENDER_AUTH="verify",
            CHANNELS__EMAIL__DNS_SERVERS=f'["127.0.0.1:{zone.port}"]',
            CHANNELS__EMAIL__DNS_TIMEOUT_SECONDS="1",
        )
        try:
            yield running
        finally:
            stop_demo(running)


def test_an_unverified_sender_is_marked_on_the_message_and_in_the_panel(
    console: Console, demo: Demo
) -> None:
    demo.mail(compose_customer_mail(PHISH, "victim@bank.example", "Please confirm", subject=PHISH))
    page = console.login("admin", "admin123")
    open_chat(page, PHISH)
    mark = page.locator(".msg-customer.msg-unverified .unverified-mark")
    expect(mark).to_have_text("Unverified sender")
    title = mark.get_attribute("title") or ""
    assert "does not confirm" in title and "bank.example" in title
    panel = page.locator('dd[data-field="verified"]')
    expect(panel).to_contain_text("Unverified sender")
    expect(panel).to_contain_text("may not be from the owner of the address")
    screenshot(page, "unverified-sender")

    # A seeded chat (not email, nothing to doubt) has no mark.
    open_chat(page, "John Doe")
    expect(page.locator(".unverified-mark")).to_have_count(0)
    expect(page.locator('dd[data-field="verified"]')).to_have_count(0)
