"""Operations: /metrics (what it counts, who may read it) and logs without secrets or bodies."""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
from pathlib import Path

import pytest

from connectors.mock.whatsapp_payloads import customer_payload
from msgcenter.logs import Redacting, secrets_of
from msgcenter.service import build_app
from msgcenter.settings import build_settings
from tests.support import TEST_SECRET, Api, ClientFactory, make_settings
from tests.whatsapp_support import (
    ACCESS_TOKEN,
    APP_SECRET,
    WhatsApp,
    eventually,
)


def _value(text: str, name: str, **labels: str) -> float:
    """One sample of the exposition, e.g. ``_value(text, "x_total", channel="WhatsApp")``."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name and ",".join(sorted((match[2] or "").split(","))) == wanted:
            return float(match[3])
    return 0.0


async def _metrics(api: Api, **headers: str) -> tuple[int, str]:
    async with api.client.get("/metrics", headers=headers) as response:
        return response.status, await response.text()


async def test_counters_move_after_a_message_and_a_reply(wa: WhatsApp) -> None:
    status, before = await _metrics(wa.anon)
    assert status == 200
    assert _value(before, "msgcenter_messages_in_total", channel="WhatsApp") == 0
    chat_id, _ = await wa.customer_chat("Budi", "6281100001")
    await wa.mock.customer_says("Budi", "sekali lagi", phone="6281100001")
    ws = await wa.admin.client.ws_connect(f"/ws?token={wa.admin.token}")
    await wa.reply(chat_id, "Halo Budi")
    await wa.idle()
    _, after = await _metrics(wa.anon)
    assert _value(after, "msgcenter_messages_in_total", channel="WhatsApp") == 2
    assert _value(after, "msgcenter_messages_out_total", channel="WhatsApp") == 1
    assert _value(after, "msgcenter_webhook_seconds_count", channel="whatsapp", status="200") == 2
    assert _value(after, "msgcenter_ingest_seconds_count", channel="WhatsApp") == 2
    assert _value(after, "msgcenter_handoffs_total", by="person") == 1  # the agent took over
    assert _value(after, "msgcenter_websocket_connections") == 1
    assert _value(after, "msgcenter_outbox_queued") == 0
    assert _value(after, "msgcenter_event_bus_connected") == 1
    await ws.close()


async def test_made_up_webhook_urls_add_no_series(wa: WhatsApp) -> None:
    for n in range(3):
        async with wa.anon.client.post(f"/webhooks/made-up-{n}", data=b"{}") as response:
            assert response.status == 404
    _, text = await _metrics(wa.anon)
    assert "made-up" not in text
    assert _value(text, "msgcenter_webhook_seconds_count", channel="unknown", status="404") == 3


async def test_failed_sends_and_the_queue_are_counted(wa: WhatsApp) -> None:
    chat_id, _ = await wa.customer_chat("Sari", "6281100002")
    wa.mock.fail(400, count=1)
    await wa.reply(chat_id, "tidak terkirim")
    await wa.idle()
    status, _ = await wa.admin.patch(f"/chats/{chat_id}", {"assigned_agent_id": None})
    assert status == 200
    _, text = await _metrics(wa.anon)
    assert _value(text, "msgcenter_outbox_failures_total", channel="WhatsApp", kind="failed") == 1
    assert _value(text, "msgcenter_queue_length") == 1  # unassigned in agent mode: waiting


async def test_metrics_need_an_allowed_address_or_the_token(
    aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    token = "metrics-token-" + "m" * 20
    settings = make_settings(db_url, tmp_path / "data", metrics={"token": token, "allow_from": []})
    api = Api(await aiohttp_client(build_app(settings)))
    assert (await _metrics(api))[0] == 403  # loopback, but not allowed here
    assert (await _metrics(api, Authorization="Bearer wrong"))[0] == 403
    status, text = await _metrics(api, Authorization=f"Bearer {token}")
    assert status == 200 and "msgcenter_queue_length" in text


async def test_requests_through_a_proxy_never_count_as_local(anon: Api) -> None:
    assert (await _metrics(anon))[0] == 200  # the test client connects from 127.0.0.1
    assert (await _metrics(anon, **{"X-Forwarded-For": "203.0.113.9"}))[0] == 403
    assert (await _metrics(anon, Forwarded="for=203.0.113.9"))[0] == 403


async def test_metrics_can_be_turned_off(
    aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    settings = make_settings(db_url, tmp_path / "data", metrics={"enabled": False})
    api = Api(await aiohttp_client(build_app(settings)))
    # (a database round trip first: an app closed within milliseconds of starting can leave
    # the outbox's first SQLite query finishing after the test's loop closed)
    assert (await api.get("/healthz"))[0] == 200
    assert (await _metrics(api))[0] == 404


async def test_info_logs_carry_no_secrets_and_no_message_bodies(
    wa: WhatsApp, caplog: pytest.LogCaptureFixture
) -> None:
    body, reply = "my card number is 4111 1111", "please never log this reply"
    caplog.set_level(logging.INFO)
    status, _ = await wa.deliver(customer_payload("Rina", body, phone="6281100003"))
    assert status == 200
    await wa.post(b'{"object": "x"}', "sha256=" + "0" * 64)  # a forged webhook: warned about
    await wa.anon.post("/auth/login", {"identifier": "admin", "password": "wrong-password-xyz"})
    chat_id = (await wa.chat_row("Rina"))["id"]
    wa.mock.fail(500, count=1)  # a retry gets logged at info, with the provider's reason
    await wa.reply(chat_id, reply)
    await eventually(lambda: _sent(wa, reply), "the reply at the provider")
    await wa.idle()
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records if r.levelno >= logging.INFO
    )
    assert "retry" in logged and "signature" in logged  # the calls above did log
    for secret in (body, reply, "4111", APP_SECRET, ACCESS_TOKEN, TEST_SECRET, "wrong-password"):
        assert secret not in logged


async def _sent(wa: WhatsApp, text: str) -> bool:
    return any(s["request"]["text"]["body"] == text for s in wa.mock.sent)


def test_the_log_formatter_blanks_out_every_configured_secret() -> None:
    settings = build_settings(
        {
            "storage": {"url": "postgres://msg:db%2Fpass@db:5432/msgcenter"},
            "events": {"url": "redis://:redis-pass@cache:6379/0"},
            "auth": {"jwt_secret": "j" * 40},
            "channels": {"whatsapp": {"access_token": "EAAG-token", "app_secret": "app-s3cret"}},
        },
        environ={},
    )
    secrets = secrets_of(settings)
    assert {"db/pass", "db%2Fpass", "redis-pass", "j" * 40, "EAAG-token", "app-s3cret"} <= set(
        secrets
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(Redacting(logging.Formatter("%(message)s"), secrets))
    logger = logging.getLogger("msgcenter.test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("connect postgres://msg:db%%2Fpass@db failed; token %s", "EAAG-token")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "connect postgres://msg:[redacted]@db failed; token [redacted]\n"


async def test_healthz_says_the_disk_is_low_below_the_minimum_free_space(
    db_url: str, aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    free = shutil.disk_usage(tmp_path).free
    settings = make_settings(db_url, tmp_path / "data", storage={"min_free_bytes": free + 2**40})
    api = Api(await aiohttp_client(build_app(settings)))
    status, body = await api.get("/healthz")
    assert (status, body["status"], body["checks"]["disk"]) == (503, "degraded", "low")
    assert body["checks"]["database"] == "ok"


async def test_healthz_says_the_disk_is_fine_above_it(anon: Api) -> None:
    status, body = await anon.get("/healthz")
    assert (status, body["status"], body["checks"]["disk"]) == (200, "ok", "ok")


async def test_customers_files_are_counted_stored_or_failed(wa: WhatsApp) -> None:
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(2000)
    kept = wa.mock.add_media(jpeg, "image/jpeg")
    gone = wa.mock.add_media(jpeg, "image/jpeg")
    wa.mock.expire_media(gone)
    await wa.mock.customer_sends("Budi", "image", kept)
    await wa.mock.customer_sends("Budi", "image", gone)
    fetcher = wa.service.core.media
    assert fetcher is not None

    async def settled() -> bool:
        return fetcher.stored + fetcher.failed == 2

    await eventually(settled, "both files settled")
    _, text = await _metrics(wa.anon)
    assert _value(text, "msgcenter_media_files_total", channel="WhatsApp", status="stored") == 1
    assert _value(text, "msgcenter_media_files_total", channel="WhatsApp", status="failed") == 1
