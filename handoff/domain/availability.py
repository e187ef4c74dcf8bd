"""Availability: what people say of themselves, and the status others see.

A person chooses ``online``, ``away`` or ``offline`` (``User.availability``); the status
shown (``status``) also depends on whether a console of theirs is connected (an open
WebSocket or a heartbeat within the presence TTL, in any process):

| chosen  | connected | status  |
|---------|-----------|---------|
| online  | yes       | online  |
| away    | yes       | away    |
| offline | either    | offline |
| any     | no        | offline |

Only people whose status is ``online`` are given chats automatically
(``handoff.usecases.assignment``). Profile rules: the console's languages and the
notification preferences, with their defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.models import Availability

ONLINE, AWAY, OFFLINE = "online", "away", "offline"
STATUSES = (ONLINE, AWAY, OFFLINE)
# Languages the console speaks (its i18n dictionaries).
LANGUAGES = ("en", "id")
# Notification preferences and their defaults (User.preferences holds what was changed).
PREFERENCES: dict[str, bool] = {"sound": True, "browser": True}


def effective_status(availability: str, connected: bool) -> str:
    """The status others see: the person's choice while a console of theirs is connected,
    else ``offline``."""
    if not connected or availability == Availability.OFFLINE:
        return OFFLINE
    return AWAY if availability == Availability.AWAY else ONLINE


def preferences(stored: Mapping[str, Any] | None) -> dict[str, bool]:
    """The person's notification preferences, defaults filled in (unknown keys dropped)."""
    given = stored or {}
    return {key: bool(given.get(key, default)) for key, default in PREFERENCES.items()}
