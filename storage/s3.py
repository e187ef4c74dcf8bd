"""Blobs in an S3-compatible bucket (``storage.blobs = "s3"``): for processes on several machines.

The same :class:`~storage.blobs.Blobs` as :class:`~storage.blobs.DiskBlobs`, with each file an
object ``<prefix><sha256>`` in one bucket, through aiobotocore (an async S3 client on aiohttp:
SigV4 signing, retries with backoff, connect and read timeouts). Spools are still written on
the local disk (``<storage.data_dir>/blobs/tmp``) and uploaded whole once their hash is known:

- :meth:`S3Blobs.keep`: HEAD the key; when it is there already (the same content), the spool is
  just removed. Otherwise a PutObject streamed from the spool's file, or a multipart upload
  above :data:`MULTIPART_THRESHOLD` (parts of :data:`PART_SIZE`, one in memory at a time; an
  upload that fails is aborted). Each request carries the body's Content-MD5, so the store
  checks what it received; the payload itself is not hashed again for the signature (that
  would read the whole file on the event loop).
- :meth:`S3Blobs.read`: a GET with a Range header, streamed in chunks.
- :meth:`S3Blobs.local`: a download to a private temporary file in the spool folder, removed
  when the context ends.

Only hashes checked by :func:`storage.blobs.valid` become keys. A missing object is
``FileNotFoundError`` (``read``, ``local``) or ``None`` (``size``); a store that cannot be
reached raises (botocore's errors, after its retries), never "missing" (but a HEAD cannot tell
a missing bucket from a missing object: :meth:`S3Blobs.check`, /healthz's ``files``, can).
The client is opened with :meth:`S3Blobs.open` when the service starts and closed with
:meth:`S3Blobs.close`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError

from storage.blobs import CHUNK, Spool, StoreUnavailable, valid
from storage.files import private_dir

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

log = logging.getLogger(__name__)

MULTIPART_THRESHOLD = 16 * 1024 * 1024  # larger spools go up in parts
PART_SIZE = 8 * 1024 * 1024  # S3 wants at least 5 MiB for every part but the last
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


@functools.cache
def _session() -> AioSession:
    """One botocore session for the process: it loads S3's service model once (a third of a
    second), then each client is made in milliseconds."""
    return get_session()


class BucketUnavailable(StoreUnavailable):
    """The bucket does not answer as it should (the reason in a few words)."""


@dataclass(frozen=True, slots=True)
class S3Config:
    """Where the bucket is and how to talk to it (from ``storage.s3`` in the settings)."""

    bucket: str
    prefix: str = "blobs/"
    endpoint_url: str | None = None  # None: AWS
    region: str | None = None  # None: botocore's (AWS_REGION, ~/.aws/config), else us-east-1
    access_key_id: str | None = None  # both None: botocore's credential chain (env, IAM role)
    secret_access_key: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 3  # each request, first try included


class S3Blobs:
    """Blobs as objects ``<prefix><sha256>`` in a bucket; see the module's description."""

    def __init__(
        self,
        config: S3Config,
        spool_dir: Path,
        *,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
    ) -> None:
        self.config = config
        self.spool_dir = spool_dir
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self._client: S3Client | None = None
        self._exit: contextlib.AsyncExitStack | None = None

    def key(self, sha256: str) -> str:
        if not valid(sha256):
            raise ValueError("not a sha256")
        return f"{self.config.prefix}{sha256}"

    # -- opening -------------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the client (no request is made: a wrong bucket shows in :meth:`check`)."""
        if self._client is not None:
            return
        config = self.config
        aio_config = AioConfig(
            signature_version="s3v4",
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            retries={"max_attempts": config.max_attempts, "mode": "standard"},
            # S3-compatible stores differ in the newer checksums (CRC32 headers and trailers):
            # sent and checked only where an operation needs them; Content-MD5 covers uploads.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": config.addressing_style, "payload_signing_enabled": False},
        )
        credentials: dict[str, Any] = {}
        if config.access_key_id is not None and config.secret_access_key is not None:
            credentials = {
                "aws_access_key_id": config.access_key_id,
                "aws_secret_access_key": config.secret_access_key,
            }
        stack = contextlib.AsyncExitStack()
        self._client = await stack.enter_async_context(
            _session().create_client(
                "s3",
                endpoint_url=config.endpoint_url or None,
                region_name=config.region or None,
                config=aio_config,
                **credentials,
            )
        )
        self._exit = stack

    async def close(self) -> None:
        stack, self._exit, self._client = self._exit, None, None
        if stack is not None:
            await stack.aclose()

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("the S3 blob store is not open (S3Blobs.open)")
        return self._client

    async def check(self) -> None:
        """HEAD the bucket: :class:`BucketUnavailable` with the reason when it fails."""
        try:
            await self.client.head_bucket(Bucket=self.config.bucket)
        except ClientError as exc:
            code = _code(exc)
            if code in {"404", "NoSuchBucket", "NotFound"}:
                raise BucketUnavailable("no such bucket") from exc
            if code in {"403", "AccessDenied", "Forbidden"}:
                raise BucketUnavailable("access denied") from exc
            raise BucketUnavailable(f"error {code}") from exc
        except BotoCoreError as exc:
            raise BucketUnavailable(f"unreachable ({type(exc).__name__})") from exc

    # -- Blobs ---------------------------------------------------------------------------------

    async def keep(self, spool: Spool) -> None:
        spool.close()
        key = self.key(spool.sha256)
        if await self._head(key) is None:
            if spool.size > self.multipart_threshold:
                await self._put_parts(key, spool.path)
            else:
                await self._put(key, spool.path, spool.size)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(spool.path)

    async def size(self, sha256: str) -> int | None:
        """The object's size, None when missing; :class:`BucketUnavailable` when the bucket
        does not answer (a download then says so rather than that the file is gone)."""
        if not valid(sha256):
            return None
        try:
            return await self._head(self.key(sha256))
        except ClientError as exc:
            raise BucketUnavailable(f"error {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise BucketUnavailable(f"unreachable ({type(exc).__name__})") from exc

    async def read(
        self, sha256: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        key = self.key(sha256)
        if start < 0:
            raise ValueError("start must not be negative")
        if end is not None and end <= start:  # nothing to read; the file must exist still
            if await self._head(key) is None:
                raise FileNotFoundError(sha256)
            return
        bucket = self.config.bucket
        try:
            if start or end is not None:
                wanted = f"bytes={start}-{'' if end is None else end - 1}"
                response = await self.client.get_object(Bucket=bucket, Key=key, Range=wanted)
            else:
                response = await self.client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            code = _code(exc)
            if code in _MISSING:
                raise FileNotFoundError(sha256) from exc
            if code in {"416", "InvalidRange"}:  # start at or past the end: no bytes
                return
            raise
        async with response["Body"] as body:
            while chunk := await body.read(CHUNK):
                yield chunk

    @contextlib.asynccontextmanager
    async def local(self, sha256: str) -> AsyncIterator[Path]:
        self.key(sha256)  # ValueError before anything is created
        private_dir(self.spool_dir)
        path = self.spool_dir / f"local-{secrets.token_hex(12)}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                async for chunk in self.read(sha256):
                    await asyncio.to_thread(handle.write, chunk)
            yield path
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    async def delete(self, sha256: str) -> bool:
        key = self.key(sha256)
        if await self._head(key) is None:
            return False
        await self.client.delete_object(Bucket=self.config.bucket, Key=key)
        return True

    # -- requests ------------------------------------------------------------------------------

    async def _head(self, key: str) -> int | None:
        """The object's size, or None when there is none."""
        try:
            response = await self.client.head_object(Bucket=self.config.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        return response["ContentLength"]

    async def _put(self, key: str, path: Path, size: int) -> None:
        md5 = await asyncio.to_thread(_file_md5, path)
        with open(path, "rb") as handle:  # noqa: ASYNC230 (aiohttp reads it in a thread)
            await self.client.put_object(
                Bucket=self.config.bucket,
                Key=key,
                Body=handle,
                ContentLength=size,
                ContentMD5=md5,
                ContentType="application/octet-stream",
            )

    async def _put_parts(self, key: str, path: Path) -> None:
        bucket, client = self.config.bucket, self.client
        upload = await client.create_multipart_upload(
            Bucket=bucket, Key=key, ContentType="application/octet-stream"
        )
        upload_id = upload["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            with open(path, "rb") as handle:  # noqa: ASYNC230 (read in a thread below)
                while True:
                    data, md5 = await asyncio.to_thread(_next_part, handle, self.part_size)
                    if not data:
                        break
                    number = len(parts) + 1
                    answer = await client.upload_part(
                        Bucket=bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=data,
                        ContentMD5=md5,
                    )
                    parts.append({"ETag": answer["ETag"], "PartNumber": number})
            await client.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            try:  # the parts uploaded so far would otherwise be kept (and billed)
                await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except Exception as exc:  # noqa: BLE001 - the first failure is the one raised
                log.warning("could not abort the multipart upload of %s: %s", key, exc)
            raise


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _file_md5(path: Path) -> str:
    digest = hashlib.md5()  # noqa: S324 - Content-MD5 is S3's integrity check, not security
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode()


def _next_part(handle: BinaryIO, size: int) -> tuple[bytes, str]:
    data = handle.read(size)
    digest = hashlib.md5(data)  # noqa: S324 - as above
    return data, base64.b64encode(digest.digest()).decode()
