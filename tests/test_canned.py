"""Canned responses: who sees and changes which (shared: admins; personal: the owner alone),
what is refused when saved (short codes, lengths, unknown variables), unique short codes,
the search, and the variables filled for a chat."""

from __future__ import annotations

from typing import Any

import pytest

from handoff.domain import canned as rules
from handoff.domain.errors import Invalid
from storage.models import AuditEntry, CannedResponse
from tests.support import Api

GREETING = {
    "short_code": "hello",
    "title": "Greeting",
    "text": "Hi {{ customer.first_name }}, this is {{agent.name}}. (chat {{chat.id}})",
    "text_id": "Halo {{customer.first_name}}, saya {{agent.name}}.",
}


async def _new_agent(admin: Api, username: str) -> Api:
    status, user = await admin.post(
        "/users", {"username": username, "password": "canned-pass-4821", "display_name": "Ann"}
    )
    assert status == 201, user
    return await admin.login(username, "canned-pass-4821")


async def _create(api: Api, **fields: Any) -> dict[str, Any]:
    status, row = await api.post("/canned-responses", {**GREETING, **fields})
    assert status == 201, row
    return dict(row)


async def _codes(api: Api, query: str = "") -> list[tuple[str, str]]:
    status, rows = await api.get("/canned-responses" + query)
    assert status == 200, rows
    return [(row["scope"], row["short_code"]) for row in rows]


async def _john(api: Api) -> int:
    _, chats = await api.get("/chats/")
    return int(next(chat["id"] for chat in chats if chat["name"] == "John Doe"))


# -- rights and visibility -------------------------------------------------------------------


async def test_shared_ones_are_for_everyone_personal_ones_for_their_owner(
    admin: Api, agent: Api
) -> None:
    shared = await _create(admin, scope="shared", short_code="refund", title="Refund policy")
    assert shared["scope"] == "shared" and shared["owner_id"] is None
    assert set(shared) == {"id", "short_code", "title", "text", "text_id", "scope", "owner_id",
                           "created_at", "updated_at"}  # fmt: skip
    mine = await _create(agent, scope="personal", short_code="thanks", title="Thanks")
    _, me = await agent.get("/auth/me")
    assert (mine["scope"], mine["owner_id"]) == ("personal", me["id"])
    admins_own = await _create(admin, short_code="sig", title="Admin's own")  # personal: default
    assert admins_own["scope"] == "personal"

    assert await _codes(agent) == [("shared", "refund"), ("personal", "thanks")]
    assert await _codes(admin) == [("shared", "refund"), ("personal", "sig")]
    other = await _new_agent(admin, "ann")
    assert await _codes(other) == [("shared", "refund")]

    # Someone else's personal one does not exist for them, admins included.
    for api in (other, admin):
        status, body = await api.patch(f"/canned-responses/{mine['id']}", {"title": "Mine now"})
        assert (status, body["error"]["code"]) == (404, "not_found")
        status, body = await api.call("DELETE", f"/canned-responses/{mine['id']}")
        assert (status, body["error"]["code"]) == (404, "not_found")
    assert (await CannedResponse.get(id=mine["id"])).title == "Thanks"


async def test_only_admins_keep_shared_ones(admin: Api, agent: Api) -> None:
    status, body = await agent.post("/canned-responses", {**GREETING, "scope": "shared"})
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert not await CannedResponse.exists()

    shared = await _create(admin, scope="shared")
    status, body = await agent.patch(f"/canned-responses/{shared['id']}", {"title": "Mine"})
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await agent.call("DELETE", f"/canned-responses/{shared['id']}")
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert (await CannedResponse.get(id=shared["id"])).title == "Greeting"

    status, row = await admin.patch(
        f"/canned-responses/{shared['id']}", {"title": "Hello", "text_id": None}
    )
    assert status == 200, row
    assert (row["title"], row["text_id"], row["text"]) == ("Hello", None, GREETING["text"])
    assert row["updated_at"] >= row["created_at"]
    status, body = await admin.call("DELETE", f"/canned-responses/{shared['id']}")
    assert (status, body) == (200, {"deleted": True, "id": shared["id"]})
    assert not await CannedResponse.exists()
    assert (await admin.call("DELETE", f"/canned-responses/{shared['id']}"))[0] == 404

    # Who changed the shared ones is on record (no chat).
    entries = await AuditEntry.filter(chat_id=None).order_by("id")
    _, me = await admin.get("/auth/me")
    assert [(e.action, e.actor_id) for e in entries] == [
        ("canned_shared_created", me["id"]),
        ("canned_shared_updated", me["id"]),
        ("canned_shared_deleted", me["id"]),
    ]
    assert entries[1].data == {"canned_id": shared["id"], "short_code": "hello",
                               "fields": ["title", "text_id"]}  # fmt: skip


