"""The dependency lock: ``requirements.lock`` pins every package, with hashes.

``make lock`` refreshes it; ``make run`` and ``make test`` install exactly what it says and first
check that it was made from the current pyproject.toml. This file runs by its path with the
system's Python (``python3 msgcenter/lockfile.py check``), before anything is installed: it uses
the standard library only.

The lock is made by uv (``uv pip compile --generate-hashes``) from three inputs: the project's
dependencies, its ``dev`` extra, and its build system (so the editable install of msgcenter itself
needs no unpinned download). Its header records a digest of those inputs as written in
pyproject.toml; a lock whose digest differs was made from another pyproject.toml.

``requirements-runtime.lock`` is the part of it the service runs on: the project's
dependencies alone, resolved with the full lock as constraints, so every line of it (version,
markers, hashes) is a line of the full lock. The container image installs it (the Dockerfile);
the dev tools and the build system stay out of the image.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
RUNTIME_LOCK_NAME = "requirements-runtime.lock"
DIGEST_LINE = "# pyproject-digest: "
PYTHON_VERSION = "3.11"


def inputs(pyproject: Path = PYPROJECT) -> dict[str, Any]:
    """What the lock is made from, as pyproject.toml states it."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data.get("project", {})
    return {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "build-system": data.get("build-system", {}).get("requires", []),
    }


def digest(pyproject: Path = PYPROJECT) -> str:
    text = json.dumps(inputs(pyproject), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def recorded_digest(lock: Path = LOCK) -> str | None:
    if not lock.exists():
        return None
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith(DIGEST_LINE):
            return line[len(DIGEST_LINE) :].strip()
    return None


def pins(lock: Path) -> dict[str, str]:
    """Each pin of a lock (``name==version`` with its markers) and its lines, hashes included."""
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lock.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line[:1].isspace():
            if current is not None:
                current.append(line.strip().rstrip("\\").strip())
            continue
        current = entries.setdefault(line.rstrip("\\").strip(), [])
    return {pin: "\n".join(sorted(lines)) for pin, lines in entries.items()}


def check(
    pyproject: Path = PYPROJECT, lock: Path = LOCK, runtime: Path | None = None
) -> str | None:
    """None when the locks match pyproject.toml (and the runtime lock is a part of the full
    one), else what is wrong and what to do."""
    runtime = lock.with_name(RUNTIME_LOCK_NAME) if runtime is None else runtime
    for path in (lock, runtime):
        recorded = recorded_digest(path)
        if recorded is None:
            return f"{path.name} is missing or has no '{DIGEST_LINE.strip()}' line: run `make lock`"
        if recorded != digest(pyproject):
            return (
                f"{path.name} does not match {pyproject.name}: the dependencies changed since "
                "the lock was made. Run `make lock` and commit the files it writes."
            )
    full = pins(lock)
    for pin, hashes in pins(runtime).items():
        if full.get(pin) != hashes:
            return (
                f"{runtime.name} pins {pin.split(' ', 1)[0]} otherwise than {lock.name}: "
                "run `make lock`"
            )
    return None


def _compile(uv: str, pyproject: Path, out: Path, *arguments: str) -> str:
    """What ``uv pip compile`` makes of ``arguments`` (hashed, for every platform)."""
    subprocess.run(  # noqa: S603 - uv is the path make passes, the arguments are ours
        [
            uv,
            "pip",
            "compile",
            "--quiet",
            "--universal",
            "--python-version",
            PYTHON_VERSION,
            "--generate-hashes",
            "--no-header",
            "--no-annotate",
            "--output-file",
            str(out),
            *arguments,
        ],
        check=True,
        cwd=pyproject.parent,
    )
    return out.read_text(encoding="utf-8")


def compile_lock(
    uv: str, pyproject: Path = PYPROJECT, lock: Path = LOCK, runtime: Path | None = None
) -> None:
    """Resolve the newest versions that pyproject.toml allows and write the lock, then its
    runtime part (the full lock as constraints: the same versions and hashes)."""
    runtime = lock.with_name(RUNTIME_LOCK_NAME) if runtime is None else runtime
    build = "\n".join(inputs(pyproject)["build-system"]) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        build_in = Path(tmp) / "build-system.in"
        build_in.write_text(build, encoding="utf-8")
        out = Path(tmp) / "requirements.lock"
        body = _compile(uv, pyproject, out, "--extra", "dev", str(pyproject), str(build_in))
        runtime_body = _compile(
            uv, pyproject, Path(tmp) / RUNTIME_LOCK_NAME, "--constraint", str(out), str(pyproject)
        )
    header = (
        "# The exact versions (and hashes) that `make run` and `make test` install.\n"
        "# Made by `make lock` (uv pip compile) from pyproject.toml: its dependencies, the dev\n"
        "# extra and the build system. Do not edit by hand.\n"
        f"{DIGEST_LINE}{digest(pyproject)}\n"
    )
    runtime_header = (
        "# The runtime part of requirements.lock (the same versions and hashes): what the\n"
        "# container image installs (Dockerfile). Made by `make lock` (uv pip compile, with\n"
        "# requirements.lock as constraints) from pyproject.toml's dependencies, without the dev\n"
        "# extra and the build system. Do not edit by hand.\n"
        f"{DIGEST_LINE}{digest(pyproject)}\n"
    )
    lock.write_text(header + body, encoding="utf-8")
    runtime.write_text(runtime_header + runtime_body, encoding="utf-8")


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"] and len(argv) == 1:
        problem = check()
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 1
        return 0
    if argv[:1] == ["compile"] and len(argv) == 2:
        compile_lock(argv[1])
        return 0
    print("usage: lockfile.py check | compile PATH-TO-UV", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
