"""Wire conversion: unset options stay unset, results survive a round trip."""

from service.api import seq2seq_pb2 as pb
from service.types import (
    DecodingOptions,
    GeneratedText,
    GenerationRequest,
    GenerationResult,
    Hypothesis,
    ResolvedOptions,
    Task,
)


def test_unset_options_stay_unset_and_set_zero_is_kept() -> None:
    msg = pb.DecodingOptions(beam_size=0, return_scores=False)
    options = DecodingOptions.from_pb(msg)
    assert options.beam_size == 0  # explicitly 0 is a value the validator must see
    assert options.return_scores is False
    assert options.max_length is None
    assert DecodingOptions.from_pb(options.to_pb()) == options


def test_request_options_override_model_defaults_field_by_field() -> None:
    defaults = DecodingOptions(beam_size=4, max_length=64)
    merged = DecodingOptions(beam_size=1).merged_over(defaults)
    assert merged.beam_size == 1
    assert merged.max_length == 64


def test_translate_request_from_pb() -> None:
    msg = pb.TranslateRequest(
        texts=["a", "b"], source_language="en", target_language="de", model=""
    )
    request = GenerationRequest.from_translate_pb(msg)
    assert request.task is Task.TRANSLATE
    assert request.texts == ("a", "b")
    assert request.model is None


def test_summarize_request_defaults_to_english() -> None:
    request = GenerationRequest.from_summarize_pb(pb.SummarizeRequest(texts=["x"]))
    assert request.task is Task.SUMMARIZE
    assert request.source_language == "en"


def test_result_round_trip_keeps_order_scores_and_counts() -> None:
    result = GenerationResult(
        results=(
            GeneratedText(
                (Hypothesis("eins", 2, -0.5), Hypothesis("ein", 1, -0.75)), input_tokens=5
            ),
            GeneratedText((Hypothesis("zwei", 1, None),), input_tokens=3),
        ),
        model="m",
        model_revision="sha256:abc",
    )
    back = GenerationResult.from_pb(result.to_pb(pb.TranslateResponse))
    assert back == result
    assert back.results[0].text == "eins"
    assert back.results[0].output_tokens == 2


def test_batch_key_ignores_return_scores_and_unused_sampling_settings() -> None:
    a = ResolvedOptions(beam_size=4, return_scores=True, sampling_temperature=0.3)
    b = ResolvedOptions(beam_size=4, return_scores=False, sampling_temperature=2.0)
    assert a.batch_key() == b.batch_key()
    sampled = ResolvedOptions(sampling_top_k=10, sampling_temperature=0.3)
    assert sampled.batch_key() != ResolvedOptions(sampling_top_k=10).batch_key()
    assert ResolvedOptions(sampling_top_k=10, seed=1).exclusive


def test_from_pb_keeps_at_most_max_texts_and_remembers_how_many_were_sent() -> None:
    msg = pb.TranslateRequest(texts=["a"] * 100_000, source_language="en", target_language="de")
    request = GenerationRequest.from_translate_pb(msg, max_texts=64)
    assert len(request.texts) == 64 and request.text_count == 100_000
    small = GenerationRequest.from_summarize_pb(pb.SummarizeRequest(texts=["a", "b"]), max_texts=64)
    assert small.texts == ("a", "b") and small.text_count == 2 and small.texts_sent is None
