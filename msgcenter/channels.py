"""Which channel connectors run, built from settings and plugged into the core.

Each ``_<channel>`` function turns its settings section into the connector's
own config (connectors never import msgcenter) and returns the connector, or
None when the channel is disabled.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from typing import Protocol

from aiohttp import web
from pydantic import SecretStr

from connectors.api_channel import ApiChannelConnector
from connectors.base import Connector, HasWebRoutes, Sink
from connectors.callbacks import CallbackPoster
from connectors.whatsapp import WhatsAppConfig, WhatsAppConnector
from handoff.domain.media import sniff
from msgcenter.settings import Settings, SettingsError
from storage.blobs import Blobs

log = logging.getLogger(__name__)

# (settings, sink, the blob store of the service: where kept files go) -> the connector.
Factory = Callable[[Settings, Sink, Blobs], Connector | None]


def _telegram(settings: Settings, sink: Sink, blobs: Blobs) -> Connector | None:
    section = settings.channels.telegram
    if not section.enabled:
        return None
    # Imported here: aiogram takes seconds to load (and tens of MB); only when the channel is on.
    from connectors.telegram import WEBHOOK_PATH, TelegramConfig, TelegramConnector

    if section.token is None:
        raise SettingsError(
            "channels.telegram.token: required when the channel is enabled "
            "(set MSGCENTER_CHANNELS__TELEGRAM__TOKEN)"
        )
    secret = _secret(section.webhook_secret)
    if section.mode == "webhook" and not secret:
        raise SettingsError(
            "channels.telegram.webhook_secret: required in webhook mode "
            "(set MSGCENTER_CHANNELS__TELEGRAM__WEBHOOK_SECRET)"
        )
    config = TelegramConfig(
        token=section.token.get_secret_value(),
        api_base=section.api_base,
        mode=section.mode,
        webhook_url=settings.server.public_url.rstrip("/") + WEBHOOK_PATH,
        webhook_secret=secret,
        private_only=section.private_only,
        polling_timeout=section.polling_timeout,
        request_timeout=section.request_timeout,
    )
    return TelegramConnector(config, sink)


def _whatsapp(settings: Settings, sink: Sink, blobs: Blobs) -> Connector | None:
    section = settings.channels.whatsapp
    if not section.enabled:
        return None
    required = {
        "phone_number_id": section.phone_number_id,
        "access_token": _secret(section.access_token),
        "app_secret": _secret(section.app_secret),
        "verify_token": _secret(section.verify_token),
    }
    missing = [
        f"channels.whatsapp.{name}: required when the channel is enabled"
        f" (MSGCENTER_CHANNELS__WHATSAPP__{name.upper()})"
        for name, value in required.items()
        if not value
    ]
    if missing:
        raise SettingsError("; ".join(missing))
    config = WhatsAppConfig(
        phone_number_id=required["phone_number_id"],
        access_token=required["access_token"],
        app_secret=required["app_secret"],
        verify_token=required["verify_token"],
        graph_base=section.graph_base,
        api_version=section.api_version,
        business_account_id=section.business_account_id,
        templates_max_pages=section.templates_max_pages,
        templates_timeout_seconds=section.templates_timeout_seconds,
    )
    return WhatsAppConnector(config, sink)


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _email(settings: Settings, sink: Sink, blobs: Blobs) -> Connector | None:
    email = settings.channels.email
    if not email.enabled:
        return None
    from connectors.email import EmailConfig, EmailConnector, RelayConfig  # aiosmtpd: only if on
    from connectors.email_auth import AuthConfig
    from connectors.email_parse import MailLimits

    relay = RelayConfig(
        host=email.relay_host,
        port=email.relay_port,
        security=email.relay_security,
        username=email.relay_username,
        password=_secret(email.relay_password) or None,
        validate_certs=email.relay_validate_certs,
        timeout=email.relay_timeout_seconds,
    )
    config = EmailConfig(
        address=email.address,
        domains=tuple(email.domains),
        addresses=tuple(email.addresses),
        display_name=email.display_name,
        host=email.host,
        port=email.port,
        hostname=email.hostname,
        max_message_bytes=email.max_message_bytes,
        auth_users={user: pw.get_secret_value() for user, pw in email.auth_users.items()},
        auth_required=email.auth_required,
        auth_require_tls=email.auth_require_tls,
        tls_cert=email.tls_cert,
        tls_key=email.tls_key,
        require_starttls=email.require_starttls,
        relay=relay,
        max_connections=email.max_connections,
        max_connections_per_address=email.max_connections_per_address,
        idle_timeout=email.idle_timeout_seconds,
        session_max=email.session_max_seconds,
        limits=MailLimits(
            max_parts=email.max_parts,
            max_attachments=email.max_attachments,
            max_depth=email.max_depth,
            max_body_chars=email.max_body_chars,
        ),
        parse_timeout=email.parse_timeout_seconds,
        parse_workers=email.parse_workers,
        sender_auth=AuthConfig(
            mode=email.sender_auth,
            dns_servers=tuple(email.dns_servers),
            dns_timeout=email.dns_timeout_seconds,
            timeout=email.sender_auth_timeout_seconds,
            authserv_id=email.authserv_id.strip(),
            upstream_networks=tuple(
                ipaddress.ip_network(net, strict=False) for net in email.upstream_networks
            ),
        ),
    )
    return EmailConnector(config, sink, blobs, sniff=sniff)


def _api(settings: Settings, sink: Sink, blobs: Blobs) -> Connector | None:
    """Always on: it posts replies to the API channels admins made (none: it never runs)."""
    return ApiChannelConnector(callback_poster(settings))


def callback_poster(settings: Settings) -> CallbackPoster:
    """Signed posts to the desk's own URLs, under ``[integrations]``'s destination rules."""
    section = settings.integrations
    return CallbackPoster(
        allow_private=section.allow_private_destinations,
        timeout_seconds=section.timeout_seconds,
    )


def _widget(settings: Settings, sink: Sink, blobs: Blobs) -> Connector | None:
    """The website widget's channel: always there (its widgets are made through the API);
    :func:`connect_widget` gives it the email relay for replies to visitors who left an
    address while nobody was online."""
    from connectors.widget import WidgetConnector

    return WidgetConnector()


FACTORIES: dict[str, Factory] = {
    "Telegram": _telegram,
    "WhatsApp": _whatsapp,
    "Email": _email,
    "API": _api,
    "Widget": _widget,
}


class ReplyEmails(Protocol):
    """Where a widget chat's replies are also mailed (``handoff.usecases.widget.Visitors``)."""

    async def email_for_replies(self, chat_key: str) -> str | None: ...


