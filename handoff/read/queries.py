"""The read side: chat lists, the queue and chat detail, scoped to who is asking.

Every list is one query for the rows (ordered by last activity, paged by a
keyset cursor) plus one cached lookup of agent names: no query per row. The
last message's text/sender/time come from columns kept on the chat.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Q, RawSQL, Subquery

from handoff.domain.errors import Forbidden, Invalid, NotFound
from handoff.domain.modes import Actor
from handoff.domain.rights import can_read
from handoff.domain.sanitize import clean
from handoff.read.contacts import may_see
from handoff.read.names import AgentNames, LabelNames, label_ids
from handoff.read.snippets import first_match, snippet, spans
from handoff.read.views import CHAT_FIELDS, MESSAGE_FIELDS, NO_NAMES, Presenter, chat_values
from storage import fts
from storage.models import (
    MAX_ID,
    AuditEntry,
    Chat,
    ChatLabel,
    ChatWatcher,
    Message,
    Mode,
    Role,
    User,
)
from storage.search import (
    found_chats,
    latest_matches,
    matching_chats,
    matching_window,
    recent_messages,
    window_expression,
)

MAX_LIMIT = 200
AUDIT_LIMIT = 500  # the newest audit rows of a chat shown
# The queue's order (docs/modes.md): highest priority first, then longest waiting; the
# index (mode, priority, queued_at) serves it. Automatic assignment takes chats in this order.
QUEUE_ORDER = ("-priority", "queued_at", "id")
# A search's page is first looked for among the list's next WINDOW * (limit + 1) chats (SQLite).
WINDOW = 4


@dataclass(frozen=True, slots=True)
class ChatFilter:
    mode: Mode | None = None
    channel: str | None = None
    assigned: str | None = None  # "me", "none", "any" or an agent id (admins)
    q: str | None = None
    updated_since: datetime | None = None
    label: str | None = None  # a label's name, any case
    snoozed: bool | None = None  # True: only snoozed chats, False: only awake ones
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(activity_at: datetime, chat_id: int) -> str:
    raw = json.dumps([activity_at.isoformat(), chat_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, chat_id = json.loads(raw)
        when, last_id = datetime.fromisoformat(stamp), int(chat_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise Invalid("cursor is not one this server gave out", field="cursor") from exc
    if not 0 <= last_id <= MAX_ID:  # the database could not even compare it
        raise Invalid("cursor is not one this server gave out", field="cursor")
    return when, last_id


class ChatQueries:
    def __init__(
        self,
        names: AgentNames,
        presenter: Presenter,
        labels: LabelNames | None = None,
        *,
        history_for_agents: bool = False,
    ) -> None:
        self.names = names
        self.presenter = presenter
        self.labels = labels if labels is not None else LabelNames()
        # docs/api.md "History for agents": an agent who may see a contact reads all its
        # conversations (the detail, its messages and files), read-only.
        self.history_for_agents = history_for_agents

    async def list_chats(self, actor: Actor, chat_filter: ChatFilter) -> Page:
        query = Chat.filter(self._scope(actor, chat_filter.assigned))
        if chat_filter.mode is not None:
            query = query.filter(mode=chat_filter.mode)
        if chat_filter.channel is not None:
            query = query.filter(channel=chat_filter.channel)
        if chat_filter.updated_since is not None:
            query = query.filter(updated_at__gte=chat_filter.updated_since)
        if chat_filter.label:
            query = query.filter(_labelled(chat_filter.label))
        if chat_filter.snoozed is not None:
            query = query.filter(snoozed_at__isnull=not chat_filter.snoozed)
        search: fts.Query | None = None
        text = clean(chat_filter.q).strip() if chat_filter.q else ""
        page: Page | None = None
        windowed: str | None = None
        if text:  # (PostgreSQL refuses NUL even in a LIKE pattern: what cannot be stored goes)
            search = parse_search(text)
            windowed = await window_expression(search) if search is not None else None
            if windowed is not None:
                page = await self._windowed(query, windowed, text, chat_filter)
            else:  # a rare search: its few chats by id (SQLite's indexes), then sorted
                listed = await found_chats(search, text)
                if listed is not None:
                    page = await self._page(
                        query.filter(id__in=listed), chat_filter.limit, chat_filter.cursor
                    )
        if text and page is None:
            # Chats probed one by one only where the list walks them in its own order (the
            # activity index, or mode's): other filters and an agent's scope make SQLite sort
            # every chat they keep, each probed first. A search too rare for a window is
            # too rare to probe: listed.
            in_order = (
                windowed is not None
                and actor.is_admin
                and chat_filter.assigned in (None, "any")
                and chat_filter.channel is None
                and chat_filter.updated_since is None
                and not chat_filter.label
                and chat_filter.snoozed is None
            )
            hit = (
                RawSQL(await matching_chats(search, probe=in_order))
                if search is not None
                else RawSQL("0")
            )
            query = query.annotate(search_hit=hit).filter(_search(text))
        if page is None:
            page = await self._page(query, chat_filter.limit, chat_filter.cursor)
        if search is not None:
            await _add_matches(search, page.rows)
        elif text:
            for row in page.rows:
                row["match"] = None
        return page

    async def queue(
        self, limit: int = 50, cursor: str | None = None, *, label: str | None = None
    ) -> Page:
        """Chats in agent mode that nobody has yet: highest priority first, then longest
        waiting (the order automatic assignment serves them in)."""
        query = Chat.filter(mode=Mode.AGENT, assigned_agent_id=None)
        if label:
            query = query.filter(_labelled(label))
        offset_id = 0
        if cursor:
            offset_id = _decode_offset(cursor)
        rows = (
            await query.order_by(*QUEUE_ORDER)
            .offset(offset_id)
            .limit(min(limit, MAX_LIMIT) + 1)
            .values(*CHAT_FIELDS)
        )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode_offset(offset_id + limit) if more else None
        return Page(await self._present(rows), next_cursor)

    async def chat(self, actor: Actor, chat_id: int, *, history: bool = False) -> Chat:
        """The chat if ``actor`` may read it; NotFound otherwise (no hint that it exists).
        ``history``: also a conversation of a contact ``actor`` may see, with
        ``history_for_agents`` on (asked only when the plain check fails)."""
        chat = await Chat.get_or_none(id=chat_id)
        if chat is None or not (can_read(chat, actor) or await self._history(chat, actor, history)):
            raise NotFound(f"chat {chat_id} not found")
        return chat

    async def _history(self, chat: Chat, actor: Actor, wanted: bool) -> bool:
        if not (wanted and self.history_for_agents) or chat.contact_id is None:
            return False
        return await may_see(actor, chat.contact_id)

    async def detail(
        self, actor: Actor, chat_id: int, *, limit: int = 50, before: int | None = None
    ) -> dict[str, Any]:
        """The detail shape (docs/api.md): the chat, its profile and its latest messages."""
        chat = await self.chat(actor, chat_id, history=True)
        messages = Message.filter(chat_id=chat_id)
        if before is not None:
            messages = messages.filter(id__lt=before)
        rows = await messages.order_by("-id").limit(limit + 1).values(*MESSAGE_FIELDS)
        has_more = len(rows) > limit
        rows = rows[:limit]
        rows.reverse()
        chat_row = chat_values(chat)
        detail = (await self._present([chat_row]))[0]
        detail["profile"] = self.presenter.profile(chat_row)
        detail["messages"] = [self.presenter.message(row) for row in rows]
        detail["has_more"] = has_more
        detail["next_before"] = rows[0]["id"] if has_more and rows else None
        return detail

    async def attachment(
        self, actor: Actor, chat_id: int, message_id: int, index: int
    ) -> dict[str, Any]:
        """One attachment of a message in a chat ``actor`` may read (as stored: kind, ref...)."""
        await self.chat(actor, chat_id, history=True)
        message = await Message.get_or_none(id=message_id, chat_id=chat_id)
        items = list(message.attachments or []) if message is not None else []
        if not 0 <= index < len(items) or not isinstance(items[index], dict):
            raise NotFound(f"message {message_id} has no attachment {index}")
        return dict(items[index])

    async def audit(self, actor: Actor, chat_id: int) -> list[dict[str, Any]]:
        """The audit record of a chat ``actor`` may read (labels, priority, snooze, notes...),
        newest first, with who did it: ``by`` a person's name (None for the bot and the
        system), ``by_kind`` admin, agent, bot or system."""
        await self.chat(actor, chat_id)
        rows = (
            await AuditEntry.filter(chat_id=chat_id)
            .order_by("-id")
            .limit(AUDIT_LIMIT)
            .values("id", "action", "actor_kind", "actor_id", "data", "created_at")
        )
        people = {row["actor_id"] for row in rows if row["actor_id"] is not None}
        names = await self.names.names(people) if people else {}
        admins = set()
        if people:
            admins = set(
                await User.filter(id__in=people, role=Role.ADMIN).values_list("id", flat=True)
            )
        return [
            {
                "id": row["id"],
                "action": row["action"],
                "by": names.get(row["actor_id"]) if row["actor_id"] is not None else None,
                "by_kind": _by_kind(row["actor_kind"], row["actor_id"], admins),
                "data": _json(row["data"]),
                "created_at": self.presenter.when(row["created_at"]),
            }
            for row in rows
        ]

    async def row(self, chat: Chat) -> dict[str, Any]:
        return (await self._present([chat_values(chat)]))[0]

    def _scope(self, actor: Actor, assigned: str | None) -> Q:
        if not actor.is_admin:
            if assigned not in (None, "me"):
                raise Forbidden(
                    "agents list their own chats; waiting chats are at /chats/queue",
                    field="assigned",
                )
            if assigned == "me":
                return Q(assigned_agent_id=actor.user_id)
            # Theirs, and the chats a note mentioned them in (watching: read and note only).
            watched = Subquery(ChatWatcher.filter(user_id=actor.user_id).values("chat_id"))
            return Q(assigned_agent_id=actor.user_id) | Q(id__in=watched)
        if assigned in (None, "any"):
            return Q()
        if assigned == "me":
            return Q(assigned_agent_id=actor.user_id)
        if assigned == "none":
            return Q(assigned_agent_id=None)
        if assigned.isdigit() and int(assigned) <= MAX_ID:
            return Q(assigned_agent_id=int(assigned))
        raise Invalid("assigned must be me, none, any or an agent id", field="assigned")

    async def _windowed(
        self, query: Any, expression: str, text: str, chat_filter: ChatFilter
    ) -> Page | None:
        """The page of a search found among the list's next ``WINDOW * (limit + 1)`` chats,
        or None (then the whole list is searched): when fewer chats are left, or when the
        window holds too few of the search's chats. ``expression``: from
        :func:`storage.search.window_expression`. One statement for the window's
        ids, then the list's, which asks the index only for their range of chat ids: a
        common word or phrase fills its page from the newest chats without listing its
        every match."""
        size = WINDOW * (chat_filter.limit + 1)
        ordered = _after(query, chat_filter.cursor).order_by("-activity_at", "-id")
        ids = [int(i) for i in await ordered.limit(size).values_list("id", flat=True)]
        if len(ids) < size:
            return None
        hit = RawSQL(matching_window(expression, min(ids), max(ids)))
        query = query.filter(id__in=ids).annotate(search_hit=hit).filter(_search(text))
        rows = await self._rows(query, chat_filter.limit, chat_filter.cursor)
        if len(rows) <= chat_filter.limit:  # the page may go on past the window
            return None
        return await self._paged(rows, chat_filter.limit)

    async def _page(self, query: Any, limit: int, cursor: str | None) -> Page:
        return await self._paged(await self._rows(query, limit, cursor), limit)

    async def _rows(self, query: Any, limit: int, cursor: str | None) -> list[dict[str, Any]]:
        """The list's next ``limit + 1`` rows (the one more tells whether a page follows)."""
        query = _after(query, cursor)
        rows: list[dict[str, Any]] = (
            await query.order_by("-activity_at", "-id").limit(limit + 1).values(*CHAT_FIELDS)
        )
        return rows

    async def _paged(self, rows: list[dict[str, Any]], limit: int) -> Page:
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["activity_at"], rows[-1]["id"]) if more else None
        return Page(await self._present(rows), next_cursor)

    async def _present(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = {row["assigned_agent_id"] for row in rows if row["assigned_agent_id"] is not None}
        names = await self.names.names(ids) if ids else {}
        wanted = label_ids(rows)
        labels = await self.labels.names(wanted) if wanted else NO_NAMES
        return [self.presenter.chat_row(row, names, labels) for row in rows]


def _after(query: Any, cursor: str | None) -> Any:
    """The list's chats after ``cursor`` (in its order: newest activity first)."""
    if not cursor:
        return query
    stamp, last_id = decode_cursor(cursor)
    return query.filter(Q(activity_at__lt=stamp) | Q(activity_at=stamp, id__lt=last_id))


def parse_search(text: str) -> fts.Query | None:
    """A person's search text (docs/api.md, "Searching"): the last word is a prefix (search as
    you type). None when it holds no word (only the name, phone and email are searched, for
    ``+`` or ``@``); Invalid (422) when it is too long or has too many words."""
    try:
        return fts.parse(text, last_prefix=True)
    except fts.QueryError as exc:
        if not fts.has_words(text):
            return None
        raise Invalid(str(exc), field="q") from exc


def _search(text: str) -> Q:
    """Name, phone or email contains ``text`` (case-insensitive), or a message matches the
    search (``search_hit``, annotated from the full-text index)."""
    return (
        Q(search_hit=1)
        | Q(customer_name__icontains=text)
        | Q(customer_phone__icontains=text)
        | Q(customer_email__icontains=text)
    )


async def _add_matches(search: fts.Query, rows: list[dict[str, Any]]) -> None:
    """Give each row its ``match``: the newest message of the chat the search matches, as a
    snippet with highlights (docs/api.md), or None (only the name, phone or email matched).
    Two statements at most: the chats' newest messages, and the index for the chats whose
    match is older."""
    if not rows:
        return
    ids = [int(row["id"]) for row in rows]
    newest: dict[int, list[tuple[int, str]]] = {}
    for message in await recent_messages(ids):
        newest.setdefault(int(message["chat_id"]), []).append((int(message["id"]), message["text"]))
    found = {}
    for chat_id, messages in newest.items():
        hit = first_match(search, messages)
        if hit is not None:
            found[chat_id] = snippet(*hit)
    missing = [chat_id for chat_id in ids if chat_id not in found]
    if missing:
        for message in await latest_matches(search, missing):
            text = message["text"]
            found[int(message["chat_id"])] = snippet(
                int(message["id"]), text, spans(search, text) or []
            )
    for row in rows:
        match = found.get(int(row["id"]))
        row["match"] = match.as_dict() if match is not None else None


def _labelled(name: str) -> Q:
    """The chat carries the label named ``name`` (any case): a subquery on chat_labels, so
    the list stays one query."""
    tagged = ChatLabel.filter(label__name__iexact=" ".join(name.split())).values("chat_id")
    return Q(id__in=Subquery(tagged))


def _by_kind(kind: str, actor_id: int | None, admins: set[Any]) -> str:
    if kind == "person":
        return "admin" if actor_id in admins else "agent"
    return kind


def _json(data: Any) -> Any:
    """A JSON column as stored (a raw value query may give the text)."""
    if isinstance(data, str | bytes):
        try:
            return json.loads(data)
        except ValueError:
            return {}
    return data if data is not None else {}


def _encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def _decode_offset(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        offset = int(json.loads(raw)["offset"])
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise Invalid("cursor is not one this server gave out", field="cursor") from exc
    if not 0 <= offset <= MAX_ID:
        raise Invalid("cursor is not one this server gave out", field="cursor")
    return offset
