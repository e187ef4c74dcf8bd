"""Agents send files: ``POST /chats/messages`` as multipart/form-data, through the outbox to
the mock Graph API, the mock Bot API and the mock SMTP relay, over real sockets.

What reaches a mock is checked by the sha256 of the bytes it received; the limits by what is
left behind when a request is refused (no message row, no blob, no spool).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
from moto.server import ThreadedMotoServer

from connectors.base import DeliveryError, OutboundFile, OutboundMessage
from connectors.mock.smtp import MockSmtp
from connectors.mock.telegram import MockTelegram
from connectors.mock.whatsapp import MockWhatsApp
from connectors.telegram import TelegramConfig, TelegramConnector
from connectors.whatsapp import WhatsAppConfig, WhatsAppConnector
from handoff.domain.outbound_files import MB, Part, plan_parts, rules_for
from handoff.usecases.delivery import RetryPolicy
from msgcenter import demo
from msgcenter.service import SERVICE, Service, build_app
from storage.models import Message
from tests.fakes import QUIET_BOT
from tests.support import Api, ClientFactory, make_settings
from tests.whatsapp_support import (
    ACCESS_TOKEN,
    APP_SECRET,
    WhatsApp,
    eventually,
    start_whatsapp,
)

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PNG = b"\x89PNG\r\n\x1a\n"
PDF = b"%PDF-1.7\n"
GIF = b"GIF89a"
OGG = b"OggS\x00\x02" + b"\x00" * 20 + b"OpusHead"
MP3 = b"ID3\x04\x00"
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00"


def content(magic: bytes, size: int) -> bytes:
    """A file of ``size`` bytes that starts as its type does (the rest random)."""
    return magic + os.urandom(size - len(magic))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def form(chat_id: int | None, *files: tuple[str, bytes, str], text: str | None = None) -> Any:
    """A multipart body: chat_id, text, then the files (name, bytes, declared type)."""
    data = aiohttp.FormData(default_to_multipart=True)
    if chat_id is not None:
        data.add_field("chat_id", str(chat_id))
    if text is not None:
        data.add_field("text", text)
    for name, body, declared in files:
        # (a BytesIO: aiohttp warns of a large body given as bytes)
        data.add_field("file", io.BytesIO(body), filename=name, content_type=declared)
    return data


async def send(api: Api, data: Any) -> tuple[int, Any]:
    return await api.call("POST", "/chats/messages", data=data)


def kept_files(service: Service) -> list[Path]:
    """Every file under the blob store's folder (kept blobs and leftover spools)."""
    blobs = service.core.blobs
    assert blobs is not None
    root = blobs.spool_dir.parent
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


async def refused_leaves_nothing(api: Api, data: Any, status: int, code: str) -> dict[str, Any]:
    """Post ``data``: answered ``status``/``code``, and no message, blob or spool remains."""
    before = await Message.all().count()
    answer, body = await send(api, data)
    assert (answer, body["error"]["code"]) == (status, code), body
    assert await Message.all().count() == before
    assert kept_files(api.service) == []
    error: dict[str, Any] = body["error"]
    return error


# -- WhatsApp -------------------------------------------------------------------------------


