"""New passwords are checked against a list of the most common ones (issue 16, item 11):
user creation, a password change over the API, and the CLI's ``user add`` / ``user passwd``."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff.usecases.staff import COMMON_PASSWORDS, is_common_password
from storage.models import User
from tests.support import Api
from tests.test_cli import run

COMMON = ["password123", "Password123", "qwertyuiop", "iloveyou1", "admin123"]


def test_the_shipped_list_names_its_source_and_has_a_few_thousand_entries() -> None:
    text = COMMON_PASSWORDS.read_text("utf-8")
    assert "Royce" in text and "Django" in text  # where it comes from
    entries = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert 2000 <= len(entries) <= 20_000
    assert all(len(entry) >= 8 for entry in entries)  # shorter ones fail the length rule
    assert all(is_common_password(word) for word in COMMON)
    assert not is_common_password("desk-pass-4821")


@pytest.mark.parametrize("password", COMMON)
async def test_creating_a_user_with_a_common_password_is_422(admin: Api, password: str) -> None:
    status, body = await admin.post("/users", {"username": "newbie", "password": password})
    assert status == 422, body
    assert body["error"]["code"] == "common_password"
    assert "common" in body["error"]["message"]
    assert body["error"]["details"] == {"field": "password"}
    assert not await User.filter(username="newbie").exists()


async def test_changing_to_a_common_password_is_422_and_changes_nothing(admin: Api) -> None:
    status, user = await admin.post("/users", {"username": "newbie", "password": "desk-pass-4821"})
    assert status == 201, user
    before = (await User.get(id=user["id"])).password_hash
    status, body = await admin.patch(f"/users/{user['id']}", {"password": "password123"})
    assert status == 422 and body["error"]["code"] == "common_password", body
    assert (await User.get(id=user["id"])).password_hash == before
    status, _ = await admin.patch(f"/users/{user['id']}", {"password": "desk-pass-9313"})
    assert status == 200


def test_the_cli_refuses_a_common_password(tmp_path: Path) -> None:
    refused = run(tmp_path, "user", "add", "ann", "--password", "password123")
    assert refused.returncode == 1
    assert "common" in refused.stderr and "Traceback" not in refused.stderr
    assert run(tmp_path, "user", "add", "ann", "--password", "desk-pass-4821").returncode == 0
    refused = run(tmp_path, "user", "passwd", "ann", "--password", "iloveyou1")
    assert refused.returncode == 1 and "common" in refused.stderr
