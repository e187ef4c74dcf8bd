"""Satisfaction surveys: asked when a conversation closes, answered by a choice or a link.

``Surveys.on_closing`` runs on ``Desk.closing``, inside the operation that closes a chat: when
the settings ask for it and a person took part (``csat.after``), and the conversation was not
asked before (one survey per conversation, none within 7 days of another to the chat), it
writes the ``CsatSurvey`` row and queues the survey message (``Message.interactive``: the
five choices) through the desk, or on WhatsApp outside the 24-hour window records the survey
``not_sent``.

The answers come in as customer messages (``handoff.usecases.ingest``): a message whose
payload is ``csat:<survey>:<rating>`` (a WhatsApp list row, a Telegram button, the public
page's confirmation), and the next message within ``csat.comment_minutes`` after a rating (a
comment; the page's comment form sends ``csat:<survey>:comment``). ``Surveys.take`` says
whether a stored message answered a survey; such a message neither reopens the chat nor
reaches the bot. One rating per survey (the first), none more than 7 days after it was sent.
A rating is told to dashboards as ``csat.created`` (admins and the survey's agent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from tortoise import timezone
from tortoise.expressions import Q

from connectors.base import Connector, InboundMessage, RefusesReplies
from handoff.domain import csat, events
from handoff.domain.events import Audience, Event
from handoff.infra.writer import Unit
from handoff.read.views import Presenter
from handoff.usecases.desk import Closing, Desk
from storage.models import Channel, Chat, CsatSurvey, Sender

log = logging.getLogger(__name__)

SENT, NOT_SENT, RATED, COMMENTED = "sent", "not_sent", "rated", "commented"
PAGE_PREFIX = "csat-page:"  # external ids of the messages the public page stores


@dataclass(frozen=True, slots=True)
class CsatOptions:
    """The ``[csat]`` settings and what the email links need."""

    enabled: bool = True
    after: Literal["human", "all"] = "human"
    comment_minutes: int = 10
    # The service's secret (``auth.jwt_secret``), from which the links' key is derived;
    # None: no email surveys (nothing to sign them with).
    secret: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    # What the customer reads (the ``[csat]`` texts).
    words: csat.Words = csat.ENGLISH


@dataclass(frozen=True, slots=True)
class Taken:
    """A customer message that answered a survey: ``survey`` the survey it changed (None:
    ignored, e.g. a second rating), ``answer`` what the customer is told at once."""

    survey: CsatSurvey | None = None
    rating: int | None = None
    answer: str | None = None


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What a link's token names, as it is now: the survey, its chat, the rating."""

    survey: CsatSurvey
    chat: Chat
    rating: int
    expired: bool


