"""One mail of many short lines cannot keep the event loop: aiosmtpd's reader yields."""

from __future__ import annotations

import asyncio

from connectors.smtp_limits import LINES_PER_TURN, FairReader


async def test_buffered_lines_give_the_loop_turns() -> None:
    """With every line already buffered, a plain StreamReader never suspends; the fair one
    lets other tasks run every LINES_PER_TURN lines."""
    lines = LINES_PER_TURN * 40

    async def turns_while_reading(reader: asyncio.StreamReader) -> int:
        reader.feed_data(b"x\r\n" * lines)
        reader.feed_eof()
        turns = 0
        done = False

        async def other_work() -> None:
            nonlocal turns
            while not done:
                turns += 1
                await asyncio.sleep(0)

        other = asyncio.create_task(other_work())
        await asyncio.sleep(0)  # the other task is running
        started = turns
        for _ in range(lines):
            assert await reader.readuntil(b"\r\n") == b"x\r\n"
        during = turns - started
        done = True
        await other
        return during

    assert await turns_while_reading(asyncio.StreamReader()) == 0
    assert await turns_while_reading(FairReader()) >= 39
