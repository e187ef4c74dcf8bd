"""An async client of the OpenAI-compatible Chat Completions and Embeddings APIs.

It speaks the subset every OpenAI-compatible server shares (OpenAI, Azure OpenAI's v1
endpoint, vLLM, Ollama, the llama.cpp server)::

    POST {base_url}/chat/completions   {"model", "messages", "max_tokens", "temperature",
                                        "tools"?, "tool_choice": "auto"?}
    POST {base_url}/embeddings         {"model", "input": [texts]}

``base_url`` goes up to and including ``/v1``. With an ``api_key`` the requests carry
``Authorization: Bearer <key>`` (Azure's v1 endpoint takes its key so too). ``tools`` go
through as given, in OpenAI's format (``{"type": "function", "function": {...}}``).

The endpoint is not trusted: every call has a total time limit, redirects are not
followed, the answer is read with a size cap (``max_body_bytes``, 2 MB by default) and
compression is refused, large answers are parsed off the event loop, and an answer of the
wrong shape (no ``choices``, wrong types, tool-call arguments that are not a JSON object)
is an error, never half-read. Every failure is one :class:`LlmError` whose text is a short
reason fit for a handoff note. A ``finish_reason`` of ``"length"`` is returned as it is:
the caller decides what a cut answer is worth. Missing ``usage`` counts 0 tokens.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

ErrorKind = Literal["timeout", "http", "connection", "invalid"]

MAX_BODY_BYTES = 2 * 1024 * 1024  # the default cap on one answer's body
PARSE_INLINE_BYTES = 64 * 1024  # answers larger than this are parsed in a worker thread
READ_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function the model asks to call; ``arguments`` parsed from its JSON string."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Completion:
    """The first choice of a chat completion, with its accounting."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    model: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float


class LlmError(Exception):
    """The endpoint gave no usable answer. ``str(exc)`` is a short reason ("HTTP 429").

    ``kind`` is ``"timeout"``, ``"http"`` (a non-2xx status, in ``status``),
    ``"connection"`` or ``"invalid"`` (not JSON, the wrong shape, too large).
    """

    def __init__(self, kind: ErrorKind, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.kind: ErrorKind = kind
        self.status = status


class LlmClient:
    """One OpenAI-compatible endpoint. One ``aiohttp`` session, opened on first use."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        timeout: float,
        max_tokens: int,
        temperature: float = 0.2,
        embedding_model: str | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        if not model:
            raise ValueError("model is required")
        if timeout <= 0 or max_tokens <= 0 or max_body_bytes <= 0:
            raise ValueError("timeout, max_tokens and max_body_bytes must be positive")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.embedding_model = embedding_model or model
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_body_bytes = max_body_bytes
        self._api_key = api_key
        self._session: aiohttp.ClientSession | None = None

    async def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """Ask for one chat completion.

        Raises:
            LlmError: on a timeout, a failed connection, a non-2xx status or an answer
                that is not a chat completion.
        """
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(message) for message in messages],
            "max_tokens": self.max_tokens if max_tokens is None else max_tokens,
            "temperature": self.temperature if temperature is None else temperature,
        }
        if tools:
            body["tools"] = [dict(tool) for tool in tools]
            body["tool_choice"] = "auto"
        started = time.monotonic()
        payload = await self._post("/chat/completions", body)
        return completion_from(payload, self.model, time.monotonic() - started)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order (no request for no texts).

        Raises:
            LlmError: as :meth:`complete`; also when the count of vectors is not the
                count of texts or their dimensions differ.
        """
        if not texts:
            return []
        body = {"model": self.embedding_model, "input": list(texts)}
        return embeddings_from(await self._post("/embeddings", body), len(texts))

    async def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Identity only: a compressed answer could inflate past the size cap at once.
            headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                auto_decompress=False,
            )
        return self._session

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            async with asyncio.timeout(self.timeout):
                raw = await self._exchange(self.base_url + path, body)
        except TimeoutError as exc:
            raise LlmError("timeout", f"no answer within {self.timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise LlmError("connection", f"request failed ({type(exc).__name__})") from exc
        if len(raw) > PARSE_INLINE_BYTES:
            return await asyncio.to_thread(_parse, raw)
        return _parse(raw)

    async def _exchange(self, url: str, body: dict[str, Any]) -> bytes:
        async with self._client().post(url, json=body, allow_redirects=False) as response:
            if not 200 <= response.status < 300:
                raise LlmError("http", f"HTTP {response.status}", response.status)
            length = response.content_length
            if length is not None and length > self.max_body_bytes:
                raise LlmError("invalid", self._too_large())
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(READ_CHUNK):
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise LlmError("invalid", self._too_large())
                chunks.append(chunk)
            return b"".join(chunks)

    def _too_large(self) -> str:
        return f"answer larger than {self.max_body_bytes // 1024} KB"


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, depth
        raise LlmError("invalid", "invalid JSON in the answer") from exc


def completion_from(payload: Any, model: str, seconds: float) -> Completion:
    """Read a Chat Completions answer's first choice.

    Raises:
        LlmError: ``"invalid"`` when the answer is not of that shape.
    """
    if not isinstance(payload, dict):
        raise LlmError("invalid", "the answer is not a JSON object")
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LlmError("invalid", "no choices in the answer")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise LlmError("invalid", "no message in the answer")
    text = message.get("content")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise LlmError("invalid", "the message content is not text")
    finish_reason = choices[0].get("finish_reason")
    if finish_reason is None:
        finish_reason = ""
    if not isinstance(finish_reason, str):
        raise LlmError("invalid", "finish_reason is not text")
    answered_model = payload.get("model")
    usage = payload.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Completion(
        text=text,
        tool_calls=_tool_calls(message.get("tool_calls")),
        model=answered_model if isinstance(answered_model, str) and answered_model else model,
        finish_reason=finish_reason,
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        seconds=seconds,
    )


def _tool_calls(value: Any) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise LlmError("invalid", "tool_calls is not a list")
    calls: list[ToolCall] = []
    for item in value:
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict):
            raise LlmError("invalid", "a tool call without a function")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise LlmError("invalid", "a tool call without a name")
        call_id = item.get("id")
        calls.append(
            ToolCall(
                id=call_id if isinstance(call_id, str) else "",
                name=name,
                arguments=_arguments(name, function.get("arguments")),
            )
        )
    return tuple(calls)


def _arguments(name: str, value: Any) -> dict[str, Any]:
    """A tool call's arguments: a JSON string of an object (some servers send the object)."""
    if isinstance(value, dict):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise LlmError("invalid", f"the arguments of tool {name[:40]} are not a JSON object")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def embeddings_from(payload: Any, count: int) -> list[list[float]]:
    """Read an Embeddings answer: ``count`` vectors of one dimension, in input order.

    Raises:
        LlmError: ``"invalid"`` when the answer is not of that shape.
    """
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or len(data) != count:
        raise LlmError("invalid", f"expected {count} embeddings in the answer")
    vectors: list[list[float] | None] = [None] * count
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise LlmError("invalid", "an embedding is not an object")
        index = item.get("index", position)
        vector = item.get("embedding")
        if not isinstance(index, int) or not 0 <= index < count or vectors[index] is not None:
            raise LlmError("invalid", "embedding indexes do not match the input")
        if (
            not isinstance(vector, list)
            or not vector
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in vector)
        ):
            raise LlmError("invalid", "an embedding is not a list of numbers")
        vectors[index] = [float(x) for x in vector]
    found = [vector for vector in vectors if vector is not None]
    if len({len(vector) for vector in found}) != 1:
        raise LlmError("invalid", "embeddings of different dimensions")
    return found
