"""Request validation: every violation is collected and reported with its field and allowed range.

Checks here need no model; checks that need one (token length, seed support) take its facts as
arguments, so this module stays free of engines and I/O.
"""

from __future__ import annotations

import dataclasses
import math
import re

from service.config import Limits
from service.errors import FieldViolation, InvalidInput
from service.types import DecodingOptions, GenerationRequest, ResolvedOptions, Task

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")


def normalize_language(code: str) -> str:
    """``EN_us`` → ``en-us``: codes compare case-insensitively, with ``-`` as separator."""
    return code.strip().replace("_", "-").lower()


def validate_request(request: GenerationRequest, limits: Limits) -> None:
    """Check the parts of a request that do not depend on the model."""
    problems: list[FieldViolation] = []
    texts = request.texts
    if not texts:
        problems.append(
            FieldViolation("texts", f"must contain 1 to {limits.max_texts} texts, got none")
        )
    elif len(texts) > limits.max_texts:
        problems.append(
            FieldViolation(
                "texts",
                f"must contain at most {limits.max_texts} texts, got {len(texts)}; "
                "split the request",
            )
        )
    for i, text in enumerate(texts[: limits.max_texts]):
        if not text.strip():
            problems.append(FieldViolation(f"texts[{i}]", "must not be empty or only whitespace"))
        elif len(text) > limits.max_text_chars:
            problems.append(
                FieldViolation(
                    f"texts[{i}]",
                    f"is {len(text)} characters long; the limit is {limits.max_text_chars}",
                )
            )
    if request.task is Task.TRANSLATE:
        for name, value in (
            ("source_language", request.source_language),
            ("target_language", request.target_language),
        ):
            if not value:
                problems.append(FieldViolation(name, "is required (a code such as 'en' or 'de')"))
            elif not _LANGUAGE.match(value):
                problems.append(
                    FieldViolation(name, f"{value!r} is not a language code such as 'en' or 'de'")
                )
    elif request.source_language and not _LANGUAGE.match(request.source_language):
        problems.append(
            FieldViolation(
                "language", f"{request.source_language!r} is not a language code such as 'en'"
            )
        )
    if problems:
        raise InvalidInput(problems)


def resolve_options(
    requested: DecodingOptions,
    defaults: DecodingOptions,
    limits: Limits,
    *,
    supports_seed: bool,
    max_output: int | None = None,
    max_output_note: str = "",
) -> ResolvedOptions:
    """Merge the request's options over the model's defaults and check every value's range.

    ``max_output`` is the model's own cap on max_length (its decoder positions less the forced
    target prefix; ``max_output_note`` says so in the error). A max_length the request leaves
    unset is capped to it (and to the server's); one the request sets beyond it is rejected.
    """
    merged = requested.merged_over(defaults)
    resolved = dataclasses.replace(ResolvedOptions(), **merged.as_dict())
    problems: list[FieldViolation] = []
    length_cap = limits.max_length if max_output is None else min(limits.max_length, max_output)
    if requested.max_length is None and resolved.max_length > length_cap >= 1:
        resolved = dataclasses.replace(resolved, max_length=length_cap)

    def field_range(
        name: str, value: float, low: float, high: float, low_open: bool = False
    ) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(
                FieldViolation(f"options.{name}", f"must be a finite number, got {value}")
            )
            return
        too_low = value <= low if low_open else value < low
        if too_low or value > high:
            bracket = "(" if low_open else "["
            problems.append(
                FieldViolation(
                    f"options.{name}",
                    f"must be in {bracket}{_fmt(low)}, {_fmt(high)}], got {_fmt(value)}",
                )
            )

    field_range("beam_size", resolved.beam_size, 1, limits.max_beam_size)
    if length_cap < limits.max_length and resolved.max_length > length_cap:
        problems.append(
            FieldViolation(
                "options.max_length",
                f"must be in [1, {length_cap}], got {resolved.max_length}: {max_output_note}",
            )
        )
    else:
        field_range("max_length", resolved.max_length, 1, limits.max_length)
    field_range("min_length", resolved.min_length, 0, min(resolved.max_length, length_cap))
    field_range("length_penalty", resolved.length_penalty, 0.0, 10.0)
    field_range("repetition_penalty", resolved.repetition_penalty, 0.0, 10.0, low_open=True)
    field_range("no_repeat_ngram_size", resolved.no_repeat_ngram_size, 0, 32)
    field_range("num_hypotheses", resolved.num_hypotheses, 1, limits.max_num_hypotheses)
    field_range("sampling_temperature", resolved.sampling_temperature, 0.0, 10.0, low_open=True)
    field_range("sampling_top_k", resolved.sampling_top_k, 0, limits.max_sampling_top_k)
    field_range("sampling_top_p", resolved.sampling_top_p, 0.0, 1.0, low_open=True)

    if resolved.is_sampling and resolved.beam_size != 1:
        problems.append(
            FieldViolation(
                "options.sampling_top_k",
                f"sampling (sampling_top_k={resolved.sampling_top_k}) needs beam_size 1, "
                f"got beam_size {resolved.beam_size}; set sampling_top_k to 1 for beam search",
            )
        )
    if (
        not resolved.is_sampling
        and resolved.num_hypotheses > resolved.beam_size
        and resolved.beam_size >= 1
    ):
        problems.append(
            FieldViolation(
                "options.num_hypotheses",
                f"must be at most beam_size ({resolved.beam_size}) for beam search, got "
                f"{resolved.num_hypotheses}; raise beam_size or enable sampling",
            )
        )
    if requested.seed is not None and not supports_seed:
        problems.append(
            FieldViolation(
                "options.seed",
                "this model's engine cannot make sampling reproducible; omit seed "
                "(see ModelInfo.supports_seed)",
            )
        )
    if problems:
        raise InvalidInput(problems)
    if resolved.seed is not None and not resolved.is_sampling:
        # A seed only matters when sampling; dropping it lets the request share batches.
        resolved = dataclasses.replace(resolved, seed=None)
    return resolved


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
