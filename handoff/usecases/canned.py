"""Canned responses (``/canned-responses``, docs/api.md): the shared ones, kept by admins,
and each person's own.

Everyone sees the shared ones and their own; someone else's own ones do not exist for them
(NotFound, also for admins). Saving checks the short code, the lengths and every variable
(``handoff.domain.canned``); a short code is unique among the shared ones and among each
person's own. Changes are one writer operation each; a change to a shared response is
logged and recorded in the audit record (no chat: ``chat_id`` null) with who made it.
Canned responses are not chat changes: no event is pushed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tortoise.exceptions import IntegrityError

from handoff.domain import canned as rules
from handoff.domain.errors import Conflict, Forbidden, NotFound
from handoff.domain.modes import Actor
from handoff.domain.rights import can_read
from handoff.domain.sanitize import clean
from handoff.infra.writer import Unit, Writer
from handoff.read.views import Presenter
from handoff.usecases import audit
from storage.models import CannedResponse, Chat

log = logging.getLogger(__name__)

FIELDS = ("short_code", "title", "text", "text_id")


def view(presenter: Presenter, row: CannedResponse) -> dict[str, Any]:
    """``{id, short_code, title, text, text_id, scope, owner_id, created_at, updated_at}``."""
    shared = row.owner_key == rules.SHARED_OWNER
    return {
        "id": row.id,
        "short_code": row.short_code,
        "title": row.title,
        "text": row.text,
        "text_id": row.text_id,
        "scope": rules.SHARED if shared else rules.PERSONAL,
        "owner_id": None if shared else row.owner_key,
        "created_at": presenter.when(row.created_at),
        "updated_at": presenter.when(row.updated_at),
    }


def _owner_key(actor: Actor, scope: str) -> int:
    if scope == rules.SHARED:
        if not actor.is_admin:
            raise Forbidden("only admins keep shared canned responses", code="forbidden")
        return rules.SHARED_OWNER
    if actor.user_id is None:
        raise Forbidden("only people keep canned responses of their own")
    return actor.user_id


def _checked(given: Mapping[str, Any]) -> dict[str, Any]:
    """The given fields, cleaned and checked (Invalid names the field)."""
    values: dict[str, Any] = {}
    if "short_code" in given:
        values["short_code"] = rules.check_short_code(clean(given["short_code"]).strip())
    if "title" in given:
        values["title"] = rules.check_title(clean(given["title"]))
    if "text" in given:
        values["text"] = rules.check_text(clean(given["text"]))
    if "text_id" in given:
        text_id = given["text_id"]
        text_id = clean(text_id) if text_id is not None else None
        values["text_id"] = rules.check_text(text_id, "text_id") if text_id else None
    return values


def _taken(code: str) -> Conflict:
    return Conflict(f"the short code {code!r} is taken", code="short_code_taken", short_code=code)


class CannedResponses:
    def __init__(self, writer: Writer, presenter: Presenter) -> None:
        self.writer = writer
        self.presenter = presenter

    async def list(
        self, actor: Actor, *, q: str = "", chat_id: int | None = None
    ) -> list[dict[str, Any]]:
        """The shared responses and ``actor``'s own, filtered by ``q`` (best matches first,
        then by short code); with ``chat_id``, each with ``rendered`` (and ``rendered_id``,
        the Indonesian text, or None) filled for that chat, which ``actor`` must be able to
        read (NotFound otherwise)."""
        context = None
        if chat_id is not None:
            chat = await Chat.get_or_none(id=chat_id)
            if chat is None or not can_read(chat, actor):
                raise NotFound(f"chat {chat_id} not found")
            context = rules.Context(chat.customer_name, actor.name, chat.id)
        owners = [rules.SHARED_OWNER]
        if actor.user_id is not None:
            owners.append(actor.user_id)
        rows = await CannedResponse.filter(owner_key__in=owners).order_by("short_code", "id")
        ranked = []
        for row in rows:
            rank = rules.matches(q, row.short_code, row.title, row.text)
            if rank is not None:
                ranked.append((rank, row))
        ranked.sort(key=lambda pair: pair[0])  # stable: by short code within a rank
        views = []
        values = context.values() if context is not None else None
        for _, row in ranked:
            item = view(self.presenter, row)
            if values is not None:
                item["rendered"] = rules.render(row.text, values)
                item["rendered_id"] = rules.render(row.text_id, values) if row.text_id else None
            views.append(item)
        return views

    async def create(self, actor: Actor, scope: str, given: Mapping[str, Any]) -> dict[str, Any]:
        """A new response of ``scope`` ("shared": admins; "personal": the actor's own)."""
        owner = _owner_key(actor, scope)
        values = _checked({name: given.get(name) for name in FIELDS if name in given})

        async def operation(unit: Unit) -> CannedResponse:
            if await CannedResponse.filter(owner_key=owner).count() >= rules.MAX_PER_OWNER:
                raise Conflict(
                    f"at most {rules.MAX_PER_OWNER} canned responses per owner: delete some "
                    "first", code="canned_limit", max=rules.MAX_PER_OWNER,
                )  # fmt: skip
            code = values["short_code"]
            if await CannedResponse.filter(owner_key=owner, short_code=code).exists():
                raise _taken(code)
            row = await CannedResponse.create(
                owner_key=owner, created_by_id=actor.user_id, **values
            )
            if owner == rules.SHARED_OWNER:
                await audit.record(
                    None, actor, audit.CANNED_CREATED, canned_id=row.id, short_code=code
                )
            return row

        try:
            row = await self.writer.run(operation)
        except IntegrityError as exc:  # the same code saved at that moment
            raise _taken(values["short_code"]) from exc
        self._log("created", actor, row)
        return view(self.presenter, row)

    async def update(
        self, actor: Actor, canned_id: int, given: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Change any of short code, title, text, text_id (None removes it)."""
        values = _checked(given)

        async def operation(unit: Unit) -> CannedResponse:
            row = await self._writable(actor, canned_id)
            code = values.get("short_code")
            if code is not None and code != row.short_code:
                taken = CannedResponse.filter(owner_key=row.owner_key, short_code=code)
                if await taken.exclude(id=row.id).exists():
                    raise _taken(code)
            changed = [name for name, value in values.items() if getattr(row, name) != value]
            if changed:
                row.update_from_dict(values)
                await row.save(update_fields=[*changed, "updated_at"])
                if row.owner_key == rules.SHARED_OWNER:
                    await audit.record(
                        None, actor, audit.CANNED_UPDATED, canned_id=row.id,
                        short_code=row.short_code, fields=changed,
                    )  # fmt: skip
            return row

        try:
            row = await self.writer.run(operation)
        except IntegrityError as exc:
            raise _taken(str(values.get("short_code"))) from exc
        self._log("changed", actor, row)
        return view(self.presenter, row)

    async def delete(self, actor: Actor, canned_id: int) -> None:
        async def operation(unit: Unit) -> CannedResponse:
            row = await self._writable(actor, canned_id)
            await row.delete()
            if row.owner_key == rules.SHARED_OWNER:
                await audit.record(
                    None, actor, audit.CANNED_DELETED, canned_id=row.id, short_code=row.short_code
                )
            return row

        self._log("deleted", actor, await self.writer.run(operation))

    async def _writable(self, actor: Actor, canned_id: int) -> CannedResponse:
        """The response if ``actor`` may change it: a shared one admins (others: Forbidden),
        a personal one its owner (others, admins too: NotFound)."""
        row = await CannedResponse.get_or_none(id=canned_id)
        if row is None or row.owner_key not in (rules.SHARED_OWNER, actor.user_id):
            raise NotFound(f"canned response {canned_id} not found")
        if row.owner_key == rules.SHARED_OWNER and not actor.is_admin:
            raise Forbidden("only admins change shared canned responses")
        return row

    @staticmethod
    def _log(what: str, actor: Actor, row: CannedResponse) -> None:
        if row.owner_key == rules.SHARED_OWNER:
            log.info(
                "shared canned response %d (/%s) %s by user %s (%s)",
                row.id, row.short_code, what, actor.user_id, actor.name,
            )  # fmt: skip
