"""The bot's reads and writes: what it is asked about, and its answers queued for the outbox
(``handoff.usecases.autopilot`` drives them).

The plans are :data:`storage.sql.Plan` s: pure, they may run in SQLite's thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage import columns
from storage.models import Chat, Message, Mode, ReportEvent, Sender, Status
from storage.report_facts import FACT_COLUMNS, BotFact, Fact, insert_facts
from storage.sql import Plan, is_postgres

PENDING_CHATS = (
    'SELECT "id", "channel", "customer_name", "bot_answered_id", "last_message_sender" '
    'FROM "chats" WHERE "mode" = \'bot\' AND "last_customer_message_at" >= ? '
    'ORDER BY "id" LIMIT 1000'
)
LAST_CUSTOMER_MESSAGE = (
    'SELECT "id", "chat_id", "text", "created_at" FROM "messages" WHERE "chat_id" = ? AND '
    '"sender" = \'customer\' ORDER BY "id" DESC LIMIT 1'
)
CONTEXT_CHAT = (
    'SELECT "id", "mode", "channel", "customer_name", "customer_email", "sender_unverified", '
    '"bot_fallbacks" FROM "chats" WHERE "id" = ?'
)
HISTORY_ROWS = (
    'SELECT "sender", "text" FROM "messages" WHERE "chat_id" = ? AND "internal" = ? AND "id" < ? '
    'ORDER BY "id" DESC LIMIT ?'
)
_REPLY_CHAT = (  # the columns are the model's, not input
    'UPDATE "chats" SET "bot_fallbacks" = {fallbacks}, '  # noqa: S608
    '"bot_answered_id" = COALESCE(?, "bot_answered_id"), "last_message_at" = ?, '
    '"last_message_text" = ?, "last_message_sender" = ?, "activity_at" = ?, "updated_at" = ? '
    f'WHERE "id" = ? AND "mode" = \'bot\' RETURNING {columns.row(Chat)}'
)
BOT_REPLY = _REPLY_CHAT.format(fallbacks="0")
BOT_REPLY_FALLBACK = _REPLY_CHAT.format(fallbacks='"bot_fallbacks" + 1')
_QUEUED_GIVEN = ("chat_id", "text", "sources", "sender", "status", "created_at", "updated_at")
_QUEUED_DEFAULTS = columns.defaults(Message, _QUEUED_GIVEN)
INSERT_QUEUED = columns.insert(Message, (*_QUEUED_GIVEN, *_QUEUED_DEFAULTS), 'RETURNING "id"')
STATEMENTS = (
    PENDING_CHATS, LAST_CUSTOMER_MESSAGE, CONTEXT_CHAT, HISTORY_ROWS, BOT_REPLY,
    BOT_REPLY_FALLBACK, INSERT_QUEUED,
)  # fmt: skip

_QUEUED_DEFAULT_VALUES = tuple(_QUEUED_DEFAULTS.values())


@dataclass(frozen=True, slots=True)
class Answer:
    """A bot's reply to queue."""

    chat_id: int
    answered: int | None  # the customer message it answers (None: not known)
    text: str
    preview: str  # the chat list's preview of it
    fallback: bool  # the bot did not understand: counted on the chat
    fact: BotFact  # what the reports count of it (report_events), written with it
    # The knowledge-base articles it used, as stored (columns.db_value of Message.sources:
    # JSON text of [{"id", "title"}]), or None.
    sources: str | None = None


def stored_sources(sources: Sequence[dict[str, Any]]) -> str | None:
    """An answer's sources (``[{"id", "title"}]``) as :attr:`Answer.sources` stores them;
    None for none."""
    return columns.db_value(Message, "sources", list(sources)) if sources else None


def pending_plan(since: datetime) -> Plan[list[dict[str, Any]]]:
    """The newest customer message of each bot-mode chat the bot has not answered yet (a
    crash came between the message's commit and the answer), with its chat's channel and
    customer name. Pure.

    The bot's answers are queued after the messages stored meanwhile, so "the last message
    is the customer's" misses a chat whose customer wrote again in a burst; ``bot_answered_id``
    says which message the last answer was for. It is unset before the chat's first answer
    (and after a return to the bot): then the chat waits if its last message is the
    customer's."""
    chats = yield PENDING_CHATS, [since]
    found = []
    for chat in chats:
        rows = yield LAST_CUSTOMER_MESSAGE, [chat["id"]]
        if not rows:
            continue
        answered = chat["bot_answered_id"]
        waiting = chat["last_message_sender"] == Sender.CUSTOMER.value
        if waiting if answered is None else answered < rows[0]["id"]:
            found.append({**rows[0], "channel": chat["channel"],
                          "customer_name": chat["customer_name"]})  # fmt: skip
    return found


