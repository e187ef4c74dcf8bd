"""Request and response bodies. Requests are strict (no extra fields, no coercion)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connectors.email_address import address_problem
from handoff.domain.templates import MAX_PARAMETER_CHARS
from storage.models import MAX_ID, Channel, Mode, Role

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096 * 4)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=512)]
# As long as the columns they are stored in (longer ones failed in the database: a 500).
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# A phone number in E.164: "+", the country code and the number, digits only (at most 15).
E164 = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
# A label's name as given (handoff.domain.labels checks its characters).
LabelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
MAX_SIGNATURE = 2000
# An email signature (plain text, several lines); "" or null removes it.
Signature = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_SIGNATURE)]
# Availability (people): online, away, offline; the console's languages.
AvailabilityName = Literal["online", "away", "offline"]
Language = Literal["en", "id"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Preferences(BaseModel):
    """Notification preferences (``PATCH /users/me``): the keys given change, others stay."""

    model_config = ConfigDict(extra="forbid", strict=True)
    sound: bool | None = None  # a sound when a notification comes while the tab is hidden
    browser: bool | None = None  # a browser notification then


class PreferencesOut(BaseModel):
    sound: bool
    browser: bool


class Query(BaseModel):
    """Query strings arrive as text: numbers are converted, unknown keys refused."""

    model_config = ConfigDict(extra="forbid")


# -- requests ----------------------------------------------------------------------------


class LoginRequest(Strict):
    identifier: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)
    ]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class CreateChat(Strict):
    """A chat started from the dashboard. With ``phone`` (WhatsApp, E.164): a conversation
    with that number (``customer_name`` optional, no other customer fields)."""

    channel: Channel
    # Start a WhatsApp conversation with this number, e.g. "+6281234567890".
    phone: E164 | None = None
    customer_name: Name | None = Field(default=None, validate_default=True)
    customer_phone: Phone | None = None
    customer_email: Email | None = None
    customer_address: Short | None = None
    subject: Short | None = None

    @field_validator("channel")
    @classmethod
    def _startable(cls, value: Channel) -> Channel:
        # Their chats are made by their customers' first message, which gives the address
        # replies go to: a chat made here could never be answered.
        if value == Channel.API:
            raise ValueError(
                "an API chat starts with its customer's first message, posted by the system "
                "(POST /channels/api/{id}/messages)"
            )
        if value == Channel.WIDGET:
            raise ValueError("a website chat starts when its visitor writes in the widget")
        return value

    @field_validator("phone")
    @classmethod
    def _whatsapp(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("channel") != Channel.WHATSAPP:
            raise ValueError("phone starts a WhatsApp conversation: channel must be WhatsApp")
        return value

    @field_validator("customer_name")
    @classmethod
    def _named(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("phone") is None:
            raise ValueError("required (or phone, to start a WhatsApp conversation)")
        return value

    @field_validator("customer_email")
    @classmethod
    def _replyable(cls, value: str | None) -> str | None:
        """Only an address the outbound relay accepts (connectors.email_address): a chat
        never holds an address its replies could not be sent to."""
        if value:
            problem = address_problem(value)
            if problem:
                raise ValueError(problem)
        return value or None

    @model_validator(mode="after")
    def _one_form(self) -> CreateChat:
        others = [
            name
            for name in ("customer_phone", "customer_email", "customer_address", "subject")
            if getattr(self, name) is not None
        ]
        if self.phone is not None and others:
            raise ValueError(f"with phone, give only channel and customer_name (not {others[0]})")
        return self


class UpdateChat(Strict):
    mode: Mode | None = None
    assigned_agent_id: Id | None = None
    online: bool | None = None
    # Admins: assign past the agent's capacity (else a full agent is 409 agent_at_capacity).
    force: bool = False
    # none, low, medium, high, urgent (another value: 422); the queue serves urgent first.
    priority: Annotated[str, StringConstraints(max_length=16)] | None = None


TemplateValue = Annotated[str, StringConstraints(max_length=MAX_PARAMETER_CHARS)]
TemplateValues = Annotated[list[TemplateValue], Field(max_length=50)]


class TemplateParameters(Strict):
    """The values of a template's placeholders, by part, in order (``{{1}}``, ``{{2}}``...);
    ``buttons``: one per button that takes a value (a URL button's variable end, a code)."""

    header: TemplateValues = Field(default_factory=list)
    body: TemplateValues = Field(default_factory=list)
    buttons: TemplateValues = Field(default_factory=list)


class TemplateMessage(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]
    language: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    parameters: TemplateParameters = Field(default_factory=TemplateParameters)


class SendMessage(Strict):
    chat_id: Id
    # A WhatsApp template message (allowed outside the 24-hour window).
    template: TemplateMessage | None = None
    # Required, except with ``template`` (then ignored: the template rendered is the text).
    text: Annotated[str, StringConstraints(max_length=4096 * 4)] | None = Field(
        default=None, validate_default=True
    )
    sender: Literal["agent"] = "agent"
    # A private note (docs/api.md, "Private notes and mentions"): never sent to the customer.
    internal: bool = False

    @field_validator("text")
    @classmethod
    def _text_or_template(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("template") is not None:
            return value
        value = (value or "").strip()
        if not value:
            raise ValueError("text is required (or a template)")
        return value


class SendFiles(Strict):
    """``POST /chats/messages`` as multipart/form-data: a reply with files (read as a stream;
    this model documents the form)."""

    chat_id: Id = Field(description="the chat; must come before the file parts")
    text: Text | None = Field(default=None, description="the caption (the first file's)")
    sender: Literal["agent"] = "agent"
    file: list[bytes] = Field(
        description="1 to 10 files; their type is read from their content",
        min_length=1, max_length=10,
    )  # fmt: skip


class ActionRequest(Strict):
    reason: Reason | None = None


class AssignRequest(Strict):
    agent_id: Id
    reason: Reason | None = None
    # Admins: assign past the agent's capacity (else a full agent is 409 agent_at_capacity;
    # an agent who sends force: true gets 403 forbidden).
    force: bool = False


class CreateUser(Strict):
    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=8, max_length=1024)]
    role: Role = Role.AGENT
    email: Email | None = None
    display_name: DisplayName | None = None
    capacity: Annotated[int, Field(ge=0, le=1000)] | None = None


