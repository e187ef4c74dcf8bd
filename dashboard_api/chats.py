"""The chat endpoints (docs/api.md): lists, detail, replies, the queue, claims and actions."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from aiohttp import web

from dashboard_api import schemas as s
from dashboard_api import uploads
from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, Route, json_response
from handoff.domain.errors import NotFound
from handoff.domain.modes import Action
from handoff.read.queries import ChatFilter, Page
from handoff.usecases.desk import ChatChange
from storage.models import Channel

TAG = "chats"


def _paged(call: Call, page: Page) -> web.Response:
    headers = {}
    if page.next_cursor:
        params = {k: v for k, v in call.request.query.items() if k != "cursor"}
        params["cursor"] = page.next_cursor
        url = call.request.url.with_query(None).path + "?" + urlencode(params)
        headers["Link"] = f'<{url}>; rel="next"'
        headers["X-Next-Cursor"] = page.next_cursor
    return json_response(page.rows, headers=headers)


async def list_chats(call: Call) -> web.Response:
    query = call.query_as(s.ChatListQuery)
    since = None
    if query.updated_since:
        try:
            since = datetime.fromisoformat(query.updated_since)
        except ValueError as exc:
            raise ApiError(
                422, "validation_error", "updated_since must be an ISO 8601 time",
                {"fields": [{"field": "updated_since", "message": "not an ISO 8601 time"}]},
            ) from exc  # fmt: skip
        if since.tzinfo is None:
            raise ApiError(422, "validation_error", "updated_since needs a time zone offset")
    chat_filter = ChatFilter(
        mode=query.mode,
        channel=query.channel.value if query.channel else None,
        assigned=query.assigned,
        q=query.q or None,
        updated_since=since,
        label=query.label,
        snoozed=query.snoozed,
        limit=query.limit,
        cursor=query.cursor,
    )
    return _paged(call, await call.context.core.queries.list_chats(call.actor, chat_filter))


async def queue(call: Call) -> web.Response:
    query = call.query_as(s.QueueQuery)
    page = await call.context.core.queries.queue(query.limit, query.cursor, label=query.label)
    return _paged(call, page)


async def chat_detail(call: Call) -> web.Response:
    query = call.query_as(s.DetailQuery)
    detail = await call.context.core.queries.detail(
        call.actor, call.int_param("chat_id"), limit=query.limit, before=query.before
    )
    return json_response(detail)


async def create_chat(call: Call) -> web.Response:
    body = call.body_as(s.CreateChat)
    core = call.context.core
    if body.phone is not None:
        return await _start_conversation(call, body.phone, body.customer_name)
    if not call.actor.is_admin and _reached_at_an_address(body):
        # One chat per customer and channel: the answer for an address that already has a
        # chat (another agent's, the bot's, a closed one) would tell an agent who is a
        # customer and whose. Agents get the same answer whether or not it exists, before
        # anything is looked up; admins, who see every chat, get 201 or 409 with its id.
        raise ApiError(
            403, "admins_only", "only admins start a chat at a customer's phone number or "
            "email address; ask an admin (a chat with this customer may already exist)",
        )  # fmt: skip
    chat = await core.desk.create_chat(call.actor, body.model_dump())
    return json_response(await core.queries.detail(call.actor, chat.id), status=201)


async def _start_conversation(call: Call, phone: str, name: str | None) -> web.Response:
    """``{"channel": "WhatsApp", "phone"}``: the chat of that number, the caller's in agent
    mode (201 when created, 200 when it existed); then a template reaches the customer."""
    core = call.context.core
    chat, created = await core.desk.start_conversation(call.actor, phone, name)
    return json_response(
        await core.queries.detail(call.actor, chat.id), status=201 if created else 200
    )


def _reached_at_an_address(body: s.CreateChat) -> bool:
    """Whether the chat would be keyed on a provider address (see ``handoff.usecases.desk``): a
    WhatsApp phone number or an email address, which another chat may already hold."""
    if body.channel == Channel.WHATSAPP:
        return any(ch.isdigit() for ch in body.customer_phone or "")
    return body.channel == Channel.EMAIL and bool(body.customer_email)


async def update_chat(call: Call) -> web.Response:
    body = call.body_as(s.UpdateChat)
    core = call.context.core
    change = ChatChange(
        mode=body.mode,
        assign="assigned_agent_id" in body.model_fields_set,
        assigned_agent_id=body.assigned_agent_id,
        online=body.online,
        force=body.force,
        priority=body.priority,
    )
    chat = await core.desk.change(call.actor, call.int_param("chat_id"), change)
    try:
        return json_response(await core.queries.detail(call.actor, chat.id))
    except NotFound:  # an agent who handed the chat on no longer sees it: the row says so
        return json_response(await core.queries.row(chat))


async def send_message(call: Call) -> web.Response:
    if uploads.is_form(call.request):  # a reply with files (dashboard_api/uploads.py)
        return await uploads.send_files(call)
    body = call.body_as(s.SendMessage)
    if body.internal and call.key is not None:  # a note needs a person to be its author
        raise ApiError(403, "forbidden", "an API key sends replies, not private notes")
    if body.internal:  # a private note: stored, never sent (docs/api.md)
        if body.template is not None:
            raise ApiError(
                422, "validation_error", "a note is text only: no template",
                {"fields": [{"field": "template", "message": "not with internal"}]},
            )  # fmt: skip
        note = await call.context.core.notes.add(call.actor, body.chat_id, body.text or "")
        return json_response(note, status=201)
    if body.template is not None:
        return await _send_template(call, body.chat_id, body.template)
    message = await call.context.core.desk.reply(call.actor, body.chat_id, body.text or "")
    return json_response(message, status=201)


async def _send_template(call: Call, chat_id: int, template: s.TemplateMessage) -> web.Response:
    """A WhatsApp template message (``text`` is ignored: the template rendered is the text)."""
    parameters = template.parameters.model_dump()
    message = await call.context.core.desk.send_template(
        call.actor, chat_id, template.name, template.language, parameters
    )
    return json_response(message, status=201)


async def cancel_message(call: Call) -> web.Response:
    message = await call.context.core.outbox.cancel(
        call.actor, call.int_param("chat_id"), call.int_param("message_id")
    )
    return json_response(message)


async def mark_read(call: Call) -> web.Response:
    chat_id = call.int_param("chat_id")
    row = await call.context.core.desk.mark_read(call.actor, chat_id)
    return json_response(
        {"message": "marked as read", "chat_id": chat_id, "unread": 0, "chat": row}
    )


async def typing(call: Call) -> web.Response:
    await call.context.core.typing(call.actor, call.int_param("chat_id"))
    return json_response({"typing": True})


def _action_route(path: str, action: Action, summary: str, *, with_agent: bool = False) -> Route:
    async def handler(call: Call) -> web.Response:
        agent_id = reason = None
        force = False
        if isinstance(call.body, s.AssignRequest):
            agent_id, reason, force = call.body.agent_id, call.body.reason, call.body.force
        elif isinstance(call.body, s.ActionRequest):
            reason = call.body.reason
        row = await call.context.core.desk.act(
            call.actor, call.int_param("chat_id"), action, to_agent_id=agent_id, reason=reason,
            force=force,
        )  # fmt: skip
        return json_response(row)

    return Route(
        "POST",
        f"/chats/{{chat_id}}/{path}",
        handler,
        summary,
        TAG,
        body=s.AssignRequest if with_agent else s.ActionRequest,
        body_optional=not with_agent,
        response=s.ChatRow,
        responses={
            403: "force without being an admin",
            404: "no such chat (or not yours)",
            409: "not allowed in the chat's mode, or the agent is at capacity "
            "(agent_at_capacity: details agent_id, agent_name, capacity, open, can_force)",
        },
    )


ROUTES = [
    Route(
        "GET", "/chats/", list_chats,
        "List chats, most recent activity first. Agents see the chats assigned to them. "
        "Filters: mode, channel, assigned, q, updated_since, label.",
        TAG, query=s.ChatListQuery, response=list[s.ChatRow],
    ),
    Route(
        "POST", "/chats/", create_chat,
        "Create a chat (agents: assigned to themselves). With {\"channel\": \"WhatsApp\", "
        "\"phone\": \"+62...\"} (E.164): start a WhatsApp conversation: the chat of that "
        "number, the caller's in agent mode (201 created, 200 it existed); then send a "
        "template (POST /chats/messages).", TAG,
        body=s.CreateChat, response=s.ChatDetail, status=201,
        responses={403: "admins_only: an agent gave customer_phone (WhatsApp) or "
                        "customer_email (the same answer whether or not that customer has a "
                        "chat); agents start a WhatsApp conversation with phone",
                   409: "(admins) a chat with this customer on this channel exists: "
                        "details.chat_id; (phone) chat_held: another agent holds that "
                        "number's chat; agent_at_capacity",
                   422: "invalid fields, e.g. an email address replies could not be sent to, "
                        "a phone that is not E.164 (+ and 7 to 15 digits)"},
    ),
    Route(
        "GET", "/chats/queue", queue,
        "Chats waiting for an agent: highest priority first, then longest waiting.", TAG,
        query=s.QueueQuery, response=list[s.ChatRow],
    ),
    Route(
        "POST", "/chats/messages", send_message,
        "Send an agent's reply (queued for delivery on the chat's channel). With "
        "\"internal\": true: a private note, never sent to the customer; @username in it "
        "makes that user a watcher of the chat (read and notes) and notifies them. With files: "
        "multipart/form-data, chat_id first (see docs/api.md); WhatsApp and Telegram send "
        "each file as a message of its own (all listed in messages).", TAG,
        body=s.SendMessage, form=s.SendFiles, response=s.MessageOut, status=201,
        responses={400: "malformed JSON or form", 404: "no such chat (or not yours)",
                   408: "upload_stalled: the upload stopped for 60 s",
                   409: "channel_refused: the channel refuses a free-form reply now "
                        "(WhatsApp's 24-hour window: send a template, see "
                        "GET /channels/whatsapp/templates)",
                   413: "file_too_large: a file (or the files together) larger than the "
                        "channel takes (details: file, content_type, max_bytes)",
                   422: "text missing; template: unknown_template, template_language, "
                        "template_not_approved, template_unsupported, template_parameters "
                        "(details.expected, details.given), not_whatsapp; files: "
                        "unsupported_file_type (details: file, content_type, accepted), "
                        "too_many_files",
                   503: "files_not_kept: this server keeps no files; files_unavailable: "
                        "the file store does not answer"},
    ),
    Route(
        "POST", "/chats/{chat_id}/messages/{message_id}/cancel", cancel_message,
        "Cancel a queued reply: it becomes failed with the error 'cancelled by <name>' "
        "(pushed as message.updated). Admins: any chat; agents: the chats assigned to them. "
        "A reply being handed to the provider at that moment may still go out (then: sent).",
        TAG, response=s.MessageOut,
        responses={404: "no such chat or message (or not your chat)",
                   409: "not_queued: the reply was already sent or failed (details.status)"},
    ),
    Route(
        "GET", "/chats/{chat_id}", chat_detail,
        "A chat with its profile and latest messages (page back with before=<message id>).",
        TAG, query=s.DetailQuery, response=s.ChatDetail, responses={404: "no such chat"},
    ),
    Route(
        "PATCH", "/chats/{chat_id}", update_chat,
        "Change mode, assigned agent, online or priority (none, low, medium, high, urgent); "
        "illegal mode changes are 409.", TAG,
        body=s.UpdateChat, response=s.ChatDetail,
        responses={403: "force without being an admin", 404: "no such chat (or not yours)",
                   409: "illegal mode change, or the agent is at capacity",
                   422: "an unknown priority"},
    ),
    Route(
        "POST", "/chats/{chat_id}/read", mark_read, "Mark the customer's messages read.", TAG,
        response=s.ReadResponse, responses={404: "no such chat (or not yours)"},
    ),
    Route(
        "POST", "/chats/{chat_id}/typing", typing,
        "The agent is typing: shown on other dashboards and, where it can, to the customer.",
        TAG, responses={404: "no such chat (or not yours)"},
    ),
    _action_route("claim", Action.CLAIM, "Take a chat from the queue."),
    _action_route("take-over", Action.TAKE_OVER, "Take a bot, paused or closed chat yourself."),
    _action_route("assign", Action.ASSIGN, "Assign the chat to an agent.", with_agent=True),
    _action_route("transfer", Action.TRANSFER, "Hand your chat to another agent.", with_agent=True),
    _action_route("unassign", Action.UNASSIGN, "Put the chat back in the queue."),
    _action_route("pause", Action.PAUSE, "Pause: neither the bot nor assignment acts."),
    _action_route("resume", Action.RESUME, "Resume a paused chat: the bot answers again."),
    _action_route("return-to-bot", Action.RETURN_TO_BOT, "Hand the chat back to the bot."),
    _action_route("close", Action.CLOSE, "Close the chat."),
    _action_route("reopen", Action.REOPEN, "Reopen a closed chat."),
]  # fmt: skip
