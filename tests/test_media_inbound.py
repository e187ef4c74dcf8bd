"""Customer files, WhatsApp and Telegram: stored pending with the message, fetched after the
provider's 200 from the mock Graph API / Bot API over real sockets into the blob store,
retried, failed with a reason, resumed after a restart, and announced as message.updated.
Nothing of msgcenter is patched: the mocks are steered at the wire."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import WSMsgType

from connectors.mock.telegram import MockTelegram
from connectors.mock.whatsapp import MockWhatsApp
from handoff.usecases.media import MediaFetcher, MediaRetry
from msgcenter import demo
from msgcenter.cli import main
from msgcenter.mocks import simulate
from msgcenter.service import SERVICE, Service, build_app
from msgcenter.settings import MockSettings
from storage.blobs import DiskBlobs
from storage.models import Message
from tests.fakes import QUIET_BOT
from tests.support import Api, ClientFactory, make_settings
from tests.whatsapp_support import (
    ACCESS_TOKEN,
    APP_SECRET,
    VERIFY_TOKEN,
    WhatsApp,
    eventually,
    start_whatsapp,
)

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(255, -1, -1)) * 8
PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 100
MB = 1024 * 1024
FAST = MediaRetry(delays=(0.05,))


def fetcher(service: Service) -> MediaFetcher:
    media = service.core.media
    assert media is not None
    return media


def blob_files(service: Service) -> list[Path]:
    blobs = service.core.blobs
    assert isinstance(blobs, DiskBlobs)
    return [p for p in blobs.root.rglob("*") if p.is_file() and p.parent != blobs.spool_dir]


async def message_of(wamid: str) -> Message:
    async def found() -> Message | None:
        return await Message.get_or_none(external_id=wamid)

    return await eventually(found, f"message {wamid}")


async def view(api: Api, message: Message) -> dict[str, Any]:
    """The message as the API shows it."""
    status, detail = await api.get(f"/chats/{message.chat_id}")
    assert status == 200, detail
    [found] = [m for m in detail["messages"] if m["id"] == message.id]
    return dict(found)


async def settled(api: Api, wamid: str, within: float = 10.0) -> dict[str, Any]:
    """The message's first attachment (API view) once it is no longer pending."""
    message = await message_of(wamid)

    async def done() -> dict[str, Any] | None:
        item: dict[str, Any] = (await view(api, message))["attachments"][0]
        return item if item["status"] != "pending" else None

    return await eventually(done, f"the file of {wamid} settled", within)


async def stored_record(wamid: str) -> dict[str, Any]:
    """The attachment as stored in the message's JSON."""
    item: dict[str, Any] = (await Message.get(external_id=wamid)).attachments[0]
    return item


# -- WhatsApp -------------------------------------------------------------------------------


async def test_a_whatsapp_image_is_fetched_into_the_blob_store_by_its_real_type(
    wa: WhatsApp,
) -> None:
    media_id = wa.mock.add_media(PNG, "image/jpeg")  # the customer's app says JPEG; it is PNG
    status, wamid = await wa.mock.customer_sends("Nia", "image", media_id, caption="broken lid")
    assert status == 200
    item = await settled(wa.admin, wamid)
    message = await Message.get(external_id=wamid)
    sha = hashlib.sha256(PNG).hexdigest()
    assert item == {
        "kind": "image", "filename": "photo.png", "content_type": "image/png",
        "size": len(PNG), "status": "stored", "error": None, "inline": True,
        "url": f"/chats/{message.chat_id}/messages/{message.id}/attachments/0",
        "meta": {"sha256": sha},  # what Meta's webhook said of it
    }  # fmt: skip
    record = message.attachments[0]
    assert (record["sha256"], record["mime_type"], record["ref"]) == (sha, "image/png", media_id)
    assert "attempts" not in record and "next_at" not in record
    assert message.media_pending is False
    blobs = wa.service.core.blobs
    assert isinstance(blobs, DiskBlobs)
    assert blobs.path(sha).read_bytes() == PNG
    assert (await view(wa.admin, message))["text"] == "broken lid"
    assert wa.mock.media_downloads == 1
    async with wa.admin.client.get(item["url"], headers=wa.admin.headers()) as response:
        assert response.status == 200
        assert response.content_type == "image/png"
        assert await response.read() == PNG


