"""The LLM engine's evaluation set (bench/llm_eval.json) against an OpenAI-compatible endpoint.

    .venv/bin/python -m bench.llm_eval --base-url https://api.openai.com/v1 --model gpt-4o-mini \\
        [--api-key-env OPENAI_API_KEY] [--set bench/llm_eval.json] [--timeout 20] [--verbose]

The demo knowledge base (``knowledge_base`` of the set, msgcenter/demo_kb) is imported into a
fresh SQLite database (a temporary folder, removed after), as ``msgcenter kb import`` does;
then each question is asked of the real engine (``bot.llm.LlmBot``: the rules first, the
topics, retrieval, the model) with the set's ``bot`` settings and the endpoint given, as a
customer's first and only message. A question is right when the engine answers citing the
expected article (its ``source`` path among the answer's sources), or hands the chat to a
human when ``handoff`` is expected (for any reason: a phrase, a topic, nothing found, the
model's ``handoff_to_human``). A failure (timeout, error) is a handoff too, and is counted
apart.

Printed: accuracy, handoff precision and recall (a handoff "predicted" when the engine
handed off), the latency of each decision (p50, p90; the rules and the topics take no
model call), and the tokens spent. ``--api-key-env`` names the environment variable that
holds the key (the key itself is never an argument). tests/test_llm_eval.py runs the same
set through :func:`evaluate` against the mock model's extractive mode in ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import Bot, BotContext, BotSettings, Decision, Handoff, HandoffReason, Reply
from handoff.domain.report_metrics import percentile_cont

ROOT = Path(__file__).resolve().parent.parent
SET = Path(__file__).resolve().parent / "llm_eval.json"
HANDOFF = "handoff"


@dataclass(frozen=True, slots=True)
class Question:
    id: int
    language: str
    text: str
    expect: str  # an article's source path, or "handoff"


@dataclass(frozen=True, slots=True)
class EvalSet:
    knowledge_base: Path
    bot: dict[str, Any]
    questions: tuple[Question, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    question: Question
    decision: Decision
    got: str  # the first cited article's source, "handoff", or "silence"
    cited: tuple[str, ...]
    right: bool
    seconds: float


def load(path: Path = SET) -> EvalSet:
    data = json.loads(path.read_text(encoding="utf-8"))
    questions = tuple(Question(**question) for question in data["questions"])
    return EvalSet(ROOT / data["knowledge_base"], data["bot"], questions)


def settings(
    evaluation: EvalSet, base_url: str, model: str, api_key: str | None, timeout: float = 20.0
) -> BotSettings:
    """The set's ``bot`` settings with the endpoint."""
    llm = {**evaluation.bot.get("llm", {}), "base_url": base_url, "model": model,
           "api_key": api_key, "timeout": timeout}  # fmt: skip
    return BotSettings.model_validate({**evaluation.bot, "engine": "llm", "llm": llm})