class UpdateUser(Strict):
    display_name: DisplayName | None = None
    email: Email | None = None
    role: Role | None = None
    capacity: Annotated[int, Field(ge=0, le=1000)] | None = None
    active: bool | None = None
    password: Annotated[str, StringConstraints(min_length=8, max_length=1024)] | None = None
    signature: Signature | None = None


class UpdateProfile(Strict):
    """What users change of their own account (``PATCH /users/me``)."""

    display_name: DisplayName | None = None
    signature: Signature | None = None
    language: Language | None = None
    preferences: Preferences | None = None


class ChatListQuery(Query):
    mode: Mode | None = None
    channel: Channel | None = None
    assigned: Annotated[str, StringConstraints(max_length=32)] | None = None
    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    updated_since: Annotated[str, StringConstraints(max_length=64)] | None = None
    # Only chats with the label of this name (any case); an unknown name lists nothing.
    label: LabelName | None = None
    snoozed: bool | None = None  # true: only snoozed chats; false: only awake ones
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None


class QueueQuery(Query):
    label: LabelName | None = None  # only chats with this label (any case)
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None


class DetailQuery(Query):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    before: Id | None = None


# -- responses (documentation and tests; handlers build plain dicts) ----------------------


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class LastMessage(Open):
    text: str
    sender: str
    time: str | None


class SearchMatch(Open):
    """Where a search (``GET /chats/?q=``) matched: plain text, never HTML."""

    message_id: int
    snippet: str  # at most 160 characters of the message, "…" where cut
    highlights: list[list[int]]  # [start, end) in code points of snippet


class ChatRow(Open):
    id: int
    name: str
    channel: Channel
    # Telegram/WhatsApp: within 5 minutes of the customer's last message; email: never.
    online: bool
    online_until: str | None  # when "online" ends unless the customer writes again
    unread: int
    mode: Mode
    last_message_at: str | None
    last_message: LastMessage | None
    assigned_agent_id: int | None
    assigned_agent_name: str | None
    queued: bool
    # Email whose sender could not be authenticated (no aligned DKIM or SPF pass): the chat
    # of those messages, apart from the verified sender's chat. Agents: do not trust who it
    # claims to be from.
    sender_unverified: bool = False
    priority: Literal["none", "low", "medium", "high", "urgent"] = "none"
    labels: list[str] = []  # label names, in the order they were added
    snoozed: bool = False  # put aside by its agent until snoozed_until or the customer writes
    snoozed_until: str | None = None  # null: awake, or until the customer writes
    watchers: list[int] = []  # user ids a note mentioned: they read it and add notes
    # Only in a search's rows: the newest message matched, or null (the name, phone or email).
    match: SearchMatch | None = None
    created_at: str | None
    updated_at: str | None


