"""Crash safety (short version of bench/crash.py): SIGKILL during a webhook stream, restart,
Meta's redelivery; nothing acknowledged is lost, nothing is stored twice, no reply is lost."""

from __future__ import annotations

import random

import pytest

from bench.crash import crash_once
from connectors.base import InboundMessage
from storage.models import Message, Sender
from tests.support import Api


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_killed_server_loses_and_doubles_nothing(seed: int) -> None:
    report = await crash_once(400, 40, 8, random.Random(seed), kill_window=1.5)
    print("\n".join(report.lines()))
    assert report.stored == 400
    assert report.bot_replies >= 40  # every customer answered at least once
    assert not report.problems, report.problems


async def test_the_bot_answers_what_a_crash_left_unanswered(admin: Api) -> None:
    """A message committed but not yet answered when the process died gets its answer after
    the restart (here: the reaction is dropped, then the start-up check finds the chat)."""
    core = admin.service.core
    assert core.autopilot is not None
    reactions = list(core.inbox.reactions)
    core.inbox.reactions.clear()  # as if the process died right after the commit
    message = InboundMessage(
        channel="WhatsApp", chat_external_id="628555", message_external_id="wamid.lost",
        text="berapa ongkir ke bali?", customer_name="Rina", customer_phone="628555",
    )  # fmt: skip
    received = await core.inbox.receive(message)
    assert await Message.filter(chat_id=received.chat_id, sender=Sender.BOT).count() == 0
    core.inbox.reactions[:] = reactions
    pending = await core.autopilot.pending()
    assert [p.message_id for p in pending] == [received.message_id]
    for item in pending:
        core.inbox.react(item)
    await core.inbox.drain()
    assert await Message.filter(chat_id=received.chat_id, sender=Sender.BOT).count() == 1
    assert await core.autopilot.pending() == []