async def test_an_owner_changes_and_deletes_their_own(agent: Api) -> None:
    mine = await _create(agent)
    status, row = await agent.patch(
        f"/canned-responses/{mine['id']}", {"short_code": "hi", "text": "Hello {{customer.name}}"}
    )
    assert status == 200, row
    assert (row["short_code"], row["text"], row["text_id"]) == (
        "hi", "Hello {{customer.name}}", GREETING["text_id"],
    )  # fmt: skip
    status, body = await agent.call("DELETE", f"/canned-responses/{mine['id']}")
    assert status == 200, body
    assert await _codes(agent) == []
    assert not await AuditEntry.exists()  # personal ones are not recorded


async def test_a_token_is_needed(anon: Api) -> None:
    assert (await anon.get("/canned-responses"))[0] == 401
    assert (await anon.post("/canned-responses", GREETING))[0] == 401


# -- what is refused when saved --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"short_code": "two words"}, "short_code"),
        ({"short_code": ""}, "short_code"),
        ({"short_code": "x" * 65}, "short_code"),
        ({"short_code": "héllo"}, "short_code"),
        ({"title": ""}, "title"),
        ({"title": "t" * 129}, "title"),
        ({"text": ""}, "text"),
        ({"text": "x" * 4097}, "text"),
        ({"text_id": "x" * 4097}, "text_id"),
        ({"scope": "team"}, "scope"),
        ({"owner_id": 1}, "owner_id"),
    ],
)
async def test_bad_fields_are_422_and_store_nothing(
    agent: Api, fields: dict[str, Any], where: str
) -> None:
    status, body = await agent.post("/canned-responses", {**GREETING, **fields})
    assert (status, body["error"]["code"]) == (422, "validation_error"), body
    assert where in [f["field"] for f in body["error"]["details"]["fields"]]
    assert not await CannedResponse.exists()


async def test_the_longest_allowed_values_are_kept(agent: Api) -> None:
    row = await _create(agent, short_code="A-z_9" + "x" * 59, title="t" * 128, text="x" * 4096)
    assert (len(row["short_code"]), len(row["title"]), len(row["text"])) == (64, 128, 4096)


@pytest.mark.parametrize(
    ("text", "variable"),
    [
        ("Hi {{customer.email}}", "customer.email"),
        ("Hi {{ name }}", "name"),
        ("Hi {{}}", ""),
        ("Hi {{customer.name", "{{customer.name"),
        ("Hi customer.name}}", "Hi customer.name}}"),
        ("Hi {{customer name}}", "{{customer name}}"),
        ("Hi {{{customer.name}}}", "{{{customer.name}}"),
    ],
)
async def test_an_unknown_variable_or_a_broken_brace_is_refused(
    admin: Api, text: str, variable: str
) -> None:
    status, body = await admin.post("/canned-responses", {**GREETING, "text": text})
    assert (status, body["error"]["code"]) == (422, "unknown_variable"), body
    assert body["error"]["details"]["variable"] == variable
    assert body["error"]["details"]["field"] == "text"
    status, body = await admin.post("/canned-responses", {**GREETING, "text_id": text})
    assert (status, body["error"]["details"]["field"]) == (422, "text_id")
    row = await _create(admin)
    status, body = await admin.patch(f"/canned-responses/{row['id']}", {"text": text})
    assert (status, body["error"]["code"]) == (422, "unknown_variable")
    assert (await CannedResponse.get(id=row["id"])).text == GREETING["text"]


async def test_a_text_of_spaces_is_refused(agent: Api) -> None:
    status, body = await agent.post("/canned-responses", {**GREETING, "text": "   "})
    assert (status, body["error"]["code"]) == (422, "invalid_text")


async def test_short_codes_are_unique_per_owner(admin: Api, agent: Api) -> None:
    await _create(admin, scope="shared")
    status, body = await admin.post("/canned-responses", {**GREETING, "scope": "shared"})
    assert (status, body["error"]["code"]) == (409, "short_code_taken")
    assert body["error"]["details"]["short_code"] == "hello"
    # Each person's own are apart from the shared ones and from each other's.
    await _create(agent)
    other = await _new_agent(admin, "ann")
    await _create(other)
    status, body = await agent.post("/canned-responses", GREETING)
    assert (status, body["error"]["code"]) == (409, "short_code_taken")
    thanks = await _create(agent, short_code="thanks")
    status, body = await agent.patch(f"/canned-responses/{thanks['id']}", {"short_code": "hello"})
    assert (status, body["error"]["code"]) == (409, "short_code_taken")
    status, _ = await agent.patch(f"/canned-responses/{thanks['id']}", {"short_code": "thanks"})
    assert status == 200  # its own code again is no clash
    assert await CannedResponse.all().count() == 4


