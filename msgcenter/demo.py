"""Demo data: an admin, an agent, four chats, a knowledge base, an API channel with a key,
and a website widget (with a page that embeds it, ``/widget/demo``), for trying msgcenter out.

The demo passwords are public; they are printed as demo-only and the demo runs
on its own database file so they never end up in a real deployment's data.
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web
from tortoise import timezone
from tortoise.transactions import in_transaction

from bot.settings import BotSettings
from handoff.core import Core
from handoff.domain import labels
from handoff.domain import widget as widget_rules
from handoff.domain.modes import SYSTEM
from handoff.read.views import preview
from handoff.usecases.api_keys import SCOPES
from handoff.usecases.kb import KnowledgeBase
from handoff.usecases.staff import NewUser, Staff
from handoff.usecases.widget import snippet
from storage import contacts, identities, sql
from storage.models import (
    ApiChannel,
    ApiKey,
    Channel,
    Chat,
    ChatLabel,
    Label,
    Message,
    Mode,
    Role,
    Sender,
    Status,
    User,
    Widget,
)

DEMO_USERS = (
    NewUser("admin", "admin123", Role.ADMIN, "admin@example.com", "Admin", 10),
    NewUser("agent", "agent123", Role.AGENT, "agent@example.com", "Agent Smith", 5),
)


@dataclass(frozen=True, slots=True)
class DemoChat:
    name: str
    channel: Channel
    external_id: str
    mode: Mode
    assigned: bool
    unread: int
    online: bool
    phone: str | None
    email: str | None
    address: str | None
    # (sender, text) oldest first; the last ``unread`` customer messages stay unread.
    messages: tuple[tuple[Sender, str], ...]


C, A, B = Sender.CUSTOMER, Sender.AGENT, Sender.BOT
# Stands for the bot's answer about opening hours, rendered from the configuration.
HOURS_ANSWER = "<the bot's answer about opening hours>"
DEMO_CHATS = (
    DemoChat(
        "John Doe", Channel.WHATSAPP, "6281234567890", Mode.AGENT, True, 2, True,
        "+62 812-3456-7890", "john.doe@email.com", "Jakarta Selatan",
        ((C, "Halo!"), (B, "Hi John! How can we help you today?"),
         (C, "I'd like to talk to a person about my order"),
         (A, "Hello John, this is Agent Smith. What is your order number?"),
         (C, "It's INV-2041"), (C, "It hasn't arrived yet")),
    ),
    DemoChat(
        "Sarah Williams", Channel.TELEGRAM, "100200300", Mode.BOT, False, 0, False,
        None, None, "Bandung",
        ((C, "Hi, what are your opening hours?"), (B, HOURS_ANSWER)),
    ),
    DemoChat(
        "Maria Lopez", Channel.EMAIL, "maria.lopez@example.org", Mode.BOT, False, 1, False,
        None, "maria.lopez@example.org", "Surabaya",
        ((C, "Do you ship to Surabaya?"),),
    ),
    DemoChat(
        "Ahmed Hassan", Channel.WHATSAPP, "6289876543210", Mode.PAUSED, True, 0, False,
        "+62 898-7654-3210", None, "Depok",
        ((C, "Can I change my delivery address?"),
         (A, "Of course, please send me the new address."),
         (C, "Jl. Margonda Raya 100, Depok"),
         (A, "Thanks! I'll check with the warehouse and get back to you.")),
    ),
)  # fmt: skip


# The demo's labels (name, colour, description): those the demo config's intents use
# (billing, complaint) and one for people to try.
DEMO_LABELS = (
    ("billing", "#2563eb", "Payments, refunds and invoices"),
    ("complaint", "#dc2626", "Something went wrong with an order"),
    ("vip", "#7c3aed", "A customer we look after first"),
)


async def seed_labels(bot: BotSettings) -> int:
    """The demo labels and any other label the bot's intents use, created if missing (a
    label the service made at start-up with the default colour gets the demo's colour);
    returns how many were created or coloured."""
    made = 0
    wanted = {name.casefold(): (name, colour, text) for name, colour, text in DEMO_LABELS}
    for name in bot.intent_labels():
        wanted.setdefault(name.casefold(), (name, labels.DEFAULT_COLOUR, ""))
    for name, colour, description in wanted.values():
        label = await Label.get_or_none(name__iexact=name)
        if label is None:
            await Label.create(name=name, colour=colour, description=description)
            made += 1
        elif label.colour == labels.DEFAULT_COLOUR and not label.description:
            label.colour, label.description = colour, description
            await label.save(update_fields=["colour", "description", "updated_at"])
            made += 1
    return made


async def tag_demo_chats() -> None:
    """John Doe, waiting for his order, is a VIP of high priority (once: a chat with labels
    is left as it is)."""
    john = await Chat.get_or_none(channel=Channel.WHATSAPP, external_id="6281234567890")
    vip = await Label.get_or_none(name="vip")
    if john is None or vip is None or john.label_ids:
        return
    async with in_transaction():
        john.label_ids = [vip.id]
        john.priority = 3  # high
        await john.save(update_fields=["label_ids", "priority", "updated_at"])
        await ChatLabel.create(chat_id=john.id, label_id=vip.id)


# The demo shop's help articles in English and Indonesian (docs/api.md, "Knowledge base").
DEMO_KB = Path(__file__).resolve().parent / "demo_kb"


async def seed_kb(kb: KnowledgeBase) -> int:
    """The demo knowledge base, imported (again: updated; nothing when unchanged); how many
    articles were created."""
    report = await kb.import_folder(DEMO_KB)
    return len(report.created)


async def seed_users(staff: Staff) -> list[User]:
    """The demo admin and agent, created if missing."""
    users = []
    for new in DEMO_USERS:
        user = await User.get_or_none(username=new.username)
        users.append(user or await staff.create(new, common_password_ok=True))  # public anyway
    return users


def hours_answer(bot: BotSettings) -> str:
    """What the bot answers about opening hours: the configured ``hours_en`` intent (or the
    first answer that mentions ``{hours}``), rendered with the configured business hours."""
    answers = [intent.answer for intent in bot.intents if intent.name == "hours_en"]
    answers += [intent.answer for intent in bot.intents if "{hours}" in intent.answer]
    template = next((a for a in answers if a.strip()), "Our team answers {hours}.")
    return bot.templates().render(template, customer_name="Sarah", channel="Telegram").strip()


async def seed_chats(agent: User, bot: BotSettings) -> int:
    """The four demo chats, created once; returns how many were created. The bot's
    messages agree with ``bot``, the service's [bot] section."""
    answer = hours_answer(bot)
    created = 0
    start = timezone.now() - timedelta(hours=2)
    for index, demo in enumerate(DEMO_CHATS):
        if await Chat.filter(channel=demo.channel, external_id=demo.external_id).exists():
            continue
        async with in_transaction():
            await _create_chat(demo, agent, start + timedelta(minutes=20 * index), answer)
        created += 1
    return created


