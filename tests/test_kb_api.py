"""/kb/articles and /kb/search (docs/api.md, "Knowledge base"): everyone signed in reads,
admins write, bad input is a JSON error that changes nothing."""

from __future__ import annotations

from typing import Any

from storage.models import AuditEntry, KbArticle, KbChunk
from tests.support import Api

REFUNDS = {
    "title": "Refund policy",
    "body": "# Refunds\n\nWe refund within **7 days**.\n\n## Cards\n\nCards take 14 days.",
    "language": "en",
    "tags": ["billing", "refunds"],
}


async def _create(api: Api, **fields: Any) -> dict[str, Any]:
    status, article = await api.post("/kb/articles", {**REFUNDS, **fields})
    assert status == 201, article
    return dict(article)


async def test_admins_write_everyone_reads(admin: Api, agent: Api) -> None:
    article = await _create(admin)
    assert set(article) == {"id", "title", "body", "language", "tags", "source", "passages",
                            "created_at", "updated_at"}  # fmt: skip
    assert (article["passages"], article["source"]) == (2, None)

    status, one = await agent.get(f"/kb/articles/{article['id']}")
    assert (status, one) == (200, article)
    status, page = await agent.get("/kb/articles")
    assert status == 200 and page["next_cursor"] is None
    (item,) = page["items"]
    assert "body" not in item and item["excerpt"] == "We refund within 7 days. Cards take 14 days."

    for method, path, body in (
        ("POST", "/kb/articles", REFUNDS),
        ("PATCH", f"/kb/articles/{article['id']}", {"title": "Mine"}),
        ("DELETE", f"/kb/articles/{article['id']}", None),
    ):
        status, error = await agent.call(method, path, body)
        assert (status, error["error"]["code"]) == (403, "forbidden"), (method, error)
    assert await KbArticle.all().count() == 1
    assert (await KbArticle.get(id=article["id"])).title == "Refund policy"

    status, changed = await admin.patch(
        f"/kb/articles/{article['id']}", {"body": "Short now.", "tags": ["money"]}
    )
    assert status == 200 and changed["passages"] == 1 and changed["tags"] == ["money"]
    assert changed["title"] == "Refund policy" and changed["updated_at"] >= article["updated_at"]
    status, _ = await admin.call("DELETE", f"/kb/articles/{article['id']}")
    assert status == 204
    assert await KbChunk.all().count() == 0
    status, error = await agent.get(f"/kb/articles/{article['id']}")
    assert (status, error["error"]["code"]) == (404, "unknown_article")
    entries = await AuditEntry.filter(action__startswith="kb_article").order_by("id")
    assert [(e.action, e.data["article_id"]) for e in entries] == [
        ("kb_article_created", article["id"]),
        ("kb_article_updated", article["id"]),
        ("kb_article_deleted", article["id"]),
    ]
    assert entries[1].data["fields"] == ["body", "tags"]


async def test_bad_articles_are_refused_and_change_nothing(admin: Api) -> None:
    article = await _create(admin)
    bad_creates = [
        ({**REFUNDS, "title": ""}, "validation_error", "title"),
        ({**REFUNDS, "title": "t" * 201}, "validation_error", "title"),
        ({**REFUNDS, "language": "fr"}, "validation_error", "language"),
        ({**REFUNDS, "tags": [f"t{i}" for i in range(21)]}, "validation_error", "tags"),
        ({**REFUNDS, "tags": ["t" * 65]}, "validation_error", "tags.0"),
        ({**REFUNDS, "body": "b" * 100_001}, "invalid_article", "body"),
        ({**REFUNDS, "body": "\n\n  \n"}, "invalid_article", "body"),
        ({**REFUNDS, "extra": 1}, "validation_error", "extra"),
        ({"title": "x"}, "validation_error", "body"),
    ]
    for body, code, field in bad_creates:
        status, error = await admin.post("/kb/articles", body)
        assert (status, error["error"]["code"]) == (422, code), (field, error)
        details = error["error"]["details"]
        fields = [f["field"] for f in details.get("fields", [])] or [details.get("field")]
        assert field in fields, (field, error)
    for body in ({}, {"title": None}, {"language": "de"}, {"body": "b" * 100_001}):
        status, error = await admin.patch(f"/kb/articles/{article['id']}", body)
        assert status == 422, (body, error)
    assert await KbArticle.all().count() == 1
    assert (await KbArticle.get(id=article["id"])).body == REFUNDS["body"]
    status, error = await admin.patch("/kb/articles/999999", {"title": "x"})
    assert (status, error["error"]["code"]) == (404, "unknown_article")
    status, error = await admin.call("DELETE", "/kb/articles/999999")
    assert (status, error["error"]["code"]) == (404, "unknown_article")


