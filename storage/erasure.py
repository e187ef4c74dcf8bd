"""What erasing a contact (``handoff.usecases.erasure``) asks of the database beyond the
ORM: whether a kept file (``storage.blobs``, by sha256) is still named by a message.

A message names its files in its ``attachments`` JSON (``"sha256": "<64 hex>"``); a hash
is hex only, so it is looked for as text. One statement per file, run in the erasure's
transaction after its messages are deleted: a file another message still names is kept.
"""

from __future__ import annotations

from collections.abc import Iterable

from storage import sql
from storage.blobs import valid

# The columns are the model's; the hash is a parameter.
REFERENCED = 'SELECT "id" FROM "messages" WHERE CAST("attachments" AS TEXT) LIKE ? LIMIT 1'
STATEMENTS = (REFERENCED,)


async def referenced(hashes: Iterable[str]) -> set[str]:
    """The hashes among ``hashes`` that a message's attachments still name."""
    found = set()
    for sha256 in sorted(set(hashes)):
        if not valid(sha256):
            continue
        if await sql.fetch(REFERENCED, [f"%{sha256}%"]):
            found.add(sha256)
    return found
