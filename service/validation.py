"""Request validation: every violation is collected and reported with its field and allowed range.

Checks here need no model; checks that need one (token length, seed support) take its facts as
arguments, so this module stays free of engines and I/O. Cheap checks come first: the count of
texts is checked before any text is looked at, and only the first ``max_texts`` are. Options the
caller set are checked together with the texts, so one reply lists every mistake; the model's
defaults are merged and checked after routing (`resolve_options`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from service.config import Limits
from service.documents.detection import wants_detection
from service.errors import FieldViolation, InvalidInput, clip
from service.types import DecodingOptions, GenerationRequest, ResolvedOptions, Task

_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
_LANGUAGE_CHARS = 35  # the longest BCP-47 tag in common use (RFC 5646 suggests 35)
# Characters that carry no text: whitespace, control characters (NUL, ...) and the invisible
# format characters (soft hyphen, zero-width space/joiners, direction marks, word joiner, BOM).
_NO_TEXT = re.compile(
    "[\\s\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff"
    "\ufff9-\ufffb]*"
)


def normalize_language(code: str) -> str:
    """``EN_us`` → ``en-us``: codes compare case-insensitively, with ``-`` as separator."""
    return code.strip().replace("_", "-").lower()


def has_text(text: str) -> bool:
    """False for a text of only whitespace, control or invisible format characters."""
    return _NO_TEXT.fullmatch(text) is None


def validate_request(request: GenerationRequest, limits: Limits) -> None:
    """Check the parts of a request that do not depend on the model, options included."""
    problems = _text_problems(request, limits) + _language_problems(request)
    problems += option_problems(request.options.as_dict(), limits)
    if problems:
        raise InvalidInput(problems)


def _text_problems(request: GenerationRequest, limits: Limits) -> list[FieldViolation]:
    problems: list[FieldViolation] = []
    count = request.text_count
    if not count:
        problems.append(
            FieldViolation("texts", f"must contain 1 to {limits.max_texts} texts, got none")
        )
    elif count > limits.max_texts:
        problems.append(
            FieldViolation(
                "texts",
                f"must contain at most {limits.max_texts} texts, got {count}; split the request",
            )
        )
    for i, text in enumerate(request.texts[: limits.max_texts]):
        if len(text) > limits.max_text_chars:
            problems.append(
                FieldViolation(
                    f"texts[{i}]",
                    f"is {len(text)} characters long; the limit is {limits.max_text_chars}",
                )
            )
        elif not has_text(text):
            problems.append(
                FieldViolation(
                    f"texts[{i}]",
                    "must contain text (it is empty or only whitespace, control or "
                    "zero-width characters)",
                )
            )
    total = sum(len(text) for text in request.texts[: limits.max_texts])
    if total > limits.max_request_chars:
        problems.append(
            FieldViolation(
                "texts",
                f"hold {total} characters together; the limit is {limits.max_request_chars} "
                "per request; split the request",
            )
        )
    return problems


def _language_problems(request: GenerationRequest) -> list[FieldViolation]:
    if request.task is Task.TRANSLATE:
        fields = [
            ("source_language", request.source_language),
            ("target_language", request.target_language),
        ]
    else:  # Summarize's field is `language`; empty means "en"
        fields = [("language", request.source_language or "en")]
    problems = []
    for name, value in fields:
        if name == "source_language" and wants_detection(value):
            continue  # detected per text by the pipeline
        if not value:
            problems.append(FieldViolation(name, "is required (a code such as 'en' or 'de')"))
        elif len(value) > _LANGUAGE_CHARS or not _LANGUAGE.fullmatch(value):
            problems.append(
                FieldViolation(name, f"{clip(value)} is not a language code such as 'en' or 'de'")
            )
    return problems


def option_problems(values: dict[str, Any], limits: Limits) -> list[FieldViolation]:
    """Range and combination checks of decoding options; ``values`` holds the options that are
    set (a request's own, or the resolved ones), and only those are checked."""
    problems: list[FieldViolation] = []

    def field_range(name: str, low: float, high: float, low_open: bool = False) -> None:
        if name not in values:
            return
        value = values[name]
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

    max_length = values.get("max_length", limits.max_length)
    field_range("beam_size", 1, limits.max_beam_size)
    field_range("max_length", 1, limits.max_length)
    field_range("min_length", 0, min(max_length, limits.max_length))
    field_range("length_penalty", 0.0, 10.0)
    field_range("repetition_penalty", 1.0, 10.0)
    field_range("no_repeat_ngram_size", 0, 32)
    field_range("num_hypotheses", 1, limits.max_num_hypotheses)
    field_range("sampling_temperature", 0.0, 10.0, low_open=True)
    field_range("sampling_top_k", 0, limits.max_sampling_top_k)
    field_range("sampling_top_p", 0.0, 1.0, low_open=True)
    reported = {p.field for p in problems}

    top_k = values.get("sampling_top_k", 1)
    beam = values.get("beam_size", 1)
    sampling = top_k != 1
    if sampling and beam != 1 and "options.sampling_top_k" not in reported:
        problems.append(
            FieldViolation(
                "options.sampling_top_k",
                f"sampling (sampling_top_k={top_k}) needs beam_size 1, got beam_size {beam}; "
                "set sampling_top_k to 1 for beam search",
            )
        )
    n_best = values.get("num_hypotheses", 1)
    if (
        not sampling
        and n_best > beam >= 1
        and "beam_size" in values
        and "options.num_hypotheses" not in reported
    ):
        problems.append(
            FieldViolation(
                "options.num_hypotheses",
                f"must be at most beam_size ({beam}) for beam search, got {n_best}; "
                "raise beam_size or enable sampling",
            )
        )
    return problems


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

    The request's own values were checked by `validate_request`; what can fail here is what
    the model's defaults add (e.g. n-best above the model's default beam size), and the model's
    own cap on max_length: ``max_output`` (its decoder positions less the forced target prefix;
    ``max_output_note`` says so in the error). A max_length the request leaves unset is capped
    to it; one the request sets beyond it is rejected.
    """
    merged = requested.merged_over(defaults)
    resolved = dataclasses.replace(ResolvedOptions(), **merged.as_dict())
    cap = limits.max_length if max_output is None else min(limits.max_length, max_output)
    if requested.max_length is None and resolved.max_length > cap >= 1:
        resolved = dataclasses.replace(resolved, max_length=cap)
    problems = option_problems(dataclasses.asdict(resolved), limits)
    if resolved.max_length > cap and not any(p.field == "options.max_length" for p in problems):
        problems.append(
            FieldViolation(
                "options.max_length",
                f"must be in [1, {cap}], got {resolved.max_length}: {max_output_note}",
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
