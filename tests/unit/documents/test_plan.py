"""Planning: texts become units that fit the model; over-long input is split or truncated."""

from __future__ import annotations

import json

import pytest

from service.documents.plan import plan_summaries, plan_translation
from service.errors import InvalidInput
from service.model import ServedModel
from service.types import Segmentation, Truncation
from tests.fakes import manifest, served_with_fake_engine


@pytest.fixture(scope="module")
def served() -> ServedModel:
    return served_with_fake_engine(manifest(max_input_tokens=24))


def test_sentences_become_units_with_the_route_template(served: ServedModel) -> None:
    route = served.manifest.translation[0]
    text = "The dog sleeps.  The cat plays.\n\n42\n"
    plan = plan_translation(served, [text], [route], ["en"], Segmentation.AUTO)
    (only,) = plan.texts
    assert [u.text for u in plan.units] == ["The dog sleeps.", "The cat plays."]
    assert (only.first, only.count) == (0, 2)
    assert plan.units[0].input == served.encode("The dog sleeps.", route)
    assert only.layout.join(["A", "B"]) == "A  B\n\n42\n"


def test_an_over_long_sentence_is_split_until_every_unit_fits(served: ServedModel) -> None:
    route = served.manifest.translation[0]
    text = "The old man sees the dog, the cat sees the bird, and the horse sleeps in the barn"
    plan = plan_translation(served, [text], [route], ["en"], Segmentation.AUTO)
    assert len(plan.units) > 1
    assert all(len(u.input.source) <= 24 for u in plan.units)
    assert plan.texts[0].layout.join([u.text for u in plan.units]) == text


def test_segmentation_none_refuses_over_long_texts_with_the_hint(served: ServedModel) -> None:
    route = served.manifest.translation[0]
    long = "The old man sees the dog and the cat sees the bird in the garden today, " * 2
    with pytest.raises(InvalidInput) as exc:
        plan_translation(served, ["Fine.", long], [route] * 2, ["en"] * 2, Segmentation.NONE)
    assert [v.field for v in exc.value.violations] == ["texts[1]"]
    assert "reads at most 24 tokens" in exc.value.message
    assert "segmentation AUTO" in exc.value.message
    whole = plan_translation(served, [" Fine. Yes. "], [route], ["en"], Segmentation.NONE)
    assert [u.text for u in whole.units] == ["Fine. Yes."]


def test_truncation_head_keeps_the_beginning_that_fits(served: ServedModel) -> None:
    route = served.manifest.summarization[0]
    text = " ".join(f"word{i}" for i in range(200))
    plan = plan_summaries(served, [text], route, Truncation.HEAD)
    (unit,) = plan.units
    full = len(served.encode(text, route).source)
    assert len(unit.input.source) <= 24
    assert text.startswith(unit.text) and unit.text.endswith(tuple("0123456789"))  # whole word
    assert plan.texts[0].truncated_tokens == full - len(unit.input.source) > 0
    # Adding one more word would not fit any more (the kept part is the longest, near enough).
    next_word = text[len(unit.text) :].split()[0]
    assert len(served.encode(f"{unit.text} {next_word}", route).source) > 24
    with pytest.raises(InvalidInput) as exc:
        plan_summaries(served, [text], route, Truncation.NONE)
    assert "truncation HEAD" in exc.value.message
    short = plan_summaries(served, ["Short text."], route, Truncation.HEAD)
    assert short.texts[0].truncated_tokens == 0 and short.units[0].text == "Short text."


def test_a_document_at_the_character_limit_fits_the_default_cost_budget() -> None:
    """The two defaults agree: a text of max_text_chars distinct demo sentences, greedy, with
    the relative output limit, is within max_request_cost (and one of twice the size is not)."""
    from service.batching import BatchingConfig
    from service.batching.admission import planned_work
    from service.config import Limits
    from service.manifest import load_manifest
    from service.types import ResolvedOptions
    from tests.fakes import DEMO_HELDOUT, DEMO_MODEL

    rows = [json.loads(line) for line in DEMO_HELDOUT.read_text().splitlines()]
    paragraphs = [" ".join(r["text"] for r in rows[i : i + 5]) for i in range(0, len(rows), 5)]
    corpus = "\n\n".join(paragraphs)
    demo = load_manifest(DEMO_MODEL)
    served = served_with_fake_engine(demo)
    options = ResolvedOptions(max_length=128)  # the demo model's default, greedy
    budget = BatchingConfig().max_request_cost

    def cost(chars: int) -> float:
        text = corpus[:chars]
        plan = plan_translation(
            served, [text], [demo.translation[0]], ["en"], Segmentation.AUTO, options, True
        )
        return sum(planned_work([u.input for u in plan.units], options))

    limit = Limits().max_text_chars
    assert len(corpus) >= limit
    assert cost(limit) <= budget < cost(min(len(corpus), 2 * limit))
