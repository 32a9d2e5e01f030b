"""Language detection: English is found, gibberish and unserved languages are refused."""

from __future__ import annotations

import random
import string

import pytest

from demo_model.data import read_jsonl
from service.documents.detection import (
    DetectionConfig,
    LanguageDetector,
    primary,
    wants_detection,
)
from tests.fakes import DEMO_HELDOUT


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


def test_english_held_out_sentences_are_detected_as_english(detector: LanguageDetector) -> None:
    texts = [e.text for e in read_jsonl(DEMO_HELDOUT)]
    results = [detector.detect(t, ["en", "de"]) for t in texts]
    wrong = [(t, r) for t, r in zip(texts, results, strict=True) if r.language not in (None, "en")]
    assert not wrong  # never another served language
    detected = sum(r.language == "en" for r in results)
    assert detected >= 0.98 * len(texts)
    assert all(r.confidence >= 0.8 for r in results if r.language == "en")


def test_german_is_detected_as_german_when_served(detector: LanguageDetector) -> None:
    targets = [e.target for e in read_jsonl(DEMO_HELDOUT) if e.task == "translate"][:100]
    assert all(detector.detect(t, ["en", "de"]).language == "de" for t in targets)


@pytest.mark.parametrize(
    "text",
    ["asdkj qwe zzxq", "qwrtz plmk vbnx hjkl", "kdjf sldkfj wieur xmcnv qpwoeiru",
     "12345 678 91011", "!!!??? ... ---", "zzzzzzzzzz"],
)  # fmt: skip
def test_gibberish_is_refused(detector: LanguageDetector, text: str) -> None:
    result = detector.detect(text, ["en", "de"])
    assert result.language is None
    assert result.reason


def test_random_letter_strings_are_mostly_refused(detector: LanguageDetector) -> None:
    rng = random.Random(7)
    texts = [
        " ".join(
            "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 8)))
            for _ in range(rng.randint(2, 8))
        )
        for _ in range(200)
    ]
    refused = sum(detector.detect(t, ["en", "de"]).language is None for t in texts)
    assert refused >= 0.95 * len(texts)


def test_too_short_text_is_refused_with_the_reason(detector: LanguageDetector) -> None:
    result = detector.detect("Hallo.", ["en", "de"])
    assert result.language is None
    assert "too few" in result.reason


def test_an_unserved_language_is_named_not_mistranslated(detector: LanguageDetector) -> None:
    result = detector.detect("Bonjour tout le monde, comment allez-vous aujourd'hui?", ["en"])
    assert result.language is None
    assert "'fr'" in result.reason and "served source languages: en" in result.reason
    german = detector.detect("Der Lehrer liest heute ein neues Buch.", ["en"])
    assert german.language is None and "'de'" in german.reason


def test_answer_is_spelled_as_the_served_model_spells_it(detector: LanguageDetector) -> None:
    assert detector.detect("The teacher reads a good book.", ["en-US", "de"]).language == "en-US"


def test_threshold_is_applied(detector: LanguageDetector) -> None:
    text = "The teacher reads a good book."
    loose = detector.detect(text, ["en", "de"])
    assert loose.language == "en"
    strict = LanguageDetector(DetectionConfig(min_confidence=1.0))
    refused = strict.detect(text, ["en", "de"])
    assert refused.language is None and "below the threshold" in refused.reason


def test_only_a_prefix_is_read(detector: LanguageDetector) -> None:
    text = "The teacher reads a good book. " * 100 + "Der Lehrer liest ein Buch. " * 2000
    assert detector.detect(text, ["en", "de"]).language == "en"


def test_helpers() -> None:
    assert wants_detection("") and wants_detection(None) and wants_detection(" AUTO ")
    assert not wants_detection("en")
    assert primary("pt_BR") == "pt" and primary("EN") == "en"