async def test_the_list_filters_searches_and_pages(admin: Api, agent: Api) -> None:
    refunds = await _create(admin)
    shipping = await _create(
        admin, title="Pengiriman", body="Kami kirim dari Bandung dengan JNE.", language="id",
        tags=["Pengiriman"],
    )  # fmt: skip
    third = await _create(admin, title="Vouchers", body="One voucher per order.", tags=[])

    async def titles(query: str) -> list[str]:
        status, page = await agent.get("/kb/articles" + query)
        assert status == 200, page
        return [item["title"] for item in page["items"]]

    assert await titles("") == ["Vouchers", "Pengiriman", "Refund policy"]  # newest first
    assert await titles("?language=id") == ["Pengiriman"]
    assert await titles("?tag=pengiriman") == ["Pengiriman"]  # any case
    assert await titles("?q=refund") == ["Refund policy"]  # stemmed: "refund" finds "Refunds"
    assert await titles("?q=vouch") == ["Vouchers"]  # the last word is a prefix
    assert await titles('?q="cards take"') == ["Refund policy"]
    assert await titles('?q="take cards"') == []
    assert await titles("?q=JNE%20Bandung") == ["Pengiriman"]
    status, page = await agent.get("/kb/articles?limit=2")
    assert [i["id"] for i in page["items"]] == [third["id"], shipping["id"]]
    status, rest = await agent.get(f"/kb/articles?limit=2&cursor={page['next_cursor']}")
    assert [i["id"] for i in rest["items"]] == [refunds["id"]] and rest["next_cursor"] is None
    for query in ("?q=%22%22", "?cursor=garbage", "?limit=0", "?limit=101", "?language=fr"):
        status, error = await agent.get("/kb/articles" + query)
        assert status == 422, (query, error)


async def test_search_answers_what_the_engine_would_read(admin: Api, agent: Api) -> None:
    await _create(admin)
    await _create(
        admin, title="Pengembalian dana", body="# Refund\n\nDana kembali dalam 3-5 hari kerja.",
        language="id", tags=[],
    )  # fmt: skip
    await _create(admin, title="Shipping", body="We ship with JNE.", tags=[])
    status, found = await agent.get("/kb/search?q=How+long+does+a+refund+take%3F&language=en")
    assert status == 200, found
    passages = found["passages"]
    assert passages[0]["title"] == "Refund policy" and passages[0]["language"] == "en"
    assert set(passages[0]) == {"article_id", "title", "heading", "text", "language", "score"}
    assert passages[0]["heading"] in ("Refunds", "Refunds > Cards")
    assert 0 < passages[-1]["score"] <= passages[0]["score"] <= 1
    assert "Shipping" not in [p["title"] for p in passages]
    status, found = await agent.get("/kb/search?q=refund&language=id&limit=1")
    assert [p["title"] for p in found["passages"]] == ["Pengembalian dana"]
    status, found = await agent.get("/kb/search?q=quantum+physics")
    assert (status, found) == (200, {"passages": []})
    for query in ("", "?q=", "?q=%3F%21", "?q=x&limit=13", "?q=x&limit=0", "?q=x&language=fr",
                  "?q=" + "a" * 2001):  # fmt: skip
        status, error = await agent.get("/kb/search" + query)
        assert status == 422, (query, error)
    status, error = await agent.get("/kb/search?q=%3F%21")
    assert error["error"]["code"] == "invalid_query"


async def test_without_a_token_nothing_is_read(anon: Api) -> None:
    for path in ("/kb/articles", "/kb/articles/1", "/kb/search?q=refund"):
        status, error = await anon.get(path)
        assert (status, error["error"]["code"]) == (401, "unauthorized")
