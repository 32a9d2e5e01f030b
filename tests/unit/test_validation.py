"""Every bad input is reported with its field and the allowed values."""

import math

import pytest

from service.config import Limits
from service.errors import InvalidInput
from service.types import DecodingOptions, GenerationRequest, ResolvedOptions, Task
from service.validation import has_text, normalize_language, resolve_options, validate_request

LIMITS = Limits(
    max_texts=4, max_text_chars=50, max_request_chars=100, max_beam_size=8, max_length=512
)
DEFAULTS = DecodingOptions(beam_size=4, max_length=128)


def translate(texts: tuple[str, ...] = ("hello",), src: str = "en", tgt: str = "de"):
    return GenerationRequest(
        Task.TRANSLATE, texts, DecodingOptions(), source_language=src, target_language=tgt
    )


def fields_of(exc: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [v.field for v in exc.value.violations]


@pytest.mark.parametrize(
    ("request_", "field", "phrase"),
    [
        (translate(()), "texts", "1 to 4"),
        (translate(("a",) * 5), "texts", "at most 4"),
        (translate(("ok", "  ")), "texts[1]", "empty"),
        (translate(("x" * 51,)), "texts[0]", "limit is 50"),
        (translate(("x" * 40,) * 3), "texts", "120 characters together; the limit is 100"),
        (translate(src="english!"), "source_language", "not a language code"),
        (translate(tgt=""), "target_language", "required"),
        (translate(tgt="german!"), "target_language", "not a language code"),
    ],
)
def test_request_shape_errors_name_the_field(
    request_: GenerationRequest, field: str, phrase: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_request(request_, LIMITS)
    assert field in fields_of(exc)
    assert phrase in str(exc.value)


def test_an_empty_or_auto_source_language_asks_for_detection() -> None:
    for src in ("", "auto", "AUTO"):
        validate_request(translate(src=src), LIMITS)  # no violation: the pipeline detects it


def test_all_violations_are_reported_together() -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_request(translate(("", ""), src="e!", tgt=""), LIMITS)
    assert fields_of(exc) == ["texts[0]", "texts[1]", "source_language", "target_language"]


@pytest.mark.parametrize(
    ("options", "field", "phrase"),
    [
        (DecodingOptions(beam_size=0), "options.beam_size", "[1, 8], got 0"),
        (DecodingOptions(beam_size=9), "options.beam_size", "[1, 8], got 9"),
        (DecodingOptions(max_length=513), "options.max_length", "[1, 512]"),
        (DecodingOptions(max_length=0), "options.max_length", "got 0"),
        (DecodingOptions(min_length=200), "options.min_length", "[0, 128]"),
        (DecodingOptions(length_penalty=-1.0), "options.length_penalty", "[0, 10]"),
        (DecodingOptions(repetition_penalty=0.5), "options.repetition_penalty", "[1, 10], got 0.5"),
        (DecodingOptions(no_repeat_ngram_size=-1), "options.no_repeat_ngram_size", "got -1"),
        (DecodingOptions(num_hypotheses=5), "options.num_hypotheses", "at most beam_size (4)"),
        (DecodingOptions(num_hypotheses=0), "options.num_hypotheses", "[1, 8]"),
        (
            DecodingOptions(beam_size=1, sampling_top_k=10, sampling_temperature=0.0),
            "options.sampling_temperature",
            "(0, 10]",
        ),
        (
            DecodingOptions(beam_size=1, sampling_top_k=10, sampling_top_p=1.5),
            "options.sampling_top_p",
            "(0, 1]",
        ),
        (DecodingOptions(beam_size=1, sampling_top_k=-2), "options.sampling_top_k", "got -2"),
        (DecodingOptions(sampling_top_k=10), "options.sampling_top_k", "needs beam_size 1"),
        (
            DecodingOptions(beam_size=1, sampling_top_k=5, sampling_temperature=math.nan),
            "options.sampling_temperature",
            "finite",
        ),
        (
            DecodingOptions(beam_size=1, sampling_top_k=5, seed=3),
            "options.seed",
            "cannot make sampling reproducible",
        ),
    ],
)
def test_option_errors_name_the_field_and_range(
    options: DecodingOptions, field: str, phrase: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        resolve_options(options, DEFAULTS, LIMITS, supports_seed=False)
    assert field in fields_of(exc)
    assert phrase in str(exc.value)


def test_resolved_options_take_model_defaults_for_unset_fields() -> None:
    resolved = resolve_options(
        DecodingOptions(max_length=20), DEFAULTS, LIMITS, supports_seed=False
    )
    assert resolved == ResolvedOptions(beam_size=4, max_length=20)


def test_sampling_allows_more_hypotheses_than_beams() -> None:
    resolved = resolve_options(
        DecodingOptions(beam_size=1, sampling_top_k=0, num_hypotheses=3),
        DEFAULTS,
        LIMITS,
        supports_seed=False,
    )
    assert resolved.is_sampling and resolved.num_hypotheses == 3


def test_seed_without_sampling_is_dropped_so_the_request_can_share_batches() -> None:
    resolved = resolve_options(DecodingOptions(seed=7), DEFAULTS, LIMITS, supports_seed=True)
    assert resolved.seed is None and not resolved.exclusive


def test_language_codes_compare_case_insensitively() -> None:
    assert normalize_language(" DE_at ") == "de-at"


NOTE = "model m generates at most 255 tokens (its decoder has 256 positions; 1 go to the prefix)"


def test_unset_max_length_is_capped_to_what_the_model_can_generate() -> None:
    resolved = resolve_options(
        DecodingOptions(), DecodingOptions(), LIMITS, supports_seed=False, max_output=255
    )
    assert resolved.max_length == 255  # the default 256 would overflow the position table
    from_model = resolve_options(
        DecodingOptions(), DecodingOptions(max_length=1000), LIMITS, supports_seed=False,
        max_output=255,
    )  # fmt: skip
    assert from_model.max_length == 255  # a manifest default longer than the model can go


def test_requested_max_length_beyond_the_models_limit_names_it() -> None:
    with pytest.raises(InvalidInput) as exc:
        resolve_options(
            DecodingOptions(max_length=300), DecodingOptions(), LIMITS, supports_seed=False,
            max_output=255, max_output_note=NOTE,
        )  # fmt: skip
    (violation,) = exc.value.violations
    assert violation.field == "options.max_length"
    assert "[1, 255], got 300" in violation.description and "256 positions" in violation.description
    ok = resolve_options(
        DecodingOptions(max_length=255, min_length=255), DecodingOptions(), LIMITS,
        supports_seed=False, max_output=255,
    )  # fmt: skip
    assert (ok.max_length, ok.min_length) == (255, 255)


def test_server_cap_still_applies_when_the_model_allows_more() -> None:
    with pytest.raises(InvalidInput) as exc:
        resolve_options(
            DecodingOptions(max_length=600), DecodingOptions(), LIMITS, supports_seed=False,
            max_output=1000,
        )  # fmt: skip
    assert "[1, 512]" in exc.value.violations[0].description


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello.", True),
        ("\u200bHello", True),
        ("", False),
        ("  \t\n", False),
        ("\u200b\u200c\u200d", False),  # zero-width space and joiners
        ("\x00\x00", False),  # NULs
        ("\ufeff", False),  # a BOM
        ("\u00ad \u2060", False),  # soft hyphen, word joiner
        ("!", True),  # punctuation is text
    ],
)
def test_texts_without_visible_characters_are_empty(text: str, expected: bool) -> None:
    assert has_text(text) is expected


@pytest.mark.parametrize(
    "code", ["en\n", "en ", "e", "english-language-code-that-is-too-long-x", "de-"]
)
def test_language_codes_are_matched_whole(code: str) -> None:
    with pytest.raises(InvalidInput, match="not a language code"):
        validate_request(translate(src=code), LIMITS)


def test_option_and_text_violations_come_together_each_field_once() -> None:
    request = GenerationRequest(
        Task.TRANSLATE, ("", "ok"),
        DecodingOptions(beam_size=4, sampling_top_k=-1, repetition_penalty=0.5),
        source_language="en", target_language="de",
    )  # fmt: skip
    with pytest.raises(InvalidInput) as exc:
        validate_request(request, LIMITS)
    assert fields_of(exc) == ["texts[0]", "options.repetition_penalty", "options.sampling_top_k"]


def test_a_million_texts_are_counted_without_being_checked_one_by_one() -> None:
    request = GenerationRequest(
        Task.TRANSLATE, ("a",) * 4, DecodingOptions(), source_language="en",
        target_language="de", texts_sent=1_300_000,
    )  # fmt: skip
    with pytest.raises(InvalidInput, match="got 1300000"):
        validate_request(request, LIMITS)