class Note(Open):
    """A system note about a change of mode or assignee, or a snooze, for dashboards to
    translate. A snooze's note (action ``snoozed``, ``snooze_ended``) has ``until`` and
    neither ``to`` nor ``from``."""

    action: str  # handoff.domain.modes.Action: handoff, take_over, assign, claim, transfer, ...
    by: str | None  # the acting person's name; None for the bot, the system, the customer
    by_kind: Literal["agent", "admin", "bot", "system", "customer"]
    to: str | None = None  # the chat's agent after the change (None: nobody)
    from_: str | None = Field(default=None, alias="from")  # the chat's agent before the change
    reason: str | None = None  # a code of handoff.domain.modes.REASONS, or None for free text
    reason_text: str | None = None  # the reason as recorded, in English
    until: str | None = None  # a snooze's end (None: until the customer writes)


class SenderAuth(Open):
    """An email's sender authentication (connectors.email_auth)."""

    result: Literal["pass", "fail", "temperror"]  # temperror: DNS trouble; not confirmed either
    method: Literal["verify", "upstream"]  # checked here, or a trusted upstream's header
    domain: str  # the From domain
    dkim: str  # pass, fail, none, temperror, permerror
    spf: str  # pass, fail, softfail, neutral, none, temperror, permerror
    reason: str  # in English, e.g. "not authenticated for bank.example: DKIM none, SPF fail"
    dkim_domain: str | None = None
    spf_domain: str | None = None
    dmarc_policy: str | None = None  # p= of the domain's DMARC record


class MessageOut(Open):
    id: int
    chat_id: int
    text: str
    sender: Literal["customer", "agent", "bot", "system"]
    status: Literal["queued", "sent", "delivered", "read", "failed"]
    time: str
    created_at: str | None
    internal: bool
    agent_id: int | None
    attachments: list[dict[str, Any]]
    error: str | None
    note: Note | None
    # Email: how the sender was authenticated; None where nothing was checked (other channels,
    # channels.email.sender_auth = "off").
    sender_auth: SenderAuth | None = None
    sender_unverified: bool = False  # sender_auth says the sender is not confirmed
    # A WhatsApp template message: {"name", "language", "parameters": {"header", "body",
    # "buttons"}, ...}; its text is the template rendered. None for every other message.
    template: dict[str, Any] | None = None
    # An answer of the LLM engine: the knowledge-base articles it used; None for the others.
    sources: list[SourceOut] | None = None


class SourceOut(Open):
    id: int
    title: str


class Profile(Open):
    phone: str | None
    email: str | None
    address: str | None
    # "Online", or when the customer last wrote (ISO 8601); None if they never wrote.
    lastActive: str | None
    last_active_at: str | None


class ChatDetail(ChatRow):
    profile: Profile
    messages: list[MessageOut]
    has_more: bool


class UserOut(Open):
    id: int
    username: str
    email: str | None
    role: Role
    display_name: str
    capacity: int
    active: bool
    signature: str | None
    availability: AvailabilityName  # the person's choice
    status: AvailabilityName  # what others see: offline unless a console is connected
    language: Language
    preferences: PreferencesOut
    open_chats: int | None = None
    # GET /auth/me only: whether the copilot answers (a model is set, copilot.enabled).
    copilot: bool | None = None


class AgentOut(Open):
    id: int
    display_name: str
    username: str | None = None  # what a note's @mention names
    role: Role
    capacity: int
    open_chats: int
    availability: AvailabilityName
    status: AvailabilityName


class LoginResponse(Open):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int
    user: UserOut


class ReadResponse(Open):
    message: str
    chat_id: int
    unread: int


class Health(Open):
    status: Literal["ok", "degraded"]
    checks: dict[str, str]


class TemplateCounts(Open):
    header: int
    body: int
    buttons: int


class TemplateOut(Open):
    name: str
    language: str
    category: str
    status: Literal["APPROVED"]
    components: list[dict[str, Any]]  # as the Graph API lists them
    parameters: TemplateCounts  # how many values each part takes
    header_format: str | None  # TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION; None: no header
    preview: str  # the template as it reads, placeholders unfilled
    synced_at: str | None


class TemplateSync(Open):
    listed: int
    created: int
    updated: int
    removed: int
    approved: int


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    error: ErrorDetail


