"""An external bot over HTTP, speaking Rasa's REST channel contract (``engine = "webhook"``).

Request, for each customer message::

    POST {url}
    {"sender": "<chat id>", "message": "<text>",
     "metadata": {"channel": "...", "customer_name": "...", "sender_verified": true,
                  "chat_id": 42}}

Response: a JSON list of messages, ``[{"recipient_id": "42", "text": "..."}, ...]``.
The texts are joined with blank lines into one reply (an ``image`` becomes its
URL, ``buttons`` a numbered list of their titles). A message whose ``custom``
payload holds the marker set to ``true`` (``{"custom": {"handoff": true,
"reason": "..."}}``) hands the chat to a human; the texts, if any, go to the
customer first. An empty list is silence.

When the external bot cannot answer (connection refused, timeout, non-2xx,
invalid JSON or shape) the chat is handed to a human, with the reason
``"bot unavailable: ..."``, rather than left without an answer.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

from bot.engine import BotContext, Decision, Handoff, HandoffReason, Reply, Silence
from bot.settings import WebhookSettings

log = logging.getLogger(__name__)


class ExternalBotError(Exception):
    """The external bot did not give a usable answer; the message is the short reason."""


class WebhookBot:
    """Asks an external bot over HTTP. One ``aiohttp`` session, opened on first use."""

    def __init__(self, settings: WebhookSettings) -> None:
        if not settings.url:
            raise ValueError('bot.webhook.url is required when bot.engine = "webhook"')
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def respond(self, context: BotContext) -> Decision:
        """Forward the message and turn the answer into a decision (see the module docstring)."""
        if context.mode != "bot":
            return Silence()
        try:
            payload = await self._post(context)
            return decision_from(payload, self.settings.handoff_marker)
        except ExternalBotError as exc:
            log.warning("external bot failed for chat %s: %s", context.chat_id, exc)
            return Handoff(f"bot unavailable: {exc}", code=HandoffReason.BOT_UNAVAILABLE)

    async def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Accept": "application/json"}
            if self.settings.token is not None:
                headers["Authorization"] = f"Bearer {self.settings.token.get_secret_value()}"
            self._session = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s)
            )
        return self._session

    async def _post(self, context: BotContext) -> Any:
        body = {
            "sender": str(context.chat_id),
            "message": context.text,
            "metadata": {
                "channel": context.channel,
                # Empty for an unverified sender: no echo of what a stranger calls themselves.
                "customer_name": context.customer_name if context.sender_verified else "",
                "sender_verified": context.sender_verified,
                "chat_id": context.chat_id,
            },
        }
        try:
            async with self._client().post(self.settings.url, json=body) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError as exc:
            raise ExternalBotError(f"no answer within {self.settings.timeout_s:g}s") from exc
        except aiohttp.ClientError as exc:
            raise ExternalBotError(f"request failed ({type(exc).__name__})") from exc
        if not 200 <= status < 300:
            raise ExternalBotError(f"HTTP {status}")
        if status == 204:
            return []
        try:
            return json.loads(raw)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise ExternalBotError("invalid JSON in the answer") from exc


def decision_from(payload: Any, marker: str) -> Decision:
    """Read a Rasa REST answer (a list of messages) as a decision.

    Raises:
        ExternalBotError: when the answer is not a list of objects.
    """
    if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
        raise ExternalBotError("the answer is not a list of messages")
    texts: list[str] = []
    handoff_reason: str | None = None
    for item in payload:
        texts.extend(_texts(item))
        custom = item.get("custom")
        if isinstance(custom, dict) and custom.get(marker) is True:
            reason = custom.get("reason")
            handoff_reason = (
                f"external bot: {reason.strip()}"
                if isinstance(reason, str) and reason.strip()
                else "external bot asked for a human"
            )
    text = "\n\n".join(texts)
    if handoff_reason is not None:
        return Handoff(handoff_reason, text or None, code=HandoffReason.EXTERNAL_BOT)
    return Reply(text) if text else Silence()


def _texts(item: dict[str, Any]) -> list[str]:
    """The readable parts of one message; rich parts degrade to text."""
    found: list[str] = []
    for key in ("text", "image"):
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            found.append(value.strip())
    buttons = item.get("buttons")
    if isinstance(buttons, list):
        titles = [
            button["title"]
            for button in buttons
            if isinstance(button, dict) and isinstance(button.get("title"), str)
        ]
        if titles:
            found.append("\n".join(f"{number}. {title}" for number, title in enumerate(titles, 1)))
    return found