async def test_whatsapp_files_are_uploaded_and_sent_one_message_each_caption_on_the_first(
    wa: WhatsApp, mock: MockWhatsApp
) -> None:
    chat_id, _ = await wa.customer_chat("Ayu", "628500001")
    photo = content(JPEG, 2 * MB)  # larger than the server's client_max_size (1 MB)
    invoice = content(PDF, 300_000)
    status, body = await send(
        wa.admin,
        form(chat_id, ("photo.jpg", photo, "image/jpeg"), ("INV-42.pdf", invoice,
             "application/octet-stream"), text="Here is your invoice"),
    )  # fmt: skip
    assert status == 201, body
    first, second = body["messages"]
    assert body["id"] == first["id"] and first["text"] == "Here is your invoice"
    assert second["text"] == ""
    [image] = first["attachments"]
    assert image | {"url": None} == {
        "kind": "image", "filename": "photo.jpg", "content_type": "image/jpeg",
        "size": len(photo), "status": "stored", "error": None, "url": None, "inline": True,
    }  # fmt: skip
    assert image["url"] == f"/chats/{chat_id}/messages/{first['id']}/attachments/0"
    [document] = second["attachments"]
    assert (document["content_type"], document["filename"]) == ("application/pdf", "INV-42.pdf")
    blobs = wa.service.core.blobs
    assert blobs is not None and await blobs.size(sha(photo)) == len(photo)
    async with wa.admin.client.get(image["url"], headers=wa.admin.headers()) as download:
        assert download.status == 200
        assert await download.read() == photo  # what the agent sent is what is kept

    async def both_sent() -> bool:
        return all([await wa.has_status(chat_id, m["id"], "sent", "delivered", "read")
                    for m in (first, second)])  # fmt: skip

    await eventually(both_sent, "both file messages sent")
    sends = [s for s in mock.sent if "media" in s]
    assert [s["request"]["type"] for s in sends] == ["image", "document"]
    assert sends[0]["request"]["image"]["caption"] == "Here is your invoice"
    assert sends[0]["media"]["sha256"] == sha(photo)
    assert sends[0]["media"]["type"] == "image/jpeg"
    assert "caption" not in sends[1]["request"]["document"]
    assert sends[1]["request"]["document"]["filename"] == "INV-42.pdf"
    assert sends[1]["media"]["sha256"] == sha(invoice)
    assert len(mock.uploads) == 2  # each file uploaded once


async def test_whatsapp_audio_takes_no_caption_so_the_text_goes_first(
    wa: WhatsApp, mock: MockWhatsApp
) -> None:
    chat_id, _ = await wa.customer_chat("Budi", "628500002")
    voice = content(OGG, 40_000)
    status, body = await send(
        wa.admin, form(chat_id, ("note.ogg", voice, "audio/ogg"), text="Listen to this")
    )
    assert status == 201, body
    text, audio = body["messages"]
    assert (text["text"], text["attachments"]) == ("Listen to this", [])
    assert audio["attachments"][0]["content_type"] == "audio/ogg"

    async def sent() -> bool:
        return await wa.has_status(chat_id, audio["id"], "sent", "delivered", "read")

    await eventually(sent, "the audio sent")
    bodies = [s["request"] for s in mock.sent]
    assert [b["type"] for b in bodies] == ["text", "audio"]
    assert bodies[0]["text"]["body"] == "Listen to this"
    assert bodies[1]["audio"].keys() == {"id"}


async def test_whatsapp_limits_and_types_are_checked_before_anything_is_stored(
    wa: WhatsApp,
) -> None:
    chat_id, _ = await wa.customer_chat("Citra", "628500003")
    big = content(JPEG, 5 * MB + 1)
    error = await refused_leaves_nothing(
        wa.admin, form(chat_id, ("big.jpg", big, "image/jpeg")), 413, "file_too_large"
    )
    assert "big.jpg" in error["message"] and "5 MB" in error["message"]
    assert error["details"]["max_bytes"] == 5 * MB
    error = await refused_leaves_nothing(
        wa.admin, form(chat_id, ("cat.gif", content(GIF, 10_000), "image/gif")),
        422, "unsupported_file_type",
    )  # fmt: skip
    assert "cat.gif" in error["message"] and error["details"]["content_type"] == "image/gif"
    # The declared type is not believed: this "JPEG" is a web page.
    page = b"<!doctype html><script>alert(1)</script>" + b" " * 5000
    error = await refused_leaves_nothing(
        wa.admin, form(chat_id, ("fake.jpg", page, "image/jpeg")), 422, "unsupported_file_type"
    )
    assert error["details"]["content_type"] == "text/html"
    # A good file after a refused one in the same request: nothing of it is kept either.
    await refused_leaves_nothing(
        wa.admin,
        form(chat_id, ("ok.pdf", content(PDF, 1000), "application/pdf"),
             ("cat.gif", content(GIF, 100), "image/gif")),
        422, "unsupported_file_type",
    )  # fmt: skip
    vorbis = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01vorbis" + b"\x00" * 100
    error = await refused_leaves_nothing(
        wa.admin, form(chat_id, ("song.ogg", vorbis, "audio/ogg")), 422, "unsupported_file_type"
    )
    assert "Opus" in error["message"]
    eleven = [(f"f{i}.pdf", content(PDF, 100), "application/pdf") for i in range(11)]
    await refused_leaves_nothing(wa.admin, form(chat_id, *eleven), 422, "too_many_files")


