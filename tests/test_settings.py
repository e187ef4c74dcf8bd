"""Settings: config.toml, env overrides, and errors that name the key."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from msgcenter.cli import new_event_loop
from msgcenter.settings import SettingsError, build_settings, env_warnings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_config_loads_with_the_documented_defaults() -> None:
    settings = load_settings(ROOT / "config.toml", environ={})
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)
    assert settings.storage.url == "sqlite://data/msgcenter.db"
    assert settings.events.url == "memory://"
    assert settings.auth.jwt_secret is None  # no secret has a default
    assert settings.server.event_loop == "uvloop"


def test_env_vars_override_any_key() -> None:
    settings = build_settings(
        {"server": {"port": 8000}},
        environ={
            "MSGCENTER_SERVER__PORT": "9001",
            "MSGCENTER_CHANNELS__EMAIL__DOMAINS": '["a.example", "b.example"]',
            "MSGCENTER_AUTH__JWT_SECRET": "s" * 40,
            "UNRELATED": "x",
        },
    )
    assert settings.server.port == 9001
    assert settings.channels.email.domains == ["a.example", "b.example"]
    assert settings.auth.jwt_secret is not None
    assert "s" * 40 not in repr(settings)  # secrets never show in logs or reprs


@pytest.mark.parametrize(
    ("data", "env", "key"),
    [
        ({"server": {"port": "eighty"}}, {}, "server.port"),
        ({}, {"MSGCENTER_SERVER__PORT": "70000"}, "server.port"),
        ({"server": {"timezone": "Mars/Olympus"}}, {}, "server.timezone"),
        ({"bot": {"timezone": "Mars/Olympus"}}, {}, "bot.timezone"),
        ({"storage": {"url": "mysql://x"}}, {}, "storage.url"),
        ({"auth": {"jwt_secret": "short"}}, {}, "auth.jwt_secret"),
        ({"server": {"prot": 1}}, {}, "server.prot"),
        ({}, {"MSGCENTER_SERVER__EVENT_LOOP": "trio"}, "server.event_loop"),
        ({}, {"MSGCENTER_LOGGING__LEVEL": "LOUD"}, "logging.level"),
        ({}, {"MSGCENTER_CHANNELS__EMAIL__DOMAINS": "[broken"}, "channels.email.domains"),
    ],
)
def test_a_bad_value_names_its_key(data: dict[str, object], env: dict[str, str], key: str) -> None:
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        build_settings(data, environ=env)


def test_the_service_runs_on_the_event_loop_it_is_given() -> None:
    for kind, module in (("uvloop", "uvloop"), ("asyncio", "asyncio")):
        loop = new_event_loop(kind)
        try:
            assert type(loop).__module__.split(".")[0] == module
            assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
        finally:
            loop.close()


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport = 1\n")
    with pytest.raises(SettingsError, match=r"broken\.toml"):
        load_settings(broken, environ={})


def test_env_variables_that_set_nothing_are_named_with_the_closest_setting() -> None:
    warnings = env_warnings(
        {
            "MSGCENTER_SERVER_PORT": "9001",  # one underscore where two belong
            "MSGCENTER_STORAGE__ULR": "sqlite://x.db",  # a typo
            "MSGCENTER_CHANNELS_TELEGRAM_TOKEN": "1:x",
            "MSGCENTER_NOTHING_LIKE_IT_AT_ALL_XYZ": "1",
            # Not warned about: settings, the config file, a key inside a table, the tests'.
            "MSGCENTER_SERVER__PORT": "9001",
            "MSGCENTER_server__host": "127.0.0.1",
            "MSGCENTER_CONFIG": "config.toml",
            "MSGCENTER_BOT__OPTIONS__PREFIX": "echo: ",
            "MSGCENTER_TEST_POSTGRES_URL": "postgres://postgres@127.0.0.1/test",
            "MSGCENTER_TEST_REQUIRE_SERVICES": "1",
            "OTHER_SERVER_PORT": "1",
        }
    )
    assert len(warnings) == 4, warnings
    by_name = {w.split()[2]: w for w in warnings}
    assert by_name["MSGCENTER_SERVER_PORT"].endswith("did you mean MSGCENTER_SERVER__PORT?")
    assert by_name["MSGCENTER_STORAGE__ULR"].endswith("did you mean MSGCENTER_STORAGE__URL?")
    assert by_name["MSGCENTER_CHANNELS_TELEGRAM_TOKEN"].endswith(
        "did you mean MSGCENTER_CHANNELS__TELEGRAM__TOKEN?"
    )
    assert "two underscores" in by_name["MSGCENTER_NOTHING_LIKE_IT_AT_ALL_XYZ"]
    assert all("is ignored" in w for w in warnings)


def test_the_test_suites_own_variables_are_not_warned_about() -> None:
    ours = {k: v for k, v in os.environ.items() if k.startswith("MSGCENTER_TEST_")}
    ours.setdefault("MSGCENTER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
    ours.setdefault("MSGCENTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    ours.setdefault("MSGCENTER_TEST_CHROMIUM", "/usr/bin/chromium")
    assert env_warnings(ours) == []


def test_the_models_key_comes_from_the_environment_only(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[bot.llm]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\napi_key = "sk-x"\n'
    )
    with pytest.raises(SettingsError, match="MSGCENTER_BOT__LLM__API_KEY"):
        load_settings(config, environ={})
    config.write_text('[bot.llm]\nbase_url = "http://127.0.0.1:9/v1/"\nmodel = "m"\n')
    settings = load_settings(config, environ={"MSGCENTER_BOT__LLM__API_KEY": "sk-x"})
    assert settings.bot.llm.api_key is not None
    assert settings.bot.llm.api_key.get_secret_value() == "sk-x"
    assert settings.bot.llm.base_url == "http://127.0.0.1:9/v1"


def test_the_llm_engine_needs_a_model() -> None:
    with pytest.raises(SettingsError, match=r"bot\.llm\.base_url and bot\.llm\.model are required"):
        build_settings({"bot": {"engine": "llm"}}, environ={})
    with pytest.raises(SettingsError, match="no_match"):
        build_settings({"bot": {"llm": {"no_match": "improvise"}}}, environ={})
