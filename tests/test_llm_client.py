"""bot.llm_client against the OpenAI-compatible mock at its wire (a real socket on
127.0.0.1): answers, tool calls, usage, auth, failures and limits, embeddings; and the
mock's extractive answers that the offline demo runs on."""

from __future__ import annotations

import math
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot import Passage, prompts
from bot.llm_client import Completion, LlmClient, LlmError, ToolCall
from connectors.mock.openai import NO_HELP, MockOpenAI, OpenAIMockControl

KEY = "sk-test-key"
HANDOFF_TOOL = {
    "type": "function",
    "function": {
        "name": "handoff_to_human",
        "description": "Hand the chat to a human agent.",
        "parameters": {
            "type": "object",
            "properties": {"reason": {"type": "string"}},
            "required": ["reason"],
        },
    },
}
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
async def mock() -> AsyncIterator[MockOpenAI]:
    server = MockOpenAI(api_key=KEY)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def control(mock: MockOpenAI) -> OpenAIMockControl:
    return OpenAIMockControl(mock.url)


def client_for(mock: MockOpenAI, **overrides: Any) -> LlmClient:
    options: dict[str, Any] = {
        "base_url": mock.url,
        "model": "test-model",
        "api_key": KEY,
        "timeout": 5.0,
        "max_tokens": 300,
    }
    options.update(overrides)
    return LlmClient(**options)


@pytest.fixture
async def llm(mock: MockOpenAI) -> AsyncIterator[LlmClient]:
    client = client_for(mock)
    yield client
    await client.close()


async def failure(llm: LlmClient, messages: Any = HELLO, **kwargs: Any) -> LlmError:
    with pytest.raises(LlmError) as caught:
        await llm.complete(messages, **kwargs)
    return caught.value


# -- chat completions


async def test_a_text_answer_with_its_usage_and_what_was_sent(
    llm: LlmClient, control: OpenAIMockControl
) -> None:
    await control.script(
        {"text": "Refunds take 5 days.", "usage": {"prompt_tokens": 42, "completion_tokens": 6}}
    )
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "How long do refunds take?"},
    ]
    answer = await llm.complete(messages)
    assert answer.text == "Refunds take 5 days."
    assert answer.tool_calls == ()
    assert (answer.model, answer.finish_reason) == ("test-model", "stop")
    assert (answer.prompt_tokens, answer.completion_tokens) == (42, 6)
    assert 0 <= answer.seconds < 5
    [request] = await control.requests()
    assert request["path"] == "/v1/chat/completions"
    assert request["authorization"] == f"Bearer {KEY}"
    assert request["body"] == {
        "model": "test-model",
        "messages": messages,
        "max_tokens": 300,
        "temperature": 0.2,
    }  # no tools: neither "tools" nor "tool_choice"


async def test_tools_go_through_and_tool_calls_come_back_parsed(
    llm: LlmClient, control: OpenAIMockControl
) -> None:
    await control.script(
        {
            "tool_calls": [
                {"name": "handoff_to_human", "arguments": {"reason": "refund dispute"}},
                {"name": "add_label", "arguments": {"name": "billing"}, "id": "call_x"},
            ]
        }
    )
    answer = await llm.complete(HELLO, tools=[HANDOFF_TOOL], max_tokens=50, temperature=0.0)
    assert answer.text == ""
    assert answer.finish_reason == "tool_calls"
    assert answer.tool_calls[0].name == "handoff_to_human"
    assert answer.tool_calls[0].arguments == {"reason": "refund dispute"}
    assert answer.tool_calls[0].id  # the mock's generated id
    assert answer.tool_calls[1] == ToolCall(
        id="call_x", name="add_label", arguments={"name": "billing"}
    )
    [request] = await control.requests()
    assert request["body"]["tools"] == [HANDOFF_TOOL]
    assert request["body"]["tool_choice"] == "auto"
    assert (request["body"]["max_tokens"], request["body"]["temperature"]) == (50, 0.0)


async def test_a_cut_answer_is_returned_and_missing_usage_counts_zero(
    llm: LlmClient, control: OpenAIMockControl
) -> None:
    await control.script({"text": "Refunds take", "finish_reason": "length", "model": "m-2"})
    answer = await llm.complete(HELLO)
    assert answer == Completion(
        text="Refunds take",
        tool_calls=(),
        model="m-2",
        finish_reason="length",
        prompt_tokens=0,
        completion_tokens=0,
        seconds=answer.seconds,
    )


