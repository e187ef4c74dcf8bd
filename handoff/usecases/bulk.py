"""Bulk actions: one request changes many chats, each as if done one by one.

Every chat is its own writer operation through the same use case a single change goes
through (the desk's actions, :class:`~handoff.usecases.tags.Tags`, the snoozer), with its
checks, its audit rows and its events; the operations run together, so the writer commits
them in a few group commits, and one that fails is rolled back alone. The answer lists the
chats changed and, for each chat refused, the error it would have had on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handoff.domain import priority
from handoff.domain.errors import DomainError, Forbidden, Invalid
from handoff.domain.modes import Action, Actor, IllegalTransition
from handoff.usecases.desk import Desk
from handoff.usecases.tags import Tags, find_label

log = logging.getLogger(__name__)

ACTIONS = ("assign", "label", "priority", "snooze", "close")
MAX_CHATS = 100

# ``Snoozer.snooze(actor, chat_id, until=...)``: until None is until the customer replies.
Snooze = Callable[..., Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class BulkAction:
    """What to do to each chat, with the action's own fields."""

    action: str
    agent_id: int | None = None  # assign
    force: bool = False  # assign (admins: past the agent's capacity)
    label: str | None = None  # label
    remove: bool = False  # label: take it off instead
    priority: str | None = None  # priority
    until: datetime | None = None  # snooze (None: until the customer replies)


@dataclass(frozen=True, slots=True)
class Failure:
    chat_id: int
    code: str
    message: str

    def view(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "code": self.code, "message": self.message}


class Bulk:
    def __init__(self, desk: Desk, tags: Tags, snooze: Snooze) -> None:
        """``snooze``: the snoozer's ``snooze``."""
        self.desk = desk
        self.tags = tags
        self.snooze = snooze

    async def run(
        self, actor: Actor, chat_ids: Sequence[int], action: BulkAction
    ) -> dict[str, Any]:
        """``{"done": [chat ids], "failed": [{"chat_id", "code", "message"}]}``, in the order
        given. The request itself is checked first (the action and its fields, the label):
        a bad one changes nothing and raises."""
        await self._check(actor, chat_ids, action)
        outcomes = await asyncio.gather(
            *(self._one(actor, chat_id, action) for chat_id in chat_ids)
        )
        done = [chat_id for chat_id, failure in zip(chat_ids, outcomes, strict=True) if not failure]
        failed = [failure.view() for failure in outcomes if failure is not None]
        return {"done": done, "failed": failed}

    async def _check(self, actor: Actor, chat_ids: Sequence[int], action: BulkAction) -> None:
        if action.action not in ACTIONS:
            raise Invalid(f"action must be one of {', '.join(ACTIONS)}", field="action")
        if not 1 <= len(chat_ids) <= MAX_CHATS:
            raise Invalid(f"give 1 to {MAX_CHATS} chat ids", field="chat_ids")
        if len(set(chat_ids)) != len(chat_ids):
            raise Invalid("each chat id once", field="chat_ids")
        if action.action == "assign":
            if action.agent_id is None:
                raise Invalid("assign needs agent_id", field="agent_id")
            if action.force and not actor.is_admin:
                raise Forbidden("only admins may assign past an agent's capacity", field="force")
        elif action.action == "label":
            if not action.label:
                raise Invalid("label needs label (a label's name)", field="label")
            await find_label(action.label)  # NotFound unknown_label
        elif action.action == "priority":
            priority.rank(action.priority or "")

    async def _one(self, actor: Actor, chat_id: int, action: BulkAction) -> Failure | None:
        """Change one chat as its own request would; its failure, or None."""
        try:
            await self._change(actor, chat_id, action)
        except IllegalTransition as exc:
            return Failure(chat_id, "illegal_transition", str(exc))
        except DomainError as exc:
            return Failure(chat_id, exc.code, exc.message)
        except Exception:
            log.exception("bulk %s of chat %d failed", action.action, chat_id)
            return Failure(chat_id, "internal_error", "something went wrong on our side")
        return None

    async def _change(self, actor: Actor, chat_id: int, action: BulkAction) -> None:
        kind = action.action
        if kind == "assign":
            await self.desk.act(
                actor, chat_id, Action.ASSIGN, to_agent_id=action.agent_id, force=action.force
            )
        elif kind == "close":
            await self.desk.act(actor, chat_id, Action.CLOSE)
        elif kind == "label":
            assert action.label is not None
            if action.remove:
                await self.tags.remove_label(actor, chat_id, action.label)
            else:
                await self.tags.add_label(actor, chat_id, action.label)
        elif kind == "priority":
            await self.tags.set_priority(actor, chat_id, action.priority or "")
        else:
            await self.snooze(actor, chat_id, until=action.until)
