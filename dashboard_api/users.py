"""Accounts: login, who am I, the agent list, and user management for admins."""

from __future__ import annotations

from aiohttp import web

from dashboard_api import schemas as s
from dashboard_api.auth import account_key
from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, Route, json_response
from handoff.usecases.presence import HEARTBEAT_TTL
from handoff.usecases.staff import NewUser, user_view

TAG = "users"


async def login(call: Call) -> web.Response:
    body = call.body_as(s.LoginRequest)
    context = call.context
    throttle = context.throttle
    account, address = throttle.keys(
        await account_key(body.identifier), throttle.client_address(call.request)
    )
    attempt = throttle.reserve(account, address)  # counted before the password is verified
    try:
        user = await context.core.staff.authenticate(body.identifier, body.password)
    except BaseException:
        throttle.failed(attempt)  # an attempt that did not prove its password stays counted
        raise
    if user is None:
        throttle.failed(attempt)
        raise ApiError(401, "invalid_credentials", "wrong username/email or password")
    throttle.succeeded(attempt)
    token, ttl = context.tokens.issue(user)
    return json_response(
        {"access_token": token, "token_type": "bearer", "expires_in": ttl, "user": user_view(user)}
    )


async def me(call: Call) -> web.Response:
    assert call.user is not None
    loads = await call.context.core.staff.loads()
    return json_response(user_view(call.user, loads.get(call.user.id, 0)))


async def agents(call: Call) -> web.Response:
    """Active people who can take chats: for transfer and assignment pickers."""
    staff = call.context.core.staff
    loads = await staff.loads()
    rows = [
        {
            "id": user.id,
            "display_name": user.display_name or user.username,
            "role": str(user.role),
            "capacity": user.capacity,
            "open_chats": loads.get(user.id, 0),
        }
        for user in await staff.list()
        if user.active
    ]
    return json_response(rows)


async def list_users(call: Call) -> web.Response:
    staff = call.context.core.staff
    loads = await staff.loads()
    return json_response([user_view(user, loads.get(user.id, 0)) for user in await staff.list()])


async def get_user(call: Call) -> web.Response:
    staff = call.context.core.staff
    user = await staff.get(call.int_param("user_id"))
    return json_response(user_view(user, (await staff.loads()).get(user.id, 0)))


async def create_user(call: Call) -> web.Response:
    body = call.body_as(s.CreateUser)
    user = await call.context.core.staff.create(
        NewUser(
            username=body.username,
            password=body.password,
            role=body.role,
            email=body.email or None,
            display_name=body.display_name,
            capacity=body.capacity,
        )
    )
    return json_response(user_view(user, 0), status=201)


async def update_user(call: Call) -> web.Response:
    body = call.body_as(s.UpdateUser)
    user_id = call.int_param("user_id")
    assert call.user is not None
    changes = body.model_dump(exclude_unset=True)
    if user_id == call.user.id and (
        changes.get("active") is False or changes.get("role") == "agent"
    ):
        raise ApiError(409, "conflict", "you cannot deactivate or demote yourself")
    core = call.context.core
    staff = core.staff
    before = await staff.get(user_id)
    user = await staff.update(user_id, changes)
    if user.token_version != before.token_version:  # their open sockets close, everywhere
        await core.bus.publish([staff.session_ended(user)])
    core.assigner.kick()  # more capacity, or someone active again
    return json_response(user_view(user, (await staff.loads()).get(user.id, 0)))


async def update_me(call: Call) -> web.Response:
    """Users change their own profile: the signature under their email replies."""
    body = call.body_as(s.UpdateProfile)
    assert call.user is not None
    staff = call.context.core.staff
    user = await staff.update(call.user.id, body.model_dump(exclude_unset=True))
    return json_response(user_view(user, (await staff.loads()).get(user.id, 0)))


async def heartbeat(call: Call) -> web.Response:
    """Keeps the caller online for a minute (for clients without the WebSocket)."""
    assert call.user is not None
    await call.context.core.presence.heartbeat(call.user.id, HEARTBEAT_TTL)
    return json_response({"online": True, "ttl": HEARTBEAT_TTL})


async def presence(call: Call) -> web.Response:
    online = await call.context.core.presence.online()
    return json_response({"online": sorted(online)})


ROUTES = [
    Route(
        "POST", "/auth/login", login, "Log in with username or email; returns a bearer token.",
        "auth", body=s.LoginRequest, response=s.LoginResponse, access="public",
        responses={401: "wrong credentials", 429: "too many failed attempts"},
    ),
    Route("GET", "/auth/me", me, "The logged-in user.", "auth", response=s.UserOut),
    Route("POST", "/presence", heartbeat, "Heartbeat: stay online for a minute.", TAG),
    Route("GET", "/presence", presence, "Ids of the users online now.", TAG),
    Route("GET", "/agents", agents, "Active users who can take chats.", TAG,
          response=list[s.AgentOut]),
    Route("GET", "/users", list_users, "All users (admins).", TAG, response=list[s.UserOut],
          access="admin"),
    Route("POST", "/users", create_user, "Create a user (admins).", TAG, body=s.CreateUser,
          response=s.UserOut, status=201, access="admin",
          responses={409: "username or email taken"}),
    Route("PATCH", "/users/me", update_me,
          "Change your own profile: the signature under your email replies.", TAG,
          body=s.UpdateProfile, response=s.UserOut),
    Route("GET", "/users/{user_id}", get_user, "One user (admins).", TAG, response=s.UserOut,
          access="admin", responses={404: "no such user"}),
    Route("PATCH", "/users/{user_id}", update_user,
          "Change a user: name, email, role, capacity, active, password, signature (admins).",
          TAG,
          body=s.UpdateUser, response=s.UserOut, access="admin",
          responses={404: "no such user", 409: "email taken"}),
]  # fmt: skip
