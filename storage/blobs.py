"""The blob store: every file msgcenter keeps (customer media, agents' uploads), by content.

A file is named by the sha256 of its bytes, so the same file is stored once however often
it is sent. Writing goes through a :class:`Spool`: the bytes are streamed into a private
temporary file (never held whole in memory) while their hash and size are counted and the
first bytes kept for sniffing the type; :meth:`Blobs.keep` then moves the file into place
(on disk: a rename; a bucket: an upload). Reading goes by hash only: a hash is 64 hex
digits, so nothing a customer chose ever becomes a path or a key.

:class:`DiskBlobs` keeps them under ``<storage.data_dir>/blobs/<aa>/<bb>/<sha256>`` (folders
0700, files 0600). A bucket (S3-compatible) store implements the same :class:`Blobs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol

from storage.files import private_dir

SHA256 = re.compile(r"[0-9a-f]{64}")
HEAD_BYTES = 4096  # kept from the start of a file for sniffing its type
CHUNK = 256 * 1024


class TooLarge(Exception):
    """A file grew past the limit it was spooled with."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


class StoreUnavailable(Exception):
    """The store cannot be reached now (a bucket that does not answer): try again later."""


class Blobs(Protocol):
    """Where kept files live. Every method takes a hash checked by :func:`valid`."""

    spool_dir: Path  # where spools write (a local, private folder)

    async def keep(self, spool: Spool) -> None:
        """Store the spooled file under its hash (once: a file already there is kept) and
        remove the spool's temporary file."""
        ...

    async def size(self, sha256: str) -> int | None:
        """The stored file's size in bytes, or None when there is no such file."""
        ...

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes ``start`` up to ``end`` (exclusive; None: to the end), in chunks."""
        ...

    def local(self, sha256: str) -> contextlib.AbstractAsyncContextManager[Path]:
        """A local file with the stored bytes, for as long as the context lasts (disk: the
        file itself; a bucket: a temporary download). Raises FileNotFoundError."""
        ...

    async def delete(self, sha256: str) -> bool:
        """Remove the stored file (a contact erased); False when there was none."""
        ...


def valid(sha256: object) -> bool:
    return isinstance(sha256, str) and SHA256.fullmatch(sha256) is not None


@dataclass
class Spool:
    """A file being received: write chunks, then hand it to :meth:`Blobs.keep`.

    Use as ``async with Spool(blobs.spool_dir, limit) as spool``; leaving the block removes
    the temporary file unless it was kept. :class:`TooLarge` is raised by :meth:`write`
    once the bytes pass ``limit``.
    """

    folder: Path
    limit: int
    path: Path = field(init=False)
    size: int = 0
    head: bytes = b""
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)
    _fd: int | None = None

    def __post_init__(self) -> None:
        self.path = self.folder / f"spool-{secrets.token_hex(12)}"

    async def __aenter__(self) -> Spool:
        private_dir(self.folder)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def write(self, chunk: bytes) -> None:
        if self.size + len(chunk) > self.limit:
            raise TooLarge(self.limit)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self.size += len(chunk)
        self._hash.update(chunk)
        if self._fd is None:
            raise ValueError("spool not open")
        fd = self._fd
        if len(chunk) > CHUNK:  # a big write: off the event loop
            await asyncio.to_thread(_write_all, fd, chunk)
        else:
            _write_all(fd, chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class DiskBlobs:
    """Blobs in a folder: ``<root>/<aa>/<bb>/<sha256>``, the spools in ``<root>/tmp``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.spool_dir = root / "tmp"

    def path(self, sha256: str) -> Path:
        if not valid(sha256):
            raise ValueError("not a sha256")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def keep(self, spool: Spool) -> None:
        spool.close()
        target = self.path(spool.sha256)
        if target.exists():
            os.unlink(spool.path)
            return
        private_dir(target.parent)
        os.replace(spool.path, target)  # same file system: the spool folder is under root

    async def size(self, sha256: str) -> int | None:
        try:
            return self.path(sha256).stat().st_size
        except (OSError, ValueError):
            return None

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        return read_file(self.path(sha256), start, end)

    @contextlib.asynccontextmanager
    async def local(self, sha256: str) -> AsyncIterator[Path]:
        path = self.path(sha256)
        if not path.is_file():
            raise FileNotFoundError(sha256)
        yield path

    async def delete(self, sha256: str) -> bool:
        try:
            os.unlink(self.path(sha256))
        except FileNotFoundError:
            return False
        return True


async def read_file(path: Path, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
    """The bytes of the file at ``path`` from ``start`` up to ``end`` (exclusive), in chunks
    read off the event loop."""
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        handle.seek(start)
        left = None if end is None else max(0, end - start)
        while left is None or left > 0:
            want = CHUNK if left is None else min(CHUNK, left)
            chunk = await asyncio.to_thread(handle.read, want)
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk
    finally:
        handle.close()
