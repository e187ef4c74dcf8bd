"""Accounts: login, who am I, the agent list, and user management for admins."""

from __future__ import annotations

from aiohttp import web

from dashboard_api import schemas as s
from dashboard_api.auth import account_key, actor_for
from dashboard_api.errors import ApiError
from dashboard_api.routing import Call, Route, json_response
from handoff.domain import modes
from handoff.domain.availability import effective_status
from handoff.usecases.presence import HEARTBEAT_TTL
from handoff.usecases.staff import NewUser, user_view
from storage.models import Availability, User

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
    view = await _view(call, user)
    view["copilot"] = context.core.copilot.available  # the console shows its buttons
    return json_response(
        {"access_token": token, "token_type": "bearer", "expires_in": ttl, "user": view}
    )


async def _view(call: Call, user: User) -> dict[str, object]:
    """``user`` as the API shows them, with their load and status."""
    core = call.context.core
    online = await core.presence.online()
    load = (await core.staff.loads()).get(user.id, 0)
    return user_view(user, load, connected=user.id in online)


async def me(call: Call) -> web.Response:
    assert call.user is not None
    view = await _view(call, call.user)
    view["copilot"] = call.context.core.copilot.available  # the console shows its buttons
    return json_response(view)


async def _people(call: Call) -> tuple[set[int], list[dict[str, object]]]:
    """Who is connected, and every active user's availability, status and load."""
    core = call.context.core
    online = await core.presence.online()
    loads = await core.staff.loads()
    rows: list[dict[str, object]] = [
        {
            "id": user.id,
            "display_name": user.display_name or user.username,
            "username": user.username,
            "role": str(user.role),
            "capacity": user.capacity,
            "open_chats": loads.get(user.id, 0),
            "availability": str(user.availability),
            "status": effective_status(user.availability, user.id in online),
        }
        for user in await core.staff.list()
        if user.active
    ]
    return online, rows


async def agents(call: Call) -> web.Response:
    """Active people who can take chats: for transfer and assignment pickers."""
    _, rows = await _people(call)
    return json_response(rows)


async def list_users(call: Call) -> web.Response:
    core = call.context.core
    online = await core.presence.online()
    loads = await core.staff.loads()
    return json_response(
        [
            user_view(user, loads.get(user.id, 0), connected=user.id in online)
            for user in await core.staff.list()
        ]
    )


async def get_user(call: Call) -> web.Response:
    user = await call.context.core.staff.get(call.int_param("user_id"))
    return json_response(await _view(call, user))


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
    if before.active and not user.active:  # nobody will answer their chats: to the queue
        await core.roster.release(user.id, modes.AGENT_DEACTIVATED)
    core.assigner.kick()  # more capacity, or someone active again
    return json_response(await _view(call, user))


async def update_me(call: Call) -> web.Response:
    """Users change their own profile: display name, signature, language, preferences."""
    body = call.body_as(s.UpdateProfile)
    assert call.user is not None
    changes = body.model_dump(exclude_unset=True)
    if "display_name" in changes and changes["display_name"] is None:
        del changes["display_name"]  # a name cannot be removed
    user = await call.context.core.staff.update(call.user.id, changes)
    return json_response(await _view(call, user))


async def change_password(call: Call) -> web.Response:
    """Change your own password (the current one required); your other sessions end, this
    one goes on with the new token returned."""
    body = call.body_as(s.ChangePassword)
    assert call.user is not None
    context = call.context
    throttle = context.throttle
    attempt = throttle.reserve(
        *throttle.keys(f"user:{call.user.id}", throttle.client_address(call.request))
    )
    staff = context.core.staff
    try:
        user = await staff.change_password(call.user.id, body.current_password, body.new_password)
    except BaseException as exc:
        if getattr(exc, "code", "") == "wrong_password" or not isinstance(exc, Exception):
            throttle.failed(attempt)
        else:
            throttle.succeeded(attempt)
        raise
    throttle.succeeded(attempt)
    await context.core.bus.publish([staff.session_ended(user)])  # other consoles close
    token, ttl = context.tokens.issue(user)
    view = await _view(call, user)
    view["copilot"] = context.core.copilot.available  # the console shows its buttons
    return json_response(
        {"access_token": token, "token_type": "bearer", "expires_in": ttl, "user": view}
    )


async def heartbeat(call: Call) -> web.Response:
    """Keeps the caller online for a minute (for clients without the WebSocket)."""
    assert call.user is not None
    await call.context.core.presence.heartbeat(call.user.id, HEARTBEAT_TTL)
    return json_response({"online": True, "ttl": HEARTBEAT_TTL})


async def presence(call: Call) -> web.Response:
    online, people = await _people(call)
    return json_response({"online": sorted(online), "people": people})


async def set_availability(call: Call) -> web.Response:
    """Say you are online, away or offline: ``presence.updated`` goes to everyone; going
    offline returns your agent-mode chats to the queue."""
    body = call.body_as(s.SetAvailability)
    assert call.user is not None
    answer = await call.context.core.roster.set_availability(
        actor_for(call.user), Availability(body.status)
    )
    return json_response(answer)


ROUTES = [
    Route(
        "POST", "/auth/login", login, "Log in with username or email; returns a bearer token.",
        "auth", body=s.LoginRequest, response=s.LoginResponse, access="public",
        responses={401: "wrong credentials", 429: "too many failed attempts"},
    ),
    Route("GET", "/auth/me", me, "The logged-in user.", "auth", response=s.UserOut),
    Route("POST", "/auth/password", change_password,
          "Change your own password (the current one required); your other sessions end.",
          "auth", body=s.ChangePassword, response=s.LoginResponse,
          responses={422: "wrong current password, or a new one the rules refuse",
                     429: "too many wrong passwords"}),
    Route("POST", "/presence", heartbeat, "Heartbeat: stay online for a minute.", TAG,
          response=s.HeartbeatOut),
    Route("GET", "/presence", presence,
          "Who is connected, and each active user's availability, status and load.", TAG,
          response=s.PresenceOut),
    Route("PUT", "/presence/me", set_availability,
          "Set yourself online, away or offline (offline returns your chats to the queue).",
          TAG, body=s.SetAvailability, response=s.AvailabilityOut),
    Route("GET", "/agents", agents, "Active users who can take chats.", TAG,
          response=list[s.AgentOut]),
    Route("GET", "/users", list_users, "All users (admins).", TAG, response=list[s.UserOut],
          access="admin"),
    Route("POST", "/users", create_user, "Create a user (admins).", TAG, body=s.CreateUser,
          response=s.UserOut, status=201, access="admin",
          responses={409: "username or email taken"}),
    Route("PATCH", "/users/me", update_me,
          "Change your own profile: display name, signature, language, preferences.", TAG,
          body=s.UpdateProfile, response=s.UserOut),
    Route("GET", "/users/{user_id}", get_user, "One user (admins).", TAG, response=s.UserOut,
          access="admin", responses={404: "no such user"}),
    Route("PATCH", "/users/{user_id}", update_user,
          "Change a user: name, email, role, capacity, active, password, signature (admins); "
          "deactivating returns their open chats to the queue.",
          TAG,
          body=s.UpdateUser, response=s.UserOut, access="admin",
          responses={404: "no such user", 409: "email taken"}),
]  # fmt: skip
