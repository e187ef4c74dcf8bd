"""API channels (docs/api.md, "API channel"): admins manage them; a system posts its
customers' messages with an API key of scope ``messages:write``."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field, StringConstraints

from connectors.base import StorageUnavailable
from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, Route, json_response
from dashboard_api.schemas import Open, Strict
from handoff.usecases import api_channels as channels
from handoff.usecases.api_channels import CustomerMessage

TAG = "integrations"

Name = Annotated[str, StringConstraints(min_length=1, max_length=channels.MAX_NAME_CHARS)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Secret = Annotated[
    str, StringConstraints(min_length=channels.SECRET_CHARS[0], max_length=channels.SECRET_CHARS[1])
]
# Printable, no surrounding spaces: ids a system gives.
Id = r"^\S(.*\S)?$"


class CreateApiChannel(Strict):
    name: Name
    callback_url: Url
    secret: Secret


class UpdateApiChannel(Strict):
    name: Name | None = None
    callback_url: Url | None = None
    secret: Secret | None = None
    active: bool | None = None


class ApiChannelOut(Open):
    id: int
    name: str
    callback_url: str
    messages_path: str  # where the system posts its customers' messages
    active: bool
    created_at: str | None
    updated_at: str | None


class ApiChannelList(Open):
    items: list[ApiChannelOut]


class Customer(Strict):
    id: Annotated[
        str,
        StringConstraints(min_length=1, max_length=channels.MAX_CUSTOMER_ID_CHARS, pattern=Id),
    ]
    name: Annotated[str, StringConstraints(max_length=channels.MAX_CUSTOMER_NAME_CHARS)] = ""


class PostCustomerMessage(Strict):
    external_id: Annotated[
        str,
        StringConstraints(min_length=1, max_length=channels.MAX_EXTERNAL_ID_CHARS, pattern=Id),
    ]
    customer: Customer
    text: Annotated[str, Field(min_length=1, max_length=channels.MAX_TEXT_CHARS)]
    # The id of an option the customer chose on a message with "interactive" choices (a
    # satisfaction survey's rating); "text" is then what they saw, e.g. the option's title.
    payload: (
        Annotated[
            str, StringConstraints(min_length=1, max_length=channels.MAX_PAYLOAD_CHARS, pattern=Id)
        ]
        | None
    ) = None


class PostedMessage(Open):
    chat_id: int
    message_id: int
    created: bool  # false: this external_id was stored before (these are its ids)


async def create_channel(call: Call) -> web.Response:
    body = call.body_as(CreateApiChannel)
    row = await call.context.core.api_channels.create(
        call.actor, body.name, body.callback_url, body.secret
    )
    return json_response(row, status=201)


async def list_channels(call: Call) -> web.Response:
    return json_response({"items": await call.context.core.api_channels.list()})


async def get_channel(call: Call) -> web.Response:
    return json_response(await call.context.core.api_channels.get(call.int_param("channel_id")))


async def update_channel(call: Call) -> web.Response:
    body = call.body_as(UpdateApiChannel)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    row = await call.context.core.api_channels.update(
        call.actor, call.int_param("channel_id"), changes
    )
    return json_response(row)


async def delete_channel(call: Call) -> web.Response:
    await call.context.core.api_channels.delete(call.actor, call.int_param("channel_id"))
    return web.Response(status=204)


async def post_message(call: Call) -> web.Response:
    body = call.body_as(PostCustomerMessage)
    core = call.context.core
    message = CustomerMessage(
        external_id=body.external_id,
        customer_id=body.customer.id,
        customer_name=body.customer.name,
        text=body.text,
        payload=body.payload,
    )
    try:
        result = await core.api_channels.receive(core.sink(), call.int_param("channel_id"), message)
    except StorageUnavailable as exc:  # as the providers' webhooks: nothing stored, post again
        raise ApiError(503, "database_unavailable", str(exc), headers={"Retry-After": "5"}) from exc
    return json_response(result)


PATH = "/channels/api"
ROUTES = [
    Route(
        "POST", PATH, create_channel,
        "Make an API channel (admins): replies to its chats are posted, signed with the "
        "secret, to callback_url.", TAG,
        body=CreateApiChannel, response=ApiChannelOut, status=201, access="admin",
        responses={422: "destination_refused: msgcenter may not post to callback_url "
                        "(integrations.allow_private_destinations)"},
    ),
    Route(
        "GET", PATH, list_channels, "The API channels (admins); never their secrets.", TAG,
        response=ApiChannelList, access="admin",
    ),
    Route(
        "GET", PATH + "/{channel_id}", get_channel, "An API channel (admins).", TAG,
        response=ApiChannelOut, access="admin", responses={404: "no such channel"},
    ),
    Route(
        "PATCH", PATH + "/{channel_id}", update_channel,
        "Change an API channel's name, callback_url, secret or active (admins).", TAG,
        body=UpdateApiChannel, response=ApiChannelOut, access="admin",
        responses={404: "no such channel", 422: "destination_refused"},
    ),
    Route(
        "DELETE", PATH + "/{channel_id}", delete_channel,
        "Delete an API channel (admins): it takes no more messages; its chats stay, and "
        "replies to them fail.", TAG,
        status=204, access="admin", responses={404: "no such channel"},
    ),
    Route(
        "POST", PATH + "/{channel_id}/messages", post_message,
        "A customer's message, posted by the channel's system with an API key "
        "(messages:write): created true, or false with the same ids when this external_id "
        "was stored before. Then the bot, handoff and agents as on every channel.", TAG,
        body=PostCustomerMessage, response=PostedMessage, access="key",
        scope="messages:write",
        responses={403: "a person's token (keys only), or insufficient_scope",
                   404: "no such channel, or not active",
                   409: "external_id_taken: another customer's message on this channel has "
                        "this external_id",
                   429: "rate_limited: the key's requests a minute (Retry-After)",
                   503: "database_unavailable: nothing was stored; post again"},
    ),
]  # fmt: skip