async def test_whatsapp_outside_the_window_a_file_is_refused_like_text(
    wa: WhatsApp,
) -> None:
    status, chat = await wa.admin.post(
        "/chats/", {"channel": "WhatsApp", "customer_name": "Dewi", "customer_phone": "628500004"}
    )
    assert status == 201, chat
    error = await refused_leaves_nothing(
        wa.admin, form(chat["id"], ("a.pdf", content(PDF, 1000), "application/pdf")),
        409, "channel_refused",
    )  # fmt: skip
    assert "24 hours" in error["message"]


async def test_an_agent_cannot_send_files_to_a_chat_that_is_not_theirs(wa: WhatsApp) -> None:
    chat_id, _ = await wa.customer_chat("Eka", "628500005")
    agent = await wa.anon.login("agent", "agent123")
    await refused_leaves_nothing(
        agent, form(chat_id, ("a.pdf", content(PDF, 1000), "application/pdf")), 404, "not_found"
    )


async def test_malformed_or_incomplete_forms_are_refused(wa: WhatsApp) -> None:
    chat_id, _ = await wa.customer_chat("Fajar", "628500006")
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    for garbage in (b"not a form at all", b"--xyz\r\nContent-Disposition: form-data\r\n"):
        before = await Message.all().count()
        status, body = await wa.admin.call("POST", "/chats/messages", data=garbage, headers=headers)
        assert (status, body["error"]["code"]) == (400, "malformed_multipart"), body
        assert await Message.all().count() == before
    status, body = await wa.admin.call(
        "POST", "/chats/messages", data=b"x", headers={"Content-Type": "multipart/form-data"}
    )
    assert (status, body["error"]["code"]) == (400, "malformed_multipart"), body
    # chat_id after the file: the file cannot be checked against the channel's rules.
    late = aiohttp.FormData()
    late.add_field("file", io.BytesIO(content(PDF, 100)), filename="a.pdf")
    late.add_field("chat_id", str(chat_id))
    error = await refused_leaves_nothing(wa.admin, late, 422, "validation_error")
    assert "before the file" in error["message"]
    await refused_leaves_nothing(wa.admin, form(chat_id), 422, "validation_error")
    await refused_leaves_nothing(
        wa.admin, form(chat_id, ("empty.pdf", b"", "application/pdf")), 422, "validation_error"
    )
    odd = form(chat_id, ("a.pdf", content(PDF, 100), "application/pdf"))
    odd.add_field("colour", "blue")
    await refused_leaves_nothing(wa.admin, odd, 422, "validation_error")
    # Only text: an ordinary reply.
    status, body = await send(wa.admin, form(chat_id, text="Just words"))
    assert status == 201 and body["text"] == "Just words" and "messages" not in body


