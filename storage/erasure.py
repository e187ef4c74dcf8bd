"""What erasing a contact (``handoff.usecases.erasure``) asks of the database beyond the
ORM: which kept files (``storage.blobs``, by sha256) are still named by a message.

A message names its files in its ``attachments`` JSON (``"sha256": "<64 hex>"``); a hash
is hex only, so it is looked for as text. Run in the erasure's transaction after its
messages are deleted: a file another message still names is kept. There is no index on
attachments, so the hashes are looked for together: one scan of ``messages`` for up to
:data:`HASHES_PER_SCAN` of them (another only when a scan's rows ran past :data:`ROWS`).
"""

from __future__ import annotations

from collections.abc import Iterable

from storage import sql
from storage.blobs import valid

HASHES_PER_SCAN = 50
ROWS = 500
_LIKE = 'CAST("attachments" AS TEXT) LIKE ?'
# The columns are the model's; the hashes are parameters.
REFERENCED = (
    'SELECT CAST("attachments" AS TEXT) AS "text" FROM "messages" WHERE {likes} LIMIT {rows}'
)
STATEMENTS = (REFERENCED.format(likes=_LIKE, rows=ROWS),)


async def referenced(hashes: Iterable[str]) -> set[str]:
    """The hashes among ``hashes`` that a message's attachments still name."""
    wanted = sorted({sha256 for sha256 in hashes if valid(sha256)})
    found: set[str] = set()
    for start in range(0, len(wanted), HASHES_PER_SCAN):
        left = set(wanted[start : start + HASHES_PER_SCAN])
        while left:
            ordered = sorted(left)
            statement = REFERENCED.format(likes=" OR ".join([_LIKE] * len(ordered)), rows=ROWS)
            rows = await sql.fetch(statement, [f"%{sha256}%" for sha256 in ordered])
            if not rows:
                break
            texts = [str(row["text"]) for row in rows]
            named = {sha256 for sha256 in left if any(sha256 in text for text in texts)}
            if not named:  # rows matched in another case only: keep them all (never loop)
                named = set(left)
            found |= named
            left -= named
            if len(rows) < ROWS:  # every message naming one of them was read
                break
    return found
