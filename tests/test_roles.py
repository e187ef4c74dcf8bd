"""Roles (``msgcenter serve --role``) and the lease that keeps a part in one process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from msgcenter.lease import Lease, leased
from msgcenter.roles import ALL, parse_roles
from msgcenter.settings import SettingsError
from tests.conftest import POSTGRES_URL
from tests.test_cli import run


def test_roles_may_be_repeated_or_comma_separated() -> None:
    assert parse_roles(["api,outbox", "smtp"]) == {"api", "outbox", "smtp"}
    assert parse_roles(None) == parse_roles(["all"]) == parse_roles(["api", "all"]) == ALL
    with pytest.raises(SettingsError, match="unknown role poller"):
        parse_roles(["api,poller"])


def test_split_roles_on_sqlite_are_refused_naming_storage_url(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", "--role", "api", "--port", "0")
    assert result.returncode == 2
    assert "storage.url is SQLite" in result.stderr and "--role api" in result.stderr


@pytest.mark.skipif(not POSTGRES_URL, reason="MSGCENTER_TEST_POSTGRES_URL is not set")
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_split_roles_need_redis_for_events(tmp_path: Path, db_url: str) -> None:
    result = await asyncio.to_thread(
        run, tmp_path, "serve", "--role", "outbox", "--port", "0", env={"STORAGE__URL": db_url}
    )
    assert result.returncode == 2
    assert "events.url is memory://" in result.stderr


class _Part:
    """A stand-in for the outbox: records when it runs."""

    def __init__(self) -> None:
        self.running = False
        self.starts = 0

    async def start(self) -> None:
        self.running = True
        self.starts += 1

    async def stop(self) -> None:
        self.running = False


@pytest.mark.skipif(not POSTGRES_URL, reason="MSGCENTER_TEST_POSTGRES_URL is not set")
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_one_process_holds_the_lease_and_a_standby_takes_over(db_url: str) -> None:
    first, second = _Part(), _Part()
    one = Lease(db_url, "outbox", retry_seconds=0.1, check_seconds=0.1)
    two = Lease(db_url, "outbox", retry_seconds=0.1, check_seconds=0.1)
    other_part = Lease(db_url, "telegram", retry_seconds=0.1)
    async with leased(one, first.start, first.stop), leased(other_part, _Part().start, _noop):
        await _until(lambda: first.running and other_part.held)
        async with leased(two, second.start, second.stop):
            await asyncio.sleep(0.5)
            assert first.running and not second.running  # never both
            assert two.state == "standby" and not two.held
    # The holder went away (its session ended with it): the standby takes over.
    async with leased(two, second.start, second.stop):
        await _until(lambda: second.running, within=3)
    assert not first.running and not second.running and second.starts == 1


async def _noop() -> None:
    return None


async def _until(condition: object, within: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)