async def test_no_key_sends_no_authorization_and_a_keyed_server_refuses(
    mock: MockOpenAI, control: OpenAIMockControl
) -> None:
    client = client_for(mock, api_key=None)
    try:
        error = await failure(client)
    finally:
        await client.close()
    assert (error.kind, error.status, str(error)) == ("http", 401, "HTTP 401")
    [request] = await control.requests()
    assert request["authorization"] is None


@pytest.mark.parametrize("status", [400, 429, 500, 503, 307])
async def test_a_non_2xx_status_is_an_http_error_and_redirects_are_not_followed(
    llm: LlmClient, control: OpenAIMockControl, status: int
) -> None:
    # A followed 307 would POST again and get the second step's answer.
    location = {"Location": "/v1/chat/completions"}
    await control.script(
        {"status": status, "body": '{"error": {"message": "busy"}}', "headers": location},
        {"text": "followed"},
    )
    error = await failure(llm)
    assert (error.kind, error.status, str(error)) == ("http", status, f"HTTP {status}")
    assert len(await control.requests()) == 1


async def test_a_slow_answer_is_a_timeout(mock: MockOpenAI, control: OpenAIMockControl) -> None:
    await control.script({"delay": 3.0, "text": "too late"})
    client = client_for(mock, timeout=0.3)
    try:
        error = await failure(client)
        assert (error.kind, error.status, str(error)) == ("timeout", None, "no answer within 0.3 s")
        # The session stays usable for the next question.
        await control.script({"text": "in time"})
        assert (await client.complete(HELLO)).text == "in time"
    finally:
        await client.close()


async def test_a_refused_connection_is_a_connection_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = LlmClient(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", api_key=None, timeout=5, max_tokens=10
    )
    try:
        error = await failure(client)
    finally:
        await client.close()
    assert error.kind == "connection" and error.status is None
    assert str(error).startswith("request failed (")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "invalid JSON in the answer"),
        ("[" * 100_000, "invalid JSON in the answer"),  # too deep: parsed in a thread, refused
        ("[1, 2]", "the answer is not a JSON object"),
        ('{"id": "x"}', "no choices in the answer"),
        ('{"choices": []}', "no choices in the answer"),
        ('{"choices": [{"finish_reason": "stop"}]}', "no message in the answer"),
        ('{"choices": [{"message": {"content": 5}}]}', "the message content is not text"),
        (
            '{"choices": [{"message": {"content": "a"}, "finish_reason": 1}]}',
            "finish_reason is not text",
        ),
        ('{"choices": [{"message": {"tool_calls": {}}}]}', "tool_calls is not a list"),
        (
            '{"choices": [{"message": {"tool_calls": [{"id": "a"}]}}]}',
            "a tool call without a function",
        ),
        (
            '{"choices": [{"message": {"tool_calls": [{"function": {"arguments": "{}"}}]}}]}',
            "a tool call without a name",
        ),
    ],
)
async def test_a_malformed_answer_is_invalid(
    llm: LlmClient, control: OpenAIMockControl, raw: str, reason: str
) -> None:
    await control.script({"raw": raw})
    error = await failure(llm)
    assert (error.kind, error.status, str(error)) == ("invalid", None, reason)


@pytest.mark.parametrize("arguments", ["not json", "[1, 2]", '"text"', "42"])
async def test_tool_arguments_that_are_not_a_json_object_are_invalid(
    llm: LlmClient, control: OpenAIMockControl, arguments: str
) -> None:
    await control.script({"tool_calls": [{"name": "set_priority", "arguments": arguments}]})
    error = await failure(llm, tools=[HANDOFF_TOOL])
    assert error.kind == "invalid"
    assert str(error) == "the arguments of tool set_priority are not a JSON object"


async def test_empty_tool_arguments_are_an_empty_object(
    llm: LlmClient, control: OpenAIMockControl
) -> None:
    await control.script({"tool_calls": [{"name": "handoff_to_human", "arguments": ""}]})
    answer = await llm.complete(HELLO, tools=[HANDOFF_TOOL])
    assert answer.tool_calls[0].arguments == {}


@pytest.mark.parametrize("chunked", [False, True])  # with a Content-Length, and without
async def test_an_oversized_answer_is_refused(
    mock: MockOpenAI, control: OpenAIMockControl, chunked: bool
) -> None:
    client = client_for(mock, max_body_bytes=16 * 1024)
    try:
        await control.script({"text": "fits", "pad": 15 * 1024, "chunked": chunked})
        assert (await client.complete(HELLO)).text == "fits"
        await control.script({"text": "big", "pad": 17 * 1024, "chunked": chunked})
        error = await failure(client)
    finally:
        await client.close()
    assert (error.kind, str(error)) == ("invalid", "answer larger than 16 KB")