async def _create_chat(demo: DemoChat, agent: User, start: datetime, hours: str) -> None:
    times = [start + timedelta(minutes=3 * i) for i in range(len(demo.messages))]
    ids = identities.identities(demo.channel, demo.external_id)
    points = identities.points(demo.channel, demo.external_id, demo.phone, demo.email)
    at = sql.time_param(times[0])
    found = await sql.run(contacts.find(ids, points, demo.name, at))
    chat = await Chat.create(
        contact_id=found.contact_id,
        channel=demo.channel,
        external_id=demo.external_id,
        customer_name=demo.name,
        customer_phone=demo.phone,
        customer_email=demo.email,
        customer_address=demo.address,
        subject="Shipping question" if demo.channel == Channel.EMAIL else None,
        mode=demo.mode,
        # As a PATCH with "online" would say it (handoff.read.views.online_until): John is
        # online when the demo starts; the others count from their last message.
        online=demo.online,
        online_set_at=timezone.now() if demo.online else None,
        unread_count=demo.unread,
        assigned_agent_id=agent.id if demo.assigned else None,
        activity_at=times[-1],
        last_message_at=times[-1],
    )
    await sql.run(contacts.record(found, chat.id, ids, points, at))
    customer_indexes = [i for i, (sender, _) in enumerate(demo.messages) if sender == C]
    unread = set(customer_indexes[len(customer_indexes) - demo.unread :]) if demo.unread else set()
    messages = [(sender, hours if text == HOURS_ANSWER else text) for sender, text in demo.messages]
    for i, ((sender, text), when) in enumerate(zip(messages, times, strict=True)):
        status = Status.SENT if sender == C and i in unread else Status.READ
        if sender != C:
            status = Status.DELIVERED
        message = await Message.create(
            chat_id=chat.id,
            text=text,
            sender=sender,
            status=status,
            agent_id=agent.id if sender == A else None,
            external_id=f"demo-{demo.external_id}-{i}",
        )
        message.created_at = when
        await message.save(update_fields=["created_at"])
        if sender == C:
            chat.last_customer_message_at = when
    last_sender, last_text = messages[-1]
    chat.last_message_text = preview(last_text)
    chat.last_message_sender = last_sender.value
    chat.created_at = times[0]
    await chat.save()


