"""Every bad request gets its status code and a message (and field violation) naming the field."""

from __future__ import annotations

import grpc
import pytest

from service.client import ClientError, Seq2SeqClient
from service.types import DecodingOptions, Segmentation

OK_TEXT = "The dog sees the cat."

CASES = [
    # (id, call kwargs, code, field named in message/violations)
    ("empty list", {"texts": []}, grpc.StatusCode.INVALID_ARGUMENT, "texts"),
    ("empty string", {"texts": [""]}, grpc.StatusCode.INVALID_ARGUMENT, "texts[0]"),
    ("whitespace", {"texts": [OK_TEXT, "   "]}, grpc.StatusCode.INVALID_ARGUMENT, "texts[1]"),
    ("over-long text", {"texts": ["word " * 10_001]}, grpc.StatusCode.INVALID_ARGUMENT,
     "texts[0]"),
    ("over-long in tokens, whole", {"texts": [OK_TEXT, "dog " * 1500],
                                    "segmentation": Segmentation.NONE},
     grpc.StatusCode.INVALID_ARGUMENT, "texts[1]"),
    ("too many texts", {"texts": [OK_TEXT] * 65}, grpc.StatusCode.INVALID_ARGUMENT, "texts"),
    ("unknown model", {"model": "no-such-model"}, grpc.StatusCode.NOT_FOUND, "no-such-model"),
    ("unsupported pair", {"target": "ja"}, grpc.StatusCode.NOT_FOUND, "en→ja"),
    ("undetectable language", {"source": "", "texts": ["xq zv qwrtz plmk"]},
     grpc.StatusCode.INVALID_ARGUMENT, "source_language"),
    ("bad language code", {"source": "english!"}, grpc.StatusCode.INVALID_ARGUMENT,
     "source_language"),
    ("beam 0", {"options": DecodingOptions(beam_size=0)}, grpc.StatusCode.INVALID_ARGUMENT,
     "options.beam_size"),
    ("beam over cap", {"options": DecodingOptions(beam_size=9)},
     grpc.StatusCode.INVALID_ARGUMENT, "options.beam_size"),
    ("max_length over cap", {"options": DecodingOptions(max_length=100_000)},
     grpc.StatusCode.INVALID_ARGUMENT, "options.max_length"),
    ("min over max", {"options": DecodingOptions(min_length=50, max_length=10)},
     grpc.StatusCode.INVALID_ARGUMENT, "options.min_length"),
    ("n-best over beam", {"options": DecodingOptions(beam_size=2, num_hypotheses=3)},
     grpc.StatusCode.INVALID_ARGUMENT, "options.num_hypotheses"),
    ("temperature 0", {"options": DecodingOptions(beam_size=1, sampling_top_k=5,
                                                  sampling_temperature=0.0)},
     grpc.StatusCode.INVALID_ARGUMENT, "options.sampling_temperature"),
    ("top_p over 1", {"options": DecodingOptions(beam_size=1, sampling_top_k=5,
                                                 sampling_top_p=1.5)},
     grpc.StatusCode.INVALID_ARGUMENT, "options.sampling_top_p"),
    ("negative top_k", {"options": DecodingOptions(beam_size=1, sampling_top_k=-1)},
     grpc.StatusCode.INVALID_ARGUMENT, "options.sampling_top_k"),
    ("sampling with beam", {"options": DecodingOptions(beam_size=4, sampling_top_k=5)},
     grpc.StatusCode.INVALID_ARGUMENT, "options.sampling_top_k"),
    ("seed unsupported", {"options": DecodingOptions(beam_size=1, sampling_top_k=5, seed=1)},
     grpc.StatusCode.INVALID_ARGUMENT, "options.seed"),
    ("nan penalty", {"options": DecodingOptions(length_penalty=float("nan"))},
     grpc.StatusCode.INVALID_ARGUMENT, "options.length_penalty"),
    ("repetition penalty below 1", {"options": DecodingOptions(repetition_penalty=0.5)},
     grpc.StatusCode.INVALID_ARGUMENT, "options.repetition_penalty"),
    ("language with a newline", {"source": "en\n"}, grpc.StatusCode.INVALID_ARGUMENT,
     "source_language"),
    ("zero-width spaces only", {"texts": ["\u200b\u200b\u200b"]},
     grpc.StatusCode.INVALID_ARGUMENT, "texts[0]"),
    ("NULs only", {"texts": ["\x00\x00"]}, grpc.StatusCode.INVALID_ARGUMENT, "texts[0]"),
    ("BOM only", {"texts": [OK_TEXT, "\ufeff "]}, grpc.StatusCode.INVALID_ARGUMENT, "texts[1]"),
    ("over the cost budget", {"texts": [f"The dog sees {n} cats." for n in range(2, 10)],
                              "options": DecodingOptions(beam_size=8, num_hypotheses=8,
                                                         min_length=512, max_length=512)},
     grpc.StatusCode.INVALID_ARGUMENT, "max_request_cost"),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "code", "field"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_bad_translate_requests(
    client: Seq2SeqClient, kwargs: dict[str, object], code: grpc.StatusCode, field: str
) -> None:
    call = {"texts": [OK_TEXT], "source": "en", "target": "de", "model": None, "options": None,
            "segmentation": None}  # fmt: skip
    call.update(kwargs)
    with pytest.raises(ClientError) as exc:
        client.translate(
            call["texts"],  # type: ignore[arg-type]
            call["source"],  # type: ignore[arg-type]
            call["target"],  # type: ignore[arg-type]
            model=call["model"],  # type: ignore[arg-type]
            options=call["options"],  # type: ignore[arg-type]
            segmentation=call["segmentation"],  # type: ignore[arg-type]
        )
    error = exc.value
    assert error.code is code, error
    assert field in error.message
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        fields = [f for f, _ in error.field_violations]
        assert field in fields or any(field in d for _, d in error.field_violations)
        assert len(fields) == len(set(fields))  # no field twice
        assert error.reason == "INVALID_ARGUMENT"


def test_text_and_option_violations_are_reported_together_each_field_once(
    client: Seq2SeqClient,
) -> None:
    with pytest.raises(ClientError) as exc:
        client.translate(
            ["", OK_TEXT, "\u200b"],
            "en",
            "de",
            options=DecodingOptions(beam_size=4, sampling_top_k=-1, repetition_penalty=0.2),
        )
    fields = [f for f, _ in exc.value.field_violations]
    assert fields == [
        "texts[0]", "texts[2]", "options.repetition_penalty", "options.sampling_top_k",
    ]  # fmt: skip


def test_bad_summarize_request(client: Seq2SeqClient) -> None:
    with pytest.raises(ClientError) as exc:
        client.summarize([""], options=DecodingOptions(max_length=0))
    assert exc.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "texts[0]" in [f for f, _ in exc.value.field_violations]


def test_unknown_summarization_language(client: Seq2SeqClient) -> None:
    with pytest.raises(ClientError) as exc:
        client.summarize([OK_TEXT], language="fi")
    assert exc.value.code is grpc.StatusCode.NOT_FOUND


def test_a_bad_request_does_not_harm_the_next(client: Seq2SeqClient) -> None:
    with pytest.raises(ClientError):
        client.translate([OK_TEXT, ""], "en", "de")
    result = client.translate([OK_TEXT], "en", "de")
    assert result.results[0].text
