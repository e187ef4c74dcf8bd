"""The old file store of email attachments, read for messages stored before the blob store
(``storage.blobs``) kept every file; nothing writes here any more but tests of old data.

Each file the store writes lives in a folder of its own, ``<root>/<id>/<name>``, where
``id`` is 32 random hex digits; an attachment records only that id (``Attachment.file``).
Reading goes by id only: :meth:`FileStore.path` takes nothing but 32 hex digits, looks in
that one folder and returns the one regular file there. No name, path or provider id a
customer chose ever becomes a path, so the store never serves anything it did not write
(the signing key, the database) and ``..`` cannot be expressed.

The root is ``<storage.data_dir>/<channels.email.attachments_dir>`` (an absolute
``attachments_dir`` is used as it is). Folders are created 0700 and files 0600.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

_ID = re.compile(r"[0-9a-f]{32}")
# How attachment records looked before the store had ids: a path to the file, relative to
# the data dir ("attachments/<id>/<name>") or absolute; its folder's name is the id.
_LEGACY_REF = re.compile(r"(?:^|.*/)([0-9a-f]{32})/[^/]+")


class FileStore:
    """Files written by id under ``root``; see the module's description."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, name: str, data: bytes) -> str:
        """Write ``data`` as ``name`` in a new folder of its own; the file's id."""
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise OSError(f"unsafe file name {name!r}")
        private_dir(self.root)
        file_id = secrets.token_hex(16)
        folder = self.root / file_id
        folder.mkdir(mode=0o700)
        try:
            fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return file_id

    def path(self, file_id: object) -> Path | None:
        """The file stored under ``file_id``, or None (not an id of ours, or gone)."""
        if not isinstance(file_id, str) or not _ID.fullmatch(file_id):
            return None
        folder = self.root / file_id
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return None
        files = [e for e in entries if e.is_file(follow_symlinks=False)]
        if len(files) != 1 or len(entries) != 1:
            return None
        return folder / files[0].name

    def remove(self, file_ids: Sequence[str]) -> None:
        """Delete the folders of these ids (a message not stored after all)."""
        for file_id in file_ids:
            if not _ID.fullmatch(file_id):
                continue
            try:
                shutil.rmtree(self.root / file_id)
            except OSError as exc:
                log.warning("files: could not remove %s: %s", file_id, exc)


def legacy_id(ref: object) -> str | None:
    """The store id in an attachment record written before ids (``attachments/<id>/<name>``
    or an absolute path ending so), or None. Only for records the store itself wrote: the
    caller checks that (email messages), as a provider's id could take any shape."""
    if not isinstance(ref, str):
        return None
    match = _LEGACY_REF.fullmatch(ref)
    return match[1] if match else None


def private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents as 0700 folders (an existing one is left)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)  # whatever the umask


def private_file(path: Path) -> None:
    """Make an existing file readable by its owner only (0600), if it is looser."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            os.chmod(path, 0o600)
    except FileNotFoundError:
        return
