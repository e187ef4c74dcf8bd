"""The dependency lock: made from pyproject.toml, and refused when the two disagree."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from msgcenter import lockfile

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_lock_matches_pyproject() -> None:
    assert lockfile.check() is None


def test_every_dependency_is_pinned_with_hashes() -> None:
    text = lockfile.LOCK.read_text(encoding="utf-8")
    for name in ("aiohttp", "aiogram", "redis", "tortoise-orm", "pytest", "mypy", "setuptools"):
        assert f"\n{name}==" in text, name
    pins = [line for line in text.splitlines() if "==" in line and not line.startswith("#")]
    assert pins
    assert all(line.rstrip().endswith("\\") for line in pins), "each pin carries --hash lines"


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    pyproject = tmp_path / "pyproject.toml"
    lock = tmp_path / "requirements.lock"
    shutil.copy(lockfile.PYPROJECT, pyproject)
    shutil.copy(lockfile.LOCK, lock)
    shutil.copy(lockfile.LOCK.with_name(lockfile.RUNTIME_LOCK_NAME), tmp_path)
    return pyproject, lock


def test_a_changed_dependency_is_refused(tmp_path: Path) -> None:
    pyproject, lock = _copy(tmp_path)
    assert lockfile.check(pyproject, lock) is None
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('"redis>=', '"redis>=8.0,<10", "x>=', 1), encoding="utf-8")
    problem = lockfile.check(pyproject, lock)
    assert problem is not None
    assert "make lock" in problem


def test_an_unrelated_change_to_pyproject_keeps_the_lock(tmp_path: Path) -> None:
    pyproject, lock = _copy(tmp_path)
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace("line-length = 100", "line-length = 99"), encoding="utf-8")
    assert lockfile.check(pyproject, lock) is None


def test_a_lock_without_its_digest_is_refused(tmp_path: Path) -> None:
    pyproject, lock = _copy(tmp_path)
    lock.write_text("aiohttp==3.14.5\n", encoding="utf-8")
    assert "make lock" in (lockfile.check(pyproject, lock) or "")


def test_the_runtime_lock_is_a_part_of_the_full_one() -> None:
    full = lockfile.pins(lockfile.LOCK)
    runtime = lockfile.pins(lockfile.LOCK.with_name(lockfile.RUNTIME_LOCK_NAME))
    assert runtime
    assert len(runtime) < len(full)
    for pin, hashes in runtime.items():
        assert full[pin] == hashes, pin
        assert hashes.count("--hash=sha256:") >= 1, pin


def test_a_runtime_lock_that_differs_from_the_full_one_is_refused(tmp_path: Path) -> None:
    pyproject, lock = _copy(tmp_path)
    runtime = tmp_path / lockfile.RUNTIME_LOCK_NAME
    text = runtime.read_text(encoding="utf-8")
    hashes = re.findall(r"^aiohttp==.*?\n(?=\S)", text, re.MULTILINE | re.DOTALL)
    assert len(hashes) == 1
    # One hash of aiohttp left out: no longer the full lock's line.
    cut = re.sub(r"    --hash=sha256:[0-9a-f]{64} \\\n", "", hashes[0], count=1)
    runtime.write_text(text.replace(hashes[0], cut), encoding="utf-8")
    problem = lockfile.check(pyproject, lock)
    assert problem is not None
    assert "aiohttp" in problem
    assert "make lock" in problem


def test_a_missing_runtime_lock_is_refused(tmp_path: Path) -> None:
    pyproject, lock = _copy(tmp_path)
    (tmp_path / lockfile.RUNTIME_LOCK_NAME).unlink()
    problem = lockfile.check(pyproject, lock)
    assert problem is not None
    assert lockfile.RUNTIME_LOCK_NAME in problem


def test_the_check_runs_by_path_before_anything_is_installed() -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and file
        [sys.executable, "-I", str(ROOT / "msgcenter" / "lockfile.py"), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
