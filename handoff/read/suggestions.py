"""Merge suggestions (docs/api.md "Merge, undo and suggestions"): other contacts that share
a phone number or an e-mail address with a contact (``contact_points``)."""

from __future__ import annotations

from typing import Any

from handoff.domain.modes import Actor


async def suggestions(actor: Actor, contact_id: int) -> list[dict[str, Any]]:
    """``[{"id", "name", "shared": [{"kind", "value"}]}]``: the contacts ``actor`` may see
    that share a number or an address with ``contact_id``. (Filled in by the merge part.)"""
    del actor, contact_id
    return []
