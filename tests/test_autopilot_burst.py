"""The autopilot answers after a burst: providers are acknowledged first, answers follow,
each at most ``defer`` seconds after its message came, each once, in order."""

from __future__ import annotations

import asyncio

from bot import BotContext, Decision, Silence
from connectors.base import InboundMessage
from handoff.usecases.autopilot import Autopilot
from handoff.usecases.burst import Burst
from tests.support import Api, mute_bot


def inbound(text: str, msg_id: str, who: str = "628111") -> InboundMessage:
    return InboundMessage(
        channel="WhatsApp", chat_external_id=who, message_external_id=msg_id, text=text,
        customer_name="Budi",
    )  # fmt: skip


async def test_a_burst_is_calm_only_once_nothing_arrives_for_a_moment() -> None:
    burst = Burst()
    assert burst.is_calm()
    burst.started()
    await burst.calm(0.05)  # still arriving: gives up after its time, the burst goes on
    assert not burst.is_calm()
    burst.started()  # a second batch overlaps the first
    burst.ended()
    await asyncio.sleep(0.05)
    assert not burst.is_calm()  # one batch is still being stored
    burst.ended()
    assert not burst.is_calm()  # calm only after the quiet moment
    await asyncio.wait_for(burst.calm(60), timeout=5)  # the quiet moment, not the 60 s
    assert burst.is_calm()
    await asyncio.wait_for(burst.calm(60), timeout=5)  # calm already: returns at once


async def test_a_message_being_stored_keeps_the_burst_going(admin: Api) -> None:
    core = admin.service.core
    assert core.autopilot is not None
    release = asyncio.Event()

    async def hold_the_writer(unit: object) -> None:
        await release.wait()

    held = asyncio.ensure_future(core.writer.run(hold_the_writer))
    arriving = asyncio.ensure_future(core.inbox.receive(inbound("in a burst", "w-burst")))
    await asyncio.sleep(0.05)
    assert not core.autopilot.burst.is_calm()  # the message is not stored yet
    release.set()
    await held
    assert (await arriving).stored
    await asyncio.wait_for(core.autopilot.burst.calm(60), timeout=5)
    assert core.autopilot.burst.is_calm()


class RecordingBot:
    """Says nothing; notes when each message reached it and whether the burst went on."""

    def __init__(self, came: dict[str, float], feeding: list[int]) -> None:
        self.came = came
        self.feeding = feeding
        self.seen: list[tuple[str, float, bool]] = []  # text, seconds after it came, in burst

    async def respond(self, context: BotContext) -> Decision:
        waited = asyncio.get_running_loop().time() - self.came[context.text]
        self.seen.append((context.text, waited, self.feeding[0] > 0))
        return Silence()


async def test_answers_wait_for_a_burst_each_at_most_defer_seconds(admin: Api) -> None:
    core = admin.service.core
    mute_bot(core)  # this test's own autopilot answers, with a bot that records
    loop = asyncio.get_running_loop()
    came: dict[str, float] = {}
    feeding = [0]  # feeders still sending: the burst goes on
    bot = RecordingBot(came, feeding)

    def autopilot(defer: float) -> Autopilot:
        pilot = Autopilot(bot, core.writer, core.desk, defer=defer)
        core.inbox.arriving.register(pilot.on_arriving)
        core.inbox.received.register(pilot.on_received)
        return pilot

    async def receive(text: str, msg_id: str, who: str = "628111") -> None:
        came[text] = loop.time()
        assert (await core.inbox.receive(inbound(text, msg_id, who=who))).stored

    # A short burst: every answer waits for the quiet moment after it (not for the deferral),
    # none starts during it.
    pilot = autopilot(defer=30.0)
    feeding[0] = 1
    await asyncio.gather(*(receive(f"short {i}", f"s{i}") for i in range(5)))
    feeding[0] = 0
    assert bot.seen == []  # stored and acknowledged; the answers wait for the quiet moment
    await pilot.drain()
    assert sorted(text for text, _, _ in bot.seen) == [f"short {i}" for i in range(5)]
    assert not any(during for _, _, during in bot.seen)
    assert all(waited < 10 for _, waited, _ in bot.seen)  # the quiet moment, not 30 s
    core.inbox.arriving.unregister(pilot.on_arriving)
    core.inbox.received.unregister(pilot.on_received)

    # A long burst (1.5 s, five times the deferral): the oldest are answered during it,
    # each no sooner than ``defer`` after it came and long before the burst ends.
    pilot = autopilot(defer=0.3)
    bot.seen.clear()
    count, feeding[0] = 0, 4

    async def feed() -> None:
        # The feeder count drops right after its last message, with no await between: an
        # answer released by the quiet moment after the burst is never counted as during it.
        nonlocal count
        until = loop.time() + 1.5
        while loop.time() < until:
            count += 1
            await receive(f"long {count:04d}", f"l{count}", who=f"62{count % 7}")
        feeding[0] -= 1

    await asyncio.gather(*(feed() for _ in range(feeding[0])))
    await pilot.drain()
    texts = [text for text, _, _ in bot.seen]
    assert sorted(texts) == [f"long {i:04d}" for i in range(1, count + 1)]  # each once
    during = [(text, waited) for text, waited, still in bot.seen if still]
    assert len(during) >= 5  # the burst outlasted the deferral: its oldest were answered
    # (1e-9: came + 0.3 <= now in floating point, on uvloop's millisecond clock, may still
    # subtract to 0.29999999999995.)
    early = [(text, waited) for text, waited in during if waited < 0.3 - 1e-9]
    assert not early, early
    # Each chat's first answer came with the deferral, not at the end of the burst (>= 0.9 s
    # after the first messages); later ones of a chat wait their turn, one per deferral.
    firsts = {int(text.split()[1]) % 7: waited for text, waited in reversed(during)}
    assert firsts and all(waited < 0.9 for waited in firsts.values()), firsts
    # One chat's answers in the order its messages came.
    for chat in range(7):
        mine = [text for text, _, _ in bot.seen if int(text.split()[1]) % 7 == chat]
        assert mine == sorted(mine)