def context_plan(
    chat_id: int, message_id: int, history: int
) -> Plan[tuple[dict[str, Any], list[dict[str, Any]]] | None]:
    """The chat (if still in bot mode) and up to ``history`` messages before this one, newest
    first. Pure. On PostgreSQL, where each statement is a round trip, one statement reads both
    (:data:`CONTEXT_WITH_HISTORY`)."""
    if is_postgres():
        return _context_in_one(chat_id, message_id, history)
    return _context_in_two(chat_id, message_id, history)


def _context_in_one(
    chat_id: int, message_id: int, history: int
) -> Plan[tuple[dict[str, Any], list[dict[str, Any]]] | None]:
    rows = yield CONTEXT_WITH_HISTORY, [Mode.BOT.value, False, message_id, history, chat_id]
    if not rows or rows[0]["mode"] != Mode.BOT.value:
        return None
    chat = {name: rows[0][name] for name in _CONTEXT_COLUMNS}
    found = [{"sender": r["$sender"], "text": r["$text"]} for r in rows if r["$sender"]]
    return chat, found


def _context_in_two(
    chat_id: int, message_id: int, history: int
) -> Plan[tuple[dict[str, Any], list[dict[str, Any]]] | None]:
    chats = yield CONTEXT_CHAT, [chat_id]
    if not chats or chats[0]["mode"] != Mode.BOT.value:
        return None
    rows = yield HISTORY_ROWS, [chat_id, False, message_id, history]
    return chats[0], rows


_CONTEXT_COLUMNS = (
    "id", "mode", "channel", "customer_name", "customer_email", "sender_unverified",
    "bot_fallbacks",
)  # fmt: skip
# PostgreSQL: the chat (one row per message of its history, newest first; one row with no
# message when it has none or is not in bot mode).
_CONTEXT_ROW = columns.quoted(_CONTEXT_COLUMNS, '"c".')
CONTEXT_WITH_HISTORY = (  # the columns are the model's, not input
    f'SELECT {_CONTEXT_ROW}, "h"."sender" AS "$sender", '  # noqa: S608
    '"h"."text" AS "$text" FROM "chats" AS "c" LEFT JOIN LATERAL ('
    'SELECT "p"."id", "p"."sender", "p"."text" FROM "messages" AS "p" '
    'WHERE "p"."chat_id" = "c"."id" AND "c"."mode" = ? AND "p"."internal" = ? AND "p"."id" < ? '
    'ORDER BY "p"."id" DESC LIMIT ?) AS "h" ON TRUE WHERE "c"."id" = ? ORDER BY "h"."id" DESC'
)


def reply_plan(
    answers: Sequence[Answer], now: datetime
) -> Plan[list[tuple[dict[str, Any], int] | None]]:
    """Queue each answer unless a human took the chat meanwhile: the chat updated (only while
    in bot mode) and read back, then the message inserted; the chat row and the message id
    each (None: not queued). Pure (see ``storage.sql``). On PostgreSQL one statement per
    wave of answers to distinct chats (:func:`_reply_waves`)."""
    if is_postgres():
        return _reply_waves(answers, now)
    return _replies_one_by_one(answers, now)


def _replies_one_by_one(
    answers: Sequence[Answer], now: datetime
) -> Plan[list[tuple[dict[str, Any], int] | None]]:
    """:func:`reply_plan` two statements per answer (each runs in microseconds on SQLite),
    then the facts of those queued in one."""
    outcomes: list[tuple[dict[str, Any], int] | None] = []
    facts: list[Fact] = []
    for answer in answers:
        sql = BOT_REPLY_FALLBACK if answer.fallback else BOT_REPLY
        values = [answer.answered, now, answer.preview, Sender.BOT.value, now, now, answer.chat_id]
        rows = yield sql, values
        if not rows:
            outcomes.append(None)  # a human took over meanwhile: the bot stays silent
            continue
        inserted = yield INSERT_QUEUED, [
            answer.chat_id, answer.text, answer.sources, Sender.BOT.value, Status.QUEUED.value,
            now, now, *_QUEUED_DEFAULT_VALUES,
        ]  # fmt: skip
        outcomes.append((rows[0], int(inserted[0]["id"])))
        f = answer.fact
        facts.append(Fact(f.name, now, answer.chat_id, rows[0]["channel"], None, f.value,
                          f.business_value, f.detail))  # fmt: skip
    if facts:
        yield insert_facts(len(facts)), [value for fact in facts for value in fact.params()]
    return outcomes


