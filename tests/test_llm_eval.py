"""The evaluation set (bench/llm_eval.json): its 30 questions through the real engine, the demo
knowledge base imported into the test database (the knowledge base's own import), its own
retrieval, and the mock model answering extractively (nothing scripted) on a real socket; on
SQLite and PostgreSQL."""

from __future__ import annotations

from bench import llm_eval
from bot import close_bot, load_bot
from connectors.mock.openai import MockOpenAI
from handoff.read.kb import KbRetriever
from storage.models import KbArticle
from tests.support import Api


async def test_the_set_through_the_engine_and_the_knowledge_base(
    admin: Api, model: MockOpenAI
) -> None:
    evaluation = llm_eval.load()
    assert len(evaluation.questions) == 30
    assert {q.language for q in evaluation.questions} == {"en", "id"}
    imported = await admin.service.core.kb.import_folder(evaluation.knowledge_base)
    assert not imported.refused and len(imported.created) == 24
    sources = dict(await KbArticle.all().values_list("id", "source"))
    expected = {q.expect for q in evaluation.questions} - {llm_eval.HANDOFF}
    assert expected <= set(sources.values())  # every expected article exists
    settings = llm_eval.settings(evaluation, model.url, "mock-extractive", None, timeout=5.0)
    bot = load_bot("llm", settings, retriever=KbRetriever())
    try:
        outcomes = await llm_eval.evaluate(bot, evaluation.questions, sources)
    finally:
        await close_bot(bot)
    result = llm_eval.summary(outcomes)
    # One miss, the mock's: "Do you sell bicycles?" shares "sell" with the stock article ("we
    # do not sell items we do not have"), which retrieval scores 0.44 (above min_score, and
    # above the best passage of two questions answered right, so no min_score separates
    # them); the mock answers from any passage sharing a word, where a model told to answer
    # only from the passages calls handoff_to_human. bench/llm_eval.py asks a real one.
    assert [(w["id"], w["got"]) for w in result["wrong"]] == [(30, "en/stock.md")]
    assert (result["right"], result["accuracy"]) == (29, 0.9667)
    assert (result["handoff_precision"], result["handoff_recall"]) == (1.0, 0.8333)
    assert result["failures"] == 0
    assert result["prompt_tokens"] > 0 and result["completion_tokens"] > 0
    # The model is asked about the 24 article questions and the bicycles; never about the
    # handoff phrases and the topics (the rules and the topics come first).
    asked = [r for r in model.requests if r["path"] == "/v1/chat/completions"]
    assert len(asked) == 25
    by_code = {o.question.id: getattr(o.decision, "code", None) for o in outcomes}
    assert [by_code[n] for n in (25, 26, 27, 28, 29)] == [
        "customer_asked", "customer_asked", "topic", "topic", "topic",
    ]  # fmt: skip
