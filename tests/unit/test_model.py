"""A served model's text ⇄ token steps: templates, output limits, forced prefixes, scores.
(The input-token limit is the planner's: tests/unit/documents/test_plan.py.)"""

from __future__ import annotations

import dataclasses

from service.engines.base import EngineHypothesis, EngineInput, EngineOutput
from service.manifest import LanguageCodes, TranslationRoute
from service.types import ResolvedOptions
from tests.fakes import manifest, served_with_fake_engine

PREFIX = ("▁Die",)  # a real piece of the demo vocabulary, forced as the first output token


def test_encode_applies_the_route_template_and_the_model_suffix() -> None:
    served = served_with_fake_engine(manifest())
    route = served.manifest.translation[0]
    item = served.encode("The dog sleeps.", route)
    expected = served.tokenizer.encode("translate en to de: The dog sleeps.")
    assert list(item.source) == expected
    assert item.source[-1] == "</s>"
    assert item.target_prefix == ()


def test_detokenize_strips_the_forced_target_prefix_and_counts_tokens_without_it() -> None:
    served = served_with_fake_engine(manifest(target_prefix=PREFIX))
    route = served.manifest.translation[0]
    inputs = [served.encode("The dog sleeps.", route)]
    assert inputs[0].target_prefix == PREFIX
    body = tuple(served.tokenizer.encode("Der Hund schläft.")[:-1])  # without </s>
    output = EngineOutput((EngineHypothesis(PREFIX + body, score=-0.5),))
    [result] = served.detokenize(inputs, [output], with_scores=False)
    assert result.text == "Der Hund schläft."
    assert result.output_tokens == len(body)
    assert result.hypotheses[0].score is None  # not asked for: dropped
    assert result.input_tokens == len(inputs[0].source)


def test_detokenize_keeps_scores_when_asked_and_leaves_unforced_outputs_alone() -> None:
    served = served_with_fake_engine(manifest())
    inputs = [EngineInput(("▁a", "</s>"))]
    hyps = (EngineHypothesis(("▁Die", "▁Katze"), -0.25), EngineHypothesis(("▁Der",), -1.0))
    [result] = served.detokenize(inputs, [EngineOutput(hyps)], with_scores=True)
    assert [h.text for h in result.hypotheses] == ["Die Katze", "Der"]
    assert [h.score for h in result.hypotheses] == [-0.25, -1.0]
    assert result.text == "Die Katze"


def test_info_reports_what_list_models_shows() -> None:
    served = served_with_fake_engine(manifest(pairs=[("en", "de"), ("en", "fr")]))
    info = served.info()
    assert info.translation_pairs == (("en", "de"), ("en", "fr"))
    assert info.summarization_languages == ("en",)
    assert (info.engine, info.ready, info.supports_seed) == ("fake", True, True)


def test_encode_puts_the_routes_language_tokens_around_the_text() -> None:
    served = served_with_fake_engine(manifest())
    route = TranslationRoute(
        "en", "de", source_prefix=("eng_Latn",), source_suffix=("▁x",), target_prefix=("deu_Latn",)
    )
    item = served.encode("The dog sleeps.", route)
    body = served.tokenizer.encode("The dog sleeps.")
    assert list(item.source) == ["eng_Latn", *body, "▁x"]
    assert item.target_prefix == ("deu_Latn",)


def test_info_lists_a_many_to_many_models_pairs_and_output_limit() -> None:
    base = manifest(pairs=[("en", "de")])
    codes = LanguageCodes(codes={"en": "__en__", "de": "__de__", "fr": "__fr__"})
    served = served_with_fake_engine(
        dataclasses.replace(base, languages=codes, max_decoder_positions=128)
    )
    info = served.info()
    assert info.translation_languages == ("de", "en", "fr")
    assert len(info.translation_pairs) == 6 and info.translation_pairs[0] == ("en", "de")
    assert info.max_output_tokens == 127  # one position for the forced language token
    assert served_with_fake_engine(manifest()).info().max_output_tokens == 0


def test_translations_get_an_output_limit_relative_to_their_input() -> None:
    served = served_with_fake_engine(manifest())  # factor 2, offset 10 (the defaults)
    route = served.manifest.translation[0]
    options = ResolvedOptions(max_length=128)
    short, long = (
        served.encode(text, route, options)
        for text in (
            "The dog sleeps.",
            "The old man sees the small dog in the garden near the house.",
        )
    )
    template = len(served.tokenizer.encode("translate en to de: "))
    for item in (short, long):
        own = len(item.source) - template
        assert item.max_length == 2 * own + 10
    capped = served.encode("The dog sleeps.", route, ResolvedOptions(max_length=5))
    assert capped.max_length == 5  # never above the options' limit
    floor = served.encode("Hi.", route, ResolvedOptions(max_length=128, min_length=40))
    assert floor.max_length == 40  # never below min_length


def test_an_explicit_max_length_summaries_and_factor_zero_have_no_relative_limit() -> None:
    served = served_with_fake_engine(manifest())
    options = ResolvedOptions(max_length=128)
    translation = served.manifest.translation[0]
    explicit = served.encode("Hi.", translation, options, relative_limit=False)
    summary = served.encode("Hi.", served.manifest.summarization[0], options)
    off = served_with_fake_engine(dataclasses.replace(manifest(), max_length_factor=0.0))
    unbounded = off.encode("Hi.", off.manifest.translation[0], options)
    assert explicit.max_length is None and summary.max_length is None
    assert unbounded.max_length is None
