"""``sql.transaction``: a writer batch's transaction, with BEGIN and COMMIT carried by its
statements on SQLite; all or nothing however its work starts and ends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from tortoise.transactions import in_transaction

from storage import sql
from storage.models import User
from tests.support import Api


def rename(name: str) -> sql.Plan[None]:
    yield 'UPDATE "users" SET "display_name" = ? WHERE "username" = ?', [name, "agent"]


async def agent_name() -> str | None:
    return (await User.get(username="agent")).display_name


async def test_a_plan_can_carry_the_commit(admin: Api) -> None:
    async with sql.transaction():
        await sql.run(rename("Ann"))
        await sql.run(rename("Bea"), commit=True)
    assert await agent_name() == "Bea"
    async with sql.transaction():  # committed on the way out when no plan carried it
        await sql.run(rename("Cid"))
    assert await agent_name() == "Cid"


async def begun_by_a_plan() -> None:
    async with sql.transaction():
        await sql.run(rename("Ann"))
        raise RuntimeError


async def begun_by_the_orm() -> None:
    async with sql.transaction():
        await User.filter(username="agent").update(display_name="Bea")
        await sql.run(rename("Cid"))
        raise RuntimeError


async def begun_by_a_savepoint() -> None:
    async with sql.transaction():
        async with in_transaction():
            await User.filter(username="agent").update(display_name="Dan")
        raise RuntimeError


async def failing_at_the_last_plan() -> None:
    def broken() -> sql.Plan[None]:
        yield 'UPDATE "users" SET "nope" = 1', []

    async with sql.transaction():
        await sql.run(rename("Eve"))
        await sql.run(broken(), commit=True)


@pytest.mark.parametrize(
    ("work", "error"),
    [
        (begun_by_a_plan, "RuntimeError"),
        (begun_by_the_orm, "RuntimeError"),
        (begun_by_a_savepoint, "RuntimeError"),
        (failing_at_the_last_plan, "OperationalError"),
    ],
)
async def test_a_failure_rolls_back_whatever_began_the_transaction(
    admin: Api, work: Callable[[], Awaitable[None]], error: str
) -> None:
    before = await agent_name()
    with pytest.raises(Exception) as failed:  # noqa: PT011 - the type is checked below
        await work()
    assert type(failed.value).__name__ == error
    assert await agent_name() == before
