"""The msgcenter command: serve, demo, migrate, user management, knowledge-base import."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import getpass
import json
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import aiohttp
from aiohttp import web

from handoff.core import Core
from handoff.domain.errors import DomainError, NotFound
from handoff.infra.bus import MemoryEventBus
from handoff.usecases.staff import NewUser, Passwords, Staff
from msgcenter import demo as demo_data
from msgcenter.logs import secrets_of, setup_logging
from msgcenter.mocks import MockProviders, SimulateError, simulate, with_mocks
from msgcenter.roles import ALL as ALL_ROLES
from msgcenter.roles import parse_roles
from msgcenter.service import build_app, build_service, kb_embedder
from msgcenter.settings import Settings, SettingsError, env_warnings, load_settings
from storage.db import Database, DatabaseUnavailable, is_sqlite, migrate, shown_url, sqlite_path
from storage.models import Role, User

log = logging.getLogger("msgcenter")

DESCRIPTION = """msgcenter: a customer-service message center (Telegram, WhatsApp, email, a bot and
human agents). Run the service or the demo, prepare the database, manage users, load the
knowledge base."""

EPILOG = """The database is storage.url (by default the SQLite file data/msgcenter.db); the demo
keeps its own in data/demo/, which --demo chooses. Settings come from config.toml and
MSGCENTER_<SECTION>__<KEY> environment variables, e.g. MSGCENTER_SERVER__PORT=9000.
"""

# Commands that run until stopped keep the configured log level; one-shot commands log
# warnings and errors only (their output says what they did).
LONG_RUNNING = {"serve", "demo", "mock"}


class ListenError(Exception):
    """A port the service needs is taken or not allowed; the message names it."""


def _version() -> str:
    try:
        return version("msgcenter")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msgcenter",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"msgcenter {_version()}")
    parser.add_argument("--config", help="config file (default: $MSGCENTER_CONFIG or config.toml)")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="use the demo's database (data/demo/msgcenter.db) instead of storage.url",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    commands.add_parser("migrate", help="create or upgrade the database schema")

    commands.add_parser("mock", help="run the fake Telegram, WhatsApp and SMTP providers")
    simulate = commands.add_parser("simulate", help="write as a customer through the mocks")
    simulate.add_argument("channel", choices=["telegram", "whatsapp", "email"])
    simulate.add_argument("--name", required=True, help="the customer's name")
    simulate.add_argument("--phone", help="WhatsApp: the customer's number")
    simulate.add_argument("--email", help="email: the customer's address")
    simulate.add_argument("--subject", help="email: the subject")
    simulate.add_argument("--image", type=Path, help="WhatsApp: send this image (text: caption)")
    simulate.add_argument("--photo", type=Path, help="Telegram: send this photo (text: caption)")
    simulate.add_argument(
        "--document", type=Path, help="Telegram: send this file as a document (text: caption)"
    )
    simulate.add_argument("text", nargs="*", help="what the customer writes")

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="user_command", required=True, metavar="USER_COMMAND"
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
    deactivate = user.add_parser(
        "deactivate", help="stop a user from logging in and end their sessions"
    )
    deactivate.add_argument("username")
    activate = user.add_parser("activate", help="let a deactivated user log in again")
    activate.add_argument("username")

    kb = commands.add_parser("kb", help="manage the knowledge base").add_subparsers(
        dest="kb_command", required=True, metavar="KB_COMMAND"
    )
    kb_import = kb.add_parser(
        "import",
        help="load a folder of markdown files as articles (again: updates them)",
        description="Every *.md file under FOLDER becomes an article, by its path there: "
        "created, or updated when it changed. Title, language and tags come from the "
        "front matter (title: ..., language: en, tags: [a, b]), else the first # heading "
        "and a first-level folder named en or id. A file that cannot be read is refused "
        "with the reason (exit status 1); the others are still imported.",
    )
    kb_import.add_argument("folder", type=Path, metavar="FOLDER")
    kb_import.add_argument(
        "--prune", action="store_true", help="delete articles imported from files now gone"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(_parser(), argv)
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"msgcenter: configuration error: {exc}", file=sys.stderr)
        for warning in env_warnings(os.environ):
            print(f"msgcenter: {warning}", file=sys.stderr)
        return 2
    level = settings.logging.level
    if args.command not in LONG_RUNNING and level == "INFO":
        level = "WARNING"
    setup_logging(level, settings.logging.format, secrets_of(settings))
    for warning in env_warnings(os.environ):
        log.warning("%s", warning)
    if args.demo and args.command != "demo":
        settings = demo_storage(settings)
    commands: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
        "serve": _serve,
        "demo": _demo,
        "migrate": _migrate,
        "user": _user,
        "mock": _mock,
        "simulate": _simulate,
        "kb": _kb,
    }
    try:
        return commands[args.command](args, settings)
    except SettingsError as exc:
        print(f"msgcenter: configuration error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"msgcenter: {exc.message}", file=sys.stderr)
        return 1
    except (DatabaseUnavailable, ListenError) as exc:
        print(f"msgcenter: error: {exc}", file=sys.stderr)
        return 1


def new_database_note(settings: Settings) -> str | None:
    """What to tell a user whose command is about to create a new SQLite database."""
    path = sqlite_path(settings.storage.url)
    if path is None or path.exists():
        return None
    note = f"note: creating a new database at {path}"
    demo = demo_storage(settings).storage
    demo_path = sqlite_path(demo.url)
    if demo_path is not None and demo_path != path and demo_path.exists():
        note += f"; the demo's data is in {demo.data_dir}/ (use --demo)"
    return note


def _note_new_database(settings: Settings) -> None:
    note = new_database_note(settings)
    if note:
        print(note, file=sys.stderr)


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    _note_new_database(settings)
    url = settings.storage.url
    applied = asyncio.run(migrate(url, connect_timeout=settings.storage.connect_timeout_seconds))
    where = shown_url(url)
    if "0001_initial" in applied:
        print(f"created the database schema (migrations {', '.join(applied)}) in {where}")
    elif applied:
        print(f"upgraded the database schema (migrations {', '.join(applied)}) in {where}")
    else:
        print(f"database is up to date ({where})")
    return 0


def _with_server(args: argparse.Namespace, settings: Settings) -> Settings:
    server = settings.server.model_copy(
        update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    )
    return settings.model_copy(update={"server": server})


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    settings = _with_server(args, settings)
    roles = parse_roles(args.role)
    sockets = listen(settings.server.host, settings.server.port)
    try:
        email = settings.channels.email
        if email.enabled and "smtp" in roles:
            check_free(email.host, email.port, "the SMTP server", "channels.email.port")
        app = build_app(settings, build_service(settings, roles))
    except BaseException:
        _close(sockets)
        raise
    note = new_database_note(settings)

    def serving(_text: str) -> None:  # aiohttp calls this once every socket serves
        if note:
            log.info("%s", note.replace("note: creating", "note: created", 1))
        log.info(
            "msgcenter (%s) listening on http://%s:%d",
            "all roles" if roles == ALL_ROLES else "roles " + ",".join(sorted(roles)),
            settings.server.host,
            sockets[0].getsockname()[1],  # the port chosen when server.port is 0
        )

    _run(app, settings, sockets, serving)
    return 0


def listen(host: str, port: int, what: str = "", setting: str = "") -> list[socket.socket]:
    """Listening sockets for ``host``:``port`` (one per address it resolves to), bound before
    anything starts so a taken port stops the command at once, naming it."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}:{port}{what and ' for ' + what}: "
                          f"{exc.strerror}") from exc  # fmt: skip
    sockets: list[socket.socket] = []
    seen = set()
    try:
        for family, kind, proto, _name, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio does
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(128)
    except OSError as exc:
        _close(sockets)
        raise ListenError(_listen_failure(host, port, what, setting, exc)) from exc
    return sockets


