"""The msgcenter command: migrate and user management, run as a user would."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from msgcenter.cli import freeze_startup_objects

ROOT = Path(__file__).resolve().parent.parent


def run(
    tmp_path: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``msgcenter ARGS`` on a SQLite file; ``env`` adds settings (``{"STORAGE__URL": ...}``)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MSGCENTER_")},
        "MSGCENTER_STORAGE__URL": f"sqlite://{tmp_path / 'cli.db'}",
        "MSGCENTER_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "MSGCENTER_AUTH__ARGON2_TIME_COST": "1",
        "MSGCENTER_AUTH__ARGON2_MEMORY_KIB": "64",
        **{f"MSGCENTER_{key}": value for key, value in (env or {}).items()},
    }
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "msgcenter.cli", *args],
        cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_migrate_and_user_commands(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    added = run(tmp_path, "user", "add", "ann", "--role", "admin", "--password", "secret-123",
                "--email", "ann@example.com")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "created admin ann" in added.stdout
    piped = run(tmp_path, "user", "add", "bob", stdin="piped-pass-1\n")
    assert piped.returncode == 0, piped.stderr
    listing = run(tmp_path, "user", "list")
    assert "ann" in listing.stdout and "bob" in listing.stdout and "admin" in listing.stdout
    duplicate = run(tmp_path, "user", "add", "ann", "--password", "secret-456")
    assert duplicate.returncode == 1 and "taken" in duplicate.stderr
    changed = run(tmp_path, "user", "passwd", "bob", "--password", "new-pass-99")
    assert changed.returncode == 0 and "password changed" in changed.stdout
    missing = run(tmp_path, "user", "passwd", "nobody", "--password", "new-pass-99")
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_version_and_help_texts(tmp_path: Path) -> None:
    shown = run(tmp_path, "--version")
    assert shown.returncode == 0 and shown.stdout.strip() == f"msgcenter {version('msgcenter')}"
    for args in (["--help"], ["user", "--help"], ["serve", "--help"], ["demo", "--help"]):
        helped = run(tmp_path, *args)
        assert helped.returncode == 0, helped.stderr
        assert "``" not in helped.stdout, helped.stdout  # no RST markup
    top = run(tmp_path, "--help").stdout
    assert "--demo" in top and "--version" in top
    assert "deactivate" in run(tmp_path, "user", "--help").stdout


def test_migrate_says_what_it_did_and_which_database_is_new(tmp_path: Path) -> None:
    data = tmp_path / "data"
    real = {"STORAGE__URL": f"sqlite://{data / 'msgcenter.db'}"}
    demo = run(tmp_path, "--demo", "migrate", env=real)
    assert demo.returncode == 0, demo.stderr
    assert f"note: creating a new database at {data / 'demo' / 'msgcenter.db'}" in demo.stderr
    assert "created the database schema (migrations 0001_initial" in demo.stdout
    assert (data / "demo" / "msgcenter.db").exists() and not (data / "msgcenter.db").exists()
    listed = run(tmp_path, "user", "list", env=real)  # the default database: new, and said so
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr.strip() == (
        f"note: creating a new database at {data / 'msgcenter.db'}; "
        f"the demo's data is in {data / 'demo'}/ (use --demo)"
    )
    again = run(tmp_path, "migrate", env=real)
    assert again.returncode == 0 and again.stderr == ""  # no note, no INFO log lines
    assert again.stdout.strip() == f"database is up to date (sqlite://{data / 'msgcenter.db'})"
    added = run(tmp_path, "--demo", "user", "add", "dina", "--password", "secret-123", env=real)
    assert added.returncode == 0 and added.stderr == "", added.stderr
    assert "dina" in run(tmp_path, "--demo", "user", "list", env=real).stdout
    assert "dina" not in run(tmp_path, "user", "list", env=real).stdout


def test_an_env_variable_that_sets_nothing_is_warned_about(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", env={"SERVER_PORT": "9001", "TEST_SOMETHING": "1"})
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, result.stderr
    assert "MSGCENTER_SERVER_PORT" in warnings[0]
    assert "did you mean MSGCENTER_SERVER__PORT?" in warnings[0]
    assert "TEST_SOMETHING" not in result.stderr


async def test_user_deactivate_ends_the_sessions_of_a_running_service(tmp_path: Path) -> None:
    """`user deactivate` in another process does what the API's deactivation does: the
    user's tokens stop working at once; `user activate` lets them log in again."""
    assert run(tmp_path, "user", "add", "cara", "--password", "secret-123").returncode == 0
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MSGCENTER_")},
        "MSGCENTER_STORAGE__URL": f"sqlite://{tmp_path / 'cli.db'}",
        "MSGCENTER_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "MSGCENTER_AUTH__ARGON2_TIME_COST": "1",
        "MSGCENTER_AUTH__ARGON2_MEMORY_KIB": "64",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "msgcenter.cli", "serve", "--port", str(port),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    login = {"identifier": "cara", "password": "secret-123"}
    try:
        async with aiohttp.ClientSession() as http:
            await _until_healthy(http, base)
            async with http.post(f"{base}/auth/login", json=login) as response:
                assert response.status == 200
                headers = {"Authorization": f"Bearer {(await response.json())['access_token']}"}
            async with http.get(f"{base}/auth/me", headers=headers) as response:
                assert response.status == 200
            off = await asyncio.to_thread(run, tmp_path, "user", "deactivate", "cara")
            assert off.returncode == 0, off.stderr
            assert "deactivated cara" in off.stdout and "sessions have ended" in off.stdout
            async with http.get(f"{base}/auth/me", headers=headers) as response:
                assert response.status == 401
            async with http.post(f"{base}/auth/login", json=login) as response:
                assert response.status == 401
            listed = await asyncio.to_thread(run, tmp_path, "user", "list")
            assert "inactive" in next(ln for ln in listed.stdout.splitlines() if "cara" in ln)
            on = await asyncio.to_thread(run, tmp_path, "user", "activate", "cara")
            assert on.returncode == 0 and "activated cara" in on.stdout, on.stderr
            async with http.post(f"{base}/auth/login", json=login) as response:
                assert response.status == 200
            missing = await asyncio.to_thread(run, tmp_path, "user", "deactivate", "nobody")
            assert missing.returncode == 1 and "not found" in missing.stderr
    finally:
        process.terminate()
        output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()[-2000:]
    log = output.decode()
    assert log.count("listening on") == 1
    assert log.index("database open") < log.index("listening on")  # said once it serves


