"""A chat's priority: none, low, medium, high, urgent. Kept as a number (0-4) so that the
queue is served highest first with an index (``Chat.priority``); shown as its name."""

from __future__ import annotations

from handoff.domain.errors import Invalid

LEVELS = ("none", "low", "medium", "high", "urgent")
NONE = 0
URGENT = len(LEVELS) - 1


def rank(name: str) -> int:
    """The stored number of a priority's name; Invalid for anything else."""
    try:
        return LEVELS.index(name)
    except ValueError:
        raise Invalid(
            f"priority must be one of {', '.join(LEVELS)}", field="priority", allowed=list(LEVELS)
        ) from None


def name(value: int | None) -> str:
    """The name of a stored priority (an unknown number counts as none)."""
    return LEVELS[value] if value is not None and 0 <= value < len(LEVELS) else LEVELS[NONE]
