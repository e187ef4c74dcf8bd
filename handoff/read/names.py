"""Agents' display names for chat rows: a small cache, read again every :data:`NAME_TTL`
seconds or when an unknown id is asked for, and told of changes made here."""

from __future__ import annotations

import time

from storage.models import User

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