# PostgreSQL runs a plan a statement at a time, each a round trip (see ``storage.sql``): there
# the answers go in waves (the longest prefix of them to distinct chats), each one statement
# that updates the wave's chats still in bot mode, queues an answer on each of those and
# writes its fact (report_events).
_ANSWER = (
    "chat_id", "answered", "preview", "fallback", "text", "sources", "ord", "fact", "value",
    "business", "detail",
)  # fmt: skip
_ANSWER_ROW = (
    "(?::integer, ?::integer, ?::text, ?::boolean, ?::text, ?::jsonb, ?::integer, ?::text, "
    "?::double precision, ?::double precision, ?::text)"
)
_QUEUED_COLUMNS = (*_QUEUED_GIVEN, *_QUEUED_DEFAULTS)
_CHAT_ROW = columns.row(Chat, '"c".')
REPLY_WAVE = (  # the columns are the model's, not input
    f'WITH "d" ({columns.quoted(_ANSWER)}) AS (VALUES {{answers}}), "upd" AS ('  # noqa: S608
    'UPDATE "chats" AS "c" SET "bot_fallbacks" = '
    'CASE WHEN "d"."fallback" THEN "c"."bot_fallbacks" + 1 ELSE 0 END, '
    '"bot_answered_id" = COALESCE("d"."answered", "c"."bot_answered_id"), '
    '"last_message_at" = ?, "last_message_text" = "d"."preview", "last_message_sender" = ?, '
    '"activity_at" = ?, "updated_at" = ? '
    'FROM "d" WHERE "c"."id" = "d"."chat_id" AND "c"."mode" = \'bot\' '
    f'RETURNING {_CHAT_ROW}), "ins" AS ('
    f'INSERT INTO "messages" ({columns.quoted(_QUEUED_COLUMNS)}) '
    'SELECT "upd"."id", "d"."text", "d"."sources", '  # then the rest of _QUEUED_COLUMNS
    + ", ".join("?" for _ in _QUEUED_COLUMNS[3:])
    + ' FROM "upd" JOIN "d" ON "d"."chat_id" = "upd"."id" ORDER BY "d"."ord" '  # noqa: S608
    'RETURNING "id", "chat_id"), "facts" AS ('
    f'INSERT INTO "{columns.table(ReportEvent)}" ({columns.quoted(FACT_COLUMNS)}) '
    'SELECT "d"."fact", ?, "upd"."id", "upd"."channel", NULL, "d"."value", "d"."business", '
    '"d"."detail" FROM "upd" JOIN "d" ON "d"."chat_id" = "upd"."id") '
    'SELECT "ins"."id" AS "$message", "upd".* FROM "upd" JOIN "ins" ON "ins"."chat_id" = "upd"."id"'
)

PG_STATEMENTS = (
    CONTEXT_WITH_HISTORY,
    REPLY_WAVE.format(answers=f"{_ANSWER_ROW}, {_ANSWER_ROW}"),
)


def _reply_waves(
    answers: Sequence[Answer], now: datetime
) -> Plan[list[tuple[dict[str, Any], int] | None]]:
    """:func:`reply_plan` on PostgreSQL (see above)."""
    outcomes: list[tuple[dict[str, Any], int] | None] = []
    while len(outcomes) < len(answers):
        wave: list[Answer] = []
        for answer in answers[len(outcomes) :]:
            if any(answer.chat_id == other.chat_id for other in wave):
                break
            wave.append(answer)
        values: list[Any] = []
        for ord_, a in enumerate(wave):
            f = a.fact
            values += [a.chat_id, a.answered, a.preview, a.fallback, a.text, a.sources, ord_]
            values += [f.name, f.value, f.business_value, f.detail]
        values += [now, Sender.BOT.value, now, now]
        values += [Sender.BOT.value, Status.QUEUED.value, now, now, *_QUEUED_DEFAULT_VALUES]
        values += [now]  # the facts' time
        sql = REPLY_WAVE.format(answers=", ".join(_ANSWER_ROW for _ in wave))
        queued = {int(row["id"]): row for row in (yield sql, values)}
        for answer in wave:
            row = queued.get(answer.chat_id)
            if row is None:
                outcomes.append(None)  # a human took over meanwhile: the bot stays silent
            else:
                message_id = int(row.pop("$message"))
                outcomes.append((row, message_id))
    return outcomes
