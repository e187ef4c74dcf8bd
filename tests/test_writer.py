"""The group-commit writer: callers share commits, and one failure stays its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from handoff.infra.writer import Unit
from storage.models import User
from tests.support import Api


async def test_merged_operations_share_a_commit_and_a_failing_item_fails_alone(admin: Api) -> None:
    writer = admin.service.core.writer
    calls: list[list[str]] = []

    async def rename(units: Sequence[Unit], names: Sequence[Any]) -> list[str]:
        calls.append(list(names))
        if "bad name" in names:
            raise ValueError("bad name")
        for name in names:
            await User.filter(username="agent").update(display_name=name)
        return [f"ok {name}" for name in names]

    together = [writer.run_merged("rename", rename, n) for n in ("Ann", "bad name", "Bea")]
    outcomes = await asyncio.gather(*together, return_exceptions=True)
    assert outcomes[0] == "ok Ann" and outcomes[2] == "ok Bea"
    assert isinstance(outcomes[1], ValueError)
    assert ["Ann", "bad name", "Bea"] in calls  # tried together first, then one by one
    assert (await User.get(username="agent")).display_name == "Bea"


async def test_a_commit_that_fails_fails_every_caller(admin: Api) -> None:
    writer = admin.service.core.writer

    async def impossible(units: Sequence[Unit], items: Sequence[Any]) -> list[None]:
        await User.create(username="admin", password_hash="x")  # taken: IntegrityError
        return [None for _ in items]

    outcomes = await asyncio.gather(
        *(writer.run_merged("dup", impossible, i) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(outcome, Exception) for outcome in outcomes)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await writer.run_merged("dup", impossible, 9)


async def test_two_kinds_share_one_transaction_and_a_failing_kind_fails_alone(admin: Api) -> None:
    writer = admin.service.core.writer
    calls: list[tuple[str, list[str]]] = []

    def renamer(username: str) -> Any:
        async def rename(units: Sequence[Unit], names: Sequence[Any]) -> list[str]:
            calls.append((username, list(names)))
            if "bad name" in names:
                raise ValueError("bad name")
            for name in names:
                await User.filter(username=username).update(display_name=name)
            return [f"ok {name}" for name in names]

        return rename

    agents, admins = renamer("agent"), renamer("admin")
    outcomes = await asyncio.gather(
        writer.run_merged("agent", agents, "Ann"),
        writer.run_merged("admin", admins, "Boss"),
        writer.run_merged("agent", agents, "Bea"),
    )
    assert outcomes == ["ok Ann", "ok Boss", "ok Bea"]
    assert calls == [("agent", ["Ann", "Bea"]), ("admin", ["Boss"])]  # once each, together
    assert (await User.get(username="agent")).display_name == "Bea"

    calls.clear()
    failing = await asyncio.gather(
        writer.run_merged("agent", agents, "Cid"),
        writer.run_merged("admin", admins, "bad name"),
        return_exceptions=True,
    )
    assert failing[0] == "ok Cid" and isinstance(failing[1], ValueError)
    assert calls[:2] == [("agent", ["Cid"]), ("admin", ["bad name"])]  # together, rolled back
    assert ("agent", ["Cid"]) in calls[2:]  # then each kind in its own savepoint
    assert (await User.get(username="agent")).display_name == "Cid"
    assert (await User.get(username="admin")).display_name != "bad name"
