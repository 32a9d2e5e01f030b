"""Assembly: a text's answer from its units', in its layout, with the right counts."""

from __future__ import annotations

import pytest

from service.documents.assembly import assemble
from service.documents.detection import Detection
from service.documents.plan import TextPlan
from service.documents.segmentation import segment, whole
from service.types import GeneratedText, Hypothesis


def unit(text: str, tokens: int, score: float | None = None, cached: bool = False) -> GeneratedText:
    return GeneratedText((Hypothesis(text, tokens, score),), input_tokens=tokens + 2, cached=cached)


def test_a_document_is_its_segments_in_the_layout() -> None:
    layout = segment("  One. Two.\n\n- Three.\n", "en")
    plan = TextPlan(layout, 0, 3)
    answer = assemble(
        plan,
        [unit("Eins.", 2, -1.0), unit("Zwei.", 4, -2.0, cached=True), unit("Drei.", 2, -4.0)],
        detection=Detection("en", 0.93),
        with_scores=True,
    )
    assert answer.text == "  Eins. Zwei.\n\n- Drei.\n"
    assert (answer.input_tokens, answer.output_tokens) == (14, 8)
    assert (answer.segments, answer.cached_segments, answer.cached) == (3, 1, False)
    assert answer.hypotheses[0].score == pytest.approx((2 * -1 + 4 * -2 + 2 * -4) / 8)
    assert (answer.detected_language, answer.detection_confidence) == ("en", 0.93)
    plain = assemble(plan, [unit("a", 1, -1.0)] * 3)
    assert plain.hypotheses[0].score is None and plain.detected_language == ""


def test_one_unit_keeps_every_hypothesis_inside_the_whitespace() -> None:
    plan = TextPlan(whole(" Hi there \n"), 0, 1)
    nbest = GeneratedText(
        (Hypothesis("Hallo", 1, -0.1), Hypothesis("Servus", 1, -0.5)), 3, cached=True
    )
    answer = assemble(plan, [nbest], with_scores=True)
    assert [h.text for h in answer.hypotheses] == [" Hallo \n", " Servus \n"]
    assert [h.score for h in answer.hypotheses] == [-0.1, -0.5]
    assert answer.cached and answer.segments == 1


def test_nothing_to_translate_comes_back_unchanged() -> None:
    answer = assemble(TextPlan(segment("42\n---\n", "en"), 0, 0), [])
    assert answer.text == "42\n---\n"
    assert (answer.segments, answer.input_tokens, answer.cached) == (0, 0, False)
    with pytest.raises(ValueError, match="1 results for 0 units"):
        assemble(TextPlan(segment("42", "en"), 0, 0), [unit("x", 1)])
