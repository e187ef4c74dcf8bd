"""aiohttp's WebSocket writing, bypassed here only: checked against aiohttp 3.14.5.

A ``WebSocketResponse`` sends each frame through its ``_writer`` (a ``WebSocketWriter``),
which builds the frame's header and writes header and payload to the transport at once,
keeping nothing back when compression is off. So a frame built here (:func:`text_frame`,
the same bytes) and written to the same transport (:func:`write_now`) goes out in order
with aiohttp's own, and one frame encoded once can be written to every socket that gets it.
:func:`check` says whether the installed aiohttp still writes frames that way.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from typing import Any, cast

from aiohttp import WSMsgType, web
from aiohttp.http_websocket import WebSocketWriter

from storage.adapters import is_coroutine_function, is_method, problem, require

CHECKED = "aiohttp 3.14.5"


def text_frame(text: str) -> bytes:
    """A final, unmasked text frame (RFC 6455 5.2), as a server sends one."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x81, size) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


def write_now(
    socket: web.WebSocketResponse,
    transport: asyncio.Transport | None,
    frames: Sequence[tuple[str, bytes]],
) -> bool:
    """Write ``frames`` (pairs of text and its :func:`text_frame`) to ``socket``'s
    ``transport`` in one write, when aiohttp would send them at once too: the socket is
    open, uncompressed, and nothing waits in the transport's buffer. False: nothing was
    written (aiohttp sends them, waiting for a slow client)."""
    if (
        transport is not None
        and not socket.compress
        and not socket.closed
        and not transport.is_closing()
        and not transport.get_write_buffer_size()
    ):
        transport.write(b"".join(frame for _, frame in frames))
        return True
    return False


class _Recorder:
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        self.written = b""

    def is_closing(self) -> bool:
        return False

    def write(self, data: Any) -> None:
        self.written += bytes(data)


def check() -> None:
    """Raise ``LibraryMismatch`` naming what the fast write relies on that aiohttp lacks,
    or when aiohttp's own text frames differ from :func:`text_frame`'s."""
    ws, writer = "aiohttp WebSocketResponse", "aiohttp WebSocketWriter"
    problems = [
        problem(web.WebSocketResponse, ws, "_writer", "an attribute", lambda _: True),
        problem(
            web.WebSocketResponse, ws, "compress", "a property", lambda v: isinstance(v, property)
        ),
        problem(
            WebSocketWriter, writer, "send_frame", "a coroutine function", is_coroutine_function
        ),
        problem(WebSocketWriter, writer, "_write_websocket_frame", "a method", is_method),
    ]
    if not any(problems):
        for size in (5, 300, 70_000):
            text = "é" * (size // 2)
            transport = _Recorder()
            aiohttp_writer = WebSocketWriter(cast(Any, None), cast(Any, transport))
            aiohttp_writer._write_websocket_frame(text.encode(), WSMsgType.TEXT, 0)
            if transport.written != text_frame(text):
                problems.append(
                    f"{writer}._write_websocket_frame wrote a {size}-byte text frame otherwise "
                    "than text_frame (or not at once)"
                )
    require("aiohttp", CHECKED, problems)
