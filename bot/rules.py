"""The default bot: greeting, FAQ intents from config, fallback, and when to call a human.

How a message is read, in order:

1. Not in bot mode: silence. No words at all (a sticker, a photo without
   caption): the greeting on a first message, else silence.
2. A handoff phrase ("human", "bicara dengan admin"), as whole words with
   small typos tolerated: hand off.
3. The intents: every example is scored against the message (below). The best
   intent answers when its confidence reaches ``threshold``; an intent marked
   ``handoff`` hands off with its answer as the message.
4. Below the threshold: the fallback, or a handoff when this fallback would be
   the ``handoff_after_fallbacks``-th in a row.

On a customer's first message the greeting comes first, followed by the answer
or the fallback in the same message. Every handoff outside business hours
carries the out-of-hours message saying when a human is back, as the handoff's
``away_text``: it is sent only when no human can take the chat now (no online
agent has room), otherwise the customer hears the usual handoff message and
the chat goes to the agent. Either way the chat goes to the queue.

Scoring an example: each example word is looked for in the message (exact, or
a typo of it: rapidfuzz ratio >= 80 for words longer than three letters). The
share of the example's letters found ("coverage") is the main signal, and the
share of the message's letters explained weighs 30% so that the intent
covering more of the message wins ("halo kak, berapa ongkir?" is about
shipping, not a greeting). A whole-message ``token_sort_ratio`` also counts,
for rephrasings with the same words. (``token_set_ratio`` alone rates a
message that is a subset of an example at 100: "my" would be "where is my order".)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from rapidfuzz import fuzz, process

from bot.engine import BotContext, Decision, Handoff, HandoffReason, Reply, Silence
from bot.settings import BotSettings, IntentSettings
from bot.text import PhraseMatcher, SimilarWords, normalise, words

WORD_CUTOFF = 0.8
MESSAGE_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class Match:
    """The best intent for a message and how sure the bot is (0..1)."""

    intent: IntentSettings
    confidence: float


@dataclass(frozen=True, slots=True)
class _Example:
    intent: int
    text: str
    words: tuple[str, ...]


class IntentMatcher:
    """Scores a message against every intent's examples; see the module docstring."""

    def __init__(self, intents: list[IntentSettings]) -> None:
        self.intents = intents
        self._examples = [
            _Example(index, normalise(example), tuple(normalise(example).split()))
            for index, intent in enumerate(intents)
            for example in intent.examples
        ]
        self._word_sets = [frozenset(example.words) for example in self._examples]
        self._letters = [sum(map(len, example.words)) for example in self._examples]
        self._like = SimilarWords(
            (word for example in self._examples for word in example.words), WORD_CUTOFF
        )

    def best(self, message_words: tuple[str, ...]) -> Match | None:
        """The best-scoring intent, or None when there are no intents or no words."""
        if not self._examples or not message_words:
            return None
        # likeness[m][v]: how much message word m resembles vocabulary word v (0..1).
        likeness = {said: self._like(said) for said in set(message_words)}
        message = " ".join(message_words)
        rephrased = {
            index: score / 100
            for _, score, index in process.extract(
                message,
                [example.text for example in self._examples],
                scorer=fuzz.token_sort_ratio,
                limit=None,
            )
        }
        counts = Counter(message_words)
        # found[v]: how well the message's best word for vocabulary word v matches it.
        found: dict[str, float] = {}
        for said in counts:
            for wanted, score in likeness[said].items():
                if score > found.get(wanted, 0.0):
                    found[wanted] = score
        message_letters = sum(count * len(said) for said, count in counts.items())
        scores = [0.0] * len(self.intents)
        for index, example in enumerate(self._examples):
            words_of_example = self._word_sets[index]
            if words_of_example.isdisjoint(found):
                coverage = 0.0  # no word of the message resembles any of the example's
            else:
                coverage = _coverage_score(
                    example.words, words_of_example, self._letters[index], counts,
                    message_letters, likeness, found,
                )  # fmt: skip
            score = max(coverage, rephrased[index])
            scores[example.intent] = max(scores[example.intent], score)
        best = max(range(len(scores)), key=scores.__getitem__)  # first one on a tie
        return Match(self.intents[best], round(scores[best], 3))


