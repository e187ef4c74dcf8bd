"""Contacts as CSV (docs/api.md "CSV export and import"): the export, the import checked
whole before anything is written, formulas kept out of spreadsheets."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from storage.models import AuditEntry, Contact, ContactPoint
from tests.support import Api, mute_bot


@pytest.fixture(autouse=True)
def _quiet(admin: Api) -> None:
    mute_bot(admin.service.core)


async def export(api: Api) -> tuple[int, str, str]:
    async with api.client.get("/contacts/export", headers=api.headers()) as response:
        return response.status, response.content_type, await response.text()


async def send(api: Api, text: str | bytes, query: str = "") -> tuple[int, Any]:
    data = text.encode() if isinstance(text, str) else text
    return await api.call(
        "POST",
        f"/contacts/import{query}",
        data=io.BytesIO(data),
        headers={"Content-Type": "text/csv"},
    )


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def snapshot() -> tuple[Any, ...]:
    contacts = await Contact.all().order_by("id").values("id", "name", "notes", "attributes")
    points = await ContactPoint.all().order_by("id").values_list("contact_id", "value")
    return contacts, points, await AuditEntry.filter(action="contacts_imported").count()


async def test_the_export_is_csv_for_admins_with_formulas_made_harmless(
    admin: Api, agent: Api
) -> None:
    assert (await admin.post("/contact-attributes", {"key": "plan", "label": "Plan",
                                                     "type": "text"}))[0] == 201  # fmt: skip
    _, listed = await admin.get("/contacts?q=john")
    john = listed[0]["id"]
    status, _ = await admin.patch(
        f"/contacts/{john}",
        {"name": "=HYPERLINK(\"http://evil\")", "notes": "@SUM(1)",
         "attributes": {"plan": "-1+1"}},
    )  # fmt: skip
    assert status == 200
    status, kind, text = await export(admin)
    assert (status, kind) == (200, "text/csv")
    found = rows(text)
    assert list(found[0]) == ["id", "name", "phones", "emails", "identities", "notes",
                              "first_seen_at", "last_seen_at", "attribute.plan"]  # fmt: skip
    assert len(found) == 4
    row = next(r for r in found if r["id"] == str(john))
    assert row["name"] == '\'=HYPERLINK("http://evil")'
    assert row["notes"] == "'@SUM(1)" and row["attribute.plan"] == "'-1+1"
    assert row["phones"] == "'+6281234567890"
    assert row["identities"] == "WhatsApp:+6281234567890"
    maria = next(r for r in found if r["name"] == "Maria Lopez")
    assert maria["emails"] == "maria.lopez@example.org" and maria["phones"] == ""
    status, body = await agent.get("/contacts/export")
    assert (status, body["error"]["code"]) == (403, "forbidden")


async def test_export_then_import_gives_the_same_contacts(admin: Api) -> None:
    await admin.post("/contact-attributes", {"key": "vip", "label": "VIP", "type": "boolean"})
    await admin.post("/contact-attributes", {"key": "orders", "label": "N", "type": "number"})
    _, listed = await admin.get("/contacts?q=ahmed")
    ahmed = listed[0]["id"]
    await admin.patch(
        f"/contacts/{ahmed}",
        {"notes": "line one\nline two, \"quoted\"", "attributes": {"vip": True, "orders": 2.5},
         "emails": ["ahmed@example.com"], "phones": ["+62 811 1"]},
    )  # fmt: skip
    _, _, text = await export(admin)

    # Every row has its id: each contact is updated as it was.
    before = await Contact.all().order_by("id").values("id", "name", "notes", "attributes")
    status, body = await send(admin, text)
    assert (status, body) == (200, {"created": 0, "updated": 4, "dry_run": False})
    assert await Contact.all().order_by("id").values("id", "name", "notes", "attributes") == (
        before
    )

    # Without the ids (another installation's file): new contacts, numbers unverified, the
    # same name, numbers, addresses, notes and attributes; identities come only from providers.
    out = io.StringIO()
    csv.writer(out).writerows(record[1:] for record in csv.reader(io.StringIO(text)))
    without_ids = out.getvalue()
    status, body = await send(admin, without_ids)
    assert (status, body) == (200, {"created": 4, "updated": 0, "dry_run": False})
    _, found = await admin.get("/contacts?q=ahmed")
    copy, original = found  # newest first
    assert copy["id"] > original["id"]
    for key in ("name", "notes", "attributes"):
        assert copy[key] == original[key]
    assert [p["value"] for p in copy["phones"]] == [p["value"] for p in original["phones"]]
    assert copy["phones"] == [
        {"value": "+6289876543210", "verified": False},
        {"value": "+628111", "verified": False},
    ]
    assert copy["emails"] == [{"value": "ahmed@example.com", "verified": False}]
    assert copy["identities"] == [] and copy["first_seen_at"] is None


async def test_one_refused_row_refuses_the_file_and_says_why(admin: Api) -> None:
    await admin.post("/contact-attributes", {"key": "plan", "label": "Plan", "type": "list",
                                             "options": ["gold"]})  # fmt: skip
    before = await snapshot()
    text = (
        "name,phones,emails,attribute.plan,notes\n"
        "Good One,+628111,good@example.com,gold,fine\n"
        ",+628112,,,\n"
        "Bad Phone,0812345,,,\n"
        "Bad Mail,,not-mail,,\n"
        "Bad Plan,,,bronze,\n"
        "Good Two,,,,\n"
    )
    status, body = await send(admin, text)
    assert (status, body["error"]["code"]) == (422, "import_refused")
    assert [(r["row"], r["field"]) for r in body["error"]["details"]["rows"]] == [
        (3, "name"), (4, "phones"), (5, "emails"), (6, "attribute.plan"),
    ]  # fmt: skip
    assert await snapshot() == before  # nothing half-imported

    for bad, field in (
        ("name,colour\nx,red\n", "colour"),
        ("phones\n+628111\n", "name"),
        ("name,attribute.nope\nx,1\n", "attribute.nope"),
        ("id,name\n999999,Ghost\n", "id"),
        ("id,name\n1,A\n1,B\n", "id"),
    ):
        status, body = await send(admin, bad)
        assert (status, body["error"]["code"]) == (422, "import_refused"), bad
        assert field in [r["field"] for r in body["error"]["details"]["rows"]], body
    status, body = await send(admin, b"name\n\xff\xfe\n")
    assert (status, body["error"]["code"]) == (422, "import_refused")
    assert await snapshot() == before

    status, body = await send(admin, "name,phones\nNew,+628111\n", "?dry_run=true")
    assert (status, body) == (200, {"created": 1, "updated": 0, "dry_run": True})
    assert await snapshot() == before

    status, body = await send(admin, "name,phones,emails\nNew,'+628111;+628112,a@x.io\n")
    assert (status, body) == (200, {"created": 1, "updated": 0, "dry_run": False})
    new = await Contact.get(name="New")
    points = (
        await ContactPoint.filter(contact_id=new.id).order_by("id").values_list("value", "verified")
    )
    assert points == [("+628111", False), ("+628112", False), ("a@x.io", False)]
    entry = await AuditEntry.get(action="contacts_imported")
    assert entry.data == {"created": 1, "updated": 0} and entry.chat_id is None


async def test_import_limits_and_rights(admin: Api, agent: Api) -> None:
    status, body = await send(admin, "name\n" + "x" * (5 * 1024 * 1024))
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    status, body = await send(admin, "name\n" + "a\n" * 10_001)
    assert (status, body["error"]["code"]) == (422, "import_refused")
    assert body["error"]["details"]["rows"][-1]["message"] == "at most 10000 rows in one file"
    status, body = await admin.call("POST", "/contacts/import", {"name": "x"})
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    status, body = await send(agent, "name\nx\n")
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert not await Contact.filter(name__in=["a", "x"]).exists()


async def test_the_description_names_the_csv_body_and_the_key(admin: Api) -> None:
    _, spec = await admin.get("/openapi.json")
    body = spec["paths"]["/contacts/import"]["post"]["requestBody"]
    assert body == {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    assert "text/csv" in spec["paths"]["/contacts/export"]["get"]["responses"]["200"]["content"]
    [key] = spec["paths"]["/contact-attributes/{key}"]["delete"]["parameters"]
    assert key["schema"]["type"] == "string"