async def test_the_webhook_is_answered_before_the_file_is_fetched(wa: WhatsApp) -> None:
    media_id = wa.mock.add_media(JPEG, "image/jpeg")
    wa.mock.hold_media()  # the Graph API's media lookup hangs
    try:
        async with asyncio.timeout(5):
            status, wamid = await wa.mock.customer_sends("Slow", "image", media_id)
        assert status == 200
        message = await message_of(wamid)
        assert message.media_pending is True
        assert (await view(wa.admin, message))["attachments"][0]["status"] == "pending"

        async def asked() -> bool:
            return wa.mock.media_lookups == 1

        await eventually(asked, "the media lookup")  # started after the 200, still hanging
        assert (await stored_record(wamid))["status"] == "pending"
    finally:
        wa.mock.release_media()
    assert (await settled(wa.admin, wamid))["status"] == "stored"


async def test_a_burst_of_images_is_fetched_once_each_at_most_four_at_a_time(
    wa: WhatsApp,
) -> None:
    wa.mock.media_delay = 0.05
    files = [JPEG + bytes([n]) for n in range(12)]
    sent = [
        await wa.mock.customer_sends(f"Burst {n}", "image", wa.mock.add_media(data, "image/jpeg"))
        for n, data in enumerate(files)
    ]
    for _, wamid in sent:
        assert (await settled(wa.admin, wamid))["status"] == "stored"
    assert wa.mock.media_lookups == wa.mock.media_downloads == len(files)
    assert 1 < wa.mock.media_busy_max <= 4
    assert len(blob_files(wa.service)) == len(files)


async def test_a_server_error_is_retried_with_the_attempt_kept_in_the_record(
    wa: WhatsApp,
) -> None:
    fetcher(wa.service).retry = MediaRetry(delays=(0.6,))
    media_id = wa.mock.add_media(JPEG, "image/jpeg")
    wa.mock.fail_media(500)
    _, wamid = await wa.mock.customer_sends("Retry", "image", media_id)

    async def retry_scheduled() -> dict[str, Any] | None:
        record = await stored_record(wamid)
        return record if record.get("attempts") == 1 else None

    record = await eventually(retry_scheduled, "a retry scheduled")
    assert record["status"] == "pending" and record["next_at"]
    assert "busy" in record["last_error"]
    item = await settled(wa.admin, wamid)
    assert (item["status"], item["error"]) == ("stored", None)
    assert wa.mock.media_lookups == 2
    assert "attempts" not in await stored_record(wamid)


async def test_a_download_cut_halfway_is_fetched_again_whole(wa: WhatsApp) -> None:
    fetcher(wa.service).retry = FAST
    media_id = wa.mock.add_media(PDF, "application/pdf", "invoice.pdf")
    wa.mock.cut_downloads(1)
    _, wamid = await wa.mock.customer_sends("Cut", "document", media_id)
    item = await settled(wa.admin, wamid)
    assert (item["status"], item["size"], item["filename"]) == ("stored", len(PDF), "invoice.pdf")
    assert wa.mock.media_lookups == 2  # a new URL for the second try
    sha = hashlib.sha256(PDF).hexdigest()
    assert [p.name for p in blob_files(wa.service)] == [sha]  # the half file was never kept
    assert list(fetcher(wa.service).blobs.spool_dir.iterdir()) == []


async def test_a_file_still_unreachable_a_day_after_its_message_fails(wa: WhatsApp) -> None:
    fetcher(wa.service).retry = MediaRetry(delays=(0.05,), give_up_after=timedelta(0))
    media_id = wa.mock.add_media(JPEG, "image/jpeg")
    wa.mock.fail_media(503)
    _, wamid = await wa.mock.customer_sends("Down", "image", media_id)
    item = await settled(wa.admin, wamid)
    assert item["status"] == "failed"
    assert item["error"].startswith("gave up after 1 attempt: WhatsApp API busy: ")
    assert "last_error" not in await stored_record(wamid)


async def test_an_expired_media_id_fails_with_the_reason(wa: WhatsApp) -> None:
    media_id = wa.mock.add_media(JPEG, "image/jpeg")
    wa.mock.expire_media(media_id)
    _, wamid = await wa.mock.customer_sends("Late", "image", media_id)
    item = await settled(wa.admin, wamid)
    assert item["status"] == "failed" and item["url"] is None
    assert item["error"].startswith("WhatsApp no longer has this file")
    assert (await Message.get(external_id=wamid)).media_pending is False
    assert wa.mock.media_downloads == 0
    assert wa.mock.media_lookups == 1  # permanent: not tried again
    await fetcher(wa.service).quiet()
    assert wa.mock.media_lookups == 1


