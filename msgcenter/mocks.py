"""The fake providers together: for the demo, ``msgcenter mock`` and ``simulate``.

Each mock speaks its provider's real protocol on 127.0.0.1 (the Telegram Bot
API, the WhatsApp Cloud Graph API and its signed webhooks, SMTP, an
OpenAI-compatible model answering from the passages it is given) and has a
small control API at ``/_mock/...`` to play a customer and to see what
msgcenter sent. Secrets are generated per run; nothing here is for production.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from connectors.mock.api_receiver import MockApiReceiver
from connectors.mock.openai import MockOpenAI
from connectors.mock.smtp import MockSmtp
from connectors.mock.telegram import MockTelegram
from connectors.mock.whatsapp import MockWhatsApp
from msgcenter.settings import MockSettings, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MockSecrets:
    telegram_token: str
    whatsapp_access_token: str
    whatsapp_app_secret: str
    whatsapp_verify_token: str
    api_channel_secret: str  # the demo's API channel signs its callbacks with it

    @classmethod
    def generate(cls) -> MockSecrets:
        return cls(
            telegram_token=f"{secrets.randbelow(9 * 10**8) + 10**8}:{secrets.token_urlsafe(26)}",
            whatsapp_access_token=secrets.token_urlsafe(32),
            whatsapp_app_secret=secrets.token_hex(16),
            whatsapp_verify_token=secrets.token_urlsafe(16),
            api_channel_secret=secrets.token_urlsafe(24),
        )


class MockProviders:
    """Telegram, WhatsApp, SMTP, model and API-channel receiver stand-ins on the ports of
    ``[mock]``.

    The model (``openai``) is only started: nothing is pointed at it, the bot engine
    stays what the settings say (the demo's is the rules bot); its ``url`` is printed.
    """

    def __init__(self, settings: Settings, mock_secrets: MockSecrets | None = None) -> None:
        self.settings = settings
        self.ports: MockSettings = settings.mock
        self.secrets = mock_secrets or MockSecrets.generate()
        email = settings.channels.email
        self.telegram = MockTelegram(self.secrets.telegram_token)
        self.whatsapp = MockWhatsApp(
            self.secrets.whatsapp_app_secret,
            self.secrets.whatsapp_access_token,
            webhook_url=settings.server.public_url.rstrip("/") + "/webhooks/whatsapp",
        )
        self.smtp = MockSmtp(email.host, email.port, to_address=email.address)
        self.openai = MockOpenAI()
        # The system behind the demo's API channel: takes its signed replies.
        self.api = MockApiReceiver(self.secrets.api_channel_secret)

    async def start(self) -> None:
        host = self.ports.host
        await self.telegram.start(host, self.ports.telegram_port)
        await self.whatsapp.start(host, self.ports.whatsapp_port)
        await self.smtp.start(host, self.ports.smtp_port, self.ports.smtp_control_port)
        await self.openai.start(host, self.ports.openai_port)
        await self.api.start(host, self.ports.api_port)

    async def stop(self) -> None:
        await self.api.stop()
        await self.openai.stop()
        await self.smtp.stop()
        await self.whatsapp.stop()
        await self.telegram.stop()

    def channel_settings(self) -> dict[str, Any]:
        """``[channels]`` pointing msgcenter at these mocks (ports known after ``start``)."""
        host = self.ports.host
        return {
            "telegram": {
                "enabled": True,
                "api_base": f"http://{host}:{self.ports.telegram_port}",
                "token": self.secrets.telegram_token,
            },
            "whatsapp": {
                "enabled": True,
                "graph_base": f"http://{host}:{self.ports.whatsapp_port}",
                "phone_number_id": self.whatsapp.phone_number_id,
                # Its message templates (the mock's demo list) are synced at start.
                "business_account_id": self.whatsapp.waba_id,
                "access_token": self.secrets.whatsapp_access_token,
                "app_secret": self.secrets.whatsapp_app_secret,
                "verify_token": self.secrets.whatsapp_verify_token,
            },
            "email": {
                "enabled": True,
                "relay_host": host,
                "relay_port": self.ports.smtp_port,
                "relay_security": "none",
                # The simulated customers' mail is unsigned, from example addresses: not
                # checked (connectors.email_auth) unless [mock] sender_auth says "verify".
                "sender_auth": self.ports.sender_auth,
            },
        }

    def env_lines(self) -> list[str]:
        """The same, as environment variables for a separate ``msgcenter serve``."""
        lines = []
        for channel, values in self.channel_settings().items():
            for key, value in values.items():
                shown = str(value).lower() if isinstance(value, bool) else value
                lines.append(f"MSGCENTER_CHANNELS__{channel.upper()}__{key.upper()}={shown}")
        return lines


def with_mocks(settings: Settings, providers: MockProviders) -> Settings:
    """``settings`` with every channel pointed at ``providers``."""
    channels = settings.channels.model_dump()
    for channel, values in providers.channel_settings().items():
        channels[channel].update(values)
    data = settings.model_dump()
    data["channels"] = channels
    return Settings.model_validate(_reveal(data))


def _reveal(value: Any) -> Any:
    """model_dump keeps SecretStr objects; validation wants their text back."""
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    get = getattr(value, "get_secret_value", None)
    return get() if callable(get) else value


SIMULATED_FILE_MAX = 100 * 1024 * 1024  # bytes simulate reads from a file to send


class SimulateError(Exception):
    """What ``simulate`` was asked cannot be done (a file too large to send)."""


async def simulate(
    mock: MockSettings,
    channel: str,
    name: str,
    text: str,
    *,
    file: tuple[str, Path] | None = None,
    **extra: str | None,
) -> dict[str, Any]:
    """Play a customer writing on ``channel`` through the running mocks' control API; with
    ``file`` (``("image", path)`` on WhatsApp, ``("photo" | "document", path)`` on
    Telegram) the customer sends that file, ``text`` its caption."""
    port = {
        "telegram": mock.telegram_port,
        "whatsapp": mock.whatsapp_port,
        "email": mock.smtp_control_port,
    }[channel]
    body: dict[str, Any] = {"name": name, "text": text}
    body.update({k: v for k, v in extra.items() if v})
    if channel == "email" and "email" not in body:
        local = "".join(ch for ch in name.lower().replace(" ", ".") if ch.isalnum() or ch == ".")
        body["email"] = f"{local or 'customer'}@example.com"
    base = f"http://{mock.host}:{port}"
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        if file is not None:
            body.update(await _upload(http, base, channel, *file))
        return await _customer(http, f"{base}/_mock/customer", channel, body)


async def _upload(
    http: aiohttp.ClientSession, base: str, channel: str, kind: str, path: Path
) -> dict[str, Any]:
    """Hand the mock the file the customer sends; the fields of ``/_mock/customer`` that
    send it."""
    size = (await asyncio.to_thread(path.stat)).st_size
    if size > SIMULATED_FILE_MAX:
        raise SimulateError(f"{path} is larger than {SIMULATED_FILE_MAX // 2**20} MB")
    data = await asyncio.to_thread(path.read_bytes)
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = {"Content-Type": mime}
    if channel == "whatsapp":
        url = f"{base}/_mock/media"
        params = {"filename": path.name} if kind == "document" else {}
    else:
        url = f"{base}/_mock/file"
        params = {"name": path.name} if kind == "document" else {}
    async with http.post(url, data=data, headers=headers, params=params) as response:
        answer: Any = await response.json(content_type=None)
        if response.status >= 400 or not isinstance(answer, dict):
            raise RuntimeError(f"the {channel} mock answered {response.status}: {answer}")
    if channel == "whatsapp":
        return {"media": {"id": answer["id"], "type": kind}}
    return {kind: answer["file_id"]}


async def _customer(
    http: aiohttp.ClientSession, url: str, channel: str, body: dict[str, Any]
) -> dict[str, Any]:
    async with http.post(url, json=body) as response:
        answer: Any = await response.json(content_type=None)
        if response.status >= 400:
            raise RuntimeError(f"the {channel} mock answered {response.status}: {answer}")
        if channel == "whatsapp" and answer.get("status") != 200:
            raise RuntimeError(f"msgcenter answered the webhook with {answer.get('status')}")
        return answer if isinstance(answer, dict) else {"answer": answer}