DEMO_WIDGET = "Demo shop"
DEMO_PAGE = Path(__file__).resolve().parents[1] / "dashboard_api" / "widget_static" / "demo.html"


async def seed_widget(public_url: str) -> Widget:
    """The demo's website widget, allowed on the demo server itself (its page:
    ``GET /widget/demo``), created once; its origin follows the demo's address."""
    origin = widget_rules.origin(public_url)
    origins = [origin]
    for local, other in (("127.0.0.1", "localhost"), ("localhost", "127.0.0.1")):
        if f"://{local}" in origin:  # the same machine by either name
            origins.append(origin.replace(f"://{local}", f"://{other}"))
    found = await Widget.get_or_none(name=DEMO_WIDGET)
    if found is None:
        return await Widget.create(
            name=DEMO_WIDGET, allowed_origins=origins, greeting="Hi! How can we help you today?",
            identity_secret=secrets.token_hex(32),
        )  # fmt: skip
    missing = [item for item in origins if item not in found.allowed_origins]
    if missing:
        found.allowed_origins = [*found.allowed_origins, *missing][-widget_rules.MAX_ORIGINS :]
        await found.save(update_fields=["allowed_origins", "updated_at"])
    return found


async def demo_page(request: web.Request) -> web.Response:
    """``GET /widget/demo``: a shop's page embedding the demo widget (the demo only)."""
    widget = await Widget.get_or_none(name=DEMO_WIDGET)
    if widget is None:
        raise web.HTTPNotFound()
    base = f"{request.scheme}://{request.host}"
    tag = snippet(base, widget.id)
    page = DEMO_PAGE.read_text().replace("<!--SNIPPET-->", tag)
    page = page.replace('<pre id="snippet"></pre>', f'<pre id="snippet">{html.escape(tag)}</pre>')
    return web.Response(text=page, content_type="text/html")


@dataclass(frozen=True, slots=True)
class DemoApi:
    """The demo's API channel and a key to post to it with."""

    channel_id: int
    callback_url: str
    key: str


DEMO_API_CHANNEL = "Demo app"
DEMO_API_KEY = "Demo key"


async def seed_api_channel(core: Core, callback_url: str, secret: str) -> DemoApi:
    """The demo's API channel (made once; pointed at this run's receiver and secret) and a
    new key of every scope (the earlier demo keys revoked: a key is shown only when made)."""
    channels = core.api_channels
    existing = await ApiChannel.filter(name=DEMO_API_CHANNEL, deleted_at=None).first()
    if existing is None:
        made = await channels.create(SYSTEM, DEMO_API_CHANNEL, callback_url, secret)
        channel_id = int(made["id"])
    else:
        channel_id = existing.id
        changes = {"callback_url": callback_url, "secret": secret, "active": True}
        await channels.update(SYSTEM, channel_id, changes)
    for old in await ApiKey.filter(name=DEMO_API_KEY, revoked_at=None).only("id"):
        await core.api_keys.revoke(SYSTEM, old.id)
    key = await core.api_keys.create(SYSTEM, DEMO_API_KEY, list(SCOPES))
    return DemoApi(channel_id, callback_url, str(key["key"]))
