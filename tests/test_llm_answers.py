"""The LLM engine in the service, at the wires: customers write through the WhatsApp mock, the
engine searches the demo knowledge base (imported into the test database) and asks the
OpenAI-compatible mock; what the customer gets, what is stored (the answer's sources, the
call's tokens), what agents see, and every guardrail and failure as a handoff with its
reason. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from connectors.mock.openai import MockOpenAI, OpenAIMockControl
from connectors.mock.whatsapp import MockWhatsApp
from msgcenter.service import LLM_TIMEOUT_MARGIN, bot_timeout
from storage.models import Chat, KbArticle, Label, LlmCall, Message
from tests.support import ClientFactory
from tests.test_conversations import says
from tests.test_operations import _metrics, _value
from tests.test_ws_replay import _open, _replayed
from tests.whatsapp_support import WhatsApp, eventually, start_whatsapp

DEMO_KB = Path(__file__).resolve().parent.parent / "msgcenter" / "demo_kb"
KEY = "sk-wire-test"
HANDOFF_MESSAGE = "Connecting you to an agent..."


@pytest.fixture
async def model() -> AsyncIterator[MockOpenAI]:
    server = MockOpenAI(api_key=KEY)
    await server.start()
    yield server
    await server.stop()


async def llm_world(
    mock: MockWhatsApp, model: MockOpenAI, aiohttp_client: ClientFactory, db_url: str,
    tmp_path: Path, **llm: Any,
) -> tuple[WhatsApp, OpenAIMockControl, dict[str, int]]:  # fmt: skip
    """The service with engine = "llm" on ``model``, the demo knowledge base imported;
    (the world, the model's control, article id by source path)."""
    settings = {
        "base_url": model.url, "model": "gpt-wire", "api_key": KEY, "timeout": 2.0,
        "handoff_topics": {"legal": ["lawyer", "pengacara"]}, **llm,
    }  # fmt: skip
    bot = {"engine": "llm", "greeting": "", "handoff_message": HANDOFF_MESSAGE, "llm": settings}
    wa = await start_whatsapp(mock, aiohttp_client, db_url, tmp_path, bot=bot)
    imported = await wa.service.core.kb.import_folder(DEMO_KB)
    assert len(imported.created) == 24
    articles = {str(s): int(i) for i, s in await KbArticle.all().values_list("id", "source")}
    return wa, OpenAIMockControl(model.url), articles


async def chat_of(phone: str) -> Chat:
    return await Chat.get(external_id=phone)


async def test_an_answer_cites_its_article_stored_and_shown(
    mock: MockWhatsApp, model: MockOpenAI, aiohttp_client: ClientFactory, db_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    wa, control, articles = await llm_world(mock, model, aiohttp_client, db_url, tmp_path)
    shipping = articles["en/shipping.md"]
    await control.script(
        {"text": f"We ship with JNE, J&T and SiCepat. [#{shipping}]",
         "usage": {"prompt_tokens": 812, "completion_tokens": 23}},
    )  # fmt: skip
    subscription = wa.service.core.bus.subscribe()
    sent = await says(wa, "Budi", "Which couriers do you ship with?", "628200001")
    assert sent == ["We ship with JNE, J&T and SiCepat."]
    chat = await chat_of("628200001")
    assert chat.mode == "bot"
    answer = await Message.get(chat_id=chat.id, sender="bot")
    source = {"id": shipping, "title": "Shipping and delivery"}
    assert answer.sources == [source]
    customer = await Message.get(chat_id=chat.id, sender="customer")
    assert customer.sources is None
    shown = {m["id"]: m for m in await wa.messages(chat.id)}
    assert shown[answer.id]["sources"] == [source]
    assert shown[customer.id]["sources"] is None
    created = [e for e in subscription.ready() if e.type == "message.created"]
    assert [e.data["message"]["sources"] for e in created] == [None, [source]]
    ws, upto = await _open(wa.admin, 0)  # a console resuming: the events replayed
    replayed = [f for f in await _replayed(ws, upto) if f["type"] == "message.created"]
    assert [f["data"]["message"]["sources"] for f in replayed] == [None, [source]]
    await ws.close()
    call = await LlmCall.get(chat_id=chat.id)
    assert (call.purpose, call.model, call.prompt_tokens, call.completion_tokens) == (
        "answer", "gpt-wire", 812, 23,
    )  # fmt: skip
    assert (call.outcome, call.error) == ("answered", None) and call.seconds > 0
    (request,) = await control.requests()
    assert request["authorization"] == f"Bearer {KEY}"
    system = request["body"]["messages"][0]["content"]
    assert f'<passage article="{shipping}" title="Shipping and delivery">' in system
    assert request["body"]["messages"][-1] == {
        "role": "user", "content": "Which couriers do you ship with?"
    }  # fmt: skip
    _, text = await _metrics(wa.anon)
    assert _value(text, "msgcenter_llm_calls_total", purpose="answer", outcome="answered") == 1
    assert _value(text, "msgcenter_llm_tokens_total", purpose="answer", kind="prompt") == 812
    status, report = await wa.admin.get("/reports/bot")
    assert status == 200 and report["llm"]["answers"] == 1
    assert report["llm"]["prompt_tokens"] == 812 and report["intents"] == [
        {"intent": "llm", "count": 1}
    ]


async def test_the_offline_mock_answers_from_the_best_passage_in_indonesian(
    mock: MockWhatsApp, model: MockOpenAI, aiohttp_client: ClientFactory, db_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    wa, control, articles = await llm_world(mock, model, aiohttp_client, db_url, tmp_path)
    sent = await says(wa, "Sari", "Bagaimana cara klaim garansi?", "628200002")
    assert len(sent) == 1 and "garansi" in sent[0].lower()
    answer = await Message.get(chat_id=(await chat_of("628200002")).id, sender="bot")
    assert answer.sources == [{"id": articles["id/garansi.md"], "title": "Garansi"}]
    (request,) = await control.requests()
    assert "setiap hari, 24 jam" in request["body"]["messages"][0]["content"]


async def test_guardrails_hand_off_without_asking_the_model(
    mock: MockWhatsApp, model: MockOpenAI, aiohttp_client: ClientFactory, db_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    wa, control, _ = await llm_world(
        mock, model, aiohttp_client, db_url, tmp_path, no_match="handoff"
    )
    assert await says(wa, "A", "let me talk to an agent", "628200003") == [HANDOFF_MESSAGE]
    assert await says(wa, "B", "my lawyer will hear about this", "628200004") == [HANDOFF_MESSAGE]
    assert await says(wa, "C", "qwzx vbnm plkj", "628200005") == [HANDOFF_MESSAGE]
    codes = [
        (c.mode, c.handoff_reason_code)
        for c in [await chat_of(p) for p in ("628200003", "628200004", "628200005")]
    ]
    assert codes == [("agent", "customer_asked"), ("agent", "topic"), ("agent", "no_answer")]
    assert await control.requests() == []  # the model was never asked
    outcomes = await LlmCall.all().order_by("id").values_list("outcome", flat=True)
    assert outcomes == ["no_match"]  # the phrase and the topic asked nothing of the model


async def test_the_rules_bots_answer_when_nothing_is_relevant(
    mock: MockWhatsApp, model: MockOpenAI, aiohttp_client: ClientFactory, db_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    wa, control, _ = await llm_world(mock, model, aiohttp_client, db_url, tmp_path)
    fallback = "Sorry, I didn't understand that. Could you say it in other words?"
    assert await says(wa, "D", "qwzx vbnm plkj", "628200006") == [fallback]
    chat = await chat_of("628200006")
    assert (chat.mode, chat.bot_fallbacks) == ("bot", 1)
    assert await says(wa, "D", "zzqv xxkp", "628200006") == [HANDOFF_MESSAGE]
    chat = await chat_of("628200006")
    assert (chat.mode, chat.handoff_reason_code) == ("agent", "not_understood")
    assert await control.requests() == []


async def test_the_models_handoff_labels_and_prioritises_the_chat(
    mock: MockWhatsApp, model: MockOpenAI, aiohttp_client: ClientFactory, db_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    wa, control, _ = await llm_world(mock, model, aiohttp_client, db_url, tmp_path)
    billing = await Label.create(name="billing")
    await control.script(
        {"tool_calls": [
            {"name": "add_label", "arguments": {"name": "billing"}},
            {"name": "set_priority", "arguments": {"level": "high"}},
            {"name": "handoff_to_human", "arguments": {"reason": "payment stuck"}},
        ], "usage": {"prompt_tokens": 600, "completion_tokens": 30}},
    )  # fmt: skip
    sent = await says(wa, "E", "I paid by bank transfer but the order still waits", "628200007")
    assert sent == [HANDOFF_MESSAGE]
    chat = await chat_of("628200007")
    assert (chat.mode, chat.handoff_reason_code) == ("agent", "model_handoff")
    assert chat.handoff_reason == "the AI assistant asked for a human: payment stuck"
    assert (chat.label_ids, chat.priority) == ([billing.id], 3)
    call = await LlmCall.get(chat_id=chat.id)
    assert (call.outcome, call.prompt_tokens) == ("handoff", 600)
    assert not await Message.filter(chat_id=chat.id, sender="bot").exists()


FAILURES = [
    ({"status": 503, "body": "{}"}, "HTTP 503", "error"),
    ({"raw": "not json"}, "invalid JSON in the answer", "invalid"),
    ({"text": "   "}, "empty answer", "invalid"),
    ({"tool_calls": [{"name": "delete_chat", "arguments": {}}]}, "unknown tool 'delete_chat'",
     "invalid"),
    ({"tool_calls": [{"name": "set_priority", "arguments": {"level": 7}}], "text": "ok"},
     "set_priority: level is not a priority", "invalid"),
    ({"delay": 4.0, "text": "late"}, "no answer within 2 s", "timeout"),
]  # fmt: skip


@pytest.mark.parametrize(("step", "reason", "outcome"), FAILURES)
async def test_a_failing_model_hands_the_chat_to_a_human_with_the_reason(
    mock: MockWhatsApp, model: MockOpenAI, aiohttp_client: ClientFactory, db_url: str,
    tmp_path: Path, step: dict[str, Any], reason: str, outcome: str,
) -> None:  # fmt: skip
    wa, control, _ = await llm_world(mock, model, aiohttp_client, db_url, tmp_path)
    assert wa.service.core.autopilot is not None
    assert wa.service.core.autopilot.timeout == 2.0 + LLM_TIMEOUT_MARGIN  # the engine decides
    await control.script(step)
    sent = await says(wa, "F", "How long does delivery to Bali take?", "628200008")
    assert sent == [HANDOFF_MESSAGE]  # failure is never silence
    chat = await chat_of("628200008")
    assert (chat.mode, chat.handoff_reason_code) == ("agent", "bot_unavailable")
    assert chat.handoff_reason == f"AI assistant unavailable: {reason}"
    call = await LlmCall.get(chat_id=chat.id)
    assert (call.outcome, call.error) == (outcome, reason)
    kept = await Message.filter(chat_id=chat.id, sender="customer").values_list("text", flat=True)
    assert kept == ["How long does delivery to Bali take?"]  # the message is never lost


async def test_a_spent_budget_hands_off(
    mock: MockWhatsApp, model: MockOpenAI, aiohttp_client: ClientFactory, db_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    wa, control, _ = await llm_world(
        mock, model, aiohttp_client, db_url, tmp_path, daily_tokens=1000
    )
    spent = {"prompt_tokens": 900, "completion_tokens": 150}
    await control.script({"text": "We ship with JNE.", "usage": spent})
    assert await says(wa, "G", "Which couriers do you use?", "628200009") == ["We ship with JNE."]
    assert await says(wa, "H", "Do you ship abroad?", "628200010") == [HANDOFF_MESSAGE]
    chat = await chat_of("628200010")
    assert (chat.mode, chat.handoff_reason_code) == ("agent", "budget")
    assert len(await control.requests()) == 1
    assert await LlmCall.filter(outcome="budget").count() == 1


async def test_an_agent_taking_over_while_the_model_thinks_silences_the_answer(
    mock: MockWhatsApp, model: MockOpenAI, aiohttp_client: ClientFactory, db_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    wa, control, articles = await llm_world(mock, model, aiohttp_client, db_url, tmp_path)
    late = f"We ship with JNE. [#{articles['en/shipping.md']}]"
    await control.script({"delay": 1.0, "text": late,
                          "usage": {"prompt_tokens": 700, "completion_tokens": 12}})  # fmt: skip
    status, _ = await mock.customer_says("I", "Which couriers do you ship with?", phone="628200011")
    assert status == 200

    async def asked() -> bool:
        return len(await control.requests()) == 1

    await eventually(asked, "the model asked")
    chat = await chat_of("628200011")
    status, _ = await wa.admin.patch(f"/chats/{chat.id}", {"mode": "agent"})  # a human takes it
    assert status == 200
    await wa.idle()
    sent = [s["request"]["text"]["body"] for s in mock.sent if s["request"]["to"] == "628200011"]
    assert sent == [HANDOFF_MESSAGE]  # the take-over's message; the model's answer never
    assert not await Message.filter(chat_id=chat.id, sender="bot").exists()
    chat = await chat_of("628200011")
    assert chat.mode == "agent"
    call = await LlmCall.get(chat_id=chat.id)  # the tokens were spent all the same
    assert (call.outcome, call.prompt_tokens) == ("answered", 700)


def test_the_autopilot_waits_longer_than_the_engine_only_for_the_llm_engine() -> None:
    from msgcenter.settings import build_settings

    rules = build_settings({}, environ={})
    assert bot_timeout(rules) == 15.0
    llm = build_settings(
        {"bot": {"engine": "llm", "llm": {"base_url": "http://127.0.0.1:9/v1", "model": "m",
                                          "timeout": 30}}}, environ={},
    )  # fmt: skip
    assert bot_timeout(llm) == 30 + LLM_TIMEOUT_MARGIN
