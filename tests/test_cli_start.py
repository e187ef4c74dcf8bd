"""Start-up failures of `msgcenter serve` and `msgcenter demo`, run as a user would: a taken
port or a database that cannot be opened stops the command at once, with one line that
names the port or the database (never its password), and nothing claims to be listening."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp import web

from msgcenter.service import build_app
from tests.conftest import POSTGRES_URL
from tests.support import make_settings

ROOT = Path(__file__).resolve().parent.parent
MOCK_PORTS = (
    "TELEGRAM_PORT", "WHATSAPP_PORT", "SMTP_PORT", "SMTP_CONTROL_PORT", "OPENAI_PORT", "API_PORT",
)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def taken() -> Iterator[int]:
    """A port something else listens on (as a first msgcenter would)."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A clean environment: SQLite in ``tmp_path``, free ports for everything the demo opens."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MSGCENTER_")},
        "MSGCENTER_STORAGE__URL": f"sqlite://{tmp_path / 'data' / 'msgcenter.db'}",
        "MSGCENTER_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "MSGCENTER_CHANNELS__EMAIL__PORT": str(_free_port()),
        **{f"MSGCENTER_MOCK__{name}": str(_free_port()) for name in MOCK_PORTS},
        **{f"MSGCENTER_{key}": value for key, value in settings.items()},
    }


