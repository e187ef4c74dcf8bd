"""Which parts of the service a process runs: ``msgcenter serve --role ...``.

- ``api``: the dashboard API, the WebSocket stream and the provider webhooks
  (any number of processes, behind a load balancer);
- ``smtp``: the SMTP server email arrives at;
- ``telegram``: Telegram's poller (or, in webhook mode, its setWebhook);
- ``outbox``: delivery of replies, fetching the files customers send
  (``handoff.usecases.media``), and the sweep of the assignment queue.

The Telegram poller and the outbox run in one process at a time: on
PostgreSQL each runs under a lease (``msgcenter.lease``), so several
processes may carry the role and one of them is active, the others standing
by. Every process with ``api`` or ``outbox`` can send on every channel.
"""

from __future__ import annotations

from collections.abc import Sequence

from msgcenter.settings import Settings, SettingsError
from storage.db import is_sqlite

ROLES = ("api", "smtp", "telegram", "outbox")
ALL = frozenset(ROLES)
LEASED = frozenset({"telegram", "outbox"})
# The role that runs a channel's inbound side (WhatsApp's is its webhook: the api role).
INBOUND_ROLE = {"Telegram": "telegram", "Email": "smtp"}


def parse_roles(values: Sequence[str] | None) -> frozenset[str]:
    """``["api,outbox", "smtp"]`` -> the set of roles; nothing or ``all`` -> every role."""
    names = [name.strip().lower() for value in values or () for name in value.split(",")]
    names = [name for name in names if name]
    if not names or "all" in names:
        return ALL
    unknown = sorted(set(names) - ALL)
    if unknown:
        raise SettingsError(
            f"--role: unknown role {', '.join(unknown)} (choose from all, {', '.join(ROLES)})"
        )
    return frozenset(names)


def check_roles(roles: frozenset[str], settings: Settings) -> None:
    """Split roles need what several processes share: PostgreSQL and Redis."""
    if roles == ALL:
        return
    chosen = ",".join(sorted(roles))
    if is_sqlite(settings.storage.url):
        raise SettingsError(
            f"--role {chosen}: running parts of msgcenter in separate processes needs "
            f"PostgreSQL, but storage.url is SQLite ({settings.storage.url}); set storage.url "
            "(MSGCENTER_STORAGE__URL) to postgres://... or run everything in one process "
            "(--role all)"
        )
    if not settings.events.redis:
        raise SettingsError(
            f"--role {chosen}: separate processes share events through Redis, but events.url "
            f"is {settings.events.url}; set events.url (MSGCENTER_EVENTS__URL) to "
            "redis://host:6379/0"
        )
