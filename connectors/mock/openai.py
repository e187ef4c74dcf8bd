"""A local stand-in for an OpenAI-compatible model server, for tests and the offline demo.

It serves what :mod:`bot.llm_client` calls, under ``/v1``:

- ``POST /v1/chat/completions``: a chat completion (``stream`` is refused);
- ``POST /v1/embeddings``: deterministic vectors (256 dimensions, hashed counts of the
  words, L2-normalised), so texts that share words are close;
- ``GET /v1/models``: the mock's one model.

Started with an ``api_key``, every ``/v1`` route wants ``Authorization: Bearer <key>``
(else 401, as OpenAI answers). The control API (no key):

- ``POST /_mock/script`` ``[step, ...]``: steps consumed one per ``/v1`` POST, in order:
  ``{"text": "...", "tool_calls": [{"name", "arguments": {...} or "raw string", "id"?}],
  "usage": {"prompt_tokens", "completion_tokens"}, "finish_reason"?, "model"?}``;
  ``{"status": 500, "body": "...", "headers"?: {...}}`` an error (or a redirect);
  ``{"raw": "not json"}`` that body as it is;
  ``{"delay": 3.0, ...}`` sleeps first; ``{"pad": n, "chunked"?: true}`` adds ``n`` bytes
  to the JSON answer (sent chunked, without a length, with ``chunked``); for an embeddings
  request ``{"embeddings": [[...], ...]}`` answers those vectors.
- ``GET /_mock/requests``: every ``/v1`` request received,
  ``{"path", "authorization", "body"}``;
- ``POST /_mock/reset``: forget the script and the requests.

With nothing scripted it answers **extractively**, for the offline demo with
``bot.engine = "llm"``. The system message carries the knowledge-base passages as
``<passage article="12" title="Refund policy">\\n...\\n</passage>`` blocks (their text
HTML-escaped, a ``##`` heading line first, as bot/prompts.py writes them) and a task tag:

- ``[task:answer]`` (the default) and ``[task:suggest]``: the passage sharing the most
  words (case-folded, 3+ letters, common words left out) with the last user message; its
  first sentences are the answer. No passage or no shared word: a call of the tool
  ``handoff_to_human`` with ``{"reason": "no relevant article"}`` when that tool is
  offered, else a sentence saying it cannot help.
- ``[task:summarize]``: a short bullet list of the conversation's first and last user
  messages.
- ``[task:translate:<language>]``: there is no offline translation: the last user message
  comes back unchanged, prefixed with ``[<language>] ``.

Usage counts words as tokens (rough, never 0 for a non-empty exchange).
:class:`OpenAIMockControl` scripts a running mock and reads its requests over HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import logging
import math
import re
import time
from collections import deque
from typing import Any

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)

MODEL = "mock-extractive"
DIMENSIONS = 256
SUMMARY_ITEM_CHARS = 200
PASSAGE = re.compile(r'<passage article="([^"]*)" title="([^"]*)">\n?(.*?)\n?</passage>', re.S)
TASK = re.compile(r"\[task:(answer|suggest|summarize|translate:([^\]\n]{1,40}))\]")
WORD = re.compile(r"[^\W\d_]{3,}")
TOKEN = re.compile(r"\w+")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# Words too common to make a passage relevant (English and Indonesian).
COMMON_WORDS = """
    the and for you your are was were can could would should will what when where which
    who why how this that these those with from have has had not but all any our out get
    does did about into there their them they then than just also please hello thanks thank
    yang dan untuk dengan saya anda kami kamu ini itu ada apa bisa tidak atau dari pada
    akan sudah juga mau ingin bagaimana kapan dimana berapa tolong halo terima kasih"""
COMMON = frozenset(COMMON_WORDS.split())
NO_HELP = "Sorry, I cannot help with that from the articles I have."


class MockOpenAI:
    """An OpenAI-compatible server on a real socket; ``url`` is its base URL (``.../v1``)."""

    def __init__(self, api_key: str | None = None, model: str = MODEL) -> None:
        self.api_key = api_key
        self.model = model
        self.script: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self._calls = 0
        self.host, self.port = "127.0.0.1", 0

    @property
    def url(self) -> str:
        """The base URL to configure, up to and including ``/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/_mock/script", self._set_script)
        app.router.add_get("/_mock/requests", self._requests)
        app.router.add_post("/_mock/reset", self._reset)
        # A scripted delay ends with the client's disconnect, and stop() waits for none.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host, self.port = host, runner.addresses[0][1]
        log.info("mock OpenAI-compatible model on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- the control API

    async def _set_script(self, request: web.Request) -> web.Response:
        steps = await _json(request)
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            return _error(400, "the script is a JSON list of objects")
        self.script.extend(steps)
        return web.json_response({"queued": len(self.script)})

    async def _requests(self, _request: web.Request) -> web.Response:
        return web.json_response(self.requests)

    async def _reset(self, _request: web.Request) -> web.Response:
        self.script.clear()
        self.requests.clear()
        return web.json_response({"ok": True})

    # -- the model API

    async def _models(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        model = {"id": self.model, "object": "model", "created": 0, "owned_by": "msgcenter-mock"}
        return web.json_response({"object": "list", "data": [model]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._received(request)
        if refused is not None:
            return refused
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return _error(400, "messages must be a list of objects")
        if body.get("stream"):
            return _error(400, "the mock does not stream")
        asked = body.get("model")
        model = asked if isinstance(asked, str) else self.model
        step = self.script.popleft() if self.script else None
        if step is not None:
            return await self._scripted(request, step, lambda: self._chat_answer(model, step))
        offered = body.get("tools")
        tools = offered if isinstance(offered, list) else []
        text, calls = extractive_answer(messages, tools)
        usage = {
            "prompt_tokens": sum(_words(_content(m)) for m in messages),
            "completion_tokens": max(1, _words(text) + sum(_words(json.dumps(c)) for c in calls)),
        }
        return web.json_response(self._completion(model, text, calls, usage, None))

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._received(request)
        if refused is not None:
            return refused
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts) or not texts:
            return _error(400, "input must be a string or a non-empty list of strings")
        asked = body.get("model")
        model = asked if isinstance(asked, str) else self.model

        def answer(vectors: list[Any]) -> dict[str, Any]:
            tokens = sum(_words(t) for t in texts)
            return {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": v}
                    for i, v in enumerate(vectors)
                ],
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }

        step = self.script.popleft() if self.script else None
        if step is not None:
            vectors = step.get("embeddings")
            chosen = vectors if isinstance(vectors, list) else [embedding(t) for t in texts]
            return await self._scripted(request, step, lambda: answer(chosen))
        return web.json_response(answer([embedding(t) for t in texts]))

    async def _received(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        """Record the request; its body, or the answer refusing it."""
        body = await _json(request)
        self.requests.append(
            {
                "path": request.path,
                "authorization": request.headers.get("Authorization"),
                "body": body,
            }
        )
        if (denied := self._denied(request)) is not None:
            return {}, denied
        if not isinstance(body, dict):
            return {}, _error(400, "the body must be a JSON object")
        return body, None

    def _denied(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        if request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return _error(401, "Incorrect API key provided", code="invalid_api_key")

    async def _scripted(
        self, request: web.Request, step: dict[str, Any], answer: Any
    ) -> web.StreamResponse:
        delay = step.get("delay")
        if isinstance(delay, int | float) and delay > 0:
            await asyncio.sleep(delay)
        if isinstance(step.get("status"), int):
            headers = step.get("headers")
            return web.Response(
                status=step["status"],
                text=str(step.get("body", "")),
                content_type="application/json",
                headers=headers if isinstance(headers, dict) else None,
            )
        if isinstance(step.get("raw"), str):
            return web.Response(text=step["raw"], content_type="application/json")
        payload: dict[str, Any] = answer()
        pad = step.get("pad")
        if isinstance(pad, int) and pad > 0:
            payload["padding"] = "x" * pad
        data = json.dumps(payload).encode()
        if not step.get("chunked"):
            return web.Response(body=data, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(data), 64 * 1024):
            await response.write(data[start : start + 64 * 1024])
        await response.write_eof()
        return response

    def _chat_answer(self, model: str, step: dict[str, Any]) -> dict[str, Any]:
        calls = [
            {"name": c.get("name", ""), "arguments": c.get("arguments", {}), "id": c.get("id")}
            for c in step.get("tool_calls") or []
            if isinstance(c, dict)
        ]
        usage = step.get("usage")
        text = step.get("text")
        answered = step.get("model")
        return self._completion(
            answered if isinstance(answered, str) else model,
            text if isinstance(text, str) else None,
            calls,
            usage if isinstance(usage, dict) else None,
            step.get("finish_reason"),
        )

    def _completion(
        self,
        model: str,
        text: str | None,
        calls: list[dict[str, Any]],
        usage: dict[str, Any] | None,
        finish_reason: Any,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text if text or not calls else None,
        }
        if calls:
            message["tool_calls"] = []
            for call in calls:
                self._calls += 1
                arguments = call["arguments"]
                message["tool_calls"].append(
                    {
                        "id": call.get("id") or f"call_{self._calls}",
                        "type": "function",
                        "function": {
                            "name": call["name"],
                            "arguments": (
                                arguments if isinstance(arguments, str) else json.dumps(arguments)
                            ),
                        },
                    }
                )
        answer: dict[str, Any] = {
            "id": f"chatcmpl-mock-{self._calls}-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish_reason or ("tool_calls" if calls else "stop"),
                }
            ],
        }
        if usage is not None:
            prompt = usage.get("prompt_tokens", 0)
            completion = usage.get("completion_tokens", 0)
            answer["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion
                if isinstance(prompt, int) and isinstance(completion, int)
                else None,
            }
        return answer


def extractive_answer(
    messages: list[dict[str, Any]], tools: list[Any]
) -> tuple[str, list[dict[str, Any]]]:
    """The offline answer (see the module docstring): a text, or tool calls."""
    system = "\n".join(_content(m) for m in messages if m.get("role") in ("system", "developer"))
    users = [_content(m) for m in messages if m.get("role") == "user"]
    task = TASK.search(system)
    kind = "answer" if task is None else task.group(1).split(":", 1)[0]
    last = users[-1] if users else ""
    if kind == "translate" and task is not None:
        return f"[{task.group(2).strip()}] {last}", []
    if kind == "summarize":
        if not users:
            return "- The customer has not written yet.", []
        lines = [f"- The customer wrote: {_clip(users[0])}"]
        if len(users) > 1:
            lines.append(f"- Latest: {_clip(users[-1])}")
        return "\n".join(lines), []
    wanted = _meaningful(last)
    best: tuple[int, str] | None = None
    for _article, title, text in PASSAGE.findall(system):
        shared = len(wanted & _meaningful(html.unescape(f"{title} {text}")))
        if shared > 0 and (best is None or shared > best[0]):
            best = (shared, text)
    if best is not None:
        return _first_sentences(html.unescape(best[1])), []
    offered = {
        tool.get("function", {}).get("name")
        for tool in tools
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
    }
    if "handoff_to_human" in offered:
        return "", [{"name": "handoff_to_human", "arguments": {"reason": "no relevant article"}}]
    return NO_HELP, []


def embedding(text: str) -> list[float]:
    """Hashed word counts in ``DIMENSIONS`` buckets, L2-normalised (zeros for no words)."""
    vector = [0.0] * DIMENSIONS
    for word in TOKEN.findall(text.casefold()):
        bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
        vector[bucket % DIMENSIONS] += 1.0
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


def _content(message: dict[str, Any]) -> str:
    """A message's text: a string, or the text parts of a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _meaningful(text: str) -> set[str]:
    return {word for word in WORD.findall(text.casefold()) if word not in COMMON}


def _words(text: str) -> int:
    return len(TOKEN.findall(text))


def _first_sentences(text: str) -> str:
    """The first two or three sentences, headings left out (markdown ``#`` lines, such as
    the heading path bot.prompts puts first)."""
    lines = [line for line in text.strip().splitlines() if not line.lstrip().startswith("#")]
    sentences = SENTENCE_END.split(" ".join(line.strip() for line in lines if line.strip()))
    chosen = sentences[:3]
    if len(chosen) == 3 and sum(len(s) for s in chosen) > 400:
        chosen = chosen[:2]
    return " ".join(chosen)


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SUMMARY_ITEM_CHARS else flat[: SUMMARY_ITEM_CHARS - 1] + "…"


async def _json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except ValueError:
        return None


def _error(status: int, message: str, code: str | None = None) -> web.Response:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return web.json_response({"error": error}, status=status)


class OpenAIMockControl:
    """The control API of a running :class:`MockOpenAI`, over HTTP (``base`` its ``url``)."""

    def __init__(self, base: str) -> None:
        self.root = base.removesuffix("/").removesuffix("/v1")

    async def script(self, *steps: dict[str, Any]) -> None:
        """Queue answers, one per ``/v1`` request."""
        await self._call("POST", "/_mock/script", list(steps))

    async def requests(self) -> list[dict[str, Any]]:
        """Every ``/v1`` request received: ``{"path", "authorization", "body"}``."""
        answer: list[dict[str, Any]] = await self._call("GET", "/_mock/requests")
        return answer

    async def reset(self) -> None:
        await self._call("POST", "/_mock/reset")

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.request(method, self.root + path, json=body) as response,
        ):
            response.raise_for_status()
            return await response.json()
