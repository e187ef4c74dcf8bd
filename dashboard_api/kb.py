"""The knowledge base (docs/api.md, "Knowledge base"): articles (everyone reads, admins
write) and the search the LLM engine makes for a question."""

from __future__ import annotations

from aiohttp import web

from dashboard_api import schemas as s
from dashboard_api.routing import Call, Route, json_response

TAG = "knowledge base"
PATH = "/kb/articles"


async def list_articles(call: Call) -> web.Response:
    query = call.query_as(s.KbArticlesQuery)
    page = await call.context.core.kb.articles(
        q=query.q or None, language=query.language, tag=query.tag, limit=query.limit,
        cursor=query.cursor,
    )  # fmt: skip
    return json_response(page)


async def create_article(call: Call) -> web.Response:
    body = call.body_as(s.CreateKbArticle)
    article = await call.context.core.kb.create(call.actor, body.model_dump())
    return json_response(article, status=201)


async def get_article(call: Call) -> web.Response:
    return json_response(await call.context.core.kb.get(call.int_param("article_id")))


async def update_article(call: Call) -> web.Response:
    body = call.body_as(s.UpdateKbArticle)
    changes = body.model_dump(exclude_unset=True)
    article = await call.context.core.kb.update(call.actor, call.int_param("article_id"), changes)
    return json_response(article)


async def delete_article(call: Call) -> web.Response:
    await call.context.core.kb.delete(call.actor, call.int_param("article_id"))
    return web.Response(status=204)


async def search(call: Call) -> web.Response:
    query = call.query_as(s.KbSearchQuery)
    found = await call.context.core.kb.search(query.q, language=query.language, limit=query.limit)
    return json_response(found)


INVALID = (
    "validation_error: a field missing or of the wrong type, a title over 200 characters, "
    "a language other than en or id, over 20 tags or a tag over 64 characters; "
    "invalid_article: a body over kb.max_body_chars, a title or tag of only spaces "
    "(details.field names it)"
)

ROUTES = [
    Route(
        "GET", PATH, list_articles,
        "Articles, newest change first, without their body (an excerpt instead); q: one of "
        "an article's passages holds every word (words, \\\"phrases\\\", prefix*); language, "
        "tag (any case); next_cursor for the next page.", TAG,
        query=s.KbArticlesQuery, response=s.KbArticlePage,
        responses={422: "invalid_query: q without letters or digits, or over 8 terms; "
                        "a cursor this server did not give"},
    ),
    Route(
        "POST", PATH, create_article,
        "Write an article (admins): cut into passages and indexed at once; embedded after "
        "the answer when bot.llm.embedding_model is set.", TAG,
        body=s.CreateKbArticle, response=s.KbArticleOut, status=201, access="admin",
        responses={422: INVALID},
    ),
    Route(
        "GET", PATH + "/{article_id}", get_article, "One article, with its body.", TAG,
        response=s.KbArticleOut, responses={404: "unknown_article"},
    ),
    Route(
        "PATCH", PATH + "/{article_id}", update_article,
        "Change any of title, body, language, tags (admins); the passages are rewritten.",
        TAG, body=s.UpdateKbArticle, response=s.KbArticleOut, access="admin",
        responses={404: "unknown_article", 422: INVALID},
    ),
    Route(
        "DELETE", PATH + "/{article_id}", delete_article,
        "Delete an article and its passages (admins): 204. Answers that used it keep its "
        "title in their sources.", TAG, status=204, access="admin",
        responses={404: "unknown_article"},
    ),
    Route(
        "GET", "/kb/search", search,
        "The passages the LLM engine would give the model for question q, best first, with "
        "their 0..1 score (language preferred; limit 1-12, default bot.llm.passages).", TAG,
        query=s.KbSearchQuery, response=s.KbSearchOut,
        responses={422: "invalid_query: q without letters or digits"},
    ),
]  # fmt: skip
