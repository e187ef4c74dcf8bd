"""Reports at scale: 100,000 chats and 1,000,000 messages over 90 days, every report route
timed over HTTP against the target p99 <= 200 ms (issue 21).

    .venv/bin/python -m bench.reports [--storage sqlite|postgres|both] [--chats 100000]
        [--messages 1000000] [--days 90] [--agents 20] [--requests 100] [--warmup 3]
        [--seed 21] [--postgres-url URL] [--save DIR] [--keep]

1. A fresh database (a SQLite file in /tmp, or a PostgreSQL database of its own on
   ``--postgres-url``'s server, dropped after) is migrated with ``msgcenter migrate``, then
   filled with bulk SQL (one transaction: executemany on SQLite, COPY on PostgreSQL; the
   indexes built once the rows are in): people (an admin and ``--agents`` agents), labels,
   customers on WhatsApp, Telegram and e-mail (contacts, their identities and one chat
   each) and their conversations, as the running service would have
   written them (docs/api.md, "Reports"): the bot answering (``bot_answer``) or not
   understanding (``bot_fallback``), conversations closed by the bot (``resolved``, ``bot``),
   handed off (``handed_off``) to the queue and taken from it (``assigned``, the wait) or
   taken over, the people's replies (``first_response``, ``reply``: the customer's wait),
   closed by a person (``resolved``, ``human``, the seconds since the handoff), reopened by
   the customer (``reopened``) for a second conversation; every change of mode with its
   transition and system note; a satisfaction survey (``csat_surveys``) for each
   conversation a person closed, its message, the rating and comment messages; labels on
   chats; the chats' conversation columns (``opened_at``, ``handed_off_at``,
   ``first_response_at``) and list columns as they would stand. ``business_value`` is the
   part of each duration within ``bot.business_hours``, counted as the service counts it
   (``bot.hours.Schedule.business_seconds``). The data spans ``--days`` days up to the
   start of today in the account's time zone (Asia/Jakarta here), so two runs on one day
   build the same rows.
2. ``msgcenter serve`` on it. Sequential GETs (one client, keep-alive), ``--requests`` of
   each case: ``/reports/summary`` grouped by day, week, channel, agent, label and hour,
   ``/reports/agents``, ``/reports/bot`` and ``/reports/csat``, as JSON and as CSV, over the
   last 30 whole days, as an admin and as an agent (the busiest one; agents get 403 from
   ``/reports/bot``, checked once); p50 and p99 of each against the target, and the CPU a
   request took (the server's and its PostgreSQL backends'), which the machine's other work
   changes far less than the wall time.
3. The summary's totals are checked against the counts the builder kept of what it wrote
   in the range; ``--save DIR`` writes every answer's body (to compare two runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from argon2 import PasswordHasher

from bench.common import (
    POSTGRES_URL,
    PYTHON,
    ROOT,
    Msgcenter,
    cpu_seconds,
    machine,
    pct,
    postgres_rows,
    rss_mb,
    stop,
)
from bot.hours import Schedule
from msgcenter.settings import load_settings

TIMEZONE = "Asia/Jakarta"
TARGET_P99 = 0.200
PASSWORD = "reports-bench-pw"
CHUNK = 2000  # chats generated and written at a time

CHANNELS = ("WhatsApp", "Telegram", "Email")
CHANNEL_WEIGHTS = (0.55, 0.30, 0.15)
# Chats created per hour of the day (the account's time zone): a shop's day.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 12, 12, 11, 10, 9, 9, 8, 6, 4, 2)
FIRST = ("Budi", "Sari", "Rina", "Agus", "Dewi", "Joko", "Maria", "Ahmed", "John", "Putri")
LAST = ("Santoso", "Wijaya", "Hassan", "Lopez", "Doe", "Saputra", "Lestari", "Kusuma")
LABELS = ("billing", "shipping", "returns", "complaint", "vip", "wholesale", "bug", "spam")
INTENTS = (
    ("shipping_id", "Berapa ongkir ke Surabaya?"),
    ("tracking_id", "Pesanan saya belum sampai, bisa dicek?"),
    ("payment_en", "Can I pay with GoPay?"),
    ("hours_en", "What time do you open?"),
    ("stock_id", "Apakah produk ini masih tersedia?"),
    ("returns_en", "How do I return an item?"),
    ("location_id", "Tokonya di mana ya?"),
    ("thanks_en", "Thanks!"),
)
ANSWER = "Thanks for asking! Here is what you need to know."
# The questions the bot does not understand: a few asked often, many rarely.
UNMATCHED = tuple(
    f"{topic} {detail}"
    for topic in ("apakah bisa kirim ke", "do you have", "bisa minta diskon untuk", "kapan restock")
    for detail in ("Papua", "size XL", "warna merah", "bundle", "grosir", "luar negeri",
                   "the blue one", "kode promo", "COD", "pre-order")
)  # fmt: skip
HANDOFF_REASONS = (("customer_asked", 0.6), ("intent_handoff", 0.25), ("not_understood", 0.15))
AGENT_TEXTS = (
    "Halo Kak, saya bantu cek ya.",
    "Sudah saya cek, paketnya sedang dalam perjalanan.",
    "Baik, refund sudah kami proses.",
    "Is there anything else I can help with?",
)
CUSTOMER_TEXTS = ("Oke kak", "Nomor pesanan INV-20931", "Sudah saya transfer", "Still waiting")
COMMENTS = ("Cepat dan ramah, terima kasih!", "Slow answer", "Mantap", "Could be better")

USERS = ("id", "username", "email", "password_hash", "role", "display_name", "capacity",
         "active", "token_version", "availability", "language", "preferences", "created_at",
         "updated_at")  # fmt: skip
LABEL_COLUMNS = ("id", "name", "colour", "description", "created_at", "updated_at")
CONTACTS = ("id", "name", "attributes", "first_seen_at", "created_at", "updated_at")
IDENTITIES = ("id", "contact_id", "channel", "external_id", "chat_id", "created_at")
CHATS = ("id", "channel", "external_id", "customer_name", "contact_id", "customer_phone",
         "customer_email", "customer_username", "subject", "mode", "online", "unread_count",
         "assigned_agent_id", "queued_at", "last_message_at", "last_customer_message_at",
         "last_message_text", "last_message_sender", "activity_at", "bot_fallbacks",
         "bot_answered_id", "handoff_reason", "handoff_reason_code", "sender_unverified",
         "priority", "label_ids", "watchers", "opened_at", "handed_off_at",
         "first_response_at", "created_at", "updated_at")  # fmt: skip
CHAT_LABELS = ("id", "chat_id", "label_id", "created_at")
MESSAGES = ("id", "chat_id", "text", "sender", "status", "internal", "external_id", "agent_id",
            "attachments", "media_pending", "interactive", "note", "attempts", "created_at",
            "updated_at")  # fmt: skip
TRANSITIONS = ("id", "chat_id", "action", "from_mode", "to_mode", "from_agent_id",
               "to_agent_id", "actor_kind", "actor_id", "reason", "created_at")  # fmt: skip
FACTS = ("id", "name", "at", "chat_id", "channel", "agent_id", "value", "business_value",
         "detail")  # fmt: skip
SURVEYS = ("id", "chat_id", "channel", "agent_id", "opened_at", "sent_at", "status",
           "message_id", "rating", "rated_at", "comment", "commented_at")  # fmt: skip
# Children first: the order rows are written in (parents before the rows naming them).
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("users", USERS),
    ("labels", LABEL_COLUMNS),
    ("contacts", CONTACTS),
    ("chats", CHATS),
    ("contact_identities", IDENTITIES),
    ("chat_labels", CHAT_LABELS),
    ("messages", MESSAGES),
    ("chat_transitions", TRANSITIONS),
    ("report_events", FACTS),
    ("csat_surveys", SURVEYS),
)

Row = tuple[Any, ...]
Rows = dict[str, list[Row]]


@dataclass
class Expected:
    """What the builder wrote within the measured range (the summary's totals)."""

    start: datetime
    end: datetime
    counts: Counter[str] = field(default_factory=Counter)

    def fact(self, name: str, at: datetime, detail: str | None = None) -> None:
        if self.start <= at < self.end:
            self.counts[name] += 1
            if name == "resolved" and detail == "bot":
                self.counts["bot_resolved"] += 1
            if name == "reopened":
                self.counts["opened"] += 1

    def created(self, at: datetime) -> None:
        if self.start <= at < self.end:
            self.counts["opened"] += 1


@dataclass
class Chat:
    """A chat's state while its conversations are generated."""

    id: int
    channel: str
    created_at: datetime
    mode: str = "bot"
    agent: int | None = None
    queued_at: datetime | None = None
    opened_at: datetime | None = None
    handed_off_at: datetime | None = None
    first_response_at: datetime | None = None
    last_text: str = ""
    last_sender: str = "customer"
    last_at: datetime | None = None
    last_customer_at: datetime | None = None
    unread: int = 0
    fallbacks: int = 0
    bot_answered_id: int | None = None
    reason: str | None = None
    reason_code: str | None = None
    external_seq: int = 0


class Builder:
    """Generates the rows, ``CHUNK`` chats at a time, as they would have been written."""

    def __init__(
        self,
        *,
        chats: int,
        messages: int,
        days: int,
        agents: list[int],
        end: datetime,
        business: Schedule,
        expected: Expected,
        seed: int,
        time_value: Callable[[datetime], Any],
    ) -> None:
        self.rng = random.Random(seed)
        self.n = chats
        self.agents = agents
        # The busiest agents get the most chats.
        self.agent_weights = [1.0 / (k + 1) ** 0.5 for k in range(len(agents))]
        self.end = end
        self.business = business
        self.expected = expected
        self.t = time_value
        start = end - timedelta(days=days)
        self.created = sorted(self._created_at(start, days) for _ in range(chats))
        self.budgets = self._budgets(chats, messages)
        self.ids: Counter[str] = Counter()
        # Messages a chat did not write (it was still open, or the range ended): the next
        # chats write them, so the total stays ``messages`` up to the last day's chats.
        self.carry = 0
        self.rows: Rows = {}

    def _created_at(self, start: datetime, days: int) -> datetime:
        rng = self.rng
        zone = ZoneInfo(TIMEZONE)
        day = (start.astimezone(zone) + timedelta(days=rng.randrange(days))).date()
        hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
        local = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
        seconds = rng.random() * 3600
        return (local + timedelta(seconds=seconds)).astimezone(UTC)

    def _budgets(self, chats: int, messages: int) -> list[int]:
        """Messages per chat: ``messages`` in all, at least 3 a chat, spread around the mean."""
        rng = self.rng
        base = messages // chats
        budgets = [base] * chats
        for i in range(0, chats - 1, 2):
            room = max(0, min(base - 3, base // 2))
            d = rng.randint(-room, room) if room else 0
            budgets[i] += d
            budgets[i + 1] -= d
        for i in range(messages - base * chats):
            budgets[i] += 1
        return budgets

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def add(self, table: str, row: Row) -> None:
        self.rows[table].append(row)

    # -- the pieces of a conversation ---------------------------------------------------

    def message(
        self,
        c: Chat,
        at: datetime,
        sender: str,
        text: str,
        *,
        agent: int | None = None,
        note: dict[str, Any] | None = None,
        interactive: dict[str, Any] | None = None,
    ) -> int:
        mid = self.next_id("messages")
        when = self.t(at)
        external: str | None = None
        if sender == "customer":
            c.external_seq += 1
            external = f"in-{c.id}-{c.external_seq}"
            status = "read"
            c.last_customer_at = at
            c.unread += 1
        elif sender == "system":
            status = "sent"
        else:
            external = f"out-{mid}"
            status = "read"
            c.unread = 0
        self.add(
            "messages",
            (mid, c.id, text, sender, status, sender == "system", external, agent, "[]", False,
             json.dumps(interactive) if interactive else None,
             json.dumps(note) if note else None, 1 if external and sender != "customer" else 0,
             when, when),
        )  # fmt: skip
        if sender != "system":
            c.last_text, c.last_sender = text[:200], sender
        c.last_at = at
        return mid

    def transition(
        self,
        c: Chat,
        at: datetime,
        action: str,
        to_mode: str,
        *,
        to_agent: int | None,
        actor_kind: str,
        actor_id: int | None = None,
        reason: str | None = None,
    ) -> None:
        note = {"action": action, "by": actor_id, "by_kind": actor_kind, "to": to_agent,
                "from": c.agent, "reason": reason, "reason_text": None}  # fmt: skip
        self.add(
            "chat_transitions",
            (self.next_id("chat_transitions"), c.id, action, c.mode, to_mode, c.agent, to_agent,
             actor_kind, actor_id, reason, self.t(at)),
        )  # fmt: skip
        self.message(c, at, "system", f"{action}: {c.mode} -> {to_mode}", note=note)
        c.mode, c.agent = to_mode, to_agent

    def fact(
        self,
        c: Chat,
        name: str,
        at: datetime,
        *,
        agent: int | None = None,
        since: datetime | None = None,
        detail: str | None = None,
    ) -> None:
        value = business = None
        if since is not None:
            value = round((at - since).total_seconds(), 3)
            business = self.business.business_seconds(since, at)
        self.rows["report_events"].append(
            (0, name, at, c.id, c.channel, agent, value, business, detail)
        )
        self.expected.fact(name, at, detail)

    def gap(self, median: float, spread: float = 1.0) -> timedelta:
        return timedelta(seconds=max(0.2, self.rng.lognormvariate(0, spread) * median))

    def bot_pair(self, c: Chat, at: datetime, *, greet: bool = False) -> datetime:
        """The customer asks; the bot answers (an intent) or does not understand; ``greet``:
        the customer's first message, greeted first (a bot answer without an intent)."""
        rng = self.rng
        asked = at
        if greet:
            self.message(c, asked, "customer", "Halo, selamat siang")
            at = asked + self.gap(0.5, 0.3)
            self.message(c, at, "bot", "Hi, welcome! 👋")
            self.fact(c, "bot_answer", at, since=asked)
        if rng.random() < 0.18:
            text = rng.choice(UNMATCHED[: 8 if rng.random() < 0.6 else None])
            if not greet:
                self.message(c, asked, "customer", text)
            answered = at + self.gap(1.2, 0.5)
            mid = self.message(c, answered, "bot", "Sorry, I did not get that.")
            self.fact(c, "bot_fallback", answered, since=asked, detail=text)
            c.fallbacks += 1
        else:
            intent, text = rng.choice(INTENTS)
            if not greet:
                self.message(c, asked, "customer", text)
            answered = at + self.gap(0.9, 0.5)
            mid = self.message(c, answered, "bot", ANSWER)
            self.fact(c, "bot_answer", answered, since=asked, detail=intent)
        c.bot_answered_id = mid
        return answered

    def over(self, at: datetime) -> bool:
        return at >= self.end

    def bot_conversation(self, c: Chat, at: datetime, budget: int, stays_open: bool) -> datetime:
        """Questions the bot answers, then (unless it stays open) closed for idleness."""
        rest = budget - 1  # the close's system note
        greet = rest % 2 == 1  # an odd count: the first message is greeted too
        for k in range(rest // 2):
            if self.over(at):
                return at
            at = self.bot_pair(c, at, greet=greet and k == 0) + self.gap(60)
        closed = at + self.gap(1800)
        if stays_open or self.over(closed):
            return at
        self.transition(c, closed, "close", "closed", to_agent=None, actor_kind="system")
        self.fact(c, "resolved", closed, detail="bot")
        return closed

    def human_conversation(
        self, c: Chat, at: datetime, budget: int, stays_open: bool, opened: datetime
    ) -> datetime:
        """The bot first, a handoff (to the queue, or taken over), the people's replies, the
        close and its survey."""
        rng = self.rng
        agent = rng.choices(self.agents, self.agent_weights)[0]
        queued = rng.random() < 0.7
        fixed = 3 + (1 if queued else 0) + 1  # ask, handoff note, [assign note], reply, close
        survey = 0
        if c.channel != "Email":
            survey = 1 + (rng.random() < 0.45) + (rng.random() < 0.15)
        bot_pairs = min(rng.randint(0, 2), max(0, (budget - fixed - survey - 2) // 2))
        rest = budget - fixed - survey - 2 * bot_pairs  # the exchanges with the person
        if rest < 0:
            survey = max(0, survey + rest)
            rest = 0
        for _ in range(bot_pairs):
            at = self.bot_pair(c, at) + self.gap(40)
        if self.over(at):
            return at
        # The customer's message that reaches human hands at the handoff.
        code = rng.choices([r for r, _ in HANDOFF_REASONS], [w for _, w in HANDOFF_REASONS])[0]
        self.message(c, at, "customer", "Saya mau bicara dengan CS" if queued else "Tolong")
        handoff = at + self.gap(1.5, 0.4)
        if queued:
            self.transition(c, handoff, "handoff", "agent", to_agent=None, actor_kind="bot",
                            reason=code)  # fmt: skip
            c.queued_at, c.reason, c.reason_code = handoff, "customer asked", code
            self.fact(c, "handed_off", handoff, detail=code)
        else:
            self.transition(c, handoff, "take_over", "agent", to_agent=agent,
                            actor_kind="person", actor_id=agent)  # fmt: skip
            self.fact(c, "handed_off", handoff, agent=agent, detail="take_over")
        c.handed_off_at = handoff
        at = handoff
        if queued:
            taken = handoff + self.gap(120, 1.2)
            if self.over(taken):
                return at
            self.transition(c, taken, "claim", "agent", to_agent=agent, actor_kind="person",
                            actor_id=agent)  # fmt: skip
            c.queued_at = None
            self.fact(c, "assigned", taken, agent=agent, since=handoff, detail="claim")
            at = taken
        waiting: datetime | None = handoff  # the customer waits since the handoff
        first = True
        for k in range(rest + 1):
            if waiting is None:  # the customer writes
                at = at + self.gap(90, 1.0)
                if self.over(at):
                    return at
                self.message(c, at, "customer", CUSTOMER_TEXTS[k % len(CUSTOMER_TEXTS)])
                waiting = at
            else:  # the person replies
                at = at + self.gap(75 if first else 45, 1.1)
                if self.over(at):
                    return at
                self.message(c, at, "agent", AGENT_TEXTS[k % len(AGENT_TEXTS)], agent=agent)
                if first:
                    self.fact(c, "first_response", at, agent=agent, since=waiting)
                    c.first_response_at = at
                    first = False
                self.fact(c, "reply", at, agent=agent, since=waiting)
                waiting = None
        closed = at + self.gap(600, 1.0)
        if stays_open or self.over(closed):
            return at
        self.transition(c, closed, "close", "closed", to_agent=agent, actor_kind="person",
                        actor_id=agent)  # fmt: skip
        self.fact(c, "resolved", closed, agent=agent, since=handoff, detail="human")
        self.survey(c, closed, opened, agent, survey)
        return closed

    def survey(self, c: Chat, closed: datetime, opened: datetime, agent: int, budget: int) -> None:
        """The survey of a conversation a person closed: its message (not e-mail's), then
        maybe a rating and a comment (e-mail's come from the page: no message)."""
        rng = self.rng
        sid = self.next_id("csat_surveys")
        window = (
            c.channel == "WhatsApp"
            and c.last_customer_at is not None
            and (closed - c.last_customer_at > timedelta(hours=24))
        )
        if window or (c.channel != "Email" and budget == 0):
            row = (sid, c.id, c.channel, agent, self.t(opened), self.t(closed), "not_sent")
            self.add("csat_surveys", (*row, None, None, None, None, None))
            return
        message_id = None
        if c.channel != "Email":
            options = [{"id": f"csat:{sid}:{n}", "title": "⭐" * n} for n in range(5, 0, -1)]
            interactive = {"kind": "csat", "survey_id": sid, "options": options}
            message_id = self.message(c, closed, "bot", "How did we do? Rate us 1-5",
                                      interactive=interactive)  # fmt: skip
            budget -= 1
        rates = budget >= 1 if c.channel != "Email" else rng.random() < 0.45
        status, rating, rated_at, comment, commented_at = "sent", None, None, None, None
        if rates:
            rated = closed + self.gap(900, 1.2)
            if rated < self.end:
                rating = rng.choices((1, 2, 3, 4, 5), (4, 3, 8, 25, 60))[0]
                status, rated_at = "rated", rated
                if c.channel != "Email":
                    self.message(c, rated, "customer", str(rating))
                    budget -= 1
                comments = budget >= 1 if c.channel != "Email" else rng.random() < 0.3
                commented = rated + self.gap(120, 0.5)
                if comments and commented < self.end:
                    comment = rng.choice(COMMENTS)
                    status, commented_at = "commented", commented
                    if c.channel != "Email":
                        self.message(c, commented, "customer", comment)
        self.add(
            "csat_surveys",
            (sid, c.id, c.channel, agent, self.t(opened), self.t(closed), status, message_id,
             rating, self.t(rated_at) if rated_at else None, comment,
             self.t(commented_at) if commented_at else None),
        )  # fmt: skip

    # -- a chat ---------------------------------------------------------------------------

    def chat(self, i: int) -> None:
        rng = self.rng
        created = self.created[i - 1]
        channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        c = Chat(i, channel, created)
        extra = min(self.carry, 12)
        budget = self.budgets[i - 1] + extra
        self.carry -= extra
        written = self.ids["messages"]
        conversations = [budget]
        if budget >= 8 and rng.random() < 0.06:  # the customer comes back after a close
            first = rng.randint(3, budget - 5)
            conversations = [first, budget - first]
        self.expected.created(created)
        at, opened = created, created
        for k, share in enumerate(conversations):
            if k:
                if c.mode != "closed":
                    break
                at = at + timedelta(days=rng.uniform(1, 10))
                if self.over(at):
                    break
                opened = at
                self.message(c, at, "customer", "Halo, saya mau tanya lagi")
                self.transition(c, at, "customer_wrote", "bot", to_agent=None,
                                actor_kind="customer")  # fmt: skip
                self.fact(c, "reopened", at, detail="customer_wrote")
                c.opened_at, c.handed_off_at, c.first_response_at = at, None, None
                c.reason = c.reason_code = None
                at += self.gap(5)
                share -= 2
            stays_open = rng.random() < 0.04
            if share >= 7 and rng.random() < 0.45:
                at = self.human_conversation(c, at, share, stays_open, opened)
            else:
                at = self.bot_conversation(c, at, max(share, 1), stays_open)
        self.carry += budget - (self.ids["messages"] - written)
        self._chat_rows(c, rng)

    def _chat_rows(self, c: Chat, rng: random.Random) -> None:
        i = c.id
        first, last = FIRST[i % len(FIRST)], LAST[(i // 10) % len(LAST)]
        name = f"{first} {last} {i}"
        phone = email = username = subject = None
        if c.channel == "WhatsApp":
            external = phone = f"62812{i:07d}"
            identity = f"+{phone}"
            phone = identity
        elif c.channel == "Telegram":
            external = identity = str(100_000_000 + i)
            username = f"{first.lower()}{i}"
        else:
            external = identity = email = f"customer{i}@example.com"
            subject = "Order question"
        labels = rng.sample(range(1, len(LABELS) + 1), rng.choices((0, 1, 2), (4, 4, 2))[0])
        created = self.t(c.created_at)
        last_at = c.last_at or c.created_at
        self.add("contacts", (i, name, "{}", created, created, created))
        self.add("contact_identities", (i, i, c.channel, identity, i, created))
        for label in labels:
            self.add("chat_labels", (self.next_id("chat_labels"), i, label, created))
        self.add(
            "chats",
            (i, c.channel, external, name, i, phone, email, username, subject, c.mode, False,
             c.unread if c.last_sender == "customer" else 0, c.agent,
             self.t(c.queued_at) if c.queued_at else None, self.t(last_at),
             self.t(c.last_customer_at) if c.last_customer_at else None, c.last_text,
             c.last_sender, self.t(last_at), c.fallbacks, c.bot_answered_id, c.reason,
             c.reason_code, False, 0, json.dumps(labels), "[]",
             self.t(c.opened_at) if c.opened_at else None,
             self.t(c.handed_off_at) if c.handed_off_at else None,
             self.t(c.first_response_at) if c.first_response_at else None, created,
             self.t(last_at)),
        )  # fmt: skip

    def chunks(self) -> Iterator[Rows]:
        """The rows, ``CHUNK`` chats at a time (facts numbered in the order of their time)."""
        for lo in range(1, self.n + 1, CHUNK):
            self.rows = {table: [] for table, _ in TABLES}
            for i in range(lo, min(lo + CHUNK, self.n + 1)):
                self.chat(i)
            facts = sorted(self.rows["report_events"], key=lambda row: row[2])
            self.rows["report_events"] = [
                (self.next_id("report_events"), name, self.t(at), *rest)
                for _, name, at, *rest in facts
            ]
            yield self.rows


def people(agents: int, time_value: Callable[[datetime], Any]) -> tuple[Rows, list[int]]:
    """An admin and the agents (one password, hashed once), and the labels."""
    hasher = PasswordHasher(time_cost=1, memory_cost=1024)
    password_hash = hasher.hash(PASSWORD)
    now = time_value(datetime.now(UTC))
    users: list[Row] = [(1, "admin", None, password_hash, "admin", "Admin", 5, True, 0, "online",
                         "en", "{}", now, now)]  # fmt: skip
    for k in range(1, agents + 1):
        name = f"{FIRST[k % len(FIRST)]} {LAST[k % len(LAST)]}"
        users.append((k + 1, f"agent{k}", None, password_hash, "agent", name, 8, True, 0,
                      "online", "en", "{}", now, now))  # fmt: skip
    labels = [(k, name, "#6b7280", "", now, now) for k, name in enumerate(LABELS, 1)]
    return {"users": users, "labels": labels}, [k + 1 for k in range(1, agents + 1)]


def insert_sql(table: str, columns: Sequence[str]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(columns))
    return f'INSERT INTO "{table}" ({names}) VALUES ({marks})'  # noqa: S608 (our own names)


@dataclass
class Built:
    seconds: float
    counts: Counter[str]
    size_mb: float
    expected: Expected


def sqlite_time(value: datetime) -> str:
    """A time as Tortoise stores it in SQLite (``storage.sql.time_param``)."""
    return value.isoformat(" ")


def build_sqlite(path: Path, a: argparse.Namespace, business: Schedule, expected: Expected,
                 end: datetime) -> Built:  # fmt: skip
    started = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")
    fixed, agents = people(a.agents, sqlite_time)
    builder = Builder(chats=a.chats, messages=a.messages, days=a.days, agents=agents, end=end,
                      business=business, expected=expected, seed=a.seed,
                      time_value=sqlite_time)  # fmt: skip
    counts: Counter[str] = Counter()
    db.execute("BEGIN")
    # The indexes are built once the rows are in (faster than row by row); the unique
    # constraints' own stay.
    names = ", ".join(f"'{table}'" for table, _ in TABLES)
    listed = f"SELECT name, sql FROM sqlite_master WHERE tbl_name IN ({names}) "  # noqa: S608
    indexes = db.execute(listed + "AND type = 'index' AND sql IS NOT NULL").fetchall()
    for name, _ in indexes:
        db.execute(f'DROP INDEX "{name}"')
    for table, columns in TABLES:
        if table in fixed:
            db.executemany(insert_sql(table, columns), fixed[table])
            counts[table] += len(fixed[table])
    for rows in builder.chunks():
        for table, columns in TABLES:
            if rows.get(table):
                db.executemany(insert_sql(table, columns), rows[table])
                counts[table] += len(rows[table])
    for _, sql in indexes:
        db.execute(sql)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = path.stat().st_size / 2**20
    return Built(time.perf_counter() - started, counts, size, expected)


async def build_postgres(url: str, a: argparse.Namespace, business: Schedule,
                         expected: Expected, end: datetime) -> Built:  # fmt: skip
    import asyncpg

    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        fixed, agents = people(a.agents, lambda value: value)
        builder = Builder(chats=a.chats, messages=a.messages, days=a.days, agents=agents,
                          end=end, business=business, expected=expected, seed=a.seed,
                          time_value=lambda value: value)  # fmt: skip
        counts: Counter[str] = Counter()
        async with conn.transaction():
            # The rows are whole: the foreign keys' triggers are not run for each row.
            await conn.execute("SET LOCAL session_replication_role = replica")
            # The indexes are built once the rows are in; the constraints' own stay.
            indexes = await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "AND tablename = ANY($1::text[]) "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
                [table for table, _ in TABLES],
            )
            for index in indexes:
                await conn.execute(f'DROP INDEX "{index["indexname"]}"')
            for table, columns in TABLES:
                if table in fixed:
                    await conn.copy_records_to_table(table, records=fixed[table], columns=columns)
                    counts[table] += len(fixed[table])
            for rows in builder.chunks():
                for table, columns in TABLES:
                    if rows.get(table):
                        await conn.copy_records_to_table(
                            table, records=rows[table], columns=columns
                        )
                        counts[table] += len(rows[table])
            for index in indexes:
                await conn.execute(index["indexdef"])
            for table, _ in TABLES:
                top = f'(SELECT COALESCE(MAX("id"), 0) + 1 FROM "{table}")'  # noqa: S608
                sequence = f"pg_get_serial_sequence('\"{table}\"', 'id')"
                await conn.execute(f"SELECT setval({sequence}, {top}, false)")
        # As autovacuum would soon (and not in the middle of the measurements): the
        # statistics, and the visibility map that lets index-only scans skip the table.
        await conn.execute("VACUUM ANALYZE")
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return Built(time.perf_counter() - started, counts, int(size) / 2**20, expected)


# -- the measurements --------------------------------------------------------------------


@dataclass
class Case:
    label: str
    path: str
    role: str  # "admin" | "agent"
    csv: bool = False


def cases(first: date, last: date, agent_ok: bool) -> list[Case]:
    span = f"from={first.isoformat()}&to={last.isoformat()}"
    out: list[Case] = []
    for role in ("admin", "agent"):
        for group in ("day", "week", "channel", "agent", "label", "hour"):
            summary = f"/reports/summary?{span}&group_by={group}"
            out.append(Case(f"summary group_by={group}", summary, role))
        summary = f"/reports/summary?{span}&group_by=day&format=csv"
        out.append(Case("summary group_by=day CSV", summary, role, True))
        out.append(Case("agents", f"/reports/agents?{span}", role))
        out.append(Case("agents CSV", f"/reports/agents?{span}&format=csv", role, True))
        if role == "admin" or not agent_ok:
            out.append(Case("bot", f"/reports/bot?{span}", role))
            out.append(Case("bot CSV", f"/reports/bot?{span}&format=csv", role, True))
        out.append(Case("csat", f"/reports/csat?{span}", role))
        out.append(Case("csat CSV", f"/reports/csat?{span}&format=csv", role, True))
    return out


async def login(session: aiohttp.ClientSession, base: str, username: str) -> str:
    async with session.post(
        f"{base}/auth/login", json={"identifier": username, "password": PASSWORD}
    ) as r:
        if r.status != 200:
            raise RuntimeError(f"login {username}: {r.status} {await r.text()}")
        return str((await r.json())["access_token"])


@dataclass
class Timing:
    case: Case
    latencies: list[float]
    errors: int
    first_error: str | None
    size: int
    body: bytes
    cpu: float  # CPU seconds a request: the server's and its PostgreSQL backends'

    @property
    def p99(self) -> float:
        return pct(self.latencies, 99)

    def line(self) -> str:
        lat = self.latencies
        verdict = "ok" if self.p99 <= TARGET_P99 and not self.errors else "OVER"
        if self.errors:
            verdict = f"ERRORS {self.errors}: {self.first_error}"
        return (
            f"  {self.case.role:<5} {self.case.label:<28} p50 {pct(lat, 50) * 1000:7.1f} ms  "
            f"p99 {self.p99 * 1000:7.1f} ms  CPU {self.cpu * 1000:6.1f} ms  "
            f"{self.size / 1024:6.1f} KiB  {verdict}"
        )


class Cpu:
    """CPU time used by the server and (PostgreSQL) the backends serving its database: what
    a request costs, apart from what the machine's other work adds to its wall time."""

    def __init__(self, mc: Msgcenter) -> None:
        self.mc = mc

    def pids(self) -> list[int]:
        pids = [self.mc.pid]
        if self.mc.storage == "postgres":
            mine = f"datname = '{self.mc.database}'"
            sql = "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND "
            found = postgres_rows(self.mc.postgres_url, sql + mine)
            pids += [int(pid) for (pid,) in found]
        return pids

    def read(self) -> dict[int, float]:
        used = {}
        for pid in self.pids():
            try:
                used[pid] = cpu_seconds(pid)
            except OSError:  # a backend that ended
                continue
        return used

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


async def timed(
    session: aiohttp.ClientSession,
    base: str,
    case: Case,
    token: str,
    n: int,
    warmup: int,
    cpu: Cpu,
) -> Timing:
    headers = {"Authorization": f"Bearer {token}"}
    lat: list[float] = []
    errors, first_error, body = 0, None, b""
    before: dict[int, float] = {}
    for k in range(warmup + n):
        if k == warmup:
            before = cpu.read()
        t0 = time.perf_counter()
        async with session.get(base + case.path, headers=headers) as r:
            raw = await r.read()
            status, ctype = r.status, r.headers.get("Content-Type", "")
        elapsed = time.perf_counter() - t0
        wrong = status != 200 or (("text/csv" in ctype) != case.csv)
        if wrong:
            errors += 1
            first_error = first_error or f"HTTP {status} {ctype}: {raw[:160]!r}"
        if k >= warmup:
            lat.append(elapsed)
        body = raw
    spent = Cpu.spent(before, cpu.read())
    lat.sort()
    return Timing(case, lat, errors, first_error, len(body), body, spent / max(1, n))


def check_totals(summary: dict[str, Any], expected: Expected) -> list[str]:
    """The summary's totals against what the builder wrote in the range."""
    totals = summary.get("totals", {})
    problems = []
    for name in ("opened", "reopened", "handed_off", "resolved", "bot_resolved"):
        got, want = totals.get(name), expected.counts[name]
        if got != want:
            problems.append(f"{name}: the API says {got}, the builder wrote {want}")
    fr = totals.get("first_response_seconds") or {}
    if fr.get("count") != expected.counts["first_response"]:
        problems.append(f"first_response_seconds.count: {fr.get('count')}, "
                        f"the builder wrote {expected.counts['first_response']}")  # fmt: skip
    return problems


def save(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)


async def measure(mc: Msgcenter, a: argparse.Namespace, first: date, last: date,
                  expected: Expected, label: str) -> bool:  # fmt: skip
    ok = True
    async with aiohttp.ClientSession() as session:
        admin = await login(session, mc.base, "admin")
        agent = await login(session, mc.base, "agent1")
        tokens = {"admin": admin, "agent": agent}
        cpu = Cpu(mc)
        span = f"from={first.isoformat()}&to={last.isoformat()}"
        async with session.get(f"{mc.base}/reports/bot?{span}",
                               headers={"Authorization": f"Bearer {agent}"}) as r:  # fmt: skip
            agent_forbidden = r.status == 403
            if not agent_forbidden:
                print(f"  note: an agent's /reports/bot answered {r.status}, not 403")
        print(f"== {label}: {a.requests} sequential requests a case after {a.warmup} to warm "
              f"up (one client, keep-alive), {span}, timezone {TIMEZONE}; load average "
              f"{os.getloadavg()[0]:.1f}")  # fmt: skip
        results: list[Timing] = []
        for case in cases(first, last, agent_forbidden):
            t = await timed(session, mc.base, case, tokens[case.role], a.requests, a.warmup, cpu)
            results.append(t)
            print(t.line(), flush=True)
            if a.save:
                name = f"{label}-{case.role}-{case.label}".replace(" ", "_").replace("=", "-")
                save(Path(a.save) / (name + (".csv" if case.csv else ".json")), t.body)
    errors = [t for t in results if t.errors]
    over = [t for t in results if t.p99 > TARGET_P99]
    worst = max(results, key=lambda t: t.p99)
    print(f"  {label}: {len(results)} cases, {len(over)} over the target p99 <= "
          f"{TARGET_P99 * 1000:.0f} ms, {len(errors)} with errors; slowest p99 "
          f"{worst.p99 * 1000:.1f} ms ({worst.case.role} {worst.case.label}); server RSS "
          f"{rss_mb(mc.pid):.0f} MB; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    ok = ok and not errors
    day = next(t for t in results if t.case.role == "admin" and t.case.label.endswith("=day"))
    if not day.errors:
        problems = check_totals(json.loads(day.body), expected)
        if problems:
            print("  totals differ from the builder's counts: " + "; ".join(problems))
        else:
            print("  totals (opened, reopened, handed_off, resolved, bot_resolved, first "
                  "responses) equal the builder's counts in the range")  # fmt: skip
    return ok


def schedule() -> Schedule:
    env = {**os.environ, "MSGCENTER_CONFIG": str(ROOT / "config.toml")}
    return load_settings(ROOT / "config.toml", env).bot.schedule()


async def run(storage: str, a: argparse.Namespace) -> bool:
    zone = ZoneInfo(TIMEZONE)
    today = datetime.now(zone).date()
    end = datetime(today.year, today.month, today.day, tzinfo=zone).astimezone(UTC)
    first, last = today - timedelta(days=30), today - timedelta(days=1)
    range_start = datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(UTC)
    expected = Expected(range_start, end)
    work = Path(tempfile.mkdtemp(prefix="msgcenter-reports-"))
    mc = Msgcenter(work, storage=storage, postgres_url=a.postgres_url, extra_env={
        "MSGCENTER_EVENTS__URL": "memory://",
        "MSGCENTER_REPORTS__TIMEZONE": TIMEZONE,
    })  # fmt: skip
    try:
        if storage == "postgres":
            postgres_rows(mc.postgres_url, f'CREATE DATABASE "{mc.database}"')
            mc.database_created = True
        t0 = time.perf_counter()
        subprocess.run([PYTHON, "-m", "msgcenter.cli", "migrate"], cwd=ROOT, env=mc.env(),
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        migrated = time.perf_counter() - t0
        business = schedule()
        if storage == "postgres":
            built = await build_postgres(mc.storage_url, a, business, expected, end)
        else:
            built = build_sqlite(mc.db_path, a, business, expected, end)
        rows = ", ".join(f"{n:,} {table}" for table, n in built.counts.items())
        print(f"{storage}: migrated in {migrated:.1f} s; built in {built.seconds:.1f} s "
              f"({rows}); database {built.size_mb:.0f} MB")  # fmt: skip
        in_range = ", ".join(f"{n:,} {k}" for k, n in sorted(expected.counts.items()))
        print(f"  in the measured range: {in_range}")
        await mc.start()
        return await measure(mc, a, first, last, expected, storage)
    finally:
        if a.keep:
            mc.stop()
            stop(mc.mock)
            kept = mc.storage_url if storage == "postgres" else str(work)
            print(f"  kept {kept} (drop it yourself)")
        else:
            mc.stop_all()
            shutil.rmtree(work, ignore_errors=True)


async def main_async(a: argparse.Namespace) -> int:
    print(f"machine: {machine()}")
    storages = ["sqlite", "postgres"] if a.storage == "both" else [a.storage]
    ok = True
    for storage in storages:
        ok = await run(storage, a) and ok
    return 0 if ok else 1


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--storage", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--chats", type=int, default=100_000)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=90, help="days the data spans (up to today)")
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--requests", type=int, default=100, help="timed requests a case")
    ap.add_argument("--warmup", type=int, default=3, help="untimed requests a case first")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--postgres-url", default=POSTGRES_URL,
                    help="a server where the database is created (and dropped after)")  # fmt: skip
    ap.add_argument("--save", help="write every answer's body into this folder")
    ap.add_argument(
        "--keep", action="store_true", help="keep the SQLite folder or the PostgreSQL database"
    )
    a = ap.parse_args()
    if not (1 <= a.chats <= 1_000_000 and 3 * a.chats <= a.messages <= 20_000_000
            and 31 <= a.days <= 3650 and 1 <= a.agents <= 500 and 1 <= a.requests <= 10_000
            and 0 <= a.warmup <= 100):  # fmt: skip
        sys.exit("out of bounds (at least 3 messages a chat, 31 days or more)")
    sys.exit(asyncio.run(main_async(a)))


if __name__ == "__main__":
    main()
