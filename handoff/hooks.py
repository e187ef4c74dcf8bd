"""Typed hooks: a service says what it announces, ``handoff.core`` says who listens.

A :class:`Hook` is declared where it fires, with the type of what it carries::

    class Desk:
        def __init__(self, ...) -> None:
            self.queued: Hook[None] = Hook("desk.queued")  # a commit queued outbound messages

and wired in one place (``Core.build``)::

    desk.queued.register(lambda _: outbox.wake())

Listeners are plain functions, called in registration order with the payload. They run
inside the service that fires (often right after a commit), so they must not block: one
that has work to do starts it (wakes a worker, creates a task). A listener that raises is
logged and the others still run: one broken listener never stops the service that fired.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

Listener = Callable[[T], None]


class Hook(Generic[T]):
    """Something a service announces; listeners :meth:`register` and are called on
    :meth:`fire`."""

    __slots__ = ("_listeners", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: tuple[Listener[T], ...] = ()

    def register(self, listener: Listener[T]) -> Listener[T]:
        """Call ``listener`` on every :meth:`fire` from now on; returns it (a decorator)."""
        self._listeners = (*self._listeners, listener)
        return listener

    def unregister(self, listener: Listener[T]) -> None:
        self._listeners = tuple(known for known in self._listeners if known != listener)

    def __bool__(self) -> bool:
        """Whether anyone listens (a service may skip work nobody hears of)."""
        return bool(self._listeners)

    def fire(self, payload: T) -> None:
        for listener in self._listeners:
            try:
                listener(payload)
            except Exception:
                log.exception("a listener of %s failed", self.name)

    def __repr__(self) -> str:
        return f"Hook({self.name!r}, {len(self._listeners)} listeners)"


StepListener = Callable[[T], Awaitable[None]]


class Step(Generic[T]):
    """Work another service adds to an operation, inside its transaction: listeners are
    awaited in registration order, and one that raises fails the operation (it rolls back
    with everything else it did). Wired in ``Core.build`` like a :class:`Hook`."""

    __slots__ = ("_listeners", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: tuple[StepListener[T], ...] = ()

    def register(self, listener: StepListener[T]) -> StepListener[T]:
        self._listeners = (*self._listeners, listener)
        return listener

    def __bool__(self) -> bool:
        return bool(self._listeners)

    async def run(self, payload: T) -> None:
        for listener in self._listeners:
            await listener(payload)

    def __repr__(self) -> str:
        return f"Step({self.name!r}, {len(self._listeners)} listeners)"
