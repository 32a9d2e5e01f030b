"""Source-language detection for requests that leave ``source_language`` empty or ``auto``.

`py3langid` (a maintained langid.py: a naive-Bayes model over byte n-grams for ~140
languages, shipped inside the wheel, about 5 MB, numpy only, ~15 µs per sentence) scores the
text against every language it knows. The answer is always one of the languages the served
models translate from, and only given with confidence:

* fewer than ``min_letters`` letters: too short to tell (a greeting such as "Hallo." is
  English, German and Dutch at once) → refused;
* the most likely language overall is one no served model translates from, with probability
  of at least ``foreign_confidence`` → refused, naming that language (translating it as one of
  the served languages would produce nonsense);
* otherwise the probabilities are renormalised over the served languages plus the model's
  "no linguistic content" class (``zxx``: keyboard mashing, numbers, symbols); the best must be
  a served language with at least ``min_confidence``, else the text is refused as ambiguous.

Refusals are returned, not raised, so the pipeline can report every text of a request at once
(INVALID_ARGUMENT asking for ``source_language``). Detection reads at most ``sample_chars``
characters of a text, so a 40,000-character document costs what its first page costs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

NO_LANGUAGE = "zxx"  # py3langid's label for text without linguistic content
AUTO = "auto"


@dataclass(frozen=True, slots=True)
class Detection:
    """A detected language (as the served models spell it) and the probability behind it; or,
    when ``language`` is None, why none could be given."""

    language: str | None
    confidence: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    """Thresholds of the detector (see the module doc); `service.config.Settings` sets them."""

    min_confidence: float = 0.8
    foreign_confidence: float = 0.5
    min_letters: int = 8
    sample_chars: int = 2000


def wants_detection(source_language: str | None) -> bool:
    """Whether a request asks for its source language to be detected."""
    return not source_language or source_language.strip().lower() == AUTO


def primary(code: str) -> str:
    """``pt-BR`` → ``pt``: the detector knows languages, not regions."""
    return code.strip().replace("_", "-").split("-")[0].lower()


class LanguageDetector:
    """Detects a text's language among the served source languages (see the module doc).

    Loading the model takes about a second and ~75 MB of memory; build one per process, at
    start-up. `detect` is thread-safe (it only reads the model).
    """

    def __init__(self, config: DetectionConfig | None = None) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self.config = config or DetectionConfig()
        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self.known = frozenset(self._identifier.labels)

    def detect(self, text: str, served: Iterable[str]) -> Detection:
        """The language of ``text`` among ``served`` (codes as the manifests spell them)."""
        config = self.config
        by_primary: dict[str, str] = {}
        for code in served:
            by_primary.setdefault(primary(code), code)
        sample = text[: config.sample_chars]
        letters = sum(ch.isalpha() for ch in sample)
        if letters < config.min_letters:
            return Detection(
                None,
                0.0,
                f"has {letters} letters, too few to detect its language reliably "
                f"(at least {config.min_letters} are needed)",
            )
        scores = dict(self._identifier.rank(sample))
        top, top_p = max(scores.items(), key=lambda kv: kv[1])
        if top not in by_primary and top != NO_LANGUAGE and top_p >= config.foreign_confidence:
            return Detection(
                None,
                top_p,
                f"looks like {top!r} (probability {top_p:.2f}), which no served model "
                f"translates from (served source languages: {_listing(by_primary.values())})",
            )
        candidates = {lang: scores.get(lang, 0.0) for lang in (*by_primary, NO_LANGUAGE)}
        total = sum(candidates.values())
        best = max(candidates, key=lambda lang: candidates[lang])
        confidence = candidates[best] / total if total > 0 else 0.0
        if best == NO_LANGUAGE or best not in by_primary:
            return Detection(
                None, 0.0, "does not look like text in any language (no confident detection)"
            )
        if confidence < config.min_confidence:
            return Detection(
                None,
                confidence,
                f"is ambiguous: most likely {by_primary[best]!r} with confidence "
                f"{confidence:.2f}, below the threshold {config.min_confidence:.2f}",
            )
        return Detection(by_primary[best], confidence)


def _listing(codes: Iterable[str]) -> str:
    return ", ".join(sorted(set(codes))) or "none"
