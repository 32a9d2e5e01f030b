"""Putting a text's answer together from the answers of its units.

A text sent as one unit keeps every hypothesis (n-best works as before), each with the text's
surrounding whitespace around it. A text split into several segments has one hypothesis: the
segments' outputs in the original layout; its token counts are sums, and its score (when asked)
is the mean of the segments' scores weighted by their output tokens, which for length penalty 1
is the document's average log-probability per token. A text with nothing to translate (no
letters) comes back unchanged, with zero segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from service.documents.detection import Detection
from service.documents.plan import TextPlan
from service.types import GeneratedText, Hypothesis


def assemble(
    plan: TextPlan,
    results: Sequence[GeneratedText],
    *,
    detection: Detection | None = None,
    with_scores: bool = False,
) -> GeneratedText:
    """The answer for one text from its units' results (in unit order)."""
    layout = plan.layout
    if len(results) != plan.count:
        raise ValueError(f"{len(results)} results for {plan.count} units")
    if len(results) == 1:
        (only,) = results
        lead, gap = layout.lead, layout.gaps[0]
        hypotheses = tuple(
            Hypothesis(lead + h.text + gap, h.output_tokens, h.score if with_scores else None)
            for h in only.hypotheses
        )
    else:
        outputs = [r.hypotheses[0] if r.hypotheses else Hypothesis("", 0) for r in results]
        tokens = sum(h.output_tokens for h in outputs)
        score = None
        if with_scores and outputs and all(h.score is not None for h in outputs):
            weights = [max(1, h.output_tokens) for h in outputs]
            total = sum(w * (h.score or 0.0) for w, h in zip(weights, outputs, strict=True))
            score = total / sum(weights)
        hypotheses = (Hypothesis(layout.join([h.text for h in outputs]), tokens, score),)
    cached = sum(r.cached for r in results)
    answer = GeneratedText(
        hypotheses=hypotheses,
        input_tokens=sum(r.input_tokens for r in results),
        cached=bool(results) and cached == len(results),
        segments=len(results),
        cached_segments=cached,
        truncated_tokens=plan.truncated_tokens,
    )
    if detection is not None and detection.language is not None:
        answer = replace(
            answer,
            detected_language=detection.language,
            detection_confidence=detection.confidence,
        )
    return answer
