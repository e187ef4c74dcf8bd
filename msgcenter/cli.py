"""The ``msgcenter`` command: serve, demo, migrate, user management."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import getpass
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Sequence

import aiohttp
from aiohttp import web

from handoff.errors import DomainError
from handoff.staff import NewUser, Passwords, Staff
from msgcenter import demo as demo_data
from msgcenter.logs import secrets_of, setup_logging
from msgcenter.mocks import MockProviders, simulate, with_mocks
from msgcenter.roles import ALL as ALL_ROLES
from msgcenter.roles import parse_roles
from msgcenter.service import build_app, build_service
from msgcenter.settings import Settings, SettingsError, load_settings
from storage.db import Database, is_sqlite, migrate
from storage.models import Role

log = logging.getLogger("msgcenter")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="msgcenter", description=__doc__)
    parser.add_argument("--config", help="config file (default: $MSGCENTER_CONFIG or config.toml)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the service")
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")
    serve.add_argument(
        "--role",
        action="append",
        metavar="ROLE",
        help="run only these parts: api, smtp, telegram, outbox or all (the default); "
        "repeat or separate with commas. Several processes need PostgreSQL and Redis.",
    )

    demo = commands.add_parser("demo", help="run the service with demo users and chats")
    demo.add_argument("--host", help="override server.host")
    demo.add_argument("--port", type=int, help="override server.port")

    commands.add_parser("migrate", help="apply database migrations")

    commands.add_parser("mock", help="run the fake Telegram, WhatsApp and SMTP providers")
    simulate = commands.add_parser("simulate", help="write as a customer through the mocks")
    simulate.add_argument("channel", choices=["telegram", "whatsapp", "email"])
    simulate.add_argument("--name", required=True, help="the customer's name")
    simulate.add_argument("--phone", help="WhatsApp: the customer's number")
    simulate.add_argument("--email", help="email: the customer's address")
    simulate.add_argument("--subject", help="email: the subject")
    simulate.add_argument("text", nargs="+", help="what the customer writes")

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="user_command", required=True
    )
    add = user.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.AGENT.value)
    add.add_argument("--password", help="the password (asked for when left out)")
    add.add_argument("--email")
    add.add_argument("--name", help="display name")
    add.add_argument("--capacity", type=int, help="max open chats")
    user.add_parser("list", help="list users")
    passwd = user.add_parser("passwd", help="set a user's password")
    passwd.add_argument("username")
    passwd.add_argument("--password", help="the new password (asked for when left out)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"msgcenter: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.logging.level, settings.logging.format, secrets_of(settings))
    commands: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
        "serve": _serve,
        "demo": _demo,
        "migrate": _migrate,
        "user": _user,
        "mock": _mock,
        "simulate": _simulate,
    }
    try:
        return commands[args.command](args, settings)
    except SettingsError as exc:
        print(f"msgcenter: configuration error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"msgcenter: {exc.message}", file=sys.stderr)
        return 1


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(migrate(settings.storage.url))
    print(f"database is up to date ({settings.storage.url.split('://', 1)[0]})")
    return 0


def _with_server(args: argparse.Namespace, settings: Settings) -> Settings:
    server = settings.server.model_copy(
        update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    )
    return settings.model_copy(update={"server": server})


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    settings = _with_server(args, settings)
    roles = parse_roles(args.role)
    app = build_app(settings, build_service(settings, roles))
    log.info(
        "msgcenter (%s) listening on http://%s:%d",
        "all roles" if roles == ALL_ROLES else "roles " + ",".join(sorted(roles)),
        settings.server.host,
        settings.server.port,
    )
    _run(app, settings)
    return 0


async def freeze_startup_objects(_app: web.Application) -> None:
    """Keep what start-up made (modules, models, settings, caches: it lives as long as the
    process) out of the garbage collector's full collections, which otherwise walk all of it
    every couple of seconds under load, stalling the event loop for 45-80 ms each time
    (measured with bench.ingest; 0.3-15 ms once frozen). Start-up's own garbage is
    collected first, so none of it is kept for good."""
    gc.collect()
    gc.freeze()


def _run(app: web.Application, settings: Settings) -> None:
    """Serve ``app`` until SIGINT/SIGTERM (no access log: it would record tokens in URLs)."""
    app.on_startup.append(freeze_startup_objects)  # after the service's own start-up
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        print=None,
        access_log=None,
        loop=new_event_loop(settings.server.event_loop),
    )


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new loop of ``kind`` ("uvloop" or "asyncio"); asyncio's where uvloop is missing."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("server.event_loop is uvloop but uvloop is not installed; using asyncio")
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def demo_settings(settings: Settings) -> Settings:
    """The demo keeps its data in its own SQLite file beside the real one."""
    server = settings.server.model_copy(
        update={"public_url": f"http://{settings.server.host}:{settings.server.port}"}
    )
    settings = settings.model_copy(update={"server": server})
    if not is_sqlite(settings.storage.url):
        return settings
    data_dir = settings.storage.data_dir / "demo"
    storage = settings.storage.model_copy(
        update={"url": f"sqlite://{data_dir / 'msgcenter.db'}", "data_dir": data_dir}
    )
    return settings.model_copy(update={"storage": storage})


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    settings = demo_settings(_with_server(args, settings))
    providers = MockProviders(settings)
    settings = with_mocks(settings, providers)
    service = build_service(settings)
    app = build_app(settings, service)

    async def run_mocks(_app: web.Application) -> AsyncIterator[None]:
        await providers.start()
        yield
        await providers.stop()

    app.cleanup_ctx.insert(0, run_mocks)  # the providers are up before the channels start

    async def seed(_app: web.Application) -> None:
        users = await demo_data.seed_users(service.core.staff)
        created = await demo_data.seed_chats(users[1])
        print(_demo_banner(settings, created), flush=True)

    app.on_startup.append(seed)
    _run(app, settings)
    return 0


def _demo_banner(settings: Settings, created: int) -> str:
    base = settings.server.public_url
    mock = settings.mock
    login = '-d \'{"identifier":"admin","password":"admin123"}\''
    return "\n".join(
        [
            "",
            "msgcenter demo (DEMO ONLY: these logins are public, never use them for real)",
            f"  web console:   {base}/",
            f"  dashboard API: {base}   (OpenAPI: {base}/openapi.json)",
            "  logins:        admin / admin123      agent / agent123",
            f"  data:          {settings.storage.url}  ({created} demo chats created)",
            f"  mock providers on {mock.host}: Telegram :{mock.telegram_port}, "
            f"WhatsApp :{mock.whatsapp_port}, SMTP :{mock.smtp_port} "
            f"(control :{mock.smtp_control_port}); email in on :{settings.channels.email.port}",
            "  write as a customer (in another terminal):",
            "    .venv/bin/msgcenter simulate whatsapp --name 'Budi Santoso' Halo, pesanan saya?",
            "    .venv/bin/msgcenter simulate telegram --name 'Sari Dewi' where is my order",
            "    .venv/bin/msgcenter simulate email --name 'Rina' I want to talk to a human",
            f"  log in: curl -s -X POST {base}/auth/login "
            f"-H 'Content-Type: application/json' {login}",
            "",
        ]
    )


def _mock(_args: argparse.Namespace, settings: Settings) -> int:
    """The fake providers alone, for a separately started `msgcenter serve`."""

    async def run() -> None:
        providers = MockProviders(settings)
        await providers.start()
        print("mock providers running; start msgcenter with:")
        for line in providers.env_lines():
            print(f"  export {line}")
        print("(Ctrl+C stops them)", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await providers.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    text = " ".join(args.text)
    try:
        answer = asyncio.run(
            simulate(
                settings.mock, args.channel, args.name, text,
                phone=args.phone, email=args.email, subject=args.subject,
            )
        )  # fmt: skip
    except (OSError, RuntimeError, aiohttp.ClientError) as exc:
        print(f"msgcenter: could not reach the {args.channel} mock ({exc}); "
              "is `make run` or `msgcenter mock` running?", file=sys.stderr)  # fmt: skip
        return 1
    print(f"{args.name} wrote on {args.channel}: {text!r}  ({json.dumps(answer)[:200]})")
    return 0


def _user(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> int:
        await migrate(settings.storage.url)
        database = Database(settings.storage.url)
        await database.open(run_migrations=False)
        staff = Staff(
            Passwords(
                time_cost=settings.auth.argon2_time_cost,
                memory_kib=settings.auth.argon2_memory_kib,
            ),
            default_capacity=settings.handoff.default_capacity,
        )
        try:
            if args.user_command == "list":
                loads = await staff.loads()
                for user in await staff.list():
                    state = "active" if user.active else "inactive"
                    print(
                        f"{user.id:>4}  {user.username:<20} {user.role:<6} {state:<8} "
                        f"{loads.get(user.id, 0)}/{user.capacity} open  {user.email or ''}"
                    )
                return 0
            password = args.password or _ask_password()
            if args.user_command == "add":
                user = await staff.create(
                    NewUser(
                        args.username, password, Role(args.role), args.email, args.name,
                        args.capacity,
                    )
                )  # fmt: skip
                print(f"created {user.role} {user.username} (id {user.id})")
            else:
                await staff.set_password(args.username, password)
                print(f"password changed for {args.username}; their old tokens no longer work")
            return 0
        finally:
            await database.close()

    return asyncio.run(run())


def _ask_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("msgcenter: the passwords differ")
    return first


if __name__ == "__main__":
    sys.exit(main())
