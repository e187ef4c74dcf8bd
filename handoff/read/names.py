"""Agents' display names and label names for chat rows: small caches, read again every
:data:`NAME_TTL` seconds or when an unknown id is asked for, and told of changes made here."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from storage.models import Label, User

NAME_TTL = 30.0


class AgentNames:
    def __init__(self) -> None:
        self._names: dict[int, str] = {}
        self._loaded = 0.0

    async def names(self, ids: set[int] | None = None) -> dict[int, str]:
        """Display names by user id (the username where none is set)."""
        stale = time.monotonic() - self._loaded > NAME_TTL
        if stale or (ids and not ids <= self._names.keys()):
            rows = await User.all().values_list("id", "display_name", "username")
            self._names = {uid: name or username for uid, name, username in rows}
            self._loaded = time.monotonic()
        return self._names

    def remember(self, user: User) -> None:
        """``user`` was created or renamed in this process."""
        self._names[user.id] = user.display_name or user.username


class LabelNames:
    """Label names by id for chat rows (which keep label ids): the same kind of cache, read
    again every :data:`NAME_TTL` seconds, when an unknown id is asked for, or when a label
    changed in this process (:meth:`forget`)."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}
        self._loaded = 0.0

    async def names(self, ids: Iterable[int] = ()) -> dict[int, str]:
        wanted = set(ids)
        stale = time.monotonic() - self._loaded > NAME_TTL
        if stale or not wanted <= self._names.keys():
            rows = await Label.all().values_list("id", "name")
            self._names = {label_id: name for label_id, name in rows}
            self._loaded = time.monotonic()
        return self._names

    def forget(self) -> None:
        """A label was created, renamed or deleted here: read them again next time."""
        self._loaded = 0.0


def label_ids(rows: Iterable[dict[str, Any]]) -> set[int]:
    """The label ids on these chat rows."""
    return {label_id for row in rows for label_id in row.get("label_ids") or ()}
