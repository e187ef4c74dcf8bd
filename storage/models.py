"""The database tables: users, chats, messages and the record of every mode change.

Models hold data only. Every change of chat state goes through ``handoff``;
nothing here fires events or side effects.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


class Channel(StrEnum):
    TELEGRAM = "Telegram"
    WHATSAPP = "WhatsApp"
    EMAIL = "Email"
    # A system of the desk's own that posts its customers' messages through the API and takes
    # the replies at a callback URL (``api_channels``; docs/api.md, "API channel").
    API = "API"
    # The website live-chat widget (``widgets``; docs/api.md, "Website widget").
    WIDGET = "Widget"


class Mode(StrEnum):
    BOT = "bot"
    AGENT = "agent"
    PAUSED = "paused"
    CLOSED = "closed"


class Sender(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


class Availability(StrEnum):
    """What a person says of themselves (``PUT /presence/me``): only ``online`` people get
    chats automatically (docs/api.md, "Availability")."""

    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class Status(StrEnum):
    """Customer messages are ``sent`` then ``read``; outbound ones go queued -> sent -> ...."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


# The largest id a table holds: ids are 32-bit integer columns (PostgreSQL's integer). A
# larger number names nothing, and the database would refuse it as a parameter.
MAX_ID = 2**31 - 1


