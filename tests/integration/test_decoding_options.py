"""Per-request decoding controls do what callers ask for."""

from __future__ import annotations

from service.client import Seq2SeqClient
from service.types import DecodingOptions

TEXTS = ["The old man sees the small dog.", "The woman buys three red apples."]


def test_n_best_returns_that_many_distinct_hypotheses_sorted_by_score(
    client: Seq2SeqClient,
) -> None:
    options = DecodingOptions(beam_size=4, num_hypotheses=4, return_scores=True)
    result = client.translate(TEXTS, "en", "de", options=options)
    for item in result.results:
        texts = [h.text for h in item.hypotheses]
        scores = [h.score for h in item.hypotheses]
        assert len(texts) == 4
        assert len(set(texts)) == 4, texts
        assert all(s is not None for s in scores)
        assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
        assert item.text == texts[0]


def test_scores_only_when_asked(client: Seq2SeqClient) -> None:
    result = client.translate(TEXTS[:1], "en", "de", options=DecodingOptions(beam_size=2))
    assert all(h.score is None for h in result.results[0].hypotheses)


def test_max_length_bounds_the_output(client: Seq2SeqClient) -> None:
    result = client.translate(TEXTS, "en", "de", options=DecodingOptions(max_length=3))
    for item in result.results:
        assert 1 <= item.output_tokens <= 3
    unbounded = client.translate(TEXTS, "en", "de")
    assert all(item.output_tokens > 3 for item in unbounded.results)


def test_min_length_is_honoured(client: Seq2SeqClient) -> None:
    natural = client.translate(TEXTS, "en", "de").results
    longest = max(item.output_tokens for item in natural)
    forced = client.translate(
        TEXTS, "en", "de", options=DecodingOptions(min_length=longest + 10, max_length=longest + 20)
    )
    for item in forced.results:
        assert longest + 10 <= item.output_tokens <= longest + 20


def test_sampling_gives_n_samples(client: Seq2SeqClient) -> None:
    options = DecodingOptions(
        beam_size=1, sampling_top_k=0, sampling_temperature=1.5, num_hypotheses=3
    )
    result = client.translate(TEXTS[:1], "en", "de", options=options)
    assert len(result.results[0].hypotheses) == 3


def test_response_reports_model_revision_and_token_counts(client: Seq2SeqClient) -> None:
    result = client.translate(TEXTS, "en", "de")
    models = {m.name: m for m in client.list_models()}
    assert result.model in models
    assert result.model_revision == models[result.model].revision
    assert result.model_revision.startswith("sha256:")
    assert [r.input_tokens > 5 for r in result.results] == [True, True]


def test_a_translation_that_runs_away_stops_relative_to_its_input(client: Seq2SeqClient) -> None:
    """Outside the demo grammar the model repeats itself ("ihre ihre ihre ..."); without
    max_length the output stops at 2 x the text's own tokens + 10, with it at max_length."""
    text = "The teacher said that the children were reading."
    [bounded] = client.translate([text], "en", "de").results
    template = 6  # "translate English to German: " (5 tokens) and the end-of-sequence token
    own = bounded.input_tokens - template
    assert bounded.output_tokens <= 2 * own + 10
    [explicit] = client.translate(
        [text], "en", "de", options=DecodingOptions(max_length=120)
    ).results
    assert explicit.output_tokens > bounded.output_tokens
