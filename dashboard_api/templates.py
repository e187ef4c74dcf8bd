"""WhatsApp message templates (docs/api.md): the approved list, and an admin's sync."""

from __future__ import annotations

from aiohttp import web

from dashboard_api import schemas as s
from dashboard_api.routing import Call, Route, json_response

TAG = "templates"


async def list_templates(call: Call) -> web.Response:
    return json_response(await call.context.core.templates.approved())


async def sync_templates(call: Call) -> web.Response:
    result = await call.context.core.templates.sync()
    return json_response(result.as_dict())


ROUTES = [
    Route(
        "GET", "/channels/whatsapp/templates", list_templates,
        "The approved WhatsApp message templates (as last synced), with how many values "
        "each part takes: send one with POST /chats/messages {\"chat_id\", \"template\"}.",
        TAG, response=list[s.TemplateOut],
    ),
    Route(
        "POST", "/channels/whatsapp/templates/sync", sync_templates,
        "Read the business account's templates from the Graph API now (all pages): new and "
        "changed ones stored, those no longer listed removed. Answers the counts.",
        TAG, access="admin", response=s.TemplateSync,
        responses={403: "not an admin",
                   409: "templates_unavailable: the WhatsApp channel is off, "
                        "channels.whatsapp.business_account_id is not set, or the Graph API "
                        "could not be read (nothing changed); templates_busy: another "
                        "process synced at the same moment"},
    ),
]  # fmt: skip
