"""An outgoing webhook's endpoint that keeps failing is disabled, and the admins' bell says
so, in English and in Indonesian. The demo runs with private destinations allowed and a
disabling time of about a second; the endpoint is a closed port on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.console.support import (
    NARROW,
    WIDE,
    Console,
    Demo,
    expect,
    free_port,
    start_demo,
    stop_demo,
    wait_for,
)
from tests.console.test_media import shot


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("console-webhooks")
    running = start_demo(
        folder / "data",
        folder / "demo.log",
        INTEGRATIONS__ALLOW_PRIVATE_DESTINATIONS="true",
        INTEGRATIONS__DISABLE_AFTER_HOURS="0.0003",  # about a second
    )
    yield running
    stop_demo(running)


def test_a_disabled_endpoint_reaches_the_admins_bell(console: Console, demo: Demo) -> None:
    token = demo.login("admin", "admin123")
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    body = {"url": url, "secret": "whsec-console-0123456789", "events": ["message.created"]}
    status, endpoint = demo.call("POST", "/integrations/webhooks", body, token=token)
    assert status == 201, endpoint
    page = console.login("admin", "admin123", WIDE)
    demo.simulate("whatsapp", "Webhook Tester", "Hello there")

    def disabled() -> bool:
        found = demo.call("GET", f"/integrations/webhooks/{endpoint['id']}", token=token)[1]
        return found["active"] is False

    wait_for(disabled, timeout=30.0)
    bell = page.locator("#bell")
    expect(bell.locator(".bell-count")).to_have_text("1")
    bell.click()
    item = page.locator('.bell-item[data-kind="webhook_disabled"]')
    expect(item).to_contain_text(f"Webhook {url} was disabled: its deliveries kept failing")
    shot(page, "webhook-disabled-wide")

    phone = console.login("admin", "admin123", NARROW)
    phone.select_option("#lang-switch", "id")
    phone.locator("#bell").click()
    item = phone.locator('.bell-item[data-kind="webhook_disabled"]')
    expect(item).to_contain_text(f"Webhook {url} dinonaktifkan: pengirimannya terus gagal")
    shot(phone, "webhook-disabled-narrow")
    item.click()  # no chat to open: it is marked read
    expect(phone.locator("#bell .bell-count")).to_be_hidden()