async def test_at_most_500_per_owner(agent: Api, admin: Api) -> None:
    _, me = await agent.get("/auth/me")
    await CannedResponse.bulk_create(
        [CannedResponse(owner_key=me["id"], short_code=f"c{n}", title="t", text="x")
         for n in range(rules.MAX_PER_OWNER)]
    )  # fmt: skip
    status, body = await agent.post("/canned-responses", GREETING)
    assert (status, body["error"]["code"]) == (409, "canned_limit")
    await _create(admin)  # another owner's count


# -- search and rendering --------------------------------------------------------------------


async def test_q_finds_by_short_code_title_and_text(admin: Api, agent: Api) -> None:
    await _create(admin, scope="shared", short_code="refund", title="Money back", text="We refund")
    await _create(agent, short_code="ship", title="Shipping times", text="Orders ship in 2 days")
    await _create(agent, short_code="late", title="Late order", text="Sorry, it ships tomorrow")
    assert await _codes(agent, "?q=REF") == [("shared", "refund")]
    assert await _codes(agent, "?q=ship") == [("personal", "ship"), ("personal", "late")]
    assert await _codes(agent, "?q=money") == [("shared", "refund")]
    assert await _codes(agent, "?q=order") == [("personal", "late"), ("personal", "ship")]
    assert await _codes(agent, "?q=nothing") == []
    assert len(await _codes(agent, "?q=")) == 3


async def test_chat_id_fills_the_variables_for_that_chat(admin: Api, agent: Api) -> None:
    await _create(admin, scope="shared")
    await _create(agent, short_code="bye", title="Bye", text="Bye {{customer.name}}!", text_id=None)
    john = await _john(agent)
    status, rows = await agent.get(f"/canned-responses?chat_id={john}")
    assert status == 200, rows
    by_code = {row["short_code"]: row for row in rows}
    assert by_code["hello"]["rendered"] == f"Hi John, this is Agent Smith. (chat {john})"
    assert by_code["hello"]["rendered_id"] == "Halo John, saya Agent Smith."
    assert by_code["hello"]["text"] == GREETING["text"]  # the saved text stays as it is
    assert (by_code["bye"]["rendered"], by_code["bye"]["rendered_id"]) == ("Bye John Doe!", None)
    _, rows = await admin.get(f"/canned-responses?chat_id={john}&q=hel")
    assert [row["rendered"] for row in rows] == [f"Hi John, this is Admin. (chat {john})"]
    _, rows = await agent.get("/canned-responses")
    assert "rendered" not in rows[0]


async def test_chat_id_respects_read_rights(admin: Api, agent: Api) -> None:
    _, chats = await admin.get("/chats/")
    sarah = next(chat["id"] for chat in chats if chat["name"] == "Sarah Williams")  # the bot's
    status, body = await agent.get(f"/canned-responses?chat_id={sarah}")
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert (await admin.get(f"/canned-responses?chat_id={sarah}"))[0] == 200
    assert (await agent.get("/canned-responses?chat_id=999999"))[0] == 404
    assert (await agent.get("/canned-responses?chat_id=x"))[0] == 422


# -- the rules themselves ---------------------------------------------------------------------


def test_rendering_is_pure_and_a_missing_value_renders_as_nothing() -> None:
    text = "{{customer.first_name}}|{{ customer.name }}|{{agent.name}}|{{chat.id}}"
    assert rules.render(text, rules.Context().values()) == "|||"
    values = rules.Context("  Siti  Nurhaliza ", "Budi", 7).values()
    assert rules.render(text, values) == "Siti|Siti  Nurhaliza|Budi|7"
    assert rules.first_name("") == "" and rules.first_name("Cher") == "Cher"
    assert rules.render("{single} braces {stay}", values) == "{single} braces {stay}"


def test_variables_lists_what_a_text_holds() -> None:
    assert rules.variables("{{a}} and {{ chat.id }}") == ["a", "chat.id"]
    assert rules.variables("no variables, {one} brace") == []
    assert rules.check_text("{{chat.id}}") == "{{chat.id}}"
    with pytest.raises(Invalid) as refused:
        rules.check_text("ok {{chat.id}} then {{agent.email}}")
    assert refused.value.details["variable"] == "agent.email"