async def test_a_queued_file_survives_a_restart_and_is_delivered_once(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> None:
    first = await start_whatsapp(mock, aiohttp_client, db_url, tmp_path)
    chat_id, _ = await first.customer_chat("Gita", "628500007")
    first.service.core.outbox.retry = RetryPolicy(
        max_attempts=50, base_seconds=0.3, max_seconds=0.3
    )
    mock.fail(status=500, count=1000)  # the Graph API is down
    photo = content(PNG, 50_000)
    status, body = await send(first.admin, form(chat_id, ("p.png", photo, "image/png")))
    assert status == 201, body
    message_id = body["id"]

    async def tried() -> bool:
        return (await Message.get(id=message_id)).attempts >= 1

    await eventually(tried, "a first, failed attempt")
    assert (await Message.get(id=message_id)).status == "queued"
    await first.anon.client.close()  # the service stops with the file still queued
    assert [s for s in mock.sent if "media" in s] == []

    mock.reset()  # Meta is back
    second = await start_whatsapp(mock, aiohttp_client, db_url, tmp_path)

    async def delivered() -> bool:
        return await second.has_status(chat_id, message_id, "sent", "delivered", "read")

    await eventually(delivered, "the queued file delivered after the restart")
    [sent] = [s for s in mock.sent if "media" in s]
    assert sent["media"]["sha256"] == sha(photo)


async def test_a_file_gone_from_the_store_fails_its_message_with_the_reason(
    wa: WhatsApp, mock: MockWhatsApp
) -> None:
    chat_id, _ = await wa.customer_chat("Hadi", "628500008")
    wa.service.core.outbox.retry = RetryPolicy(max_attempts=50, base_seconds=0.1, max_seconds=0.1)
    mock.fail(status=500, count=1000)
    data = content(PDF, 5000)
    status, body = await send(wa.admin, form(chat_id, ("gone.pdf", data, "application/pdf")))
    assert status == 201, body

    async def tried() -> bool:
        return (await Message.get(id=body["id"])).attempts >= 1

    await eventually(tried, "a first attempt")
    [blob] = [path for path in kept_files(wa.service) if path.name == sha(data)]
    blob.unlink()

    async def failed() -> dict[str, Any] | None:
        message = await wa.message(chat_id, body["id"])
        return message if message["status"] == "failed" else None

    message = await eventually(failed, "the message failed")
    assert "gone.pdf" in message["error"] and "gone" in message["error"]


async def test_whatsapp_an_upload_meta_refuses_fails_the_message_with_its_reason(
    wa: WhatsApp, mock: MockWhatsApp
) -> None:
    chat_id, _ = await wa.customer_chat("Irma", "628500009")
    mock.fail(status=400, code=131053)  # Meta: media upload error
    status, body = await send(
        wa.admin, form(chat_id, ("bad.pdf", content(PDF, 2000), "application/pdf"))
    )
    assert status == 201, body

    async def failed() -> dict[str, Any] | None:
        message = await wa.message(chat_id, body["id"])
        return message if message["status"] == "failed" else None

    message = await eventually(failed, "the message failed")
    assert "131053" in message["error"]
    assert mock.uploads == {} and [s for s in mock.sent if "media" in s] == []


async def test_whatsapp_connector_retries_only_the_steps_not_yet_sent(
    mock: MockWhatsApp, tmp_path: Path
) -> None:
    """Text and an audio in one message (the connector stands on its own): the text goes
    first; when the upload then fails, the retry uploads and sends the audio only."""
    config = WhatsAppConfig(mock.phone_number_id, ACCESS_TOKEN, APP_SECRET, "verify", mock.url)
    connector = WhatsAppConnector(config, TestSink())
    await connector.start()
    try:
        voice = content(OGG, 3000)
        path = tmp_path / "voice.ogg"
        path.write_bytes(voice)
        files = (OutboundFile(str(path), "voice.ogg", "audio/ogg", len(voice), "audio"),)
        message = OutboundMessage(
            message_id=1, chat_id=1, channel="WhatsApp", chat_external_id="628500011",
            text="Please listen", customer_name="Omar", files=files,
        )  # fmt: skip
        mock.fail_upload(500)
        with pytest.raises(DeliveryError) as failed:
            await connector.send(message)
        assert failed.value.retryable
        await connector.send(message)
    finally:
        await connector.stop()
    assert [s["request"]["type"] for s in mock.sent] == ["text", "audio"]
    assert mock.sent[1]["media"]["sha256"] == sha(voice)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A local S3-compatible stand-in (moto's server)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


async def test_a_file_kept_in_a_bucket_is_sent_from_it(
    mock: MockWhatsApp, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path, moto_url: str
) -> None:
    keys = {"access_key_id": "test-key", "secret_access_key": "test-secret"}
    bucket = f"msgcenter-{secrets.token_hex(6)}"
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                      aws_access_key_id=keys["access_key_id"],
                      aws_secret_access_key=keys["secret_access_key"])  # fmt: skip
    s3.create_bucket(Bucket=bucket)
    storage = {"blobs": "s3", "s3": {"endpoint_url": moto_url, "bucket": bucket,
               "region": "us-east-1", "addressing_style": "path", **keys}}  # fmt: skip
    wa = await start_whatsapp(mock, aiohttp_client, db_url, tmp_path, storage=storage)
    chat_id, _ = await wa.customer_chat("Nina", "628500010")
    invoice = content(PDF, 300_000)
    status, body = await send(wa.admin, form(chat_id, ("inv.pdf", invoice, "application/pdf")))
    assert status == 201, body
    assert s3.get_object(Bucket=bucket, Key=f"blobs/{sha(invoice)}")["Body"].read() == invoice

    async def sent() -> bool:
        return await wa.has_status(chat_id, body["id"], "sent", "delivered", "read")

    await eventually(sent, "the file sent from the bucket")
    [send_] = [s for s in mock.sent if "media" in s]
    assert send_["media"]["sha256"] == sha(invoice)
    assert kept_files(wa.service) == []  # the copy downloaded for sending is gone


# -- Telegram -------------------------------------------------------------------------------


@pytest.fixture
async def telegram() -> AsyncIterator[MockTelegram]:
    mock = MockTelegram(webhook_retry_seconds=0.05)
    await mock.start("127.0.0.1", 0)
    yield mock
    await mock.stop()


StartTelegram = Callable[[], Awaitable[Api]]


@pytest.fixture
def start_telegram(
    telegram: MockTelegram, aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> StartTelegram:
    async def go() -> Api:
        settings = make_settings(
            db_url, tmp_path / "data", bot=QUIET_BOT,
            channels={"telegram": {"enabled": True, "api_base": telegram.url,
                                   "token": telegram.token}},
        )  # fmt: skip
        client = await aiohttp_client(build_app(settings))
        service: Service = client.app[SERVICE]
        service.core.outbox.retry = RetryPolicy(base_seconds=0.01, max_seconds=0.05)
        await demo.seed_users(service.core.staff)
        return await Api(client).login("admin", "admin123")

    return go


async def telegram_chat(api: Api, mock: MockTelegram, name: str) -> int:
    mock.customer(name, "Hello")

    async def found() -> int | None:
        status, chats = await api.get("/chats/", params={"channel": "Telegram"})
        assert status == 200
        return next((chat["id"] for chat in chats if chat["name"] == name), None)

    return await eventually(found, "the customer's chat")


async def all_sent(api: Api, chat_id: int, ids: list[int]) -> None:
    async def done() -> bool:
        status, detail = await api.get(f"/chats/{chat_id}")
        assert status == 200
        return all(m["status"] == "sent" for m in detail["messages"] if m["id"] in ids)

    await eventually(done, "every message sent")


async def test_telegram_sends_each_file_with_the_method_for_its_type(
    start_telegram: StartTelegram, telegram: MockTelegram
) -> None:
    api = await start_telegram()
    chat_id = await telegram_chat(api, telegram, "Indah Sari")
    files = [
        ("photo.jpg", content(JPEG, 100_000), "image/jpeg"),
        ("voice.ogg", content(OGG, 20_000), "audio/ogg"),
        ("song.mp3", content(MP3, 30_000), "audio/mpeg"),
        ("clip.mp4", content(MP4, 1_500_000), "video/mp4"),
        ("terms.pdf", content(PDF, 10_000), "application/pdf"),
    ]
    status, body = await send(api, form(chat_id, *files, text="Your files"))
    assert status == 201, body
    assert len(body["messages"]) == 5
    await all_sent(api, chat_id, [m["id"] for m in body["messages"]])
    sent = [s for s in telegram.sent if "file" in s]
    assert [s["method"] for s in sent] == [
        "sendPhoto", "sendVoice", "sendAudio", "sendVideo", "sendDocument"
    ]  # fmt: skip
    assert [s["file"]["sha256"] for s in sent] == [sha(data) for _, data, _ in files]
    assert [s["caption"] for s in sent] == ["Your files", None, None, None, None]
    assert sent[4]["file"]["filename"] == "terms.pdf"


async def test_telegram_a_text_longer_than_a_caption_goes_first_as_a_message(
    start_telegram: StartTelegram, telegram: MockTelegram
) -> None:
    api = await start_telegram()
    chat_id = await telegram_chat(api, telegram, "Joko")
    long_text = "word " * 300  # 1500 characters
    status, body = await send(
        api, form(chat_id, ("a.png", content(PNG, 1000), "image/png"), text=long_text)
    )
    assert status == 201, body
    await all_sent(api, chat_id, [m["id"] for m in body["messages"]])
    methods = [s["method"] for s in telegram.sent if s["method"] != "sendChatAction"]
    assert methods == ["sendMessage", "sendPhoto"]
    assert next(s for s in telegram.sent if s["method"] == "sendPhoto")["caption"] is None


async def test_telegram_a_failed_file_is_retried_without_sending_the_text_again(
    start_telegram: StartTelegram, telegram: MockTelegram
) -> None:
    api = await start_telegram()
    chat_id = await telegram_chat(api, telegram, "Lukas")
    telegram.fail("sendDocument", 502)
    long_text = "line\n" * 300
    status, body = await send(
        api, form(chat_id, ("a.pdf", content(PDF, 1000), "application/pdf"), text=long_text)
    )
    assert status == 201, body
    await all_sent(api, chat_id, [m["id"] for m in body["messages"]])
    assert telegram.calls["sendDocument"] == 2
    assert [s["method"] for s in telegram.sent if s["method"] != "sendChatAction"] == [
        "sendMessage", "sendDocument"
    ]  # fmt: skip


async def test_telegram_connector_retries_only_the_steps_of_a_message_not_yet_sent(
    telegram: MockTelegram, tmp_path: Path
) -> None:
    """A message the connector gets with a long text and files (the desk splits replies so,
    but a connector stands on its own): text parts first, then the files; a retry after a
    failed file does not send the text again."""
    connector = TelegramConnector(TelegramConfig(telegram.token, telegram.url), TestSink())
    await connector.start(inbound=False)
    try:
        photo = content(JPEG, 5000)
        path = tmp_path / "photo.jpg"
        path.write_bytes(photo)
        files = (OutboundFile(str(path), "photo.jpg", "image/jpeg", len(photo), "image"),)
        message = OutboundMessage(
            message_id=1, chat_id=1, channel="Telegram", chat_external_id="4242",
            text="x" * 1500, customer_name="Max", files=files,
        )  # fmt: skip
        telegram.fail("sendPhoto", 502)
        with pytest.raises(DeliveryError) as failed:
            await connector.send(message)
        assert failed.value.retryable
        await connector.send(message)
    finally:
        await connector.stop()
    assert [s["method"] for s in telegram.sent] == ["sendMessage", "sendPhoto"]
    [sent] = [s for s in telegram.sent if s["method"] == "sendPhoto"]
    assert (sent["caption"], sent["file"]["sha256"]) == (None, sha(photo))


class TestSink:
    """A sink for a connector that only sends."""

    __test__ = False

    async def receive(self, messages: Any) -> list[None]:
        raise AssertionError("nothing is received here")

    async def status(self, updates: Any) -> None:
        raise AssertionError("nothing is received here")

    async def edit(self, edit: Any) -> None:
        raise AssertionError("nothing is received here")


async def test_telegram_refuses_a_file_over_50_mb_before_reading_it_all(
    start_telegram: StartTelegram, telegram: MockTelegram
) -> None:
    api = await start_telegram()
    chat_id = await telegram_chat(api, telegram, "Kiki")
    error = await refused_leaves_nothing(
        api, form(chat_id, ("huge.pdf", content(PDF, 50 * MB + 1), "application/pdf")),
        413, "file_too_large",
    )  # fmt: skip
    assert "50 MB" in error["message"]


# -- Email ----------------------------------------------------------------------------------


@pytest.fixture
async def email_api(relay: MockSmtp, aiohttp_client: ClientFactory, db_url: str,
                    tmp_path: Path) -> Api:  # fmt: skip
    email = {
        "enabled": True, "port": 0, "hostname": "mx.test", "domains": ["support.example.com"],
        "address": "support@support.example.com", "relay_host": "127.0.0.1",
        "relay_port": relay.smtp_port, "relay_timeout_seconds": 5,
    }  # fmt: skip
    settings = make_settings(db_url, tmp_path / "data", bot=QUIET_BOT, channels={"email": email})
    client = await aiohttp_client(build_app(settings))
    service: Service = client.app[SERVICE]
    service.core.outbox.retry = RetryPolicy(base_seconds=0.01, max_seconds=0.05)
    await demo.seed_users(service.core.staff)
    return await Api(client).login("admin", "admin123")


async def test_email_sends_one_message_with_every_file(email_api: Api, relay: MockSmtp) -> None:
    status, chat = await email_api.post(
        "/chats/", {"channel": "Email", "customer_name": "Lina",
                    "customer_email": "lina@customer.example"},
    )  # fmt: skip
    assert status == 201, chat
    status, body = await send(
        email_api,
        form(chat["id"], ("a.pdf", content(PDF, 2000), "application/pdf"),
             ("b.png", content(PNG, 3000), "image/png"), text="Both documents attached"),
    )  # fmt: skip
    assert status == 201, body
    assert "messages" not in body
    assert [a["filename"] for a in body["attachments"]] == ["a.pdf", "b.png"]
    await all_sent(email_api, chat["id"], [body["id"]])
    assert len(relay.sent) == 1


async def test_email_files_are_limited_to_20_mb_together(email_api: Api) -> None:
    status, chat = await email_api.post(
        "/chats/", {"channel": "Email", "customer_name": "Mira",
                    "customer_email": "mira@customer.example"},
    )  # fmt: skip
    assert status == 201, chat
    files = [(f"part{i}.pdf", content(PDF, 7 * MB), "application/pdf") for i in range(3)]
    error = await refused_leaves_nothing(email_api, form(chat["id"], *files), 413,
                                         "file_too_large")  # fmt: skip
    assert "20 MB together" in error["message"]


# -- rules and docs -------------------------------------------------------------------------


def test_a_reply_becomes_messages_as_each_channel_sends_files() -> None:
    whatsapp, telegram, email = (rules_for(c) for c in ("WhatsApp", "Telegram", "Email"))
    assert whatsapp and telegram and email
    assert plan_parts(whatsapp, "hi", ["image/jpeg", "application/pdf"]) == [
        Part("hi", (0,)), Part("", (1,))
    ]  # fmt: skip
    assert plan_parts(whatsapp, "hi", ["audio/ogg"]) == [Part("hi"), Part("", (0,))]
    assert plan_parts(telegram, "x" * 1025, ["image/png"]) == [Part("x" * 1025), Part("", (0,))]
    assert plan_parts(telegram, "", ["image/png"]) == [Part("", (0,))]
    assert plan_parts(email, "hi", ["image/png", "application/zip"]) == [Part("hi", (0, 1))]
    assert rules_for("Web") is None


async def test_the_openapi_document_describes_the_multipart_reply(admin: Api) -> None:
    status, document = await admin.get("/openapi.json")
    assert status == 200
    body = document["paths"]["/chats/messages"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"] == {"$ref": "#/components/schemas/SendFiles"}
    fields = document["components"]["schemas"]["SendFiles"]["properties"]
    assert fields["file"]["items"] == {"format": "binary", "type": "string"}
