"""Crash safety (short version of bench/crash.py): SIGKILL during a webhook stream, restart,
Meta's redelivery; nothing acknowledged is lost, nothing is stored twice, no reply is lost."""

from __future__ import annotations

import random

import pytest

from bench.crash import crash_once
from connectors.base import InboundMessage
from storage.models import Message, Sender
from tests.support import Api, mute_bot


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
    unmute = mute_bot(core)  # as if the process died right after the commit
    message = InboundMessage(
        channel="WhatsApp", chat_external_id="628555", message_external_id="wamid.lost",
        text="berapa ongkir ke bali?", customer_name="Rina", customer_phone="628555",
    )  # fmt: skip
    received = await core.inbox.receive(message)
    assert await Message.filter(chat_id=received.chat_id, sender=Sender.BOT).count() == 0
    unmute()
    pending = await core.autopilot.pending()
    assert [p.message_id for p in pending] == [received.message_id]
    for item in pending:
        core.autopilot.schedule(item)
    await core.drain()
    assert await Message.filter(chat_id=received.chat_id, sender=Sender.BOT).count() == 1
    assert await core.autopilot.pending() == []


async def test_a_burst_answered_in_part_gets_its_newest_message_answered(admin: Api) -> None:
    """The bot answers a burst after it is stored, so its answer to the first message comes
    after the customer's later ones; a crash then leaves those unanswered although the last
    message of the chat is the bot's. The start-up check still finds the newest one."""
    core = admin.service.core
    assert core.autopilot is not None

    def message(n: int) -> InboundMessage:
        return InboundMessage(
            channel="WhatsApp", chat_external_id="628556", message_external_id=f"wamid.b{n}",
            text=f"berapa ongkir ke bali? ({n})", customer_name="Sari", customer_phone="628556",
        )  # fmt: skip

    unmute = mute_bot(core)
    first, _, last = [await core.inbox.receive(message(n)) for n in (1, 2, 3)]
    unmute()
    core.autopilot.schedule(first)  # answered, then the process died before the other two
    await core.drain()
    assert await Message.filter(chat_id=first.chat_id, sender=Sender.BOT).count() == 1
    pending = await core.autopilot.pending()
    assert [p.message_id for p in pending] == [last.message_id]
    decided: list[int | None] = []
    core.autopilot.decided.register(lambda done: decided.append(done.received.message_id))
    for item in pending:
        core.autopilot.schedule(item)
    await core.drain()
    assert decided == [last.message_id]  # the bot had its say (here: a handoff, not understood)
    assert await core.autopilot.pending() == []


async def test_what_was_written_before_a_return_to_the_bot_is_not_answered_later(
    admin: Api,
) -> None:
    """A person hands the chat back to the bot after the customer wrote: after a restart, the
    bot does not answer that message (it was the agent's); it answers what comes next."""
    core = admin.service.core
    assert core.autopilot is not None
    unmute = mute_bot(core)
    message = InboundMessage(
        channel="WhatsApp", chat_external_id="628557", message_external_id="wamid.r1",
        text="saya mau bicara dengan admin", customer_name="Eko", customer_phone="628557",
    )  # fmt: skip
    received = await core.inbox.receive(message)
    for action in ("take-over", "return-to-bot"):
        assert (await admin.post(f"/chats/{received.chat_id}/{action}"))[0] == 200
    assert await core.autopilot.pending() == []
    later = InboundMessage(
        channel="WhatsApp", chat_external_id="628557", message_external_id="wamid.r2",
        text="halo lagi", customer_name="Eko", customer_phone="628557",
    )  # fmt: skip
    again = await core.inbox.receive(later)
    unmute()
    assert [p.message_id for p in await core.autopilot.pending()] == [again.message_id]
