"""Typed settings: config.toml, overridden by ``MSGCENTER_<SECTION>__<KEY>`` env vars.

Settings are loaded and validated once at start-up. A wrong value raises
:class:`SettingsError` whose message names the key, e.g. ``server.port``.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.settings import BotSettings, TimeZoneName
from handoff.domain import csat

ENV_PREFIX = "MSGCENTER_"
DEFAULT_CONFIG = "config.toml"


class SettingsError(Exception):
    """A setting is missing, malformed or out of range; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _network_list(value: list[str]) -> list[str]:
    """``value`` if every item is an address or a network (CIDR), else ValueError."""
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an address or network") from exc
    return value


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8000"
    client_max_size: int = Field(default=1024 * 1024, ge=1024)
    timezone: TimeZoneName = "UTC"
    cors_origins: list[str] = Field(default_factory=list)
    # The event loop the service runs on: uvloop (libuv; a quarter less CPU per webhook in
    # bench.ingest) or Python's own asyncio loop (where uvloop is not installed, e.g. Windows).
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # Reverse proxies (addresses or networks) whose X-Forwarded-For is believed: the client
    # is the right-most address in it that is not one of them. Empty: the socket peer.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        return _network_list(value)


class S3Settings(_Section):
    """The bucket of ``storage.blobs = "s3"`` (storage/s3.py); see config.toml."""

    endpoint_url: str = ""  # empty: AWS; else e.g. https://s3.example.com (MinIO, R2, ...)
    region: str = ""  # empty: AWS_REGION / ~/.aws/config, else us-east-1
    bucket: str = ""
    prefix: str = Field(default="blobs/", max_length=200)
    # Both or neither; neither: botocore's credential chain (AWS_* variables, an IAM role).
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    read_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    max_attempts: int = Field(default=3, ge=1, le=10)  # each request, the first included

    @field_validator("endpoint_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http://), or be empty for AWS")
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        allowed = all(c.isascii() and c.isprintable() and c not in " /" for c in value)
        if len(value) > 255 or not allowed:
            raise ValueError("must be a bucket name: ASCII, no spaces or /, at most 255")
        return value

    @field_validator("prefix")
    @classmethod
    def _key_prefix(cls, value: str) -> str:
        if value.startswith("/") or any(ord(c) < 32 for c in value):
            raise ValueError("must not start with / nor hold control characters")
        return value

    @model_validator(mode="after")
    def _both_keys(self) -> S3Settings:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("access_key_id and secret_access_key go together (or neither)")
        return self


class StorageSettings(_Section):
    url: str = "sqlite://data/msgcenter.db"
    data_dir: Path = Path("data")
    # Where kept files live: "disk" (<data_dir>/blobs) or "s3" (the bucket of [storage.s3],
    # needed when processes run on several machines).
    blobs: Literal["disk", "s3"] = "disk"
    s3: S3Settings = S3Settings()
    # PostgreSQL: the longest wait to open a connection and for one statement to answer
    # (a silent network partition then fails requests instead of hanging them).
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=600)
    statement_timeout_seconds: float = Field(default=15.0, gt=0, le=3600)
    # /healthz reports the disk low (503) when the data dir's disk has less free space.
    min_free_bytes: int = Field(default=100 * 1024 * 1024, ge=0)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0]
        if "://" not in value or scheme not in {"sqlite", "postgres", "postgresql", "asyncpg"}:
            raise ValueError("must start with sqlite://, postgres:// or postgresql://")
        return value

    @model_validator(mode="after")
    def _bucket_named(self) -> StorageSettings:
        if self.blobs == "s3" and not self.s3.bucket:
            raise ValueError('storage.s3.bucket is needed when storage.blobs = "s3"')
        return self


class EventsSettings(_Section):
    url: str = "memory://"
    prefix: str = Field(default="msgcenter", min_length=1, max_length=64)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://", "unix://")):
            raise ValueError("must be memory:// or redis://host:6379/0 (rediss:// for TLS)")
        return value

    @property
    def redis(self) -> bool:
        return not self.url.startswith("memory://")


class MetricsSettings(_Section):
    """Who may read ``GET /metrics``: see config.toml."""

    enabled: bool = True
    token: SecretStr | None = None
    allow_from: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])

    @field_validator("allow_from")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return _network_list(value)

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value