def _start(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``msgcenter ARGS`` expecting it to stop by itself; the result and how long it took.

    A command that keeps running (the old behaviour) fails the test by its timeout.
    """
    began = time.monotonic()
    result = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "msgcenter.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return result, time.monotonic() - began


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no traceback, no log lines around it
    assert "Traceback" not in result.stderr
    assert "listening" not in result.stderr + result.stdout
    assert "DEMO ONLY" not in result.stdout  # the demo's banner says it serves
    return lines[0]


def test_serve_on_a_taken_port_stops_at_once_naming_it(tmp_path: Path, taken: int) -> None:
    result, took = _start(_env(tmp_path), "serve", "--port", str(taken))
    line = _one_line_error(result)
    assert line == (
        f"msgcenter: error: cannot listen on 127.0.0.1:{taken}: address already in use "
        "(is msgcenter already running?)"
    )
    assert took < 30  # the interpreter and imports; it used to run on forever
    assert not (tmp_path / "data" / "msgcenter.db").exists()  # stopped before opening it


def test_serve_stops_when_the_smtp_port_is_taken(tmp_path: Path, taken: int) -> None:
    env = _env(tmp_path, CHANNELS__EMAIL__ENABLED="true", CHANNELS__EMAIL__PORT=str(taken))
    result, _ = _start(env, "serve", "--port", str(_free_port()))
    line = _one_line_error(result)
    assert f"cannot listen on 127.0.0.1:{taken} for the SMTP server (channels.email.port)" in line
    assert "address already in use" in line


def test_a_second_demo_stops_at_once_naming_the_port(tmp_path: Path, taken: int) -> None:
    result, _ = _start(_env(tmp_path), "demo", "--port", str(taken))
    line = _one_line_error(result)
    assert f"cannot listen on 127.0.0.1:{taken}: address already in use" in line


@pytest.mark.parametrize(
    ("name", "setting", "what"),
    [
        ("TELEGRAM_PORT", "mock.telegram_port", "the mock Telegram provider"),
        ("WHATSAPP_PORT", "mock.whatsapp_port", "the mock WhatsApp provider"),
        ("SMTP_PORT", "mock.smtp_port", "the mock SMTP relay"),
        ("SMTP_CONTROL_PORT", "mock.smtp_control_port", "the mock SMTP relay's control API"),
        ("OPENAI_PORT", "mock.openai_port", "the mock OpenAI-compatible model"),
        ("API_PORT", "mock.api_port", "the mock API channel receiver"),
    ],
)
def test_the_demo_stops_when_a_mock_port_is_taken(
    tmp_path: Path, taken: int, name: str, setting: str, what: str
) -> None:
    env = _env(tmp_path, **{f"MOCK__{name}": str(taken)})
    result, _ = _start(env, "demo", "--port", str(_free_port()))
    line = _one_line_error(result)
    assert f"cannot listen on 127.0.0.1:{taken} for {what} ({setting})" in line
    assert "address already in use" in line


def test_msgcenter_mock_stops_when_a_mock_port_is_taken(tmp_path: Path, taken: int) -> None:
    result, _ = _start(_env(tmp_path, MOCK__WHATSAPP_PORT=str(taken)), "mock")
    line = _one_line_error(result)
    assert f"cannot listen on 127.0.0.1:{taken} for the mock WhatsApp provider" in line


def test_the_demo_stops_when_its_smtp_port_is_taken(tmp_path: Path, taken: int) -> None:
    env = _env(tmp_path, CHANNELS__EMAIL__PORT=str(taken))
    result, _ = _start(env, "demo", "--port", str(_free_port()))
    line = _one_line_error(result)
    assert f"cannot listen on 127.0.0.1:{taken} for the SMTP server" in line


def _with(url: str, *, user: str | None = None, password: str | None = None,
          database: str | None = None, port: int | None = None) -> str:  # fmt: skip
    parts = urlsplit(url)
    user = user or parts.username or "postgres"
    host = f"{parts.hostname}:{port or parts.port or 5432}"
    login = f"{user}:{password}" if password else user
    path = f"/{database}" if database else parts.path
    return urlunsplit((parts.scheme, f"{login}@{host}", path, parts.query, ""))


def _database_failure(tmp_path: Path, url: str, command: str) -> str:
    args = ["serve", "--port", str(_free_port())] if command == "serve" else command.split()
    result, took = _start(_env(tmp_path, STORAGE__URL=url), *args)
    line = _one_line_error(result)
    assert took < 30
    assert "s3cret-pw" not in result.stderr + result.stdout
    return line


@pytest.mark.parametrize("command", ["serve", "migrate", "user list"])
def test_a_closed_postgres_port_is_one_line_naming_the_url(tmp_path: Path, command: str) -> None:
    port = _free_port()  # nothing listens there
    url = f"postgres://msgcenter:s3cret-pw@127.0.0.1:{port}/msgcenter"
    line = _database_failure(tmp_path, url, command)
    assert line.startswith(
        f"msgcenter: error: cannot open the database postgres://msgcenter:***@127.0.0.1:{port}"
        "/msgcenter: connection refused"
    ), line


def test_a_sqlite_file_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    url = f"sqlite://{blocker / 'msgcenter.db'}"
    line = _database_failure(tmp_path, url, "serve")
    assert line.startswith(f"msgcenter: error: cannot open the database {url}: "), line


needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="MSGCENTER_TEST_POSTGRES_URL is not set"
)


@needs_postgres
@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_missing_postgres_database_is_one_line(tmp_path: Path, command: str) -> None:
    assert POSTGRES_URL
    url = _with(POSTGRES_URL, database="msgcenter_no_such_database", password="s3cret-pw")
    line = _database_failure(tmp_path, url, command)
    assert "cannot open the database postgres://" in line
    assert ":***@" in line and "/msgcenter_no_such_database:" in line
    assert 'database "msgcenter_no_such_database" does not exist' in line


@needs_postgres
@pytest.mark.parametrize("command", ["serve", "user list"])
def test_a_wrong_postgres_role_is_one_line(tmp_path: Path, command: str) -> None:
    assert POSTGRES_URL
    url = _with(POSTGRES_URL, user="msgcenter_no_such_role", password="s3cret-pw")
    line = _database_failure(tmp_path, url, command)
    assert "cannot open the database postgres://msgcenter_no_such_role:***@" in line
    assert 'role "msgcenter_no_such_role" does not exist' in line


async def test_a_service_stopped_right_after_starting_stops(db_url: str, tmp_path: Path) -> None:
    """A start-up that fails once the service has started (a port taken between the check and
    the bind) must stop, not hang: the database connects while it opens, so no task is
    cancelled while connecting (Tortoise would then keep the connection's lock for good and
    the shutdown wait for it forever)."""
    runner = web.AppRunner(build_app(make_settings(db_url, tmp_path / "data")))
    await runner.setup()  # the database open, the core's tasks started
    await asyncio.wait_for(runner.cleanup(), 30)