@pytest.fixture
async def small_wa(
    mock: MockWhatsApp, db_url: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> WhatsApp:
    """WhatsApp files of at most 4 KB are kept."""
    return await start_whatsapp(
        mock, aiohttp_client, db_url, tmp_path, whatsapp={"media_max_bytes": 4096}
    )


async def test_a_file_over_the_channels_limit_fails(small_wa: WhatsApp) -> None:
    wa = small_wa
    declared = wa.mock.add_media(PDF[:1000] * 5, "application/pdf", "big.pdf")
    _, wamid = await wa.mock.customer_sends("Big", "document", declared)
    item = await settled(wa.admin, wamid)
    assert item["status"] == "failed"
    assert item["error"] == "the file is 0.0048 MB, larger than the 0.0039 MB limit"
    assert item["filename"] == "big.pdf"
    assert wa.mock.media_downloads == 0  # refused on the declared size
    # A file whose declared size lies is cut off while it streams.
    lying = wa.mock.add_media(PDF[:1000] * 5, "application/pdf", "lie.pdf", file_size=100)
    _, wamid = await wa.mock.customer_sends("Big", "document", lying)
    item = await settled(wa.admin, wamid)
    assert (item["status"], item["error"]) == ("failed", "larger than the 0.0039 MB limit")
    assert blob_files(wa.service) == []
    assert list(fetcher(wa.service).blobs.spool_dir.iterdir()) == []  # no spool left behind


async def test_the_same_file_sent_twice_is_stored_once(wa: WhatsApp) -> None:
    first = wa.mock.add_media(PNG, "image/png")
    second = wa.mock.add_media(PNG, "image/png")
    _, one = await wa.mock.customer_sends("Twice", "image", first)
    _, two = await wa.mock.customer_sends("Twice", "image", second)
    assert (await settled(wa.admin, one))["status"] == "stored"
    assert (await settled(wa.admin, two))["status"] == "stored"
    records = [await stored_record(wamid) for wamid in (one, two)]
    assert records[0]["sha256"] == records[1]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert [p.name for p in blob_files(wa.service)] == [records[0]["sha256"]]


async def test_a_fetch_interrupted_by_a_restart_is_resumed(
    mock: MockWhatsApp, db_url: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    first = await start_whatsapp(mock, aiohttp_client, db_url, tmp_path)
    media_id = mock.add_media(JPEG, "image/jpeg")
    mock.hold_media()
    _, wamid = await mock.customer_sends("Restart", "image", media_id)

    async def asked() -> bool:
        return mock.media_lookups == 1

    await eventually(asked, "the media lookup")
    await first.anon.client.close()  # the service stops while the file is being fetched
    assert (await _record_in(db_url, wamid))["status"] == "pending"
    mock.release_media()
    second = await start_whatsapp(mock, aiohttp_client, db_url, tmp_path)
    item = await settled(second.admin, wamid)  # picked up at start: no webhook this time
    assert item["status"] == "stored"
    assert mock.media_lookups == 2 and mock.media_downloads == 1


async def _record_in(db_url: str, wamid: str) -> dict[str, Any]:
    """The attachment as stored, read with a connection of its own (no service runs)."""
    query = "SELECT attachments FROM messages WHERE external_id = {}"
    if db_url.startswith("sqlite://"):
        with sqlite3.connect(db_url.removeprefix("sqlite://")) as db:
            (row,) = db.execute(query.format("?"), [wamid])
        raw = row[0]
    else:
        connection = await asyncpg.connect(db_url)
        try:
            raw = await connection.fetchval(query.format("$1"), wamid)
        finally:
            await connection.close()
    return dict(json.loads(raw)[0])


async def test_message_updated_is_pushed_when_the_file_arrives(wa: WhatsApp) -> None:
    ws = await wa.admin.client.ws_connect(f"/ws?token={wa.admin.token}")
    try:
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "hello"
        media_id = wa.mock.add_media(JPEG, "image/jpeg")
        _, wamid = await wa.mock.customer_sends("Live", "image", media_id)
        frames = []
        deadline = time.monotonic() + 10
        while not frames or frames[-1]["type"] != "message.updated":
            message = await ws.receive(timeout=max(deadline - time.monotonic(), 0.01))
            assert message.type == WSMsgType.TEXT, message
            frames.append(json.loads(message.data))
    finally:
        await ws.close()
    created = next(f for f in frames if f["type"] == "message.created")
    assert created["data"]["message"]["attachments"][0]["status"] == "pending"
    updated = frames[-1]["data"]["message"]
    assert updated["id"] == created["data"]["message"]["id"]
    assert updated["attachments"][0]["status"] == "stored"
    assert updated["attachments"][0]["content_type"] == "image/jpeg"
    assert frames[-1]["seq"] is not None  # durable: replayed to a dashboard that reconnects
    assert (await Message.get(external_id=wamid)).media_pending is False


# -- Telegram -------------------------------------------------------------------------------


@pytest.fixture
async def tg_mock() -> AsyncIterator[MockTelegram]:
    mock = MockTelegram()
    await mock.start("127.0.0.1", 0)
    yield mock
    await mock.stop()


async def start_both(
    tg: MockTelegram,
    wa: MockWhatsApp,
    aiohttp_client: ClientFactory,
    db_url: str,
    tmp_path: Path,
    **limits: int,
) -> Api:
    """msgcenter with Telegram (polling the mock) and WhatsApp; the admin's client."""
    settings = make_settings(
        db_url,
        tmp_path / "data",
        bot=QUIET_BOT,
        channels={
            "telegram": {"enabled": True, "api_base": tg.url, "token": tg.token,
                         "media_max_bytes": limits.get("telegram", 25 * MB)},
            "whatsapp": {"enabled": True, "graph_base": wa.url,
                         "phone_number_id": wa.phone_number_id, "access_token": ACCESS_TOKEN,
                         "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
                         "media_max_bytes": limits.get("whatsapp", 25 * MB)},
        },
    )  # fmt: skip
    client = await aiohttp_client(build_app(settings))
    wa.webhook_url = str(client.make_url("/webhooks/whatsapp"))
    service: Service = client.app[SERVICE]
    fetcher(service).retry = FAST
    await demo.seed_users(service.core.staff)
    return await Api(client).login("admin", "admin123")


async def telegram_files(api: Api, name: str, count: int) -> list[dict[str, Any]]:
    """The attachments of the customer's first ``count`` messages, once all are settled."""

    async def done() -> list[dict[str, Any]] | None:
        _, chats = await api.get("/chats/", params={"channel": "Telegram"})
        chat = next((c for c in chats if c["name"] == name), None)
        if chat is None:
            return None
        _, detail = await api.get(f"/chats/{chat['id']}")
        items = [m["attachments"][0] for m in detail["messages"] if m["attachments"]]
        if len(items) < count or any(item["status"] == "pending" for item in items):
            return None
        return items

    return await eventually(done, f"{count} settled files of {name}", 10)


async def test_telegram_photo_and_document_are_fetched_and_a_file_over_20_mb_is_not(
    tg_mock: MockTelegram,
    mock: MockWhatsApp,
    aiohttp_client: ClientFactory,
    db_url: str,
    tmp_path: Path,
) -> None:
    admin = await start_both(tg_mock, mock, aiohttp_client, db_url, tmp_path)
    photo = tg_mock.add_file(JPEG, mime_type="image/jpeg")
    document = tg_mock.add_file(PDF, mime_type="application/pdf", file_name="invoice.pdf")
    huge = tg_mock.add_file(b"%PDF-", file_name="scan.pdf", file_size=21 * MB)
    tg_mock.customer("Tia", "the crack", photo=photo)
    tg_mock.customer("Tia", "", document=document)
    tg_mock.customer("Tia", "all pages", document=huge)
    first, second, third = await telegram_files(admin, "Tia", 3)
    assert (first["kind"], first["status"], first["filename"]) == ("image", "stored", "photo.jpg")
    assert (first["content_type"], first["size"], first["inline"]) == (
        "image/jpeg",
        len(JPEG),
        True,
    )
    assert (second["status"], second["filename"]) == ("stored", "invoice.pdf")
    assert (second["content_type"], second["inline"]) == ("application/pdf", False)
    assert third["status"] == "failed"
    assert third["error"] == "Telegram lets bots fetch files up to 20 MB; this one is 21 MB"
    assert tg_mock.calls["getFile"] == 2  # the big one is never asked for
    assert tg_mock.downloads == 2
    sha = hashlib.sha256(PDF).hexdigest()
    blobs = admin.service.core.blobs
    assert isinstance(blobs, DiskBlobs) and blobs.path(sha).read_bytes() == PDF


async def test_telegram_says_file_is_too_big_when_the_size_was_not_declared(
    tg_mock: MockTelegram,
    mock: MockWhatsApp,
    aiohttp_client: ClientFactory,
    db_url: str,
    tmp_path: Path,
) -> None:
    admin = await start_both(tg_mock, mock, aiohttp_client, db_url, tmp_path)
    huge = tg_mock.add_file(b"data", file_size=30 * MB)
    update = tg_mock.customer("Uli", "a video")
    message = dict(update["message"]) | {"message_id": 99}
    message.pop("text")
    message["document"] = {"file_id": huge, "file_unique_id": "u1"}  # no file_size
    tg_mock.add_update({"message": message})
    [item] = await telegram_files(admin, "Uli", 1)
    assert item["status"] == "failed"
    assert item["error"] == "Telegram lets bots fetch files up to 20 MB; this one is larger"
    assert tg_mock.calls["getFile"] == 1  # permanent: asked once


async def test_each_channel_has_its_own_limit(
    tg_mock: MockTelegram,
    mock: MockWhatsApp,
    aiohttp_client: ClientFactory,
    db_url: str,
    tmp_path: Path,
) -> None:
    admin = await start_both(
        tg_mock, mock, aiohttp_client, db_url, tmp_path, whatsapp=2048, telegram=1 * MB
    )
    data = PNG  # about 2 KB over WhatsApp's limit here, far under Telegram's
    assert 2048 < len(data) < MB
    tg_mock.customer("Vic", "", photo=tg_mock.add_file(data, mime_type="image/png"))
    _, wamid = await mock.customer_sends("Vic", "image", mock.add_media(data, "image/png"))
    [telegram] = await telegram_files(admin, "Vic", 1)
    assert telegram["status"] == "stored"
    whatsapp = await settled(admin, wamid)
    assert whatsapp["status"] == "failed"
    assert "larger than the 0.002 MB limit" in whatsapp["error"]


# -- simulate -------------------------------------------------------------------------------


async def test_simulate_sends_a_whatsapp_image_and_a_telegram_photo(
    tg_mock: MockTelegram,
    mock: MockWhatsApp,
    aiohttp_client: ClientFactory,
    db_url: str,
    tmp_path: Path,
) -> None:
    admin = await start_both(tg_mock, mock, aiohttp_client, db_url, tmp_path)
    picture = tmp_path / "crack.png"
    picture.write_bytes(PNG)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MSGCENTER_")},
        "MSGCENTER_MOCK__WHATSAPP_PORT": str(mock.port),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "msgcenter.cli", "simulate", "whatsapp", "--name", "Sim",
         "--image", str(picture), "see", "this"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Sim sent crack.png on whatsapp: 'see this'" in done.stdout
    # What `simulate telegram --photo` runs (in this process: a second start-up is slow).
    ports = MockSettings(telegram_port=tg_mock.port)
    answer = await simulate(ports, "telegram", "Sim", "see this", file=("photo", picture))
    assert answer["message"]["caption"] == "see this"
    # Checked before anything is sent (no mock is asked).
    wrong = ["simulate", "whatsapp", "--name", "Sim", "--photo", str(picture)]
    assert main(wrong) == 2

    async def both_stored() -> bool:
        _, chats = await admin.get("/chats/")
        found = []
        for chat in (c for c in chats if c["name"] == "Sim"):
            _, detail = await admin.get(f"/chats/{chat['id']}")
            found += [a for m in detail["messages"] for a in m["attachments"]]
        return len(found) == 2 and all(a["status"] == "stored" for a in found)

    await eventually(both_stored, "both simulated files stored", 10)
    assert [p.name for p in blob_files(admin.service)] == [hashlib.sha256(PNG).hexdigest()]


async def test_the_wire_says_what_the_whatsapp_mock_serves(mock: MockWhatsApp) -> None:
    """The mock's media endpoints themselves: bearer token, 404 for an unknown id."""
    media_id = mock.add_media(JPEG, "image/jpeg")
    async with aiohttp.ClientSession() as http:
        url = f"{mock.url}/v21.0/{media_id}"
        async with http.get(url) as response:
            assert response.status == 401
        bearer = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
        async with http.get(url, headers=bearer) as response:
            info = await response.json()
        assert info["file_size"] == str(len(JPEG)) and info["mime_type"] == "image/jpeg"
        async with http.get(info["url"], headers=bearer) as response:
            assert await response.read() == JPEG
        async with http.get(f"{mock.url}/v21.0/123", headers=bearer) as response:
            assert response.status == 404
            assert (await response.json())["error"]["code"] == 100