class AuthSettings(_Section):
    jwt_secret: SecretStr | None = None
    token_ttl_minutes: int = Field(default=720, ge=1, le=60 * 24 * 30)
    # Failed logins per account (username or email) and per client address in the window;
    # reaching either limit locks that account or address for login_lockout_seconds.
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=50, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    login_lockout_seconds: int = Field(default=900, ge=1)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes (HS256 key)")
        return value


class HandoffSettings(_Section):
    auto_assign: bool = True
    default_capacity: int = Field(default=5, ge=0)
    # Admins are notified of a chat waiting in the queue longer than this (0: never).
    queue_waiting_notify_minutes: int = Field(default=10, ge=0, le=7 * 24 * 60)
    # Someone whose dashboard heartbeat lapsed this long counts as offline.
    offline_grace_minutes: int = Field(default=10, ge=1, le=24 * 60)
    # When someone goes offline (by choice or a lapsed heartbeat), their open chats go back
    # to the queue, each with a note.
    return_chats_when_offline: bool = True


class ContactsSettings(_Section):
    # An agent working a chat sees the contact's other conversations (read-only).
    history_for_agents: bool = True


class CsatSettings(_Section):
    """Customer satisfaction surveys (docs/api.md, "Customer satisfaction")."""

    enabled: bool = True
    # "human": only conversations a person took part in; "all": every closed conversation.
    after: Literal["human", "all"] = "human"
    # How long after a rating the customer's next message is taken as its comment.
    comment_minutes: int = Field(default=10, ge=0, le=24 * 60)
    # What the customer reads, in their language: the question (a chat; above an email's
    # links), the five choices for the ratings 1 to 5 (at most 24 characters each: WhatsApp's
    # list rows), the WhatsApp list's button (20), the thanks ({rating}: the choice).
    question: str = Field(default=csat.QUESTION, min_length=1, max_length=1000)
    email_question: str = Field(default=csat.EMAIL_QUESTION, min_length=1, max_length=1000)
    titles: list[str] = Field(default_factory=lambda: list(csat.ENGLISH.titles))
    button: str = Field(default=csat.LIST_BUTTON, min_length=1, max_length=csat.BUTTON_LIMIT)
    thanks: str = Field(default=csat.THANKS, min_length=1, max_length=1000)

    @field_validator("titles")
    @classmethod
    def _five_titles(cls, value: list[str]) -> list[str]:
        if len(value) != len(csat.RATINGS):
            raise ValueError("five titles, for the ratings 1 to 5")
        if any(not 0 < len(title) <= csat.TITLE_LIMIT for title in value):
            raise ValueError(f"each title holds 1 to {csat.TITLE_LIMIT} characters")
        return value

    def words(self) -> csat.Words:
        return csat.Words(
            self.question, self.email_question, tuple(self.titles), self.button, self.thanks
        )


class ReportsSettings(_Section):
    # The account's time zone: days, weeks and hours of the reports (IANA name).
    timezone: TimeZoneName = "UTC"


class KbSettings(_Section):
    """The knowledge base (docs/api.md, "Knowledge base")."""

    # The longest passage an article is cut into, in characters (cut at paragraphs).
    chunk_chars: int = Field(default=1200, ge=200, le=8000)
    # The longest article body accepted, in characters.
    max_body_chars: int = Field(default=100_000, ge=1000, le=1_000_000)


class CopilotSettings(_Section):
    """The agents' copilot: suggest a reply, summarize, translate (needs ``bot.llm``)."""

    enabled: bool = True
    # Write a summary as a private note when the bot hands a chat to a human.
    summarize_at_handoff: bool = False


class IntegrationsSettings(_Section):
    """Outgoing webhooks and the API channel's callbacks (docs/api.md, "Outgoing webhooks")."""

    # Deliver to loopback, private, link-local and other non-public addresses (SSRF guard:
    # off, such a destination is refused when registered and again at every delivery).
    allow_private_destinations: bool = False
    # One delivery attempt: connect, send, and the receiver's answer.
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # How long a delivery is retried (exponential backoff) before it is marked failed.
    retry_hours: float = Field(default=24.0, gt=0, le=24 * 7)
    # An endpoint whose deliveries failed this long in a row (none succeeding) is disabled
    # and the admins are notified.
    disable_after_hours: float = Field(default=24.0, gt=0, le=24 * 30)