# -- canned responses (issue 19, part "canned") --------------------------------------------

CannedCode = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_-]{1,64}$")
]
CannedTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
# Variables: {{customer.name}}, {{customer.first_name}}, {{agent.name}}, {{chat.id}}.
CannedText = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class CreateCanned(Strict):
    short_code: CannedCode
    title: CannedTitle
    text: CannedText
    text_id: CannedText | None = Field(default=None, description="the Indonesian text")
    scope: Literal["shared", "personal"] = Field(
        default="personal", description="shared: admins only; personal: the caller's own"
    )


class UpdateCanned(Strict):
    """Any of the fields; ``text_id`` null removes the Indonesian text. The scope stays."""

    short_code: CannedCode | None = None
    title: CannedTitle | None = None
    text: CannedText | None = None
    text_id: CannedText | None = None


class CannedQuery(Query):
    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    chat_id: Id | None = None


class CannedOut(Open):
    id: int
    short_code: str
    title: str
    text: str
    text_id: str | None
    scope: Literal["shared", "personal"]
    owner_id: int | None  # null for a shared one
    created_at: str
    updated_at: str
    # With ?chat_id=: the texts with the variables filled for that chat.
    rendered: str | None = None
    rendered_id: str | None = None


class Deleted(Open):
    deleted: bool
    id: int


# -- people: availability, profile, password ---------------------------------------------


class SetAvailability(Strict):
    """``PUT /presence/me``: what you say of yourself."""

    status: AvailabilityName


class AvailabilityOut(Open):
    user_id: int
    availability: AvailabilityName
    status: AvailabilityName  # what others see (offline while no console is connected)
    online: bool  # a console of yours is connected
    returned: list[int]  # chats returned to the queue (going offline)


class PersonStatus(Open):
    id: int
    display_name: str
    role: Role
    availability: AvailabilityName
    status: AvailabilityName
    open_chats: int
    capacity: int


class PresenceOut(Open):
    online: list[int]  # ids of the users with a console connected
    people: list[PersonStatus]  # every active user's availability, status and load


class HeartbeatOut(Open):
    online: bool
    ttl: float


class ChangePassword(Strict):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    new_password: Annotated[str, StringConstraints(min_length=8, max_length=1024)]


# -- labels, priority, the chat audit, bulk actions (dashboard_api/labels.py) -------------

Colour = Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)]
LabelDescription = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
PriorityLevel = Literal["none", "low", "medium", "high", "urgent"]


class CreateLabel(Strict):
    """A label: ``name`` letters, digits, spaces, - _ . (unique in any case); ``colour``
    "#rrggbb" (default "#6b7280")."""

    name: LabelName
    colour: Colour | None = None
    description: LabelDescription = ""


class UpdateLabel(Strict):
    name: LabelName | None = None
    colour: Colour | None = None
    description: LabelDescription | None = None


class LabelOut(Open):
    id: int
    name: str
    colour: str  # "#rrggbb"
    description: str


class ChatLabelRequest(Strict):
    label: LabelName  # a label's name, any case


# -- knowledge base -----------------------------------------------------------------------

KbTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Up to kb.max_body_chars (checked by the knowledge base: 422 invalid_article).
KbBody = Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]
KbTag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
KbTags = Annotated[list[KbTag], Field(max_length=20)]


class CreateKbArticle(Strict):
    """An article: ``body`` markdown; ``language`` "en" or "id"; at most 20 ``tags``."""

    title: KbTitle
    body: KbBody
    language: Language = "en"
    tags: KbTags = Field(default_factory=list)


class UpdateKbArticle(Strict):
    """Any of the four fields (at least one; none may be null)."""

    title: KbTitle | None = None
    body: KbBody | None = None
    language: Language | None = None
    tags: KbTags | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateKbArticle:
        if not self.model_fields_set:
            raise ValueError("give at least one of title, body, language, tags")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        return self


class KbArticlesQuery(Query):
    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    language: Language | None = None
    tag: KbTag | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None


class KbSearchQuery(Query):
    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    language: Language | None = None
    limit: Annotated[int, Field(ge=1, le=12)] | None = None


class KbArticleOut(Open):
    id: int
    title: str
    language: str
    tags: list[str]
    source: str | None  # the imported file's path; null for one written here
    passages: int
    created_at: str | None
    updated_at: str | None
    body: str | None = None  # one article (GET /kb/articles/{id}, writes)
    excerpt: str | None = None  # the list: the body's start as plain text