async def test_the_default_cap_is_two_megabytes(llm: LlmClient, control: OpenAIMockControl) -> None:
    await control.script(
        {"text": "fits", "pad": 1_900_000, "chunked": True},
        {"text": "big", "pad": 2 * 1024 * 1024, "chunked": True},
    )
    assert (await llm.complete(HELLO)).text == "fits"  # large: parsed in a worker thread
    error = await failure(llm)
    assert str(error) == "answer larger than 2048 KB"


def test_bad_settings_are_refused() -> None:
    good: dict[str, Any] = {
        "base_url": "http://127.0.0.1:1/v1",
        "model": "m",
        "api_key": None,
        "timeout": 1.0,
        "max_tokens": 10,
    }
    for change in ({"base_url": "ftp://x/v1"}, {"model": ""}, {"timeout": 0}, {"max_tokens": 0}):
        with pytest.raises(ValueError, match=r"must be|required"):
            LlmClient(**{**good, **change})


# -- embeddings


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_embeddings_in_order_and_texts_sharing_words_are_close(
    mock: MockOpenAI, control: OpenAIMockControl
) -> None:
    client = client_for(mock, embedding_model="embed-small")
    try:
        texts = ["refund policy for orders", "refund of my orders", "shipping to Bali"]
        vectors = await client.embed(texts)
        assert await client.embed([]) == []  # no request for no texts
        assert await client.embed([texts[0]]) == [vectors[0]]  # deterministic
    finally:
        await client.close()
    assert [len(v) for v in vectors] == [256, 256, 256]
    assert all(math.isclose(_cosine(v, v), 1.0) for v in vectors)
    assert _cosine(vectors[0], vectors[1]) > 0.5 > _cosine(vectors[0], vectors[2])
    requests = await control.requests()
    assert len(requests) == 2
    assert requests[0]["path"] == "/v1/embeddings"
    assert requests[0]["body"] == {"model": "embed-small", "input": texts}
    assert requests[0]["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        ({"embeddings": [[0.1, 0.2]]}, "expected 2 embeddings in the answer"),
        ({"embeddings": [[0.1, 0.2], [0.1]]}, "embeddings of different dimensions"),
        ({"embeddings": [[0.1, 0.2], ["a", 0.2]]}, "an embedding is not a list of numbers"),
        ({"embeddings": [[0.1, 0.2], []]}, "an embedding is not a list of numbers"),
        ({"raw": '{"data": [{"embedding": [1], "index": 0}, {"embedding": [1], "index": 0}]}'},
         "embedding indexes do not match the input"),
        ({"raw": "{"}, "invalid JSON in the answer"),
    ],
)  # fmt: skip
async def test_malformed_embeddings_are_invalid(
    llm: LlmClient, control: OpenAIMockControl, step: dict[str, Any], reason: str
) -> None:
    await control.script(step)
    with pytest.raises(LlmError) as caught:
        await llm.embed(["one", "two"])
    assert (caught.value.kind, str(caught.value)) == ("invalid", reason)


async def test_embeddings_in_index_order(llm: LlmClient, control: OpenAIMockControl) -> None:
    data = [{"embedding": [0.0, 1.0], "index": 1}, {"embedding": [1.0, 0.0], "index": 0}]
    await control.script({"raw": f'{{"data": {str(data).replace(chr(39), chr(34))}}}'})
    assert await llm.embed(["first", "second"]) == [[1.0, 0.0], [0.0, 1.0]]


async def test_an_embeddings_error_status(llm: LlmClient, control: OpenAIMockControl) -> None:
    await control.script({"status": 429})
    with pytest.raises(LlmError) as caught:
        await llm.embed(["one"])
    assert (caught.value.kind, caught.value.status) == ("http", 429)


# -- the mock itself: its control API, models, and the extractive answers


async def test_the_mock_lists_its_model_and_checks_the_key(mock: MockOpenAI) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{mock.url}/models") as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "invalid_api_key"
        headers = {"Authorization": f"Bearer {KEY}"}
        async with http.get(f"{mock.url}/models", headers=headers) as response:
            assert response.status == 200
            assert [m["id"] for m in (await response.json())["data"]] == ["mock-extractive"]
        async with http.post(f"{mock.url.removesuffix('/v1')}/_mock/script", json={}) as response:
            assert response.status == 400  # a script is a list


async def test_reset_forgets_the_script_and_the_requests(
    llm: LlmClient, control: OpenAIMockControl
) -> None:
    await control.script({"text": "scripted"})
    await control.reset()
    answer = await llm.complete(HELLO)  # extractive again: nothing scripted
    assert answer.text == NO_HELP
    assert len(await control.requests()) == 1
    await control.reset()
    assert await control.requests() == []