async def evaluate(
    bot: Bot, questions: Sequence[Question], sources: Mapping[int, str]
) -> list[Outcome]:
    """Ask ``bot`` each question (a first message of its own chat); ``sources``: article id
    -> its source path."""
    outcomes = []
    for question in questions:
        context = BotContext(chat_id=question.id, channel="WhatsApp", customer_name="Eval",
                             text=question.text)  # fmt: skip
        started = time.perf_counter()
        decision = await bot.respond(context)
        seconds = time.perf_counter() - started
        cited: tuple[str, ...] = ()
        if isinstance(decision, Handoff):
            got = HANDOFF
        elif isinstance(decision, Reply):
            cited = tuple(sources.get(s.article_id, f"#{s.article_id}") for s in decision.sources)
            got = cited[0] if cited else "no source"
        else:
            got = "silence"
        right = got == HANDOFF if question.expect == HANDOFF else question.expect in cited
        outcomes.append(Outcome(question, decision, got, cited, right, seconds))
    return outcomes


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Accuracy, handoff precision and recall, latency, tokens and failures."""
    expected = [o for o in outcomes if o.question.expect == HANDOFF]
    predicted = [o for o in outcomes if o.got == HANDOFF]
    both = [o for o in predicted if o.question.expect == HANDOFF]
    ordered = sorted(o.seconds for o in outcomes)
    prompt = completion = 0
    for outcome in outcomes:
        usage = getattr(outcome.decision, "usage", None)
        if usage is not None:
            prompt += usage.prompt_tokens
            completion += usage.completion_tokens
    failures = sum(
        1
        for o in outcomes
        if isinstance(o.decision, Handoff) and o.decision.code == HandoffReason.BOT_UNAVAILABLE
    )
    return {
        "questions": len(outcomes),
        "right": sum(o.right for o in outcomes),
        "accuracy": round(sum(o.right for o in outcomes) / len(outcomes), 4) if outcomes else None,
        "handoff_precision": round(len(both) / len(predicted), 4) if predicted else None,
        "handoff_recall": round(len(both) / len(expected), 4) if expected else None,
        "p50_seconds": _round(percentile_cont(ordered, 0.5)),
        "p90_seconds": _round(percentile_cont(ordered, 0.9)),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "failures": failures,
        "wrong": [_wrong(o) for o in outcomes if not o.right],
    }


def _wrong(outcome: Outcome) -> dict[str, Any]:
    decision = outcome.decision
    return {
        "id": outcome.question.id,
        "text": outcome.question.text,
        "expect": outcome.question.expect,
        "got": outcome.got,
        "reason": decision.reason if isinstance(decision, Handoff) else None,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def report(result: Mapping[str, Any]) -> str:
    lines = [
        f"accuracy {result['right']}/{result['questions']} = {result['accuracy']}",
        f"handoff precision {result['handoff_precision']}, recall {result['handoff_recall']}",
        f"latency p50 {result['p50_seconds']} s, p90 {result['p90_seconds']} s",
        f"tokens: prompt {result['prompt_tokens']}, completion {result['completion_tokens']}",
        f"failures (bot_unavailable): {result['failures']}",
    ]
    for wrong in result["wrong"]:
        why = f" ({wrong['reason']})" if wrong["reason"] else ""
        lines.append(
            f"  wrong #{wrong['id']} {wrong['text']!r}: expected {wrong['expect']}, "
            f"got {wrong['got']}{why}"
        )
    return "\n".join(lines)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    # Imported here: the service is only needed to build the knowledge base.
    from aiohttp import web

    from bot.loader import load_bot
    from handoff.read.kb import KbRetriever
    from msgcenter.service import SERVICE, build_app
    from msgcenter.settings import build_settings
    from storage.models import KbArticle

    evaluation = load(Path(args.set))
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        raise SystemExit(f"{args.api_key_env} is not set")
    bot_settings = settings(evaluation, args.base_url, args.model, api_key, args.timeout)
    with tempfile.TemporaryDirectory(prefix="llm-eval-") as folder:
        data = {
            "storage": {"url": f"sqlite://{folder}/eval.db", "data_dir": folder},
            "auth": {"jwt_secret": "eval-" + "x" * 40},
        }
        runner = web.AppRunner(build_app(build_settings(data, environ={})))
        await runner.setup()
        try:
            service = runner.app[SERVICE]
            imported = await service.core.kb.import_folder(evaluation.knowledge_base)
            if imported.refused:
                raise SystemExit(f"the knowledge base was not imported: {imported.refused}")
            sources = dict(await KbArticle.all().values_list("id", "source"))
            bot = load_bot("llm", bot_settings, retriever=KbRetriever())
            try:
                outcomes = await evaluate(bot, evaluation.questions, sources)
            finally:
                await bot.close()  # type: ignore[attr-defined]
        finally:
            await runner.cleanup()
    if args.verbose:
        for o in outcomes:
            print(f"#{o.question.id} {'ok ' if o.right else 'BAD'} {o.seconds:6.2f} s "
                  f"{o.question.text!r} -> {o.got}")  # fmt: skip
    return summary(outcomes)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help='up to and including "/v1"')
    parser.add_argument("--model", required=True)
    parser.add_argument("--api-key-env", default="", help="the variable holding the key")
    parser.add_argument("--set", default=str(SET))
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    result = asyncio.run(_run(args))
    print(json.dumps(result, indent=2) if args.json else report(result))
    if result["accuracy"] is None:
        sys.exit(1)


if __name__ == "__main__":
    main()
