"""The blob stores (storage.blobs): the same contract on disk and in an S3-compatible bucket.

The bucket is moto's server mode (ThreadedMotoServer): a local S3 stand-in answering real
HTTP on 127.0.0.1, which S3Blobs reaches through aiobotocore as it would reach AWS. Test
set-up and inspection go through boto3 (the stand-in's other side), never through S3Blobs.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto.server import ThreadedMotoServer

from msgcenter import demo
from msgcenter.service import SERVICE, blob_store, build_app
from msgcenter.settings import Settings
from storage.blobs import CHUNK, Blobs, DiskBlobs, Spool
from storage.models import Chat, Message, Sender, Status
from storage.s3 import BucketUnavailable, S3Blobs, S3Config
from tests.fakes import QUIET_BOT
from tests.support import Api, ClientFactory, make_settings

KEYS = {"access_key_id": "test-key", "secret_access_key": "test-secret"}
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@functools.cache
def _boto(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=KEYS["access_key_id"],
        aws_secret_access_key=KEYS["secret_access_key"],
    )


@pytest.fixture
def bucket(moto_url: str) -> str:
    name = f"msgcenter-{secrets.token_hex(6)}"
    _boto(moto_url).create_bucket(Bucket=name)
    return name


def _config(url: str, bucket: str, **changes: Any) -> S3Config:
    values: dict[str, Any] = {
        "bucket": bucket,
        "prefix": "media/",
        "endpoint_url": url,
        "region": "us-east-1",
        "addressing_style": "path",
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "max_attempts": 2,
        **KEYS,
    }
    return S3Config(**{**values, **changes})


@pytest.fixture(params=["disk", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Blobs]:
    if request.param == "disk":
        yield DiskBlobs(tmp_path / "blobs")
        return
    url, bucket = request.getfixturevalue("moto_url"), request.getfixturevalue("bucket")
    blobs = S3Blobs(_config(url, bucket), tmp_path / "blobs" / "tmp")
    await blobs.open()
    try:
        yield blobs
    finally:
        await blobs.close()


def _stored(store: Blobs) -> dict[str, bytes]:
    """Every file the store holds, by name, read from its other side."""
    if isinstance(store, DiskBlobs):
        return {
            path.name: path.read_bytes()
            for path in store.root.rglob("*")
            if path.is_file() and store.spool_dir not in path.parents
        }
    assert isinstance(store, S3Blobs)
    client, name = _boto(store.config.endpoint_url or ""), store.config.bucket
    listed = client.list_objects_v2(Bucket=name).get("Contents", [])
    return {item["Key"]: client.get_object(Bucket=name, Key=item["Key"])["Body"].read()
            for item in listed}  # fmt: skip


def _spooled(store: Blobs) -> list[str]:
    folder = store.spool_dir
    return sorted(os.listdir(folder)) if folder.exists() else []


async def _keep(store: Blobs, data: bytes) -> Spool:
    async with Spool(store.spool_dir, limit=len(data) + 1) as spool:
        for start in range(0, len(data), 100_000):
            await spool.write(data[start : start + 100_000])
        await store.keep(spool)
        assert not spool.path.exists()  # kept: the spool's temporary file is gone at once
    return spool


async def _read(store: Blobs, sha256: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read(sha256, start, end)])


async def test_a_kept_file_is_named_by_its_hash_and_read_whole(store: Blobs) -> None:
    data = os.urandom(3 * CHUNK + 123)  # several chunks
    spool = await _keep(store, data)
    sha = hashlib.sha256(data).hexdigest()
    assert spool.sha256 == sha
    assert await store.size(sha) == len(data)
    chunks = [chunk async for chunk in store.read(sha)]
    assert b"".join(chunks) == data
    assert all(len(chunk) <= CHUNK for chunk in chunks)
    (name,) = _stored(store)
    assert name.endswith(sha)
    if isinstance(store, S3Blobs):
        assert name == f"media/{sha}"
    assert _spooled(store) == []


async def test_the_same_content_is_stored_once(store: Blobs) -> None:
    data = b"the same invoice, sent twice"
    sha = (await _keep(store, data)).sha256
    # Mark the copy kept first, from the store's other side: a second upload would lose it.
    if isinstance(store, DiskBlobs):
        first = store.path(sha).stat().st_ino
    else:
        assert isinstance(store, S3Blobs)
        client, name, key = (
            _boto(store.config.endpoint_url or ""),
            store.config.bucket,
            store.key(sha),
        )
        client.copy_object(Bucket=name, Key=key, CopySource={"Bucket": name, "Key": key},
                           Metadata={"first": "yes"}, MetadataDirective="REPLACE")  # fmt: skip
    await _keep(store, data)
    assert list(_stored(store).values()) == [data]
    if isinstance(store, DiskBlobs):
        assert store.path(sha).stat().st_ino == first
    else:
        assert client.head_object(Bucket=name, Key=key)["Metadata"] == {"first": "yes"}
    assert _spooled(store) == []
    other = (await _keep(store, data + b"!")).sha256
    assert other != sha
    assert len(_stored(store)) == 2


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, None), (0, 10), (10, 20), (5, None), (CHUNK - 3, CHUNK + 5), (1, 2 * CHUNK + 1),
     (2 * CHUNK + 999, None), (2 * CHUNK + 1000, None), (2 * CHUNK + 5000, None),
     (7, 7), (9, 3), (100, 10 * CHUNK)],
)  # fmt: skip
async def test_ranged_reads(store: Blobs, start: int, end: int | None) -> None:
    data = os.urandom(2 * CHUNK + 1000)
    sha = (await _keep(store, data)).sha256
    assert await _read(store, sha, start, end) == data[start:end]  # data[9:3] == b""


async def test_an_empty_file(store: Blobs) -> None:
    sha = (await _keep(store, b"")).sha256
    assert await store.size(sha) == 0
    assert await _read(store, sha) == b""
    assert await _read(store, sha, 0, 10) == b""
    async with store.local(sha) as path:
        assert path.read_bytes() == b""


async def test_local_gives_a_file_with_the_bytes_and_leaves_no_copy(store: Blobs) -> None:
    data = os.urandom(CHUNK + 17)
    sha = (await _keep(store, data)).sha256
    async with store.local(sha) as path:
        assert path.read_bytes() == data
        assert path.stat().st_mode & 0o077 == 0  # nobody else's to read
    assert _spooled(store) == []  # a download (the bucket) is removed; the disk's file stays
    assert list(_stored(store).values()) == [data]


async def test_missing_files(store: Blobs) -> None:
    absent = hashlib.sha256(b"never kept").hexdigest()
    await _keep(store, b"something else")
    assert await store.size(absent) is None
    for start, end in [(0, None), (3, 9), (4, 4)]:
        with pytest.raises(FileNotFoundError):
            await _read(store, absent, start, end)
    with pytest.raises(FileNotFoundError):
        async with store.local(absent):
            pytest.fail("no local file for a missing hash")
    assert _spooled(store) == []


async def test_a_deleted_file_is_gone_and_the_others_stay(store: Blobs) -> None:
    erased, kept = b"an erased customer's photo", b"someone else's invoice"
    sha = (await _keep(store, erased)).sha256
    other = (await _keep(store, kept)).sha256
    assert await store.delete(sha) is True
    assert await store.size(sha) is None
    assert await store.delete(sha) is False  # nothing there any more
    assert [name[-64:] for name in _stored(store)] == [other]
    assert await _read(store, other) == kept


@pytest.mark.parametrize(
    "bad",
    ["", "../../etc/passwd", "0" * 63, "0" * 65, "A" * 64, "g" * 64, "0" * 62 + "/x",
     " " + "0" * 63, "0" * 64 + "\n"],
)  # fmt: skip
async def test_anything_but_a_hash_is_refused(store: Blobs, bad: str) -> None:
    await _keep(store, b"a file")
    assert await store.size(bad) is None
    with pytest.raises(ValueError, match="sha256"):
        await _read(store, bad)
    with pytest.raises(ValueError, match="sha256"):
        async with store.local(bad):
            pytest.fail("no local file for a bad hash")
    with pytest.raises(ValueError, match="sha256"):
        await store.delete(bad)
    assert len(_stored(store)) == 1
    assert _spooled(store) == []


async def test_a_large_file_goes_up_in_parts(tmp_path: Path, moto_url: str, bucket: str) -> None:
    blobs = S3Blobs(_config(moto_url, bucket), tmp_path / "tmp",
                    multipart_threshold=6 * MIB, part_size=5 * MIB)  # fmt: skip
    await blobs.open()
    try:
        data = os.urandom(12 * MIB + 5)  # parts of 5, 5 and 2 MiB
        sha = (await _keep(blobs, data)).sha256
        assert await blobs.size(sha) == len(data)
        assert await _read(blobs, sha, 5 * MIB - 2, 5 * MIB + 2) == data[5 * MIB - 2 : 5 * MIB + 2]
        assert hashlib.sha256(await _read(blobs, sha)).hexdigest() == sha
        head = _boto(moto_url).head_object(Bucket=bucket, Key=blobs.key(sha))
        assert head["ETag"].endswith('-3"')  # a multipart object's ETag counts its parts
        assert _boto(moto_url).list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    finally:
        await blobs.close()


async def test_a_missing_bucket_fails_loudly_and_keeps_nothing(
    tmp_path: Path, moto_url: str
) -> None:
    blobs = S3Blobs(_config(moto_url, "msgcenter-no-such-bucket"), tmp_path / "tmp")
    await blobs.open()
    try:
        with pytest.raises(BucketUnavailable, match="no such bucket"):
            await blobs.check()
        with pytest.raises(ClientError):
            await _keep(blobs, b"nowhere to go")
        assert _spooled(blobs) == []  # the spool's exit removed the file it could not keep
    finally:
        await blobs.close()


async def test_a_store_that_cannot_be_reached_raises_rather_than_says_missing(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    blobs = S3Blobs(_config(url, "msgcenter-files", max_attempts=1), tmp_path / "tmp")
    await blobs.open()
    try:
        sha = hashlib.sha256(b"somewhere").hexdigest()
        with pytest.raises(BucketUnavailable, match="unreachable"):
            await blobs.size(sha)
        with pytest.raises(EndpointConnectionError):
            await _read(blobs, sha)
        with pytest.raises(EndpointConnectionError):
            await _keep(blobs, b"somewhere")
        with pytest.raises(BucketUnavailable, match="unreachable"):
            await blobs.check()
        assert _spooled(blobs) == []
    finally:
        await blobs.close()


async def test_a_store_that_is_not_open_says_so(tmp_path: Path, moto_url: str) -> None:
    blobs = S3Blobs(_config(moto_url, "msgcenter-closed"), tmp_path / "tmp")
    with pytest.raises(RuntimeError, match="not open"):
        await blobs.size(hashlib.sha256(b"x").hexdigest())


def test_the_settings_pick_the_store(tmp_path: Path) -> None:
    url = "sqlite://" + str(tmp_path / "db.sqlite3")
    disk = blob_store(make_settings(url, tmp_path / "data"))
    assert isinstance(disk, DiskBlobs)
    assert disk.root == tmp_path / "data" / "blobs"
    s3 = {"endpoint_url": "https://s3.example.com", "bucket": "files", "region": "eu-west-1",
          "prefix": "msgcenter/", "addressing_style": "virtual", **KEYS}  # fmt: skip
    bucket = blob_store(make_settings(url, tmp_path / "data", storage={"blobs": "s3", "s3": s3}))
    assert isinstance(bucket, S3Blobs)
    assert bucket.spool_dir == tmp_path / "data" / "blobs" / "tmp"
    assert bucket.config == S3Config(
        bucket="files", prefix="msgcenter/", endpoint_url="https://s3.example.com",
        region="eu-west-1", addressing_style="virtual", **KEYS,
    )  # fmt: skip
    assert bucket.key("a" * 64) == "msgcenter/" + "a" * 64


@pytest.fixture
def settings(db_url: str, tmp_path: Path, moto_url: str, bucket: str) -> Settings:
    s3 = {"endpoint_url": moto_url, "bucket": bucket, "region": "us-east-1",
          "addressing_style": "path", **KEYS}  # fmt: skip
    return make_settings(db_url, tmp_path / "data", bot=QUIET_BOT,
                         storage={"blobs": "s3", "s3": s3})  # fmt: skip


async def test_the_service_keeps_and_serves_files_from_the_bucket(
    admin: Api, settings: Settings, moto_url: str, bucket: str
) -> None:
    service = admin.service
    blobs = service.core.blobs
    assert isinstance(blobs, S3Blobs)
    assert service.api.blobs is blobs
    data = b"%PDF-1.4 an invoice, " + os.urandom(CHUNK)
    async with Spool(blobs.spool_dir, settings.channels.whatsapp.media_max_bytes) as spool:
        await spool.write(data)
        await blobs.keep(spool)
    key = f"blobs/{spool.sha256}"  # the default prefix
    assert _boto(moto_url).get_object(Bucket=bucket, Key=key)["Body"].read() == data
    # An agent downloads it through the API, whole and from the middle (a player seeking).
    chat = await Chat.create(channel="WhatsApp", external_id="s3-files", customer_name="Rina",
                             activity_at=datetime.now(UTC))  # fmt: skip
    record = {"kind": "document", "name": "invoice.pdf", "mime_type": "application/pdf",
              "size": len(data), "sha256": spool.sha256, "status": "stored"}  # fmt: skip
    message = await Message.create(chat=chat, text="my invoice", sender=Sender.CUSTOMER,
                                   status=Status.SENT, attachments=[record])  # fmt: skip
    path = f"/chats/{chat.id}/messages/{message.id}/attachments/0"
    async with admin.client.get(path, headers=admin.headers()) as response:
        assert response.status == 200
        assert await response.read() == data
    ranged = {**admin.headers(), "Range": "bytes=9-20000"}
    async with admin.client.get(path, headers=ranged) as response:
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 9-20000/{len(data)}"
        assert await response.read() == data[9:20001]
    status, health = await admin.get("/healthz")
    assert status == 200
    assert health["checks"]["files"] == "ok"
    assert health["status"] == "ok"

    _boto(moto_url).delete_object(Bucket=bucket, Key=key)
    _boto(moto_url).delete_bucket(Bucket=bucket)
    status, health = await admin.get("/healthz")
    assert status == 200  # messages still flow; files wait for the bucket
    assert health["checks"]["files"] == "degraded: no such bucket"
    assert health["status"] == "degraded"

    await admin.client.close()  # the service stops: the bucket's client is closed with it
    with pytest.raises(RuntimeError, match="not open"):
        await blobs.size(spool.sha256)


async def test_without_a_bucket_healthz_has_no_files_check(
    db_url: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(build_app(make_settings(db_url, tmp_path / "data")))
    assert isinstance(client.app[SERVICE].core.blobs, DiskBlobs)
    status, health = await Api(client).get("/healthz")
    assert status == 200
    assert "files" not in health["checks"]


async def test_a_bucket_that_does_not_answer_is_reported_within_the_health_check(
    db_url: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads the request, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    s3 = {"endpoint_url": f"http://127.0.0.1:{port}", "bucket": "msgcenter-silent",
          "region": "us-east-1", "addressing_style": "path", "read_timeout_seconds": 30,
          **KEYS}  # fmt: skip
    settings = make_settings(db_url, tmp_path / "data", storage={"blobs": "s3", "s3": s3})
    client = await aiohttp_client(build_app(settings))
    try:
        started = asyncio.get_running_loop().time()
        status, health = await Api(client).get("/healthz")
        assert asyncio.get_running_loop().time() - started < 5  # not the 30 s read timeout
        assert status == 200
        assert health["checks"]["files"] == "degraded: the bucket does not answer"
        for _ in range(200):  # the HEAD goes out (a loaded machine may take a moment)
            if accepted:
                break
            await asyncio.sleep(0.05)
        assert accepted
        status, health = await Api(client).get("/healthz")  # the same HEAD, still waited for
        assert health["checks"]["files"] == "degraded: the bucket does not answer"
        assert len(accepted) == 1
    finally:
        await client.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_download_while_the_bucket_does_not_answer_is_a_503(
    db_url: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    s3 = {"endpoint_url": url, "bucket": "msgcenter-files", "region": "us-east-1",
          "addressing_style": "path", "max_attempts": 1, "connect_timeout_seconds": 1,
          **KEYS}  # fmt: skip
    settings = make_settings(db_url, tmp_path / "data", bot=QUIET_BOT,
                             storage={"blobs": "s3", "s3": s3})  # fmt: skip
    anon = Api(await aiohttp_client(build_app(settings)))
    await demo.seed_users(anon.service.core.staff)
    admin = await anon.login("admin", "admin123")
    chat = await Chat.create(channel="WhatsApp", external_id="s3-away", customer_name="Rina",
                             activity_at=datetime.now(UTC))  # fmt: skip
    record = {"kind": "image", "mime_type": "image/png", "size": 10,
              "sha256": hashlib.sha256(b"x").hexdigest(), "status": "stored"}  # fmt: skip
    message = await Message.create(chat=chat, text="", sender=Sender.CUSTOMER,
                                   status=Status.SENT, attachments=[record])  # fmt: skip
    status, body = await admin.get(f"/chats/{chat.id}/messages/{message.id}/attachments/0")
    assert status == 503 and body["error"]["code"] == "files_unavailable"
    assert "unreachable" in body["error"]["message"]