class User(Model):
    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    email = fields.CharField(max_length=254, unique=True, null=True)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(Role, max_length=16, default=Role.AGENT)
    display_name = fields.CharField(max_length=128, default="")
    capacity = fields.IntField(default=5)
    active = fields.BooleanField(default=True)
    # Bumped when the password changes or the account is deactivated: older tokens stop working.
    token_version = fields.IntField(default=0)
    last_seen_at = fields.DatetimeField(null=True)
    # When a chat was last given to this person: the longest idle gets the next one.
    last_assigned_at = fields.DatetimeField(null=True)
    # Added under this person's email replies (plain text); None: no signature.
    signature = fields.TextField(null=True)
    # What the person says they are: online (takes chats), away, offline. Someone online by
    # choice counts as online only while a dashboard is open (handoff.usecases.presence).
    availability = fields.CharEnumField(
        Availability, max_length=16, default=Availability.ONLINE, db_default="online"
    )
    # The console's language ("en", "id") and notification preferences:
    # {"sound": bool, "browser": bool} (docs/api.md, "Profile").
    language = fields.CharField(max_length=8, default="en", db_default="en")
    preferences: fields.Field[dict[str, Any] | None] = fields.JSONField(default=dict, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "users"


class Contact(Model):
    """A customer, across channels, who owns chats and is found by their identities
    (docs/api.md, "Contacts"). A contact merged into another is kept (``merged_into_id``)
    until the merge is undone, and lists and lookups skip it."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=255)
    avatar_url = fields.CharField(max_length=1024, null=True)
    notes = fields.TextField(null=True)
    # Custom attribute values by key (``ContactAttribute``), validated by type.
    attributes: fields.Field[dict[str, Any] | None] = fields.JSONField(default=dict, null=True)
    merged_into_id = fields.IntField(null=True)
    first_seen_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "contacts"
        indexes = (Index(fields=("merged_into_id", "id")), Index(fields=("name",)))


class ContactIdentity(Model):
    """A verified identity of a contact: (channel, external id) belongs to one contact only
    (``storage.identities``: the forms of the values)."""

    id = fields.IntField(primary_key=True)
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="identities", on_delete=fields.CASCADE
    )
    contact_id: int
    channel = fields.CharField(max_length=16)
    external_id = fields.CharField(max_length=255)
    # The conversation this identity writes into on its channel: a WhatsApp user whose
    # messages move from their number to their BSUID (or back) stays in one chat.
    chat_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "contact_identities"
        unique_together = (("channel", "external_id"),)
        indexes = (Index(fields=("contact_id",)),)


class ContactPoint(Model):
    """A phone number (E.164) or e-mail address (normalized) of a contact: ``verified`` when
    a provider stated it, else typed or imported. Contacts sharing one are merge suggestions."""

    id = fields.IntField(primary_key=True)
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="points", on_delete=fields.CASCADE
    )
    contact_id: int
    kind = fields.CharField(max_length=8)  # "phone" | "email"
    value = fields.CharField(max_length=254)
    verified = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "contact_points"
        unique_together = (("contact_id", "kind", "value"),)
        indexes = (Index(fields=("kind", "value")),)


class ContactAttribute(Model):
    """A custom attribute admins define for contacts: its values live in
    ``Contact.attributes`` under ``key``."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=64, unique=True)
    label = fields.CharField(max_length=128)
    type = fields.CharField(max_length=16)  # text | number | date | boolean | list
    options: fields.Field[list[str] | None] = fields.JSONField(default=list, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "contact_attributes"


class ContactMerge(Model):
    """One merge of ``other_id`` into ``contact_id``, with what undoing it needs
    (``snapshot``: both contacts as they were, which identities, points and chats moved)."""

    id = fields.IntField(primary_key=True)
    contact_id = fields.IntField()
    other_id = fields.IntField()
    snapshot: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    actor_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    undone_at = fields.DatetimeField(null=True)

    class Meta:
        table = "contact_merges"
        indexes = (Index(fields=("contact_id",)), Index(fields=("other_id",)))


class Chat(Model):
    id = fields.IntField(primary_key=True)
    channel = fields.CharEnumField(Channel, max_length=16)
    # The provider's id of the conversation: Telegram chat id, WhatsApp user, email address.
    external_id = fields.CharField(max_length=255, null=True)
    customer_name = fields.CharField(max_length=255)
    # The contact this conversation belongs to (``storage.identities``); None only for a
    # chat stored before contacts existed and not yet migrated.
    contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="chats", null=True, on_delete=fields.SET_NULL
    )
    contact_id: int | None
    customer_phone = fields.CharField(max_length=64, null=True)
    customer_email = fields.CharField(max_length=254, null=True)
    customer_address = fields.CharField(max_length=512, null=True)
    customer_username = fields.CharField(max_length=255, null=True)
    subject = fields.CharField(max_length=998, null=True)
    mode = fields.CharEnumField(Mode, max_length=16, default=Mode.BOT)
    # Set through the API (``PATCH /chats/{id}`` with ``online``): an explicit word on whether the
    # customer is online, which stands from ``online_set_at`` until the customer next writes
    # (``handoff.read.views``: otherwise it is computed from ``last_customer_message_at``).
    online = fields.BooleanField(default=False)
    online_set_at = fields.DatetimeField(null=True)
    unread_count = fields.IntField(default=0)
    assigned_agent: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="chats", null=True, on_delete=fields.SET_NULL
    )
    assigned_agent_id: int | None
    # When the chat last entered the waiting queue (agent mode, nobody assigned): queue order.
    queued_at = fields.DatetimeField(null=True)
    last_message_at = fields.DatetimeField(null=True)
    last_customer_message_at = fields.DatetimeField(null=True)
    last_message_text = fields.CharField(max_length=200, null=True)
    last_message_sender = fields.CharField(max_length=16, null=True)
    # Sort key of the chat list: the last message's time, or the creation time before any.
    activity_at = fields.DatetimeField()
    bot_fallbacks = fields.IntField(default=0)
    # The newest customer message the bot has answered: after a crash, a bot-mode chat whose
    # newest customer message is newer than this one is answered again (handoff.usecases.autopilot).
    bot_answered_id = fields.IntField(null=True)
    handoff_reason = fields.CharField(max_length=255, null=True)
    # The reason's code (handoff.domain.modes.REASONS), None for a reason that is free text only.
    handoff_reason_code = fields.CharField(max_length=32, null=True)
    # Email whose sender could not be authenticated (connectors.email_auth) gets a chat of its
    # own, apart from the verified sender's (handoff.usecases.ingest); replies to it echo
    # nothing the sender wrote (no display name, no subject) and the console marks it.
    sender_unverified = fields.BooleanField(default=False, db_default=False)
    # 0 none, 1 low, 2 medium, 3 high, 4 urgent (handoff.domain.priority): the queue is
    # served highest first, then longest waiting.
    priority = fields.SmallIntField(default=0, db_default=0)
    # The labels on the chat, by id, in the order they were added: kept with the rows of
    # ``chat_labels`` (which the list filters use) in the same transaction, so a chat row
    # is shown without a query per chat. None (chats of before) is no labels.
    label_ids: fields.Field[list[int] | None] = fields.JSONField(default=list, null=True)
    # Snoozed (an agent chat put aside): since when, and until when (None: until the
    # customer writes). Awake: both None. Not a mode (docs/modes.md).
    snoozed_at = fields.DatetimeField(null=True)
    snoozed_until = fields.DatetimeField(null=True)
    # Users mentioned in a note of this chat: they may read it and add notes until it
    # closes (kept with the rows of ``chat_watchers``, which the list filters use). None: nobody.
    watchers: fields.Field[list[int] | None] = fields.JSONField(default=list, null=True)
    # The current conversation (docs/api.md, "Reports"): when it opened (None: at
    # ``created_at``; set when a closed chat reopens), when it first reached human hands
    # (None: the bot's alone so far), and when a person first answered the customer in it.
    opened_at = fields.DatetimeField(null=True)
    handed_off_at = fields.DatetimeField(null=True)
    first_response_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "chats"
        unique_together = (("channel", "external_id"),)
        indexes = (
            Index(fields=("activity_at", "id")),
            Index(fields=("assigned_agent_id", "activity_at")),
            Index(fields=("mode", "activity_at")),
            Index(fields=("mode", "queued_at")),
            Index(fields=("mode", "priority", "queued_at")),
            Index(fields=("snoozed_until",)),
            Index(fields=("updated_at",)),
            Index(fields=("contact_id", "activity_at")),
            Index(fields=("created_at",)),
        )