def check_free(host: str, port: int, what: str, setting: str) -> None:
    """Stop at once when ``port`` (for ``what``, set by ``setting``) cannot be listened on."""
    if port:
        _close(listen(host, port, what, setting))


def _listen_failure(host: str, port: int, what: str, setting: str, exc: OSError) -> str:
    place = f"{host}:{port}" + (f" for {what} ({setting})" if what else "")
    reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    if exc.errno == errno.EADDRINUSE:
        reason += " (is msgcenter already running?"
        reason += f" {setting} chooses another port)" if setting else ")"
    elif exc.errno == errno.EACCES:
        reason += " (ports below 1024 need privileges)"
    return f"cannot listen on {place}: {reason}"


def _close(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


async def freeze_startup_objects(_app: web.Application) -> None:
    """Keep what start-up made (modules, models, settings, caches: it lives as long as the
    process) out of the garbage collector's full collections, which otherwise walk all of it
    every couple of seconds under load, stalling the event loop for 45-80 ms each time
    (measured with bench.ingest; 0.3-15 ms once frozen). Start-up's own garbage is
    collected first, so none of it is kept for good."""
    gc.collect()
    gc.freeze()


def _run(
    app: web.Application,
    settings: Settings,
    sockets: list[socket.socket],
    serving: Callable[[str], None],
) -> None:
    """Serve ``app`` on ``sockets`` until SIGINT/SIGTERM; ``serving`` is called once it
    serves: the database open and migrated, every part started (no access log: it would
    record tokens in URLs). A start-up failure raises (the sockets are closed)."""
    app.on_startup.append(freeze_startup_objects)  # after the service's own start-up
    raise_file_limit()
    try:
        web.run_app(
            app,
            sock=sockets,
            print=serving,
            access_log=None,
            loop=new_event_loop(settings.server.event_loop),
        )
    finally:
        _close(sockets)


def raise_file_limit() -> int | None:
    """Raise the soft limit of open files up to the hard one: every SMTP, HTTP and WebSocket
    client holds a descriptor (1,024 is a common default). The soft limit now in force, or
    None where there is none to raise (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1024 * 1024
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:  # e.g. macOS: above its own ceiling
        log.warning("could not raise the open files limit from %d to %d: %s", soft, target, exc)
        return soft
    log.info("open files limit raised from %d to %d", soft, target)
    return target


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
    return demo_storage(settings.model_copy(update={"server": server}))


def demo_storage(settings: Settings) -> Settings:
    """``settings`` on the demo's database: ``data/demo/msgcenter.db`` (SQLite only; a
    PostgreSQL URL is used as it is)."""
    if not is_sqlite(settings.storage.url):
        return settings
    data_dir = settings.storage.data_dir / "demo"
    storage = settings.storage.model_copy(
        update={"url": f"sqlite://{data_dir / 'msgcenter.db'}", "data_dir": data_dir}
    )
    return settings.model_copy(update={"storage": storage})


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    settings = demo_settings(_with_server(args, settings))
    sockets = listen(settings.server.host, settings.server.port)
    try:
        check_mock_ports(settings)
        email = settings.channels.email
        check_free(email.host, email.port, "the SMTP server", "channels.email.port")
        providers = MockProviders(settings)
        settings = with_mocks(settings, providers)
        # The demo's API channel posts to the receiver on 127.0.0.1: only the demo may.
        integrations = settings.integrations.model_copy(update={"allow_private_destinations": True})
        settings = settings.model_copy(update={"integrations": integrations})
        service = build_service(settings)
        app = build_app(settings, service)
    except BaseException:
        _close(sockets)
        raise

    async def run_mocks(_app: web.Application) -> AsyncIterator[None]:
        await providers.start()
        yield
        await providers.stop()

    app.cleanup_ctx.insert(0, run_mocks)  # the providers are up before the channels start

    created: list[int] = []
    api: list[demo_data.DemoApi] = []

    async def seed(_app: web.Application) -> None:
        users = await demo_data.seed_users(service.core.staff)
        created.append(await demo_data.seed_chats(users[1], settings.bot))
        await demo_data.seed_labels(settings.bot)
        await demo_data.tag_demo_chats()
        service.core.staff.label_names.forget()
        await demo_data.seed_kb(service.core.kb)
        await demo_data.seed_widget(settings.server.public_url)
        api.append(
            await demo_data.seed_api_channel(
                service.core, providers.api.callback_url, providers.secrets.api_channel_secret
            )
        )

    def serving(_text: str) -> None:  # aiohttp calls this once every socket serves
        print(_demo_banner(settings, sum(created), api[0] if api else None), flush=True)

    app.on_startup.append(seed)
    app.router.add_get("/widget/demo", demo_data.demo_page)  # a shop's page with the widget
    _run(app, settings, sockets, serving)
    return 0


def check_mock_ports(settings: Settings) -> None:
    """Stop at once when a port of the mock providers is taken, naming it."""
    mock = settings.mock
    for what, port, setting in (
        ("the mock Telegram provider", mock.telegram_port, "mock.telegram_port"),
        ("the mock WhatsApp provider", mock.whatsapp_port, "mock.whatsapp_port"),
        ("the mock SMTP relay", mock.smtp_port, "mock.smtp_port"),
        ("the mock SMTP relay's control API", mock.smtp_control_port, "mock.smtp_control_port"),
        ("the mock OpenAI-compatible model", mock.openai_port, "mock.openai_port"),
        ("the mock API channel receiver", mock.api_port, "mock.api_port"),
    ):
        check_free(mock.host, port, what, setting)


def _demo_banner(settings: Settings, created: int, api: demo_data.DemoApi | None = None) -> str:
    base = settings.server.public_url
    mock = settings.mock
    login = '-d \'{"identifier":"admin","password":"admin123"}\''
    lines = []
    if api is not None:
        message = (
            '{"external_id":"m-1","customer":{"id":"u-1","name":"Dewi"},"text":"Halo, ongkir?"}'
        )
        lines = [
            f"  API channel:   {base}/channels/api/{api.channel_id}/messages (a system's "
            f"customers write through it); its replies go to {api.callback_url}",
            f"  demo API key:  {api.key}   (every scope; a new one each start)",
            f"    curl -s -X POST {base}/channels/api/{api.channel_id}/messages "
            f"-H 'Authorization: Bearer {api.key}' -H 'Content-Type: application/json' "
            f"-d '{message}'",
            f"    curl -s http://{mock.host}:{mock.api_port}/_mock/received   (the signed replies)",
        ]
    return "\n".join(
        [
            "",
            "msgcenter demo (DEMO ONLY: these logins are public, never use them for real)",
            f"  web console:   {base}/",
            f"  dashboard API: {base}   (every route but login needs a bearer token)",
            f"  API docs:      {base}/docs (interactive), {base}/openapi.json (with a token)",
            f"  chat widget:   {base}/widget/demo (a shop's page embedding it)",
            "  logins:        admin / admin123      agent / agent123",
            f"  data:          {settings.storage.url}  ({created} demo chats created)",
            f"  mock providers on {mock.host}: Telegram :{mock.telegram_port}, "
            f"WhatsApp :{mock.whatsapp_port}, SMTP :{mock.smtp_port} "
            f"(control :{mock.smtp_control_port}); email in on :{settings.channels.email.port}",
            f"  mock model (OpenAI-compatible, offline): http://{mock.host}:{mock.openai_port}/v1",
            "  write as a customer (in another terminal):",
            "    .venv/bin/msgcenter simulate whatsapp --name 'Budi Santoso' Halo, pesanan saya?",
            "    .venv/bin/msgcenter simulate telegram --name 'Sari Dewi' where is my order",
            "    .venv/bin/msgcenter simulate email --name 'Rina' I want to talk to a human",
            f"  log in: curl -s -X POST {base}/auth/login "
            f"-H 'Content-Type: application/json' {login}",
            *lines,
            "",
        ]
    )


def _mock(_args: argparse.Namespace, settings: Settings) -> int:
    """The fake providers alone, for a separately started `msgcenter serve`."""
    check_mock_ports(settings)

    async def run() -> None:
        providers = MockProviders(settings)
        await providers.start()
        print("mock providers running; start msgcenter with:")
        for line in providers.env_lines():
            print(f"  export {line}")
        print(f"mock model (OpenAI-compatible, offline): {providers.openai.url}")
        print(
            f"mock API channel receiver: {providers.api.callback_url} (secret "
            f"{providers.secrets.api_channel_secret}; needs "
            "MSGCENTER_INTEGRATIONS__ALLOW_PRIVATE_DESTINATIONS=true)"
        )
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
        file = simulated_file(args)
    except ValueError as exc:
        print(f"msgcenter simulate: {exc}", file=sys.stderr)
        return 2
    if not text and file is None:
        print("msgcenter simulate: write some text, or send a file", file=sys.stderr)
        return 2
    try:
        answer = asyncio.run(
            simulate(
                settings.mock, args.channel, args.name, text,
                phone=args.phone, email=args.email, subject=args.subject, file=file,
            )
        )  # fmt: skip
    except SimulateError as exc:
        print(f"msgcenter simulate: {exc}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError, aiohttp.ClientError) as exc:
        print(f"msgcenter: could not reach the {args.channel} mock ({exc}); "
              "is `make run` or `msgcenter mock` running?", file=sys.stderr)  # fmt: skip
        return 1
    if file is not None:
        print(
            f"{args.name} sent {file[1].name} on {args.channel}" + (f": {text!r}" if text else "")
        )
    else:
        print(f"{args.name} wrote on {args.channel}: {text!r}")
    print(f"the {args.channel} mock answered:")
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 0


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line. ``simulate``'s words after its options are its text: Python 3.11's
    argparse gives a ``*`` positional nothing once an option came between (bpo-15112)."""
    args, extra = parser.parse_known_args(argv)
    if (
        extra
        and getattr(args, "command", None) == "simulate"
        and not any(word.startswith("-") for word in extra)
    ):
        args.text = [*args.text, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def simulated_file(args: argparse.Namespace) -> tuple[str, Path] | None:
    """The file ``simulate`` sends (its kind, its path), checked against the channel."""
    allowed = {"whatsapp": {"image"}, "telegram": {"photo", "document"}}.get(args.channel, set())
    given = [(kind, path) for kind in ("image", "photo", "document")
             if (path := getattr(args, kind, None)) is not None]  # fmt: skip
    if len(given) > 1:
        raise ValueError("send one file at a time (--image, --photo or --document)")
    if not given:
        return None
    kind, path = given[0]
    if kind not in allowed:
        channels = {"image": "whatsapp", "photo": "telegram", "document": "telegram"}
        raise ValueError(f"--{kind} is for simulate {channels[kind]}, not {args.channel}")
    if not path.is_file():
        raise ValueError(f"--{kind}: no such file: {path}")
    return kind, path


async def _migrated(settings: Settings) -> Database:
    """The database, migrated and opened (a command of its own, not the service)."""
    storage = settings.storage
    await migrate(storage.url, connect_timeout=storage.connect_timeout_seconds)
    database = Database(
        storage.url,
        connect_timeout=storage.connect_timeout_seconds,
        statement_timeout=storage.statement_timeout_seconds,
    )
    await database.open(run_migrations=False)
    return database


def _user(args: argparse.Namespace, settings: Settings) -> int:
    _note_new_database(settings)

    async def run() -> int:
        database = await _migrated(settings)
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
            if args.user_command in ("activate", "deactivate"):
                return await _set_active(staff, args.username, args.user_command == "activate")
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


async def _set_active(staff: Staff, username: str, active: bool) -> int:
    """As the API's ``PATCH /users/{id} {"active": ...}``: deactivating also ends the user's
    sessions (their tokens stop working at once, in every process)."""
    user = await User.get_or_none(username=username)
    if user is None:
        raise NotFound(f"user {username!r} not found")
    if user.active == active:
        print(f"{username} is already {'active' if active else 'deactivated'}")
        return 0
    await staff.update(user.id, {"active": active})
    if active:
        print(f"activated {username}: they can log in again")
    else:
        print(f"deactivated {username}: they can no longer log in, and their sessions have ended")
    return 0


def _kb(args: argparse.Namespace, settings: Settings) -> int:
    """``msgcenter kb import FOLDER [--prune]``: what it created, updated, deleted, refused."""
    _note_new_database(settings)

    async def run() -> int:
        database = await _migrated(settings)
        core = Core.build(
            MemoryEventBus(),
            Passwords(
                time_cost=settings.auth.argon2_time_cost,
                memory_kib=settings.auth.argon2_memory_kib,
            ),
            postgres=not is_sqlite(settings.storage.url),
            kb_chunk_chars=settings.kb.chunk_chars,
            kb_max_body_chars=settings.kb.max_body_chars,
            embedder=kb_embedder(settings),
        )
        core.writer.start()
        try:
            report = await core.kb.import_folder(args.folder, prune=args.prune)
        finally:
            await core.kb.close()  # the passages embedded first (bot.llm.embedding_model)
            await core.writer.stop()
            await database.close()
        for what, sources in (
            ("created", report.created),
            ("updated", report.updated),
            ("deleted", report.deleted),
        ):
            for source in sources:
                print(f"{what:<8} {source}")
        for source, reason in report.refused.items():
            print(f"msgcenter: refused {source}: {reason}", file=sys.stderr)
        print(
            f"{len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {len(report.deleted)} deleted, "
            f"{len(report.refused)} refused"
        )
        return 1 if report.refused else 0

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
