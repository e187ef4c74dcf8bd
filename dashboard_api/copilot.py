"""The agents' copilot (docs/api.md "Copilot"): a draft reply, a summary note, a translation,
each from the model of ``bot.llm``; nothing reaches the customer until a person sends it."""

from __future__ import annotations

from aiohttp import web

from dashboard_api import schemas as s
from dashboard_api.routing import Call, Route, json_response

TAG = "copilot"

# What each copilot route may answer besides its success (docs/api.md "Copilot").
ERRORS = {
    409: "copilot_unavailable: no model is set (bot.llm.base_url, model) or copilot.enabled "
         "is false",
    429: "budget_spent: bot.llm.daily_tokens is spent for today",
    502: "model_error: the model answered with an error or an answer that cannot be used "
         "(details.reason)",
    504: "model_timeout: no answer within bot.llm.timeout",
}  # fmt: skip


async def suggest(call: Call) -> web.Response:
    draft = await call.context.core.copilot.suggest(call.actor, call.int_param("chat_id"))
    return json_response({"text": draft.text, "sources": list(draft.sources)})


async def summarize(call: Call) -> web.Response:
    note = await call.context.core.copilot.summarize(call.actor, call.int_param("chat_id"))
    return json_response({"note": note}, status=201)


async def translate(call: Call) -> web.Response:
    body = call.body_as(s.TranslateRequest)
    done = await call.context.core.copilot.translate(
        call.actor, call.int_param("chat_id"), message_id=body.message_id, text=body.text,
        to=body.to,
    )  # fmt: skip
    return json_response({"text": done.text, "to": done.to})


ROUTES = [
    Route(
        "POST", "/chats/{chat_id}/copilot/suggest", suggest,
        "A draft reply from the knowledge base and the conversation, in the customer's "
        "language, with the articles it rests on; for whoever may reply in the chat. Nothing "
        "is sent.", TAG, body=s.CopilotEmpty, body_optional=True, response=s.Suggestion,
        responses={404: "no such chat (or not yours; claim_first: claim it from the queue; "
                        "notes_only: you watch it)", **ERRORS},
    ),
    Route(
        "POST", "/chats/{chat_id}/copilot/summarize", summarize,
        "A private note summarizing the conversation (the customer's issue, what was done, "
        "what is pending), written by you; for whoever may write a note in the chat.", TAG,
        body=s.CopilotEmpty, body_optional=True, response=s.SummaryNote, status=201,
        responses={404: "no such chat (or not yours; claim_first: claim it from the queue)",
                   **ERRORS},
    ),
    Route(
        "POST", "/chats/{chat_id}/copilot/translate", translate,
        "A message of the chat into your language (or to), or a draft into the customer's "
        "language (or to); for whoever may read the chat.", TAG,
        body=s.TranslateRequest, response=s.TranslationOut,
        responses={404: "no such chat (or not yours), or no such message in it",
                   422: "not exactly one of message_id and text; to not a language code",
                   **ERRORS},
    ),
]  # fmt: skip