def _system(task: str, *passages: tuple[int, str, str]) -> dict[str, str]:
    blocks = "\n\n".join(
        f'<passage article="{number}" title="{title}">\n{text}\n</passage>'
        for number, title, text in passages
    )
    return {"role": "system", "content": f"You answer customers. [task:{task}]\n\n{blocks}"}


REFUNDS = (
    12,
    "Refund policy",
    "# Refunds\nRefunds are paid back to the card within 5 working days. "
    "Open the order and press Refund. Digital goods are refunded only when unused. "
    "Contact us for anything else.",
)
SHIPPING = (
    7,
    "Shipping times",
    "Parcels to Java arrive in 2 days. Other islands take up to a week.",
)


@pytest.mark.parametrize("task", ["answer", "suggest"])
async def test_extractive_answers_from_the_best_passage(llm: LlmClient, task: str) -> None:
    messages = [
        _system(task, SHIPPING, REFUNDS),
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "How do I get a REFUND for my order?"},
    ]
    answer = await llm.complete(messages, tools=[HANDOFF_TOOL])
    assert answer.text == (
        "Refunds are paid back to the card within 5 working days. "
        "Open the order and press Refund. Digital goods are refunded only when unused."
    )
    assert answer.tool_calls == ()
    assert answer.prompt_tokens > 40 and answer.completion_tokens >= 20
    messages[-1] = {"role": "user", "content": "Kapan paket ke Java sampai? shipping"}
    shipping = await llm.complete(messages)
    assert shipping.text == SHIPPING[2]


async def test_extractive_reads_the_passages_bot_prompts_writes(llm: LlmClient) -> None:
    """The engine's own prompt shape: escaped text, a heading line, the task tag first."""
    passages = [
        Passage(3, "Refunds", "Refunds > Timing", "Refunds take <7 days. Then ask us.", "en", 0.9),
        Passage(5, "Opening hours", "", "We open at 9:00 & close at 17:00.", "en", 0.4),
    ]
    system = prompts.system("answer", "Answer from the passages.", prompts.passages_block(passages))
    question = prompts.conversation([("bot", "Hi!")], "how long do refunds take")
    answer = await llm.complete([system, *question])
    assert answer.text == "Refunds take <7 days. Then ask us."
    question = prompts.conversation([], "when do you OPEN?")
    assert (await llm.complete([system, *question])).text == "We open at 9:00 & close at 17:00."
    listed = Passage(12, "Warranty", "Warranty > Not covered", "- Drops.\n- Water.", "en", 1)
    system = prompts.system("answer", "", prompts.passages_block([listed]))
    question = prompts.conversation([], "is water covered?")
    assert (await llm.complete([system, *question])).text == "- Drops. - Water."


async def test_extractive_hands_off_when_no_passage_shares_a_word(llm: LlmClient) -> None:
    unrelated = [
        _system("answer", REFUNDS),
        {"role": "user", "content": "What is your WiFi password?"},
    ]
    answer = await llm.complete(unrelated, tools=[HANDOFF_TOOL])
    assert answer.text == ""
    assert [(c.name, c.arguments) for c in answer.tool_calls] == [
        ("handoff_to_human", {"reason": "no relevant article"})
    ]
    assert answer.finish_reason == "tool_calls" and answer.completion_tokens > 0
    no_passage = [_system("answer"), {"role": "user", "content": "refund please"}]
    assert (await llm.complete(no_passage, tools=[HANDOFF_TOOL])).tool_calls[0].name == (
        "handoff_to_human"
    )
    only_common = [
        _system("answer", REFUNDS),
        {"role": "user", "content": "what can you do for me"},
    ]
    assert (await llm.complete(only_common)).text == NO_HELP  # no tool offered


async def test_extractive_summary_and_translation(llm: LlmClient) -> None:
    conversation: list[dict[str, Any]] = [
        {"role": "user", "content": "My parcel has not arrived."},
        {"role": "assistant", "content": "Sorry! Which order?"},
        {"role": "user", "content": [{"type": "text", "text": "Order 1234, sent last week."}]},
    ]
    summary = await llm.complete([_system("summarize"), *conversation])
    assert summary.text == (
        "- The customer wrote: My parcel has not arrived.\n- Latest: Order 1234, sent last week."
    )
    translated = await llm.complete([_system("translate:Indonesian"), *conversation])
    assert translated.text == "[Indonesian] Order 1234, sent last week."
    assert translated.prompt_tokens > 0 and translated.completion_tokens > 0