class KbArticlePage(Open):
    items: list[KbArticleOut]
    next_cursor: str | None


class KbPassageOut(Open):
    article_id: int
    title: str
    heading: str  # "Refunds > How long it takes"; "" for none
    text: str
    language: str
    score: float  # 0..1, best first


class KbSearchOut(Open):
    passages: list[KbPassageOut]


class AuditEntryOut(Open):
    id: int
    # label_added, label_removed, priority_changed, snoozed, woke, note_added, ...
    action: str
    by: str | None  # the person's name; None for the bot and the system
    by_kind: Literal["admin", "agent", "bot", "system", "customer", "integration"]
    data: dict[str, Any]  # e.g. {"label": "billing"}, {"from": "none", "to": "urgent"}
    created_at: str | None


def check_snooze_time(until: datetime | None, until_customer_replies: bool | None) -> None:
    """A snooze names exactly one of a time and ``until_customer_replies: true``."""
    if (until is None) == (until_customer_replies is not True):
        raise ValueError('give exactly one of "until" or "until_customer_replies": true')


class BulkRequest(Strict):
    """``POST /chats/bulk``: the action's own fields beside ``chat_ids`` and ``action``:
    assign ``agent_id`` (``force``: admins), label ``label`` (``remove``: take it off),
    priority ``priority``, snooze ``until`` (ISO 8601 with an offset) or
    ``until_customer_replies``: true, close nothing."""

    chat_ids: Annotated[list[Id], Field(min_length=1, max_length=100)]
    action: Literal["assign", "label", "priority", "snooze", "close"]
    agent_id: Id | None = None
    force: bool = False
    label: LabelName | None = None
    remove: bool = False
    priority: PriorityLevel | None = None
    until: AwareDatetime | None = None
    until_customer_replies: bool = False

    @model_validator(mode="after")
    def _snooze_time(self) -> BulkRequest:
        if self.action == "snooze":
            check_snooze_time(self.until, self.until_customer_replies)
        return self

    @field_validator("chat_ids")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("each chat id once")
        return value


class BulkFailure(Open):
    chat_id: int
    code: str  # the error code the chat would have had on its own, e.g. not_found
    message: str


class BulkResult(Open):
    done: list[int]
    failed: list[BulkFailure]


# -- notes: notifications (docs/api.md, "Notifications") -----------------------------------


class NotificationsQuery(Query):
    limit: Annotated[int, Field(ge=1, le=100)] = 30
    before: Id | None = None  # older than this notification id (the page before)
    unread: bool = False  # only the unread ones


class NotificationOut(Open):
    id: int
    kind: Literal[
        "mention", "assigned", "message", "queue_waiting", "snooze_ended", "webhook_disabled"
    ]
    chat_id: int | None
    message_id: int | None
    # mention: by, customer, text; assigned: by, by_kind, customer, reason_code; message:
    # customer, text, count; queue_waiting: customer, queued_at, minutes
    data: dict[str, Any]
    read: bool
    created_at: str | None


class NotificationList(Open):
    items: list[NotificationOut]
    unread: int  # the caller's unread notifications, all pages
    next_before: int | None  # pass as before= for the next (older) page; None: no more


class NotificationRead(Open):
    notification: NotificationOut
    unread: int


class NotificationsAllRead(Open):
    marked: int
    unread: int


# -- snooze (issue 19) ---------------------------------------------------------------------


class SnoozeRequest(Strict):
    """``{"until": "2026-12-07T09:00:00+07:00"}`` (in the future, within 90 days) or
    ``{"until_customer_replies": true}``: exactly one."""

    until: AwareDatetime | None = None
    until_customer_replies: bool | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SnoozeRequest:
        check_snooze_time(self.until, self.until_customer_replies)
        return self


# -- reports (issue 21) --------------------------------------------------------------------

GroupBy = Literal["day", "week", "hour", "weekday", "channel", "agent", "label"]
ReportFormat = Literal["json", "csv"]
RangeText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]


class ReportRangeQuery(Query):
    """``from``/``to``: ISO dates or times (docs/api.md "Reports"); ``format=csv``: a file."""

    start: RangeText | None = Field(default=None, alias="from")
    end: RangeText | None = Field(default=None, alias="to")
    format: ReportFormat = "json"


class ReportBotQuery(ReportRangeQuery):
    business_hours: bool = False  # durations: only the seconds within bot.hours


