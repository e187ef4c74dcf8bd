"""Adapters: the only modules that use a library's private names (``._name``).

One module per library (``storage.adapters.tortoise``, ``storage.adapters.aiosqlite``,
``dashboard_api.adapters.aiohttp``). Each says in its docstring which version it was checked
against (the version pinned in pyproject.toml and requirements.lock) and has a ``check()``
that raises :class:`LibraryMismatch`, naming every private name it uses that the installed
version lacks or has changed the kind of. ``Database.open`` and ``create_api`` call them, so a
mismatched install stops at start-up; tests/test_adapters.py calls them too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from importlib.metadata import version
from types import MemberDescriptorType
from typing import Any


class LibraryMismatch(RuntimeError):
    """The installed version of a library lacks internals that its adapter uses."""


def problem(owner: Any, label: str, name: str, kind: str, fits: Callable[[Any], bool]) -> str:
    """What is wrong with ``owner.name`` (``label`` names the owner), or ``""``: it exists
    and ``fits`` its value (read without running a property or descriptor)."""
    try:
        value = inspect.getattr_static(owner, name)
        if isinstance(value, MemberDescriptorType) and not isinstance(owner, type):
            value = getattr(owner, name)  # a slot of the instance: its value
    except AttributeError:
        return f"{label}.{name} is missing (expected {kind})"
    if not fits(value):
        return f"{label}.{name} is a {type(value).__name__}, not {kind}"
    return ""


def require(distribution: str, checked: str, problems: Iterable[str]) -> None:
    """Raise :class:`LibraryMismatch` listing ``problems`` (empty ones are fine)."""
    found = [p for p in problems if p]
    if found:
        raise LibraryMismatch(
            f"{distribution} {version(distribution)} is installed; msgcenter's adapter for it "
            f"was checked against {checked} and relies on what it lacks: " + "; ".join(found)
        )


def is_coroutine_function(value: Any) -> bool:
    return inspect.iscoroutinefunction(value)


def is_method(value: Any) -> bool:
    return inspect.isfunction(value)


def is_property(value: Any) -> bool:
    return isinstance(value, property)


def is_classmethod(value: Any) -> bool:
    return isinstance(value, classmethod)