class Message(Model):
    id = fields.IntField(primary_key=True)
    chat: fields.ForeignKeyRelation[Chat] = fields.ForeignKeyField(
        "models.Chat", related_name="messages", on_delete=fields.CASCADE
    )
    chat_id: int
    text = fields.TextField()
    sender = fields.CharEnumField(Sender, max_length=16)
    status = fields.CharEnumField(Status, max_length=16)
    # An internal note (e.g. "assigned to Ann by Bob") is shown to agents, never sent.
    internal = fields.BooleanField(default=False)
    # The provider's message id: Telegram "chat:message_id", WhatsApp wamid, email Message-ID.
    external_id = fields.CharField(max_length=255, null=True)
    agent: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="messages", null=True, on_delete=fields.SET_NULL
    )
    agent_id: int | None
    # The files and places of a message (``connectors.base.Attachment.as_dict()``): a file is
    # "pending" until msgcenter holds a copy (``sha256`` in the blob store), then "stored",
    # or "failed" with an ``error``.
    attachments: fields.Field[list[dict[str, Any]]] = fields.JSONField(default=list)
    # True while a customer file of this message is still to be fetched from the provider
    # (``handoff.usecases.media``): set with the message, cleared when every file is settled.
    media_pending = fields.BooleanField(default=False, db_default=False)
    # An outbound WhatsApp template message: {"name", "language", "parameters": {...}}; the
    # message's text is the template rendered. None for every other message.
    template: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    # Choices offered with an outbound message (a satisfaction survey): {"kind": "csat",
    # "survey_id", "button", "options": [{"id", "title"}]}, sent as WhatsApp list rows,
    # Telegram inline buttons or email links; the customer's choice comes back as
    # ``InboundMessage.payload``. None: plain.
    interactive: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    reply_to_external_id = fields.CharField(max_length=255, null=True)
    error = fields.CharField(max_length=512, null=True)
    # A system note about a change of mode or assignee, structured so that dashboards can
    # say it in their reader's language: {"action", "by", "by_kind", "to", "from", "reason",
    # "reason_text"} (``handoff.domain.modes.note``); None for every other message.
    note: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    # An email's sender authentication (connectors.email_auth.SenderAuth.as_dict(): "result"
    # pass / fail / temperror, "reason", ...); None where nothing was checked.
    sender_auth: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    # The knowledge-base articles an answer of the LLM engine used, as shown to agents:
    # [{"id": article id, "title": ...}]; None for every other message.
    sources: fields.Field[list[dict[str, Any]] | None] = fields.JSONField(null=True)
    # Who wrote an agent message no user wrote: the name of the API key that sent it (an
    # integration, docs/api.md "API keys"); None for every other message.
    author = fields.CharField(max_length=100, null=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "messages"
        unique_together = (("chat_id", "external_id"),)
        indexes = (
            Index(fields=("chat_id", "id")),
            Index(fields=("external_id",)),
            Index(fields=("status", "next_attempt_at")),
            Index(fields=("media_pending", "id")),
        )


class ChatTransition(Model):
    """One change of a chat's mode or assignee, with who made it and why."""

    id = fields.IntField(primary_key=True)
    chat: fields.ForeignKeyRelation[Chat] = fields.ForeignKeyField(
        "models.Chat", related_name="transitions", on_delete=fields.CASCADE
    )
    chat_id: int
    action = fields.CharField(max_length=32)
    from_mode = fields.CharField(max_length=16)
    to_mode = fields.CharField(max_length=16)
    from_agent_id = fields.IntField(null=True)
    to_agent_id = fields.IntField(null=True)
    actor_kind = fields.CharField(max_length=16)
    actor_id = fields.IntField(null=True)
    reason = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "chat_transitions"
        indexes = (Index(fields=("chat_id", "id")),)


class EventRecord(Model):
    """A published event, kept for a while so a reconnecting dashboard can resume by seq."""

    seq = fields.BigIntField(primary_key=True)  # given by the event log, not the database
    type = fields.CharField(max_length=32)
    chat_id = fields.IntField(null=True)
    data: fields.Field[dict[str, Any]] = fields.JSONField()
    # Who may see it: {"agents": [...], "queue": bool, "everyone": bool}
    audience: fields.Field[dict[str, Any]] = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "events"
        indexes = (Index(fields=("created_at",)),)


class EarlyReceipt(Model):
    """A provider receipt that came before we had recorded the send it is about.

    Meta may post "sent" for a message before our outbox has stored the wamid its send
    returned; such a receipt waits here and is applied when the send is recorded.
    """

    id = fields.IntField(primary_key=True)
    external_id = fields.CharField(max_length=255, db_index=True)
    status = fields.CharField(max_length=16)
    error = fields.CharField(max_length=512, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "early_receipts"


class WhatsAppTemplate(Model):
    """A message template of the WhatsApp Business Account, as the Graph API lists it."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=512)
    language = fields.CharField(max_length=16)
    category = fields.CharField(max_length=32, default="")
    status = fields.CharField(max_length=32)  # APPROVED, PENDING, REJECTED, PAUSED...
    # The template's parts as Meta gives them: [{"type": "BODY", "text": "Hi {{1}}"}, ...]
    components: fields.Field[list[dict[str, Any]]] = fields.JSONField(default=list)
    external_id = fields.CharField(max_length=64, null=True)  # Meta's template id
    synced_at = fields.DatetimeField()

    class Meta:
        table = "whatsapp_templates"
        unique_together = (("name", "language"),)


class Label(Model):
    """A label admins define (``/labels``) and people put on chats."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    colour = fields.CharField(max_length=7, default="#6b7280")  # "#rrggbb"
    description = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "labels"


class ChatLabel(Model):
    """A label on a chat (the list filter's side of ``Chat.label_ids``)."""

    id = fields.IntField(primary_key=True)
    chat: fields.ForeignKeyRelation[Chat] = fields.ForeignKeyField(
        "models.Chat", related_name="chat_labels", on_delete=fields.CASCADE
    )
    chat_id: int
    label: fields.ForeignKeyRelation[Label] = fields.ForeignKeyField(
        "models.Label", related_name="chat_labels", on_delete=fields.CASCADE
    )
    label_id: int
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "chat_labels"
        unique_together = (("chat_id", "label_id"),)
        indexes = (Index(fields=("label_id", "chat_id")),)


class ChatWatcher(Model):
    """A user mentioned in a note of a chat: may read it and add notes until it closes."""

    id = fields.IntField(primary_key=True)
    chat: fields.ForeignKeyRelation[Chat] = fields.ForeignKeyField(
        "models.Chat", related_name="chat_watchers", on_delete=fields.CASCADE
    )
    chat_id: int
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="watching", on_delete=fields.CASCADE
    )
    user_id: int
    message_id = fields.IntField(null=True)  # the note that mentioned them (the first)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "chat_watchers"
        unique_together = (("chat_id", "user_id"),)
        indexes = (Index(fields=("user_id", "chat_id")),)


class CannedResponse(Model):
    """A saved answer: shared (admins keep them) or one person's own."""

    id = fields.IntField(primary_key=True)
    # 0: shared; else the owner's user id (a personal one). Unique with short_code.
    owner_key = fields.IntField(default=0)
    short_code = fields.CharField(max_length=64)
    title = fields.CharField(max_length=128)
    text = fields.TextField()
    text_id = fields.TextField(null=True)  # the Indonesian text, if any
    created_by_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "canned_responses"
        unique_together = (("owner_key", "short_code"),)


class Notification(Model):
    """Something a person should know about (``GET /notifications``)."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notifications", on_delete=fields.CASCADE
    )
    user_id: int
    # mention, assigned, message, queue_waiting, snooze_ended
    kind = fields.CharField(max_length=32)
    chat_id = fields.IntField(null=True)
    message_id = fields.IntField(null=True)
    # What the console shows: {"by": name, "text": preview, ...}
    data: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    read = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notifications"
        indexes = (Index(fields=("user_id", "id")), Index(fields=("user_id", "read")))


class AuditEntry(Model):
    """Who changed what on a chat besides its mode and assignee (those are
    ``ChatTransition``): labels, priority, snooze, notes, bulk actions."""

    id = fields.IntField(primary_key=True)
    chat_id = fields.IntField(null=True)
    action = fields.CharField(max_length=32)
    actor_kind = fields.CharField(max_length=16)
    actor_id = fields.IntField(null=True)
    data: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_entries"
        indexes = (Index(fields=("chat_id", "id")), Index(fields=("created_at",)))


# What the reports read of a fact besides its name, time and person (``ReportEvent``'s indexes).
COVERED = ("channel", "value", "business_value", "detail", "chat_id")


class ReportEvent(Model):
    """One fact the reports count, written in the transaction of the change it counts.

    docs/api.md, "Reports", defines each ``name`` (reopened, handed_off, assigned,
    first_response, reply, resolved, bot_answer, bot_fallback) with its ``value`` and
    ``detail``. Conversations opened are the chats created (``chats.created_at``) plus the
    ``reopened`` events.
    """

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=24)
    at = fields.DatetimeField()
    chat: fields.ForeignKeyRelation[Chat] = fields.ForeignKeyField(
        "models.Chat", related_name="report_events", on_delete=fields.CASCADE
    )
    chat_id: int
    channel = fields.CharField(max_length=16)
    # The person it is about: who answered, who was given the chat, who held it at close.
    agent_id = fields.IntField(null=True)
    # A duration in seconds, where the name has one; and the part of it within business
    # hours (``bot.hours``; the whole duration when no schedule is set).
    value = fields.FloatField(null=True)
    business_value = fields.FloatField(null=True)
    # The intent, the handoff reason code, the unmatched question, "bot" or "human".
    detail = fields.CharField(max_length=255, null=True)

    class Meta:
        table = "report_events"
        # The reports read a range of facts by name (everyone's) or by person and name, and
        # every column they group, count or measure is in those two indexes after the range's
        # own: the rows are read from the index alone (no lookup of each row in the table).
        indexes = (
            Index(fields=("name", "at", "agent_id", *COVERED)),
            Index(fields=("agent_id", "name", "at", *COVERED)),
            Index(fields=("chat_id", "id")),
        )


class CsatSurvey(Model):
    """A satisfaction survey sent when a conversation closed, and the customer's answer.

    One per conversation (``opened_at``: the conversation's start), never sent twice.
    ``rating`` 1-5 and ``comment`` come later. A rating after ``sent_at`` plus 7 days is
    ignored.
    """

    id = fields.IntField(primary_key=True)
    chat: fields.ForeignKeyRelation[Chat] = fields.ForeignKeyField(
        "models.Chat", related_name="csat_surveys", on_delete=fields.CASCADE
    )
    chat_id: int
    channel = fields.CharField(max_length=16)
    # The agent the rating is for: the chat's agent when it closed (None: nobody's).
    agent_id = fields.IntField(null=True)
    opened_at = fields.DatetimeField()
    sent_at = fields.DatetimeField()
    # sent (the survey message queued), not_sent (the channel refused it: a closed WhatsApp
    # window), rated, commented.
    status = fields.CharField(max_length=16, default="sent")
    # The survey message in the chat (every channel's, the email's too; None: not sent).
    message_id = fields.IntField(null=True)
    rating = fields.SmallIntField(null=True)
    rated_at = fields.DatetimeField(null=True)
    comment = fields.TextField(null=True)
    commented_at = fields.DatetimeField(null=True)

    class Meta:
        table = "csat_surveys"
        unique_together = (("chat_id", "opened_at"),)
        indexes = (
            Index(fields=("sent_at",)),
            Index(fields=("rated_at",)),
            Index(fields=("agent_id", "rated_at")),
        )


class KbArticle(Model):
    """A knowledge-base article: what the LLM engine answers from and the copilot cites.

    ``body`` is markdown. ``source`` is where an imported article came from (its file's path
    within the imported folder), so that importing the folder again updates the article
    instead of adding a copy; None for an article written through the API or the console.
    """

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    body = fields.TextField()
    # The article's language: "en" or "id" (an ISO 639-1 code; retrieval prefers the
    # customer's language and falls back to the others).
    language = fields.CharField(max_length=8, default="en")
    tags: fields.Field[list[str]] = fields.JSONField(default=list)
    source = fields.CharField(max_length=255, null=True, unique=True)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="kb_articles", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "kb_articles"
        indexes = (Index(fields=("updated_at",)),)


class KbChunk(Model):
    """A passage of an article: the unit retrieval finds and the engine quotes.

    Rewritten whenever its article changes (all of an article's chunks at once).
    """

    id = fields.IntField(primary_key=True)
    article: fields.ForeignKeyRelation[KbArticle] = fields.ForeignKeyField(
        "models.KbArticle", related_name="chunks", on_delete=fields.CASCADE
    )
    article_id: int
    position = fields.IntField()  # the order within the article, from 0
    # The headings above the passage, outermost first ("Refunds > How long it takes").
    heading = fields.CharField(max_length=255, default="")
    text = fields.TextField()
    language = fields.CharField(max_length=8, default="en")
    # The passage's embedding from ``/v1/embeddings`` (float32 values, little-endian) and the
    # model that made it; None while not computed or when embeddings are off.
    embedding = fields.BinaryField(null=True)
    embedding_model = fields.CharField(max_length=128, null=True)

    class Meta:
        table = "kb_chunks"
        unique_together = (("article_id", "position"),)


class LlmCall(Model):
    """One request to the language model: what it was for, what it cost, how it ended.

    Written with the answer, note or draft it produced (or with the handoff that followed a
    failure); ``/metrics`` and the bot report read them.
    """

    id = fields.IntField(primary_key=True)
    at = fields.DatetimeField()
    # answer (the LLM engine), suggest, summarize, translate (the copilot), embed.
    purpose = fields.CharField(max_length=16)
    chat: fields.ForeignKeyNullableRelation[Chat] = fields.ForeignKeyField(
        "models.Chat", related_name="llm_calls", null=True, on_delete=fields.CASCADE
    )
    chat_id: int | None
    # The person who asked (the copilot); None for the bot's answers.
    agent_id = fields.IntField(null=True)
    model = fields.CharField(max_length=128)
    prompt_tokens = fields.IntField(default=0)
    completion_tokens = fields.IntField(default=0)
    seconds = fields.FloatField()
    # answered, handoff (the model or a guardrail handed the chat over), no_match (nothing
    # relevant found: the model was not asked), error, timeout, invalid, budget.
    outcome = fields.CharField(max_length=16)
    error = fields.CharField(max_length=255, null=True)

    class Meta:
        table = "llm_calls"
        indexes = (Index(fields=("at", "purpose")), Index(fields=("chat_id", "id")))


class WebhookEndpoint(Model):
    """A URL of the desk's own that msgcenter posts events to (docs/api.md, "Outgoing webhooks").

    ``secret`` signs every delivery (HMAC-SHA256), so it is kept as given (it must be read to
    sign); it is never shown again after it is set. ``events`` are the types it wants. An
    endpoint failing persistently is disabled (``active`` false, ``disabled_reason``) and the
    admins are notified; an admin enables it again.
    """

    id = fields.IntField(primary_key=True)
    url = fields.CharField(max_length=2048)
    secret = fields.CharField(max_length=255)
    events: fields.Field[list[str]] = fields.JSONField(default=list)
    description = fields.CharField(max_length=255, default="")
    active = fields.BooleanField(default=True)
    disabled_at = fields.DatetimeField(null=True)
    disabled_reason = fields.CharField(max_length=255, null=True)
    # Deliveries failed in a row (a success resets it), and when the first of them failed:
    # an endpoint failing since longer than ``integrations.disable_after_hours`` is disabled.
    failures_in_row = fields.IntField(default=0)
    failing_since = fields.DatetimeField(null=True)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="webhook_endpoints", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook_endpoints"


class WebhookDelivery(Model):
    """One event for one endpoint: queued in the transaction of the change it reports, then
    posted until it is delivered or given up (``status`` pending, delivered, failed).

    ``body`` is the JSON posted, fixed when queued (every attempt and a redelivery post the
    same bytes); ``delivery_id`` is the ``X-Msgcenter-Delivery`` header, the receiver's key for
    deduplication. ``chat_id`` orders deliveries: one chat's go out one at a time, in order.
    """

    id = fields.IntField(primary_key=True)
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    endpoint_id: int
    delivery_id = fields.CharField(max_length=64, unique=True)
    event_type = fields.CharField(max_length=64)
    chat_id = fields.IntField(null=True)
    body = fields.TextField()
    status = fields.CharField(max_length=16, default="pending")
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    last_attempt_at = fields.DatetimeField(null=True)
    # The last attempt: the receiver's HTTP status (None: no answer), why it failed, how long.
    response_status = fields.IntField(null=True)
    error = fields.CharField(max_length=512, null=True)
    duration_ms = fields.IntField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    # When it was queued (or queued again by a redelivery): it is retried
    # ``integrations.retry_hours`` from then.
    queued_at = fields.DatetimeField()

    class Meta:
        table = "webhook_deliveries"
        indexes = (
            Index(fields=("status", "next_attempt_at")),
            Index(fields=("endpoint_id", "id")),
            Index(fields=("endpoint_id", "chat_id", "id")),
        )


class ApiKey(Model):
    """A named key for a system of the desk's own (docs/api.md, "API keys").

    The key is shown once, when made; only its SHA-256 is kept (``key_hash``): a key is 32
    random bytes, so a fast hash is as safe as argon2 is for a password and costs a request
    microseconds. ``prefix`` (its first characters) names it in lists.
    """

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    prefix = fields.CharField(max_length=16)
    key_hash = fields.CharField(max_length=64, unique=True)
    scopes: fields.Field[list[str]] = fields.JSONField(default=list)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="api_keys", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_keys"


class ApiChannel(Model):
    """A generic channel (docs/api.md, "API channel"): customers' messages come in through
    ``POST /channels/api/{id}/messages``; replies are posted, signed with ``secret``, to
    ``callback_url``. Its chats are ``Channel.API`` with the external id
    ``"<channel id>:<customer id>"``. A deleted channel keeps its row (``deleted_at``), so
    its id, which its chats carry, is never given to another."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    callback_url = fields.CharField(max_length=2048)
    secret = fields.CharField(max_length=255)
    active = fields.BooleanField(default=True)
    deleted_at = fields.DatetimeField(null=True)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="api_channels", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "api_channels"


class Widget(Model):
    """A website live-chat widget (docs/api.md, "Website widget"). Its chats are
    ``Channel.WIDGET`` with the external id ``"<widget id>:<visitor id>"``.

    ``identity_secret`` is the key the site's backend signs its user ids with (HMAC-SHA256,
    as Intercom's user hash), made when the widget is and shown to admins; a visitor whose
    ``user_id`` comes with a valid hash is recognised as that user.
    """

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    allowed_origins: fields.Field[list[str]] = fields.JSONField(default=list)
    color = fields.CharField(max_length=7, default="#2563eb")
    greeting = fields.CharField(max_length=500, default="")
    position = fields.CharField(max_length=8, default="right")  # right, left
    language = fields.CharField(max_length=8, default="en")  # en, id
    pre_chat_form = fields.BooleanField(default=False)
    identity_secret = fields.CharField(max_length=128)
    active = fields.BooleanField(default=True)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="widgets", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "widgets"


class WidgetVisitor(Model):
    """A visitor of a widget who told us something of themselves: the pre-chat form's name
    and email, or a signed-in user's (``visitor_id`` ``u:<user id>``). ``email_replies``: the
    visitor left an address while no agent was online, so agents' replies are mailed to it
    too (docs/api.md, "Website widget")."""

    id = fields.IntField(primary_key=True)
    widget: fields.ForeignKeyRelation[Widget] = fields.ForeignKeyField(
        "models.Widget", related_name="visitors", on_delete=fields.CASCADE
    )
    widget_id: int
    visitor_id = fields.CharField(max_length=140)
    name = fields.CharField(max_length=100, default="")
    email = fields.CharField(max_length=254, null=True)
    email_replies = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "widget_visitors"
        unique_together = (("widget_id", "visitor_id"),)