class Surveys:
    def __init__(
        self,
        desk: Desk,
        presenter: Presenter,
        connectors: Mapping[str, Connector],
        options: CsatOptions,
        *,
        clock: Callable[[], datetime] = timezone.now,
    ) -> None:
        self.desk = desk
        self.presenter = presenter
        self.connectors = connectors
        self.options = options
        self.clock = clock
        self._key = csat.link_key(options.secret) if options.secret else None

    # -- asking ---------------------------------------------------------------------------

    async def on_closing(self, closing: Closing) -> None:
        """Listens to ``Desk.closing`` (inside the operation): the survey, when it is due."""
        chat, transition, now = closing.chat, closing.transition, closing.now
        options = self.options
        if not options.enabled or not chat.external_id:
            return
        person = chat.handed_off_at is not None or transition.from_agent_id is not None
        if options.after == "human" and not person:
            return
        if chat.channel == Channel.EMAIL and (self._key is None or chat.sender_unverified):
            return  # nothing to sign the links with; a stranger's address is not asked
        opened = chat.opened_at or chat.created_at
        asked = CsatSurvey.filter(
            Q(opened_at=opened) | Q(sent_at__gte=now - csat.MAX_AGE), chat_id=chat.id
        )
        if await asked.exists():
            return
        refusal = None
        connector = self.connectors.get(str(chat.channel))
        if isinstance(connector, RefusesReplies):
            refusal = connector.reply_refusal(chat.last_customer_message_at, now)
        survey = await CsatSurvey.create(
            chat_id=chat.id,
            channel=str(chat.channel),
            agent_id=transition.from_agent_id,
            opened_at=opened,
            sent_at=now,
            status=NOT_SENT if refusal else SENT,
        )
        if refusal:
            log.info("chat %d: no survey sent (%s)", chat.id, refusal)
            return
        words = options.words
        text = words.email_question if chat.channel == Channel.EMAIL else words.question
        message = await self.desk.queue_message(
            closing.unit, chat, text, Sender.SYSTEM, now,
            interactive=csat.interactive(survey.id, words),
        )  # fmt: skip
        survey.message_id = int(message["id"])
        await survey.save(update_fields=["message_id"])

    def outbound(self, channel: str, interactive: dict[str, Any]) -> dict[str, Any]:
        """What the channel is sent of a message's choices: by email, each with its link."""
        if channel != Channel.EMAIL.value or interactive.get("kind") != csat.KIND:
            return interactive
        options = []
        for option in interactive.get("options", []):
            choice = csat.parse(str(option.get("id", "")))
            if choice is not None and choice.rating is not None:
                option = {**option, "url": self.link(choice.survey_id, choice.rating)}
            options.append(option)
        return {**interactive, "options": options}

    def link(self, survey_id: int, rating: int) -> str:
        if self._key is None:
            raise RuntimeError("survey links need the service's secret")
        token = csat.sign(self._key, survey_id, rating)
        return f"{self.options.public_url.rstrip('/')}/csat/{token}"

    # -- answers --------------------------------------------------------------------------

    async def take(
        self, unit: Unit, chat: Chat, inbound: InboundMessage, now: datetime
    ) -> Taken | None:
        """Whether the customer's message (stored) answered a survey of ``chat``, and what
        it changed; None: it did not (the usual flow). Called for a message with a payload,
        and for any message to a closed chat (a comment can only come to one)."""
        if csat.is_survey_payload(inbound.payload):
            choice = csat.parse(inbound.payload or "")
            if choice is None:
                return Taken()
            if choice.rating is None:
                return await self._comment(unit, chat, choice.survey_id, inbound.text, now)
            return await self._rate(unit, chat, choice.survey_id, choice.rating, now)
        if self.options.comment_minutes <= 0 or not inbound.text.strip():
            return None  # a file alone is no comment: the usual flow
        since = now - timedelta(minutes=self.options.comment_minutes)
        survey = (
            await CsatSurvey.filter(chat_id=chat.id, status=RATED, rated_at__gte=since)
            .order_by("-id")
            .first()
        )
        if survey is None:
            return None
        return await self._comment(unit, chat, survey.id, inbound.text, now)

    async def _rate(
        self, unit: Unit, chat: Chat, survey_id: int, rating: int, now: datetime
    ) -> Taken:
        survey = await CsatSurvey.get_or_none(id=survey_id, chat_id=chat.id)
        if survey is None or survey.status != SENT or now - survey.sent_at > csat.MAX_AGE:
            return Taken()  # not this chat's, rated already, or too late: ignored
        changed = await CsatSurvey.filter(id=survey.id, status=SENT).update(
            status=RATED, rating=rating, rated_at=now
        )
        if not changed:
            return Taken()
        survey.status, survey.rating, survey.rated_at = RATED, rating, now
        unit.emit(self._event(survey))
        return Taken(survey, rating, self.options.words.thanks_for(rating))

    async def _comment(
        self, unit: Unit, chat: Chat, survey_id: int, text: str, now: datetime
    ) -> Taken:
        survey = await CsatSurvey.get_or_none(id=survey_id, chat_id=chat.id)
        if survey is None or survey.status != RATED or now - survey.sent_at > csat.MAX_AGE:
            return Taken()
        comment = text.strip()[: csat.COMMENT_LIMIT] or None
        if comment is None:
            return Taken()
        changed = await CsatSurvey.filter(id=survey.id, status=RATED).update(
            status=COMMENTED, comment=comment, commented_at=now
        )
        if not changed:
            return Taken()
        survey.status, survey.comment, survey.commented_at = COMMENTED, comment, now
        return Taken(survey)

    async def thank(self, unit: Unit, chat: Chat, taken: Taken, now: datetime) -> None:
        """After a rating stored in ``unit``: on WhatsApp the thanks is a message of its own
        (Telegram edits the survey message with ``Taken.answer``; the page shows it)."""
        if taken.rating is None or taken.answer is None or chat.channel != Channel.WHATSAPP:
            return
        await self.desk.queue_message(unit, chat, taken.answer, Sender.SYSTEM, now)

    def _event(self, survey: CsatSurvey) -> Event:
        audience = Audience(agent_ids=frozenset({survey.agent_id} if survey.agent_id else ()))
        return Event(events.CSAT_CREATED, survey.chat_id, {"survey": self.view(survey)}, audience)

    def view(self, survey: CsatSurvey) -> dict[str, Any]:
        when = self.presenter.when
        return {
            "id": survey.id,
            "chat_id": survey.chat_id,
            "channel": survey.channel,
            "agent_id": survey.agent_id,
            "status": survey.status,
            "rating": survey.rating,
            "sent_at": when(survey.sent_at),
            "rated_at": when(survey.rated_at),
            "comment": survey.comment,
        }

    # -- the public page (email) ----------------------------------------------------------

    async def by_token(self, token: str) -> LinkTarget | None:
        """The survey a link names (None: a wrong or forged token, or a survey gone)."""
        if self._key is None:
            return None
        choice = csat.verify(self._key, token)
        if choice is None or choice.rating is None:
            return None
        survey = await CsatSurvey.get_or_none(id=choice.survey_id)
        if survey is None:
            return None
        chat = await Chat.get_or_none(id=survey.chat_id)
        if chat is None or not chat.external_id:
            return None
        expired = self.clock() - survey.sent_at > csat.MAX_AGE
        return LinkTarget(survey, chat, choice.rating, expired)

    def page_message(self, target: LinkTarget, comment: str | None = None) -> InboundMessage:
        """The customer message the page stores: the rating confirmed, or the comment
        (one of each per survey: a second post is a repeat, stored once)."""
        survey, chat = target.survey, target.chat
        if comment is None:
            what, text = "rating", self.options.words.title(target.rating)
            payload = f"{csat.PREFIX}{survey.id}:{target.rating}"
        else:
            what, text = "comment", comment[: csat.COMMENT_LIMIT]
            payload = csat.comment_payload(survey.id)
        return InboundMessage(
            channel=str(chat.channel),
            chat_external_id=str(chat.external_id),
            message_external_id=f"{PAGE_PREFIX}{survey.id}:{what}",
            text=text,
            customer_name=chat.customer_name,
            payload=payload,
        )