class ApiKeysSettings(_Section):
    """Keys for the desk's own systems (docs/api.md, "API keys")."""

    # Requests a key may make a minute (each key counted on its own, in each process).
    requests_per_minute: int = Field(default=600, ge=1, le=1_000_000)


class WidgetSettings(_Section):
    """The website live-chat widget (docs/api.md, "Website widget")."""

    # The longest message a visitor may send, in characters.
    max_message_chars: int = Field(default=4000, ge=100, le=100_000)
    # Messages a visitor may send a minute.
    messages_per_minute: int = Field(default=20, ge=1, le=1000)
    # How long a visitor's token holds (a returning visitor within it keeps their chat).
    visitor_token_days: int = Field(default=180, ge=1, le=3650)
    # New visitor tokens one address may get a minute (a page reloaded without storage).
    new_visitors_per_minute: int = Field(default=10, ge=1, le=10_000)
    # The largest file a visitor may send, in bytes.
    max_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class TelegramSettings(_Section):
    enabled: bool = False
    mode: Literal["polling", "webhook"] = "polling"
    api_base: str = "https://api.telegram.org"
    token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    private_only: bool = True
    polling_timeout: int = Field(default=30, ge=0, le=50)
    request_timeout: int = Field(default=30, ge=1, le=600)
    # The largest file a customer sends that msgcenter fetches and keeps (Telegram hands
    # bots files up to 20 MB; larger ones are marked failed with that reason).
    media_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("token")
    @classmethod
    def _token_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        bot_id, _, key = value.get_secret_value().partition(":")
        if not (bot_id.isascii() and bot_id.isdigit() and _token_chars(key, 1, 256)):
            raise ValueError("must look like 123456789:AAH... (the token @BotFather gave)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _token_chars(value.get_secret_value(), 1, 256):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value


def _token_chars(value: str, shortest: int, longest: int) -> bool:
    """Telegram's alphabet for tokens and webhook secrets: ASCII letters, digits, _ and -."""
    fits = shortest <= len(value) <= longest
    return fits and all(c.isascii() and (c.isalnum() or c in "_-") for c in value)


class WhatsAppSettings(_Section):
    enabled: bool = False
    graph_base: str = "https://graph.facebook.com"
    api_version: str = "v21.0"
    phone_number_id: str = ""
    access_token: SecretStr | None = None
    app_secret: SecretStr | None = None
    verify_token: SecretStr | None = None
    # The largest file a customer sends that msgcenter fetches and keeps.
    media_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    # The WhatsApp Business Account (WABA) id: its message templates are synced at start
    # and on POST /channels/whatsapp/templates/sync. Empty: no templates.
    business_account_id: str = Field(default="", max_length=64, pattern=r"^[0-9]*$")
    # Bounds of one sync: pages of the Graph API's list (100 templates each) and seconds.
    templates_max_pages: int = Field(default=100, ge=1, le=1000)
    templates_timeout_seconds: float = Field(default=60.0, gt=0, le=600)


class EmailSettings(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=0, le=65535)
    hostname: str = "localhost"
    domains: list[str] = Field(default_factory=lambda: ["support.example.com"])
    addresses: list[str] = Field(default_factory=list)
    address: str = "support@support.example.com"
    display_name: str = "Support"
    max_message_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    attachments_dir: Path = Path("attachments")
    auth_required: bool = False
    auth_users: dict[str, SecretStr] = Field(default_factory=dict)
    auth_require_tls: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    require_starttls: bool = False
    relay_host: str = "127.0.0.1"
    relay_port: int = Field(default=25, ge=0, le=65535)
    relay_security: Literal["none", "starttls", "tls"] = "none"
    relay_username: str | None = None
    relay_password: SecretStr | None = None
    relay_validate_certs: bool = True
    relay_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # What one sender may hold and one mail may cost (see config.toml).
    max_connections: int = Field(default=200, ge=1)
    max_connections_per_address: int = Field(default=20, ge=1)
    idle_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    session_max_seconds: float = Field(default=600.0, gt=0, le=86400)
    max_parts: int = Field(default=100, ge=1, le=10000)
    max_attachments: int = Field(default=20, ge=0, le=10000)
    max_depth: int = Field(default=10, ge=1, le=100)
    max_body_chars: int = Field(default=1_000_000, ge=1000)
    parse_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    parse_workers: int = Field(default=2, ge=1, le=64)
    # Who really sent a mail (connectors.email_auth; see config.toml): "verify" (DKIM, SPF,
    # DMARC alignment), "trust_upstream" (an MTA in front's Authentication-Results, with its
    # authserv_id, for mail from upstream_networks) or "off" (the demo: never in production).
    sender_auth: Literal["verify", "trust_upstream", "off"] = "verify"
    dns_servers: list[str] = Field(default_factory=list)  # empty: the system's resolver
    dns_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    sender_auth_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    authserv_id: str = ""
    upstream_networks: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    # Automatic replies (the bot's) to one address per hour, at most; 0: no limit.
    auto_replies_per_hour: int = Field(default=5, ge=0)

    @field_validator("upstream_networks")
    @classmethod
    def _upstream_networks(cls, value: list[str]) -> list[str]:
        return _network_list(value)

    @field_validator("dns_servers")
    @classmethod
    def _dns_servers(cls, value: list[str]) -> list[str]:
        from connectors.email_auth import parse_dns_servers  # DNS libraries: only if used

        return parse_dns_servers(value) if value else value

    @field_validator("domains", "addresses")
    @classmethod
    def _lowercase(cls, value: list[str]) -> list[str]:
        return [item.strip().lower() for item in value if item.strip()]

    @field_validator("address")
    @classmethod
    def _an_address(cls, value: str) -> str:
        local, at, domain = value.strip().rpartition("@")
        if not at or not local or not domain or any(c.isspace() for c in value.strip()):
            raise ValueError("must be an email address like support@example.com")
        return value.strip()

    @model_validator(mode="after")
    def _consistent(self) -> EmailSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.require_starttls and self.tls_cert is None:
            raise ValueError("require_starttls needs tls_cert and tls_key")
        if self.auth_required and not self.auth_users:
            raise ValueError("auth_required needs auth_users")
        if self.auth_required and self.auth_require_tls and self.tls_cert is None:
            raise ValueError(
                "auth_required needs tls_cert and tls_key (or auth_require_tls = false)"
            )
        if (self.relay_username is None) != (self.relay_password is None):
            raise ValueError("relay_username and relay_password go together")
        if self.sender_auth == "trust_upstream" and not self.authserv_id.strip():
            raise ValueError(
                'sender_auth = "trust_upstream" needs authserv_id (the upstream\'s name in '
                "its Authentication-Results headers)"
            )
        return self


class ChannelsSettings(_Section):
    telegram: TelegramSettings = TelegramSettings()
    whatsapp: WhatsAppSettings = WhatsAppSettings()
    email: EmailSettings = EmailSettings()


class MockSettings(_Section):
    """Where ``msgcenter mock`` and the demo run the fake providers."""

    host: str = "127.0.0.1"
    telegram_port: int = Field(default=8081, ge=0, le=65535)
    whatsapp_port: int = Field(default=8082, ge=0, le=65535)
    smtp_port: int = Field(default=2526, ge=0, le=65535)
    smtp_control_port: int = Field(default=8083, ge=0, le=65535)
    openai_port: int = Field(default=8084, ge=0, le=65535)
    # The receiver of the demo's API channel (its callbacks, /_mock/received).
    api_port: int = Field(default=8085, ge=0, le=65535)
    # channels.email.sender_auth while the mocks stand in (the simulated mail is unsigned).
    sender_auth: Literal["off", "verify"] = "off"


class Settings(_Section):
    """Every setting of the service; see config.toml for what each one means."""

    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    events: EventsSettings = EventsSettings()
    auth: AuthSettings = AuthSettings()
    handoff: HandoffSettings = HandoffSettings()
    contacts: ContactsSettings = ContactsSettings()
    csat: CsatSettings = CsatSettings()
    reports: ReportsSettings = ReportsSettings()
    bot: BotSettings = BotSettings()
    kb: KbSettings = KbSettings()
    copilot: CopilotSettings = CopilotSettings()
    integrations: IntegrationsSettings = IntegrationsSettings()
    api_keys: ApiKeysSettings = ApiKeysSettings()
    widget: WidgetSettings = WidgetSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()
    channels: ChannelsSettings = ChannelsSettings()
    mock: MockSettings = MockSettings()


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``MSGCENTER_A__B__C=value`` variables into ``{"a": {"b": {"c": value}}}``.

    A value that looks like a JSON list or object is parsed as JSON, so lists
    can be given too: ``MSGCENTER_CHANNELS__EMAIL__DOMAINS='["a.example"]'``.
    """
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        value: Any = raw
        if raw[:1] in "[{":
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise SettingsError(f"{'.'.join(path)}: not valid JSON ({exc.msg})") from exc
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise SettingsError(f"{'.'.join(path)}: conflicts with another variable")
            node = child
        node[path[-1]] = value
    return tree


# Variables with the prefix that are not settings: the config file's name, and the test
# suite's own (MSGCENTER_TEST_POSTGRES_URL, ...).
ENV_NOT_SETTINGS = frozenset({"MSGCENTER_CONFIG"})
ENV_NOT_SETTINGS_PREFIXES = ("MSGCENTER_TEST_",)


def setting_env_names(model: type[BaseModel] | None = None, prefix: str = ENV_PREFIX) -> list[str]:
    """The variable of every setting: ``MSGCENTER_SERVER__PORT``, ..."""
    names = []
    for name, field in (model or Settings).model_fields.items():
        env = f"{prefix}{name.upper()}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.extend(setting_env_names(annotation, env + "__"))
        else:
            names.append(env)
    return names


def env_warnings(environ: Mapping[str, str]) -> list[str]:
    """One line for each ``MSGCENTER_*`` variable that sets nothing (e.g. one underscore
    where two belong), naming the closest setting's variable."""
    known = setting_env_names()
    squeezed = {name.replace("_", ""): name for name in known}
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if not name.startswith(ENV_PREFIX) or upper in ENV_NOT_SETTINGS:
            continue
        if upper.startswith(ENV_NOT_SETTINGS_PREFIXES) or upper in known:
            continue
        if any(upper.startswith(f"{leaf}__") for leaf in known):  # a key of a table (options)
            continue
        guess = squeezed.get(upper.replace("_", ""))
        if guess is None:  # compared without the prefix they all share
            keys = {name[len(ENV_PREFIX) :]: name for name in known}
            close = difflib.get_close_matches(upper[len(ENV_PREFIX) :], keys, n=1, cutoff=0.6)
            guess = keys[close[0]] if close else None
        hint = (
            f"did you mean {guess}?"
            if guess
            else "settings are MSGCENTER_<SECTION>__<KEY>, with two underscores between levels"
        )
        warnings.append(f"environment variable {name} matches no setting and is ignored; {hint}")
    return warnings


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(root)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"{key}: {message}")
    return "; ".join(lines)


def build_settings(data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Validate ``data`` (a parsed config file) with env overrides applied on top."""
    merged = _merge(dict(data), env_overrides(os.environ if environ is None else environ))
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from exc


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the config file (``path``, ``$MSGCENTER_CONFIG`` or ./config.toml) and validate it.

    A missing default file is fine (built-in defaults apply); a missing file
    that was asked for by name is an error.
    """
    env = os.environ if environ is None else environ
    explicit = path is not None or "MSGCENTER_CONFIG" in env
    config_path = Path(path if path is not None else env.get("MSGCENTER_CONFIG", DEFAULT_CONFIG))
    data: dict[str, Any] = {}
    if config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{config_path}: {exc}") from exc
    elif explicit:
        raise SettingsError(f"config file {config_path} does not exist")
    llm = data.get("bot", {}).get("llm", {}) if isinstance(data.get("bot"), dict) else {}
    if isinstance(llm, dict) and llm.get("api_key"):
        raise SettingsError(
            f"{config_path}: bot.llm.api_key must not be in a config file; "
            "set MSGCENTER_BOT__LLM__API_KEY in the environment"
        )
    return build_settings(data, env)