async def _until_healthy(http: aiohttp.ClientSession, base: str) -> None:
    """Wait up to 60 s (a loaded CI machine starts Python slowly), then fail saying so."""
    for _ in range(600):
        try:
            async with http.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{base} never became healthy")


def test_a_bad_setting_stops_start_up_naming_the_key(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "msgcenter.cli", "migrate"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "MSGCENTER_SERVER__PORT": "not-a-port"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "server.port" in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_demo_serves_the_seed_flow_and_simulated_customers(tmp_path: Path) -> None:
    """`msgcenter demo` (what `make run` starts) with its mock providers, and `simulate`."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MSGCENTER_")},
        "MSGCENTER_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "MSGCENTER_STORAGE__URL": f"sqlite://{tmp_path / 'data' / 'msgcenter.db'}",
        "MSGCENTER_CHANNELS__EMAIL__PORT": str(_free_port()),
        **{f"MSGCENTER_MOCK__{name}": str(_free_port())
           for name in ("TELEGRAM_PORT", "WHATSAPP_PORT", "SMTP_PORT", "SMTP_CONTROL_PORT",
                        "OPENAI_PORT", "API_PORT")},
    }  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "msgcenter.cli", "demo", "--port", str(port),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await _until_healthy(http, base)
            login = {"identifier": "admin", "password": "admin123"}
            async with http.post(f"{base}/auth/login", json=login) as response:
                token = (await response.json())["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with http.get(f"{base}/chats/", headers=headers) as response:
                assert len(await response.json()) == 4
            # The mock model is up (only started: the demo's bot stays the rules bot).
            model = f"http://127.0.0.1:{env['MSGCENTER_MOCK__OPENAI_PORT']}/v1"
            async with http.get(f"{model}/models") as response:
                assert (await response.json())["data"][0]["id"] == "mock-extractive"
            for channel, name in [("whatsapp", "Budi"), ("telegram", "Sari"), ("email", "Rina")]:
                simulated = await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, "-m", "msgcenter.cli", "simulate", channel, "--name", name,
                     "hello", "there"],
                    cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
                )  # fmt: skip
                assert simulated.returncode == 0, simulated.stderr
                assert f"{name} wrote on {channel}" in simulated.stdout
                # The mock's whole answer, pretty and valid (it used to be cut at 200 chars).
                answer = json.loads(simulated.stdout.split("answered:\n", 1)[1])
                assert isinstance(answer, dict) and answer
            for _ in range(50):
                async with http.get(f"{base}/chats/", headers=headers) as response:
                    chats = {c["name"]: c for c in await response.json()}
                if {"Budi", "Sari", "Rina"} <= chats.keys():
                    break
                await asyncio.sleep(0.1)
            # The demo's API channel: a customer's message in with a key, the bot's reply
            # posted, signed, to the mock receiver on 127.0.0.1.
            async with http.get(f"{base}/channels/api", headers=headers) as response:
                (channel,) = (await response.json())["items"]
            assert channel["name"] == "Demo app"
            key_body = {"name": "test", "scopes": ["messages:write"]}
            async with http.post(f"{base}/api-keys", json=key_body, headers=headers) as response:
                key = (await response.json())["key"]
            posted = {"external_id": "m-1", "customer": {"id": "u-1", "name": "Dewi"},
                      "text": "Halo, ongkir ke Bandung?"}  # fmt: skip
            async with http.post(
                f"{base}/channels/api/{channel['id']}/messages", json=posted,
                headers={"Authorization": f"Bearer {key}"},
            ) as response:  # fmt: skip
                assert response.status == 200, await response.text()
            receiver = f"http://127.0.0.1:{env['MSGCENTER_MOCK__API_PORT']}/_mock/received"
            received: list[dict[str, Any]] = []
            for _ in range(100):
                async with http.get(receiver) as response:
                    received = await response.json()
                if received:
                    break
                await asyncio.sleep(0.1)
            assert received and received[0]["verified"] is True, received
            assert received[0]["body"]["customer_id"] == "u-1"
        assert {chats[n]["channel"] for n in ("Budi", "Sari", "Rina")} == {
            "WhatsApp", "Telegram", "Email",
        }  # fmt: skip
        assert (tmp_path / "data" / "demo" / "msgcenter.db").exists()  # its own database
    finally:
        process.terminate()
        output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()[-2000:]
    assert b"DEMO ONLY" in output
    banner = output.decode()
    assert f"{base}/docs" in banner and "bearer token" in banner
    assert f"mock model (OpenAI-compatible, offline): {model}" in banner
    assert f"/channels/api/{channel['id']}/messages" in banner and "demo API key:  mck_" in banner


async def test_msgcenter_mock_runs_the_model_stand_in_and_prints_its_url(tmp_path: Path) -> None:
    """`msgcenter mock` starts the OpenAI-compatible mock next to the providers; it answers
    extractively when nothing is scripted."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MSGCENTER_")},
        "MSGCENTER_STORAGE__DATA_DIR": str(tmp_path / "data"),
        **{f"MSGCENTER_MOCK__{name}": str(_free_port())
           for name in ("TELEGRAM_PORT", "WHATSAPP_PORT", "SMTP_PORT", "SMTP_CONTROL_PORT",
                        "API_PORT")},
        "MSGCENTER_MOCK__OPENAI_PORT": str(port),
    }  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "msgcenter.cli", "mock",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    printed: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not printed or "Ctrl+C" not in printed[-1]:
                line = (await process.stdout.readline()).decode()
                assert line, "".join(printed)
                printed.append(line)
        model = f"http://127.0.0.1:{port}/v1"
        assert f"mock model (OpenAI-compatible, offline): {model}\n" in printed
        question = {
            "model": "any",
            "messages": [
                {"role": "system", "content": '[task:answer] <passage article="1" title="Hours">'
                 "\nWe open at nine. We close at five.\n</passage>"},
                {"role": "user", "content": "when do you open?"},
            ],
        }  # fmt: skip
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{model}/chat/completions", json=question) as response,
        ):
            answer = await response.json()
        assert answer["choices"][0]["message"]["content"] == "We open at nine. We close at five."
    finally:
        process.terminate()
        await process.communicate()


async def test_start_up_objects_are_kept_out_of_full_collections() -> None:
    """What the served process made while starting is frozen (``_run`` calls this last)."""
    try:
        await freeze_startup_objects(web.Application())
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
