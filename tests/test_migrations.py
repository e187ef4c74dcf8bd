"""The committed migrations and the models agree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def test_the_migrations_describe_the_models(tmp_path: Path) -> None:
    """`tortoise makemigrations` finds nothing to add (run on a copy: it writes files)."""
    root = Path(__file__).resolve().parent.parent
    shutil.copytree(
        root / "storage", tmp_path / "storage", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(root / "pyproject.toml", tmp_path / "pyproject.toml")
    result = subprocess.run(  # noqa: S603 - the project's own tool
        [str(Path(sys.executable).parent / "tortoise"), "makemigrations"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout + result.stderr
