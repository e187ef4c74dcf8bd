"""Parsing untrusted mail off the event loop, in worker processes with a time budget.

A thread would not do: CPython's regex engine and much of the ``email`` and
``html.parser`` code hold the GIL, so a runaway parse in a thread still stops
the API, the webhooks and the WebSockets, and a thread cannot be stopped.
Each worker here is a process of its own (``python -m connectors.parsing``, at
a lower CPU priority than the service), reading requests on stdin and writing
answers on stdout. A parse over its budget gets its worker killed (a new one
starts for the next mail) and :class:`ParseTimeout`. The pool is bounded
(``workers`` processes); a mail that waits for a free worker longer than the
budget gets :class:`ParseBusy`. Nothing here shares the default executor,
where password hashing runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from connectors.email_parse import MailLimits, MailRejected, ParsedMail, parse_mail

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">Q")
_ROOT = Path(__file__).resolve().parent.parent  # the folder holding the connectors package


class ParseTimeout(Exception):
    """The parse ran over its budget; its worker was killed."""


class ParseBusy(Exception):
    """Every worker stayed busy for the whole budget; try again later."""


class ParseCrashed(Exception):
    """The worker died while parsing (killed from outside, out of memory, ...)."""


@dataclass(frozen=True, slots=True)
class _Request:
    content: bytes
    envelope_from: str | None
    limits: MailLimits


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> _Worker:
        path = os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "connectors.parsing",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )  # fmt: skip
        return cls(process)

    async def parse(self, request: _Request) -> ParsedMail:
        assert self.process.stdin is not None and self.process.stdout is not None
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.write(_LENGTH.pack(len(data)) + data)
        try:
            await self.process.stdin.drain()
            size = _LENGTH.unpack(await self.process.stdout.readexactly(_LENGTH.size))[0]
            answer = await self.process.stdout.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise ParseCrashed(f"the parsing worker died ({self.process.returncode})") from exc
        # Our own child's answer: what it pickled is a ParsedMail or a MailRejected.
        result = pickle.loads(answer)  # noqa: S301
        if isinstance(result, MailRejected):
            raise result
        assert isinstance(result, ParsedMail)
        return result

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()


class ParsePool:
    """At most ``workers`` mails parsed at once, each within ``budget`` seconds."""

    def __init__(self, workers: int = 2, budget: float = 10.0) -> None:
        self.budget = budget
        self._slots = asyncio.Semaphore(workers)
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self.killed = 0  # workers stopped for running over the budget

    async def parse(
        self, content: bytes, envelope_from: str | None, limits: MailLimits
    ) -> ParsedMail:
        """Parse one mail in a worker; MailRejected, ParseTimeout, ParseBusy or ParseCrashed."""
        try:
            await asyncio.wait_for(self._slots.acquire(), self.budget)
        except TimeoutError as exc:
            raise ParseBusy(f"no parsing worker free within {self.budget:g} s") from exc
        worker: _Worker | None = None
        try:
            worker = self._idle.pop() if self._idle else await _Worker.start()
            self._busy.add(worker)
            request = _Request(content, envelope_from, limits)
            try:
                result = await asyncio.wait_for(worker.parse(request), self.budget)
            except TimeoutError as exc:
                self.killed += 1
                raise ParseTimeout(f"parsing took longer than {self.budget:g} s") from exc
            self._busy.discard(worker)
            self._idle.append(worker)
            worker = None  # healthy: back in the pool
            return result
        except MailRejected:
            if worker is not None:  # it answered: it is healthy
                self._busy.discard(worker)
                self._idle.append(worker)
                worker = None
            raise
        finally:
            if worker is not None:  # timed out, crashed or cancelled mid-parse
                self._busy.discard(worker)
                await worker.stop()
            self._slots.release()

    async def close(self) -> None:
        """Stop every worker (an idle one exits when its stdin closes; kill is quicker)."""
        workers, self._idle = [*self._idle, *self._busy], []
        self._busy.clear()
        await asyncio.gather(*(worker.stop() for worker in workers))


# -- the worker process ------------------------------------------------------------------


def _read(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def _serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer requests until stdin closes (the service stopped or went away)."""
    while (head := _read(requests, _LENGTH.size)) is not None:
        body = _read(requests, _LENGTH.unpack(head)[0])
        if body is None:
            return
        request = pickle.loads(body)  # noqa: S301 (from the service that started us)
        assert isinstance(request, _Request)
        result: ParsedMail | MailRejected
        try:
            result = parse_mail(request.content, request.envelope_from, request.limits)
        except MailRejected as exc:
            result = MailRejected(exc.reason, exc.code)
        except Exception as exc:  # noqa: BLE001 (any other failure refuses this mail, not the next)
            result = MailRejected(f"5.6.0 message could not be parsed ({type(exc).__name__})")
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        answers.write(_LENGTH.pack(len(data)) + data)
        answers.flush()


def main() -> None:
    """The worker: answers go to the service on what was stdout; a stray print goes to stderr."""
    with contextlib.suppress(OSError):
        os.nice(10)  # the API and the webhooks come first
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    # Run the module's own copy (not __main__'s), so the requests unpickle to its classes.
    from connectors import parsing

    parsing.main()