class ReportCsatQuery(ReportRangeQuery):
    agent_id: Id | None = None  # admins: one person's ratings; agents: only their own


class ReportAgentQuery(ReportBotQuery):
    agent_id: Id | None = None  # admins: one person's numbers; agents: only their own


class ReportSummaryQuery(ReportAgentQuery):
    group_by: GroupBy = "day"


class DurationStats(Open):
    """Seconds; ``median`` and ``p90`` interpolated between ranks (``percentile_cont``),
    rounded to 0.1 s; null (``count`` 0) when nothing was counted."""

    median: float | None
    p90: float | None
    average: float | None
    count: int


class ReportCounts(Open):
    opened: int
    reopened: int
    handed_off: int
    resolved: int
    bot_resolved: int
    first_response_seconds: DurationStats
    resolution_seconds: DurationStats
    reply_seconds: DurationStats
    queue_seconds: DurationStats


class ReportGroup(ReportCounts):
    key: int | str | None  # the date, hour, weekday, channel, agent or label id
    label: str | None  # what people read (the agent's name, the label's name)


class Bucket(Open):
    le: int | None  # the bucket's upper bound in seconds (null: longer)
    count: int


class ReportSummary(Open):
    from_: str = Field(alias="from")
    to: str
    timezone: str
    group_by: GroupBy
    business_hours: bool
    totals: ReportCounts
    distributions: dict[str, list[Bucket]]
    groups: list[ReportGroup]


class AgentCsat(Open):
    responses: int
    average: float | None


class AgentReportRow(Open):
    agent_id: int
    name: str
    handled: int
    replies: int
    resolved: int
    first_response_seconds: DurationStats
    resolution_seconds: DurationStats
    reply_seconds: DurationStats
    csat: AgentCsat


class AgentsReport(Open):
    from_: str = Field(alias="from")
    to: str
    timezone: str
    business_hours: bool
    agents: list[AgentReportRow]


class ReasonCount(Open):
    reason: str | None
    count: int


class IntentCount(Open):
    intent: str | None  # null: a greeting
    count: int


class Unmatched(Open):
    text: str
    count: int
    last_at: str | None


class BotReport(Open):
    from_: str = Field(alias="from")
    to: str
    timezone: str
    business_hours: bool
    conversations: int
    opened: int
    resolved: int
    bot_resolved: int
    containment: float | None
    handed_off: int
    handoff_rate: float | None
    handoff_reasons: list[ReasonCount]
    answers: int
    fallbacks: int
    fallback_rate: float | None
    intents: list[IntentCount]
    unmatched: list[Unmatched]
    answer_seconds: DurationStats
    llm: LlmReport


class LlmReport(Open):
    """The LLM engine's calls in the range (docs/api.md "GET /reports/bot")."""

    answers: int
    handoffs: int
    failures: int
    no_match: int
    budget: int
    prompt_tokens: int
    completion_tokens: int
    seconds: DurationStats


class CsatDay(Open):
    date: str
    sent: int
    responses: int
    average: float | None


class CsatComment(Open):
    chat_id: int
    agent_id: int | None
    rating: int
    comment: str
    rated_at: str | None


class CsatReport(Open):
    from_: str = Field(alias="from")
    to: str
    timezone: str
    agent_id: int | None
    sent: int
    responses: int
    response_rate: float | None
    average: float | None
    ratings: dict[str, int]
    by_day: list[CsatDay]
    comments: list[CsatComment]


# -- copilot (issue 22) ---------------------------------------------------------------------

# A language as a model reads it: an ISO 639 code, with a region if wanted ("en", "id",
# "pt-BR").
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]


class CopilotEmpty(Strict):
    """``{}``: the copilot's suggest and summarize take nothing (an empty body is fine too)."""


class Source(Open):
    id: int
    title: str


class Suggestion(Open):
    """A draft reply (never sent by itself) and the knowledge-base articles it rests on."""

    text: str
    sources: list[Source]


class SummaryNote(Open):
    note: MessageOut


class TranslateRequest(Strict):
    """``{"message_id"}`` (a message of the chat) or ``{"text"}`` (a draft): exactly one;
    ``to``: the language to translate into (default: the person's for a message, the
    customer's for a draft)."""

    message_id: Id | None = None
    text: Text | None = None
    to: LanguageCode | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TranslateRequest:
        if (self.message_id is None) == (self.text is None):
            raise ValueError("give exactly one of message_id and text")
        return self


class TranslationOut(Open):
    text: str
    to: str