def _coverage_score(
    example: tuple[str, ...],
    example_set: frozenset[str],
    example_letters: int,
    message: Counter[str],
    message_letters: int,
    likeness: dict[str, dict[str, float]],
    found: dict[str, float],
) -> float:
    """Share of the example found in the message, nudged by the share of the message explained.

    ``found[w]`` is the best likeness of any message word to example word ``w`` (precomputed
    once per message); a message word's best match in the example is looked up among the few
    words it resembles. The sums run in the same order as the plain double loop.
    """
    covered = sum(len(wanted) * found.get(wanted, 0.0) for wanted in example) / example_letters
    if covered == 0.0:
        return 0.0
    explained = 0.0
    for said, count in message.items():
        best = max(
            (score for wanted, score in likeness[said].items() if wanted in example_set),
            default=0.0,
        )
        explained += count * len(said) * best
    explained /= message_letters
    return covered * (1 - MESSAGE_SHARE + MESSAGE_SHARE * explained)


class RulesBot:
    """The config-driven bot (``engine = "rules"``)."""

    def __init__(self, settings: BotSettings) -> None:
        self.settings = settings
        self._schedule = settings.schedule()
        self._templates = settings.templates()
        self._phrases = PhraseMatcher(settings.handoff_phrases)
        self._intents = IntentMatcher(list(settings.intents))

    async def respond(self, context: BotContext) -> Decision:
        """Decide about the new message (see the module docstring)."""
        return self.decide(context)

    def decide(self, context: BotContext) -> Decision:
        """The same decision as :meth:`respond`, synchronously (it does no I/O)."""
        if context.mode != "bot":
            return Silence()
        said = words(context.text)
        if not said:
            greeting = self._render(self.settings.greeting, context)
            return Reply(greeting) if context.is_first_message and greeting else Silence()
        phrase = self._phrases.find(said)
        if phrase is not None:
            return self.handoff(
                context, f"customer asked for a human ({phrase!r})", HandoffReason.CUSTOMER_ASKED
            )
        match = self._intents.best(said)
        if match is None or match.confidence < self.settings.threshold:
            return self._fallback(context, match)
        answer = self._render(match.intent.answer, context)
        intent = match.intent
        if intent.handoff:
            handoff = self.handoff(
                context, f"intent {intent.name!r} asks for a human", HandoffReason.INTENT, answer
            )
            return replace(handoff, labels=tuple(intent.labels), priority=intent.priority)
        return Reply(
            self.greeted(context, answer),
            intent=intent.name,
            confidence=match.confidence,
            labels=tuple(intent.labels),
            priority=intent.priority,
        )

    def _fallback(self, context: BotContext, match: Match | None) -> Decision:
        limit = self.settings.handoff_after_fallbacks
        if limit and context.fallbacks_so_far + 1 >= limit:
            return self.handoff(
                context, f"{limit} messages in a row not understood", HandoffReason.NOT_UNDERSTOOD
            )
        text = self.greeted(context, self._render(self.settings.fallback, context))
        return Reply(text, fallback=True, confidence=match.confidence if match else 0.0)

    def handoff(
        self, context: BotContext, reason: str, code: HandoffReason, text: str = ""
    ) -> Handoff:
        """A handoff for ``reason``; outside business hours with the out-of-hours note as
        its ``away_text`` (the LLM engine's handoffs use it too)."""
        if self._schedule.is_open(context.now):
            return Handoff(reason, text or None, code=code)
        when = self._schedule.next_open(context.now)
        extra = {"next_open": "soon", "next_open_id": "segera"}
        if when is not None:
            extra = {
                "next_open": self._schedule.describe_moment(when, context.now, "en"),
                "next_open_id": self._schedule.describe_moment(when, context.now, "id"),
            }
        note = self._render(self.settings.out_of_hours_message, context, **extra)
        return Handoff(
            f"{reason}; outside business hours", text or None, away_text=note or None, code=code
        )

    def greeted(self, context: BotContext, text: str) -> str:
        """``text`` after the greeting on a customer's first message."""
        if not context.is_first_message:
            return text
        greeting = self._render(self.settings.greeting, context)
        return "\n\n".join(part for part in (greeting, text) if part)

    def _render(self, template: str, context: BotContext, **extra: str) -> str:
        # An unverified sender's display name is whatever a stranger wrote ("Your order is on
        # hold - confirm payment at evil.example/pay"): {name} is then the default name.
        name = context.customer_name if context.sender_verified else ""
        return self._templates.render(
            template, customer_name=name, channel=context.channel, **extra
        ).strip()