def connect_widget(connectors: list[Connector], visitors: ReplyEmails) -> None:
    """The widget's replies by email go through the email channel's relay (when the email
    channel is on), to the address ``visitors`` names for the chat."""
    from connectors.widget import WidgetConnector

    widget = next((c for c in connectors if isinstance(c, WidgetConnector)), None)
    email = next((c for c in connectors if c.channel == "Email"), None)
    if widget is None or email is None:
        return
    widget.mailer = email.send
    widget.email_for = visitors.email_for_replies


def build_connectors(settings: Settings, sink: Sink, blobs: Blobs) -> list[Connector]:
    """The enabled channels' connectors; ``blobs`` is the service's own store (``Core.blobs``:
    opened with the service), where email keeps the files customers send."""
    connectors = []
    for factory in FACTORIES.values():
        connector = factory(settings, sink, blobs)
        if connector is not None:
            connectors.append(connector)
    return connectors


def build_connector(settings: Settings, sink: Sink, channel: str, blobs: Blobs) -> Connector | None:
    """One more connector of ``channel`` (e.g. the leased Telegram poller beside the sender)."""
    return FACTORIES[channel](settings, sink, blobs)


def add_web_routes(app: web.Application, connectors: list[Connector]) -> None:
    """Mount the provider webhooks of the connectors that have them."""
    for connector in connectors:
        if isinstance(connector, HasWebRoutes):
            app.add_routes(connector.web_routes())


@asynccontextmanager
async def running(
    connectors: list[Connector], inbound: Collection[str] | None = None
) -> AsyncIterator[None]:
    """Start every connector (receiving too if its channel is in ``inbound``, or always when
    ``inbound`` is None); stop them in reverse order, also after a failed start."""
    started: list[Connector] = []
    try:
        for connector in connectors:
            receiving = inbound is None or connector.channel in inbound
            await connector.start(inbound=receiving)
            started.append(connector)
            log.info(
                "%s connector started%s", connector.channel, "" if receiving else " (send only)"
            )
        yield
    finally:
        for connector in reversed(started):
            try:
                await connector.stop()
            except Exception:
                log.exception("stopping the %s connector failed", connector.channel)
