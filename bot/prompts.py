"""The messages msgcenter sends a language model: one shape for the engine and the copilot.

A request is a system message (what to do, the task tag, the knowledge-base passages) and
the conversation so far. The task tag (``[task:answer]``, ``[task:suggest]``,
``[task:summarize]``, ``[task:translate:<language>]``) names what is asked; the passages are
blocks ``<passage article="12" title="Refund policy">...</passage>`` (the headings above the
passage first, as a markdown ``##`` line) that a model cites by their ``article`` number.
The offline stand-in (connectors/mock/openai.py) reads both.

Nothing a customer wrote is put in the system message: their words are ``user`` messages,
and a passage's or a title's own ``<`` and ``>`` are escaped, so no text can close a block.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.engine import Passage

# Senders as chat roles: the customer is the user; the bot and the agents answer.
ROLES = {"customer": "user", "bot": "assistant", "agent": "assistant"}


def task_tag(task: str, argument: str | None = None) -> str:
    """``[task:answer]``, or ``[task:translate:id]`` with an argument."""
    return f"[task:{task}:{argument}]" if argument else f"[task:{task}]"


def passages_block(passages: Iterable[Passage]) -> str:
    """The passages as ``<passage>`` blocks, one after another ("" for none)."""
    blocks = []
    for passage in passages:
        title = _escape(passage.title).replace('"', "&quot;")
        heading = f"## {_escape(passage.heading)}\n" if passage.heading else ""
        blocks.append(
            f'<passage article="{passage.article_id}" title="{title}">\n'
            f"{heading}{_escape(passage.text)}\n</passage>"
        )
    return "\n\n".join(blocks)


def system(
    task: str, instructions: str, *parts: str, argument: str | None = None
) -> dict[str, str]:
    """The system message: the task tag, the instructions, then each non-empty part."""
    body = "\n\n".join(part for part in (task_tag(task, argument), instructions, *parts) if part)
    return {"role": "system", "content": body}


def conversation(
    history: Sequence[tuple[str, str]], latest: str | None = None, *, limit: int = 10
) -> list[dict[str, Any]]:
    """The last ``limit`` messages of ``history`` ((sender, text), oldest first) as chat
    messages, then ``latest`` (the customer's new message) if given. System notes and empty
    texts are left out; consecutive messages of one role are joined (some servers refuse
    two ``user`` messages in a row)."""
    kept = [(ROLES[sender], text) for sender, text in history if sender in ROLES and text.strip()]
    kept = [] if limit <= 0 else kept[-limit:]
    if latest is not None and latest.strip():
        kept.append(("user", latest))
    messages: list[dict[str, Any]] = []
    for role, text in kept:
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n\n" + text
        else:
            messages.append({"role": role, "content": text})
    return messages


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
