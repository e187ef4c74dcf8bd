"""The profile: each user changes their display name, signature, language, notification
preferences and password (the current one required)."""

from __future__ import annotations

from storage.models import User
from tests.support import Api


async def test_patch_me_changes_name_signature_language_and_preferences(agent: Api) -> None:
    status, me = await agent.patch(
        "/users/me",
        {"display_name": "Agent J. Smith", "signature": "Agent J.", "language": "id",
         "preferences": {"sound": False}},
    )  # fmt: skip
    assert status == 200, me
    assert (me["display_name"], me["signature"], me["language"], me["preferences"]) == (
        "Agent J. Smith", "Agent J.", "id", {"sound": False, "browser": True},
    )  # fmt: skip
    status, me = await agent.patch("/users/me", {"preferences": {"browser": False}})
    assert me["preferences"] == {"sound": False, "browser": False}  # the others stay
    _, again = await agent.get("/auth/me")
    assert (again["language"], again["preferences"]) == ("id", {"sound": False, "browser": False})
    # Another device: the login answer carries the stored language.
    status, login = await agent.post("/auth/login", {"identifier": "agent", "password": "agent123"})
    assert (status, login["user"]["language"], login["user"]["display_name"]) == (
        200, "id", "Agent J. Smith",
    )  # fmt: skip


async def test_bad_profile_values_are_refused_and_change_nothing(agent: Api) -> None:
    bad = [
        {"language": "fr"},
        {"preferences": {"vibrate": True}},
        {"preferences": {"sound": "yes"}},
        {"preferences": ["sound"]},
        {"display_name": ""},
        {"role": "admin"},  # not the user's to change
        {"capacity": 50},
        {"language": "id", "preferences": {"bogus": True}},  # all or nothing
    ]
    for body in bad:
        status, answer = await agent.patch("/users/me", body)
        assert (status, answer["error"]["code"]) == (422, "validation_error"), (body, answer)
    user = await User.get(username="agent")
    assert (user.language, user.preferences or {}, user.role, user.capacity) == (
        "en",
        {},
        "agent",
        5,
    )


async def test_changing_my_password_needs_the_current_one_and_ends_other_sessions(
    agent: Api,
) -> None:
    other_device = await agent.login("agent", "agent123")
    status, body = await agent.post(
        "/auth/password", {"current_password": "wrong-one-123", "new_password": "brand-new-7719"}
    )
    assert (status, body["error"]["code"], body["error"]["details"]["field"]) == (
        422, "wrong_password", "current_password",
    )  # fmt: skip
    status, body = await agent.post(
        "/auth/password", {"current_password": "agent123", "new_password": "password"}
    )
    assert (status, body["error"]["details"]["field"]) == (422, "new_password")
    assert (await other_device.get("/auth/me"))[0] == 200  # nothing changed yet

    status, body = await agent.post(
        "/auth/password", {"current_password": "agent123", "new_password": "brand-new-7719"}
    )
    assert status == 200, body
    assert (await other_device.get("/auth/me"))[0] == 401  # the other session ended
    assert (await agent.get("/auth/me"))[0] == 401  # so did the old token of this one
    this_device = Api(agent.client, body["access_token"])  # this one goes on with a new token
    assert (await this_device.get("/auth/me"))[1]["username"] == "agent"
    assert (await agent.login("agent", "brand-new-7719")).token
    status, _ = await agent.post("/auth/login", {"identifier": "agent", "password": "agent123"})
    assert status == 401


async def test_password_guesses_on_the_change_route_are_limited(agent: Api) -> None:
    wrong = {"current_password": "not-it-0000", "new_password": "brand-new-7719"}
    statuses = [(await agent.post("/auth/password", wrong))[0] for _ in range(6)]
    assert statuses[:5] == [422] * 5 and statuses[5] == 429
