"""Crash safety (a short run of the program bench/crash.py): SIGKILL during a webhook stream,
restart, Meta's redelivery; nothing acknowledged is lost, nothing is stored twice, no reply
is lost."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from connectors.base import InboundMessage
from storage.models import Message, Sender
from tests.support import Api, mute_bot

ROOT = Path(__file__).resolve().parent.parent
N = 400


@pytest.mark.parametrize(("seed", "kill_at"), [(1, 60), (2, 300)])
async def test_a_killed_server_loses_and_doubles_nothing(seed: int, kill_at: int) -> None:
    # Killed once kill_at webhooks are acknowledged, not after a time: a fast enough server
    # answered all of them before a timed kill, and nothing was tested.
    args = ["--n", str(N), "--customers", "40", "--concurrency", "8", "--rounds", "1",
            "--seed", str(seed), "--kill-at", str(kill_at), "--json"]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.crash", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode in (0, 1), err.decode()[-3000:]
    report = json.loads(out.decode().splitlines()[-1])
    print(report)
    assert kill_at <= report["acked_before_kill"] and report["posted_before_kill"] < N, report
    assert report["replayed"] == N and report["replay_errors"] == 0, report
    assert report["stored"] == N
    assert report["bot_replies"] >= 40  # every customer answered at least once
    assert report["problems"] == [], report["problems"]
    assert proc.returncode == 0


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
