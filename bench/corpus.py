"""Synthetic text for the benchmark model: pseudo-words with a Zipf distribution.

The benchmark needs a *real* 32k sentencepiece vocabulary without downloading anything, so it
trains one on generated text. Many distinct pseudo-words (tens of thousands, frequent ones short)
give BPE enough distinct pairs to fill 32k pieces, and sentences of such words tokenize into a
natural mix of whole-word and sub-word pieces.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Iterator, Sequence

_CONSONANTS = "bcdfghjklmnprstvwz"
_VOWELS = "aeiou"


def make_lexicon(size: int, seed: int) -> list[str]:
    """`size` distinct pseudo-words, roughly shortest first (so frequent words are short)."""
    rng = random.Random(seed)
    words: dict[str, None] = {}
    syllables = 1
    while len(words) < size:
        for _ in range(size * 2):
            word = "".join(
                rng.choice(_CONSONANTS)
                + rng.choice(_VOWELS)
                + (rng.choice(_CONSONANTS) * (rng.random() < 0.3))
                for _ in range(rng.randint(1, syllables))
            )
            words[word] = None
            if len(words) >= size:
                break
        syllables += 1
    return sorted(words, key=len)


class SentenceSampler:
    """Draws sentences of Zipf-distributed words from a lexicon; O(log n) per word."""

    def __init__(self, lexicon: Sequence[str], seed: int, exponent: float = 1.0) -> None:
        self._lexicon = list(lexicon)
        weights = (1.0 / (rank + 1) ** exponent for rank in range(len(self._lexicon)))
        self._cumulative = list(itertools.accumulate(weights))
        self._rng = random.Random(seed)

    def word(self) -> str:
        x = self._rng.random() * self._cumulative[-1]
        return self._lexicon[bisect.bisect_right(self._cumulative, x)]

    def sentence(self, min_words: int, max_words: int) -> str:
        n = self._rng.randint(min_words, max_words)
        words = [self.word() for _ in range(n)]
        return " ".join(words).capitalize() + "."

    def sentences(self, count: int, min_words: int, max_words: int) -> Iterator[str]:
        for _ in range(count):
            yield self.sentence(min_words, max_words)


def pick_by_length(
    candidates: Iterator[str],
    count_tokens: Callable[[str], int],
    low: int,
    high: int,
    wanted: int,
    limit: int = 1_000_000,
) -> list[str]:
    """The first `wanted` distinct candidates whose token count is within [low, high].

    Raises ValueError if `limit` candidates do not yield enough.
    """
    picked: dict[str, None] = {}
    for seen, text in enumerate(candidates):
        if seen >= limit:
            break
        if text not in picked and low <= count_tokens(text) <= high:
            picked[text] = None
            if len(picked) == wanted:
                return list(picked)
    raise ValueError(
        f"only {len(picked)} of {wanted} candidate sentences have {low}-{high} tokens; "
        "widen the word-count range"
    )
