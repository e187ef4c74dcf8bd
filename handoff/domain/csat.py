"""Customer satisfaction surveys: the words, the choices, and the signed links (no I/O).

A survey offers five choices, each with the id ``csat:<survey id>:<rating>`` (a WhatsApp
list row's id, a Telegram button's callback data); the customer's choice comes back as that
payload. Email carries five links instead, each a token signed with a key derived from the
service's secret (``auth.jwt_secret``): ``<survey id>.<rating>.<mac>``. A comment sent from
the public page comes in as the payload ``csat:<survey id>:comment``. docs/api.md, "Customer
satisfaction".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

PREFIX = "csat:"
KIND = "csat"
# A rating more than this after the survey was sent is ignored; a conversation closed within
# this of a survey to the chat is not asked again.
MAX_AGE = timedelta(days=7)
RATINGS = (5, 4, 3, 2, 1)  # as offered, best first
# WhatsApp list rows' titles hold 24 characters; Telegram buttons show them as they are.
TITLES = {5: "5 - Excellent", 4: "4 - Good", 3: "3 - Okay", 2: "2 - Poor", 1: "1 - Very poor"}
LIST_BUTTON = "Rate us"  # the WhatsApp list's button (20 characters at most)
QUESTION = "How did we do? Please rate this conversation from 1 (very poor) to 5 (excellent)."
EMAIL_QUESTION = (
    "How did we do? Please rate this conversation from 1 (very poor) to 5 (excellent) by "
    "opening one of these links:"
)
COMMENT_LIMIT = 2000  # characters of a comment sent from the page
_KEY_LABEL = b"msgcenter csat links v1"
_MAC_BYTES = 16


THANKS = (
    "Thank you for your rating ({rating})! If you would like to tell us more, just write it in "
    "your next message."
)
TITLE_LIMIT = 24  # characters of a WhatsApp list row's title
BUTTON_LIMIT = 20  # characters of a WhatsApp list's button


@dataclass(frozen=True, slots=True)
class Words:
    """What the customer reads (``[csat]`` settings, in the customers' language): the
    question (in a chat, and above the email's links), the five choices' titles (ratings 1
    to 5), the WhatsApp list's button, and the thanks (``{rating}``: the rating's title)."""

    question: str = QUESTION
    email_question: str = EMAIL_QUESTION
    titles: tuple[str, ...] = tuple(TITLES[rating] for rating in (1, 2, 3, 4, 5))
    button: str = LIST_BUTTON
    thanks: str = THANKS

    def __post_init__(self) -> None:
        if len(self.titles) != len(RATINGS):
            raise ValueError("a survey has five titles, for the ratings 1 to 5")
        if any(not 0 < len(title) <= TITLE_LIMIT for title in self.titles):
            raise ValueError(f"a title holds 1 to {TITLE_LIMIT} characters")
        if not 0 < len(self.button) <= BUTTON_LIMIT:
            raise ValueError(f"the button holds 1 to {BUTTON_LIMIT} characters")

    def title(self, rating: int) -> str:
        return self.titles[rating - 1]

    def thanks_for(self, rating: int) -> str:
        """What the customer is told after rating."""
        return self.thanks.replace("{rating}", self.title(rating))


ENGLISH = Words()


def options(survey_id: int, words: Words = ENGLISH) -> list[dict[str, Any]]:
    return [
        {"id": f"{PREFIX}{survey_id}:{rating}", "title": words.title(rating)} for rating in RATINGS
    ]


def interactive(survey_id: int, words: Words = ENGLISH) -> dict[str, Any]:
    """``Message.interactive`` of a survey."""
    return {
        "kind": KIND,
        "survey_id": survey_id,
        "button": words.button,
        "options": options(survey_id, words),
    }


def comment_payload(survey_id: int) -> str:
    return f"{PREFIX}{survey_id}:comment"


@dataclass(frozen=True, slots=True)
class Choice:
    """A survey payload read: a rating 1-5, or a comment (``rating`` None)."""

    survey_id: int
    rating: int | None


def is_survey_payload(payload: str | None) -> bool:
    return payload is not None and payload.startswith(PREFIX)


def parse(payload: str) -> Choice | None:
    """``csat:<id>:<1-5>`` or ``csat:<id>:comment``; None for anything else."""
    if not payload.startswith(PREFIX):
        return None
    survey, _, what = payload[len(PREFIX) :].partition(":")
    if not (survey.isascii() and survey.isdigit()) or len(survey) > 18:
        return None
    if what == "comment":
        return Choice(int(survey), None)
    if len(what) == 1 and what in "12345":
        return Choice(int(survey), int(what))
    return None


def link_key(secret: str) -> bytes:
    """The key of the links, derived from the service's secret (never a default)."""
    if len(secret.encode()) < 32:
        raise ValueError("the survey links need a secret of at least 32 bytes")
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _mac(key: bytes, survey_id: int, rating: int) -> str:
    digest = hmac.new(key, f"{PREFIX}{survey_id}:{rating}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode().rstrip("=")


def sign(key: bytes, survey_id: int, rating: int) -> str:
    """The token of one link: ``<survey id>.<rating>.<mac>``."""
    return f"{survey_id}.{rating}.{_mac(key, survey_id, rating)}"


def verify(key: bytes, token: str) -> Choice | None:
    """The survey and rating a token names, if it was signed with ``key``; else None."""
    if len(token) > 64 or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    survey, rating, mac = parts
    if not (survey.isdigit() and len(survey) <= 18 and len(rating) == 1 and rating in "12345"):
        return None
    expected = _mac(key, int(survey), int(rating))
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        return None
    return Choice(int(survey), int(rating))
