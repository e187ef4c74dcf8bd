"""Embeddings of the knowledge base (``bot.llm.embedding_model``), with the model faked at its
wire (connectors/mock/openai.py on a local socket): passages embedded after the commit,
questions embedded at search, a failing endpoint leaving full-text search."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectors.mock.openai import MockOpenAI, OpenAIMockControl, embedding
from handoff.read.kb import unpack
from msgcenter import demo
from msgcenter.service import build_app
from storage.models import KbChunk
from tests.support import Api, ClientFactory, make_settings

ARTICLE = {
    "title": "Refunds",
    "body": "# Refunds\n\nMoney goes back within five days.\n\n## Cards\n\nCards take 14 days.",
    "language": "en",
}


@pytest.fixture
async def model() -> AsyncIterator[MockOpenAI]:
    server = MockOpenAI(api_key="sk-test-kb-0123456789")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def admin(
    db_url: str, tmp_path: Path, aiohttp_client: ClientFactory, model: MockOpenAI
) -> Api:
    llm = {"base_url": model.url, "model": "chat-m", "embedding_model": "embed-m",
           "api_key": "sk-test-kb-0123456789"}  # fmt: skip
    settings = make_settings(db_url, tmp_path / "data", bot={"llm": llm})
    client = await aiohttp_client(build_app(settings))
    api = Api(client)
    await demo.seed_users(api.service.core.staff)
    return await api.login("admin", "admin123")


async def test_passages_are_embedded_after_the_commit_and_questions_at_search(
    admin: Api, model: MockOpenAI
) -> None:
    control = OpenAIMockControl(model.url)
    status, article = await admin.post("/kb/articles", ARTICLE)
    assert status == 201, article
    await admin.service.core.kb.drain()
    chunks = await KbChunk.filter(article_id=article["id"]).order_by("position")
    assert [c.embedding_model for c in chunks] == ["embed-m", "embed-m"]
    expected = embedding("Refunds > Cards\nCards take 14 days.")
    assert list(unpack(chunks[1].embedding)) == pytest.approx(expected, abs=1e-6)
    sent = await control.requests()
    assert sent[-1]["path"] == "/v1/embeddings"
    assert sent[-1]["body"]["model"] == "embed-m"
    assert sent[-1]["authorization"] == "Bearer sk-test-kb-0123456789"

    # A question whose embedding is the "Cards" passage's: found by its embedding alone
    # (no word of it is in the index), scored the mean of 0 and a cosine of 1.
    stored = list(unpack(chunks[1].embedding))
    await control.script({"embeddings": [stored]})
    status, found = await admin.get("/kb/search?q=xyzzy+plugh&language=en")
    assert status == 200, found
    top = found["passages"][0]
    assert (top["heading"], top["score"]) == ("Refunds > Cards", 0.5)
    assert (await control.requests())[-1]["body"]["input"] == ["xyzzy plugh"]

    # Words and embeddings agree: the score is at least the full-text one.
    status, found = await admin.get("/kb/search?q=cards+14+days&language=en")
    assert found["passages"][0]["heading"] == "Refunds > Cards"
    assert found["passages"][0]["score"] == 1.0


async def test_a_failing_endpoint_leaves_full_text_search(admin: Api, model: MockOpenAI) -> None:
    control = OpenAIMockControl(model.url)
    await control.script({"status": 500, "body": "down"})
    status, article = await admin.post("/kb/articles", {**ARTICLE, "body": "Cards take 14 days."})
    assert status == 201, article  # saved at once, whatever the model does later
    await admin.service.core.kb.drain()
    chunk = await KbChunk.get(article_id=article["id"])
    assert (chunk.embedding, chunk.embedding_model) == (None, None)
    await control.script({"status": 503, "body": "still down"})
    status, found = await admin.get("/kb/search?q=how+long+do+cards+take&language=en")
    assert status == 200, found
    assert found["passages"][0]["text"] == "Cards take 14 days."

    # The background pass embeds what is missing once the endpoint answers again.
    kb = admin.service.core.kb
    assert await kb.embed_missing() == 1
    chunk = await KbChunk.get(article_id=article["id"])
    assert chunk.embedding_model == "embed-m" and chunk.embedding is not None


async def test_a_slow_endpoint_leaves_full_text_search_in_time(
    admin: Api, model: MockOpenAI
) -> None:
    control = OpenAIMockControl(model.url)
    status, article = await admin.post("/kb/articles", {**ARTICLE, "body": "Cards take 14 days."})
    assert status == 201, article
    await admin.service.core.kb.drain()
    retriever = admin.service.core.kb.retriever
    retriever.embed_timeout = 0.3  # the setting the service gives 5 s
    await control.script({"delay": 3.0})
    started = time.monotonic()
    found = await retriever.retrieve("how long do cards take", language="en")
    assert time.monotonic() - started < 2.0
    assert [p.text for p in found] == ["Cards take 14 days."]
