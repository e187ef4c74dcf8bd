"""Text as the rules bot compares it: normalised words, typo-tolerant word matching.

``normalise`` folds case, strips accents (NFKD, combining marks dropped) and
turns punctuation into spaces, so "¿Dónde está mi PEDIDO?!" and "donde esta mi
pedido" are the same words. Word similarity is rapidfuzz's normalised Indel
ratio; words of three letters or fewer must match exactly, because one typo in
"cs" or "cod" is another word, not a typo.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from rapidfuzz import fuzz, process

# Long messages (an email with its quoted thread) are read up to here: enough for
# a question, and matching time stays bounded.
MAX_WORDS = 200
SHORT_WORD = 3

_APOSTROPHES = re.compile(r"['’‘`´]")
_NON_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Lower-case words without accents or punctuation, separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    return " ".join(_NON_WORD.sub(" ", _APOSTROPHES.sub("", bare)).split())


def words(text: str) -> tuple[str, ...]:
    """The normalised words of ``text``, at most :data:`MAX_WORDS`."""
    return tuple(normalise(text).split()[:MAX_WORDS])


def similar_words(word: str, candidates: Iterable[str], cutoff: float) -> dict[str, float]:
    """The candidates like ``word`` (similarity 0..1 at least ``cutoff``), exact ones as 1.0."""
    pool = set(candidates)
    found = {word: 1.0} if word in pool else {}
    if len(word) <= SHORT_WORD:
        return found
    longer = [candidate for candidate in pool if len(candidate) > SHORT_WORD]
    for candidate, score, _ in process.extract(
        word, longer, scorer=fuzz.ratio, score_cutoff=cutoff * 100, limit=None
    ):
        found[candidate] = max(found.get(candidate, 0.0), score / 100)
    return found


class SimilarWords:
    """:func:`similar_words` against a fixed vocabulary, remembered per message word (the
    vocabulary never changes, so an entry never goes stale); at most ``size`` words kept."""

    def __init__(self, vocabulary: Iterable[str], cutoff: float, size: int = 50_000) -> None:
        self.vocabulary = frozenset(vocabulary)
        self._cutoff = cutoff
        self._size = size
        self._seen: dict[str, dict[str, float]] = {}

    def __call__(self, said: str) -> dict[str, float]:
        found = self._seen.get(said)
        if found is None:
            if len(self._seen) >= self._size:
                self._seen.clear()
            found = self._seen[said] = similar_words(said, self.vocabulary, self._cutoff)
        return found


class PhraseMatcher:
    """Finds any of a list of phrases in a message, as whole words, tolerating typos.

    A phrase matches a run of consecutive message words of the same length when
    each word is similar enough to the phrase's word (``cutoff``), or, for phrases
    of several words, when the run as a whole is (``cutoff``) and each word still
    roughly is (``loose``): "customer servis" finds "customer service", "docs" does
    not find "cs", "tugas" (a task) does not find "petugas".
    """

    def __init__(self, phrases: Iterable[str], cutoff: float = 0.85, loose: float = 0.7) -> None:
        self._phrases: list[tuple[str, tuple[str, ...]]] = []
        for phrase in phrases:
            phrase_words = tuple(normalise(phrase).split())
            if phrase_words:
                self._phrases.append((phrase, phrase_words))
        self._cutoff = cutoff
        self._like = SimilarWords((w for _, words in self._phrases for w in words), loose)

    def find(self, message_words: Sequence[str]) -> str | None:
        """The first configured phrase found in ``message_words``, as configured; else None."""
        if not message_words:
            return None
        # likeness[phrase word][message word]; word likeness is symmetric (the same rule and
        # the same ratio either way), so it is looked up from the message word's side, cached.
        likeness: dict[str, dict[str, float]] = {w: {} for w in self._like.vocabulary}
        for said in set(message_words):
            for word, score in self._like(said).items():
                likeness[word][said] = score
        for phrase, phrase_words in self._phrases:
            size = len(phrase_words)
            first = likeness[phrase_words[0]]
            for start in range(len(message_words) - size + 1):
                if message_words[start] not in first:
                    continue  # a window matches only if every word resembles its phrase word
                window = message_words[start : start + size]
                if self._matches(phrase_words, window, likeness):
                    return phrase
        return None

    def _matches(
        self,
        phrase: tuple[str, ...],
        window: Sequence[str],
        likeness: dict[str, dict[str, float]],
    ) -> bool:
        pairs = zip(phrase, window, strict=True)
        scores = [likeness[wanted].get(said, 0.0) for wanted, said in pairs]
        if all(score >= self._cutoff for score in scores):
            return True
        if len(phrase) < 2 or not all(scores):
            return False
        whole = fuzz.ratio(" ".join(phrase), " ".join(window)) / 100
        return whole >= self._cutoff


# Words common in one of the languages msgcenter speaks and rare in the other.
_ENGLISH = """the and you your are is was were have has what when where how why can could
    would please thank thanks my our this that with for not from order want need
    help hello hi yes no will did does do am it its of to in on a an i me we which
    who should at or get much long"""
_INDONESIAN = """yang dan saya anda kami kamu ini itu ada apa bisa tidak atau dari pada akan
    sudah juga mau ingin bagaimana kapan dimana berapa tolong halo terima kasih
    makasih pesanan barang belum sampai kak mohon dengan untuk gimana kenapa di ke
    apakah mana aku kakak gak nggak enggak lama"""
_LANGUAGE_WORDS = {"en": frozenset(_ENGLISH.split()), "id": frozenset(_INDONESIAN.split())}


def language_of(text: str) -> str | None:
    """``"en"`` or ``"id"`` (the languages of the console and the knowledge base) by the
    common words of each in ``text``; None when neither leads."""
    said = words(text)
    counts = {
        language: sum(word in common for word in said)
        for language, common in _LANGUAGE_WORDS.items()
    }
    if counts["id"] > counts["en"]:
        return "id"
    if counts["en"] > counts["id"]:
        return "en"
    return None
