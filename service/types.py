"""Domain types of the data plane, and their conversion to and from the wire (`from_pb`/`to_pb`).

The pipeline, batcher and engines only see these types; the generated protobuf classes stop at
the servicer.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, TypeVar

from service.api import seq2seq_pb2 as pb

_Response = TypeVar("_Response", pb.TranslateResponse, pb.SummarizeResponse)
_StreamResponse = TypeVar("_StreamResponse", pb.TranslateStreamResponse, pb.SummarizeStreamResponse)


class Task(enum.StrEnum):
    TRANSLATE = "translate"
    SUMMARIZE = "summarize"


class Segmentation(enum.StrEnum):
    """How a text is cut before it reaches a model (``seq2seq.v1.Segmentation``)."""

    AUTO = "auto"  # into sentences, reassembled with the original layout
    NONE = "none"  # whole

    @classmethod
    def from_pb(cls, value: int) -> Segmentation | None:
        return _SEGMENTATION_FROM_PB.get(value)

    def to_pb(self) -> pb.Segmentation:
        return pb.SEGMENTATION_AUTO if self is Segmentation.AUTO else pb.SEGMENTATION_NONE


class Truncation(enum.StrEnum):
    """What happens to a text longer than the model reads (``seq2seq.v1.Truncation``)."""

    NONE = "none"  # rejected
    HEAD = "head"  # the first tokens that fit are kept

    @classmethod
    def from_pb(cls, value: int) -> Truncation | None:
        return _TRUNCATION_FROM_PB.get(value)

    def to_pb(self) -> pb.Truncation:
        return pb.TRUNCATION_HEAD if self is Truncation.HEAD else pb.TRUNCATION_NONE


_SEGMENTATION_FROM_PB: dict[int, Segmentation] = {
    pb.SEGMENTATION_AUTO: Segmentation.AUTO,
    pb.SEGMENTATION_NONE: Segmentation.NONE,
}
_TRUNCATION_FROM_PB: dict[int, Truncation] = {
    pb.TRUNCATION_HEAD: Truncation.HEAD,
    pb.TRUNCATION_NONE: Truncation.NONE,
}


@dataclass(frozen=True, slots=True)
class DecodingOptions:
    """Options as a request (or a manifest's defaults) gives them: ``None`` means "not set".

    Field meanings and allowed ranges are documented on ``seq2seq.v1.DecodingOptions``.
    """

    beam_size: int | None = None
    max_length: int | None = None
    min_length: int | None = None
    length_penalty: float | None = None
    repetition_penalty: float | None = None
    no_repeat_ngram_size: int | None = None
    num_hypotheses: int | None = None
    sampling_temperature: float | None = None
    sampling_top_k: int | None = None
    sampling_top_p: float | None = None
    seed: int | None = None
    return_scores: bool | None = None

    @classmethod
    def from_pb(cls, msg: pb.DecodingOptions) -> DecodingOptions:
        values: dict[str, Any] = {}
        for f in fields(cls):
            if msg.HasField(f.name):
                values[f.name] = getattr(msg, f.name)
        return cls(**values)

    def to_pb(self) -> pb.DecodingOptions:
        return pb.DecodingOptions(**self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """Only the fields that are set (for manifests and logs)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecodingOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown decoding option(s) {unknown}; expected one of: {sorted(known)}"
            )
        return cls(**dict(data))

    def merged_over(self, base: DecodingOptions) -> DecodingOptions:
        """These options, with unset fields taken from ``base``."""
        return replace(base, **self.as_dict())


@dataclass(frozen=True, slots=True)
class ResolvedOptions:
    """Concrete decoding options after defaults and validation: what the engine runs with."""

    beam_size: int = 1
    max_length: int = 256
    min_length: int = 0
    length_penalty: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    num_hypotheses: int = 1
    sampling_temperature: float = 1.0
    sampling_top_k: int = 1
    sampling_top_p: float = 1.0
    seed: int | None = None
    return_scores: bool = False

    @property
    def is_sampling(self) -> bool:
        return self.sampling_top_k != 1

    def batch_key(self) -> tuple[Any, ...]:
        """Options that must be equal for two texts to share one engine call.

        ``return_scores`` is left out: the engine always computes scores and the pipeline drops
        them when not asked. A seeded request is never batched with another request (its
        caller's seed must give the same samples whatever else is in flight), so the seed is
        part of the key; the batcher also keeps seeded requests apart (see ``exclusive``).
        """
        return (
            self.beam_size,
            self.max_length,
            self.min_length,
            self.length_penalty,
            self.repetition_penalty,
            self.no_repeat_ngram_size,
            self.num_hypotheses,
            self.sampling_temperature if self.is_sampling else None,
            self.sampling_top_k,
            self.sampling_top_p if self.is_sampling else None,
            self.seed,
        )

    @property
    def exclusive(self) -> bool:
        """True when the request's texts must run in an engine call of their own."""
        return self.seed is not None


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One Translate or Summarize call, in domain terms.

    ``texts_sent`` is set only when the caller sent more texts than were kept: `from_pb` with
    ``max_texts`` keeps the first ``max_texts`` (validation refuses the request anyway), so a
    request of a million one-character texts never becomes a million Python strings.
    """

    task: Task
    texts: tuple[str, ...]
    options: DecodingOptions
    model: str | None = None
    source_language: str | None = None  # translation: empty or "auto" asks for detection
    target_language: str | None = None
    texts_sent: int | None = None
    segmentation: Segmentation | None = None  # None: the model's default
    truncation: Truncation | None = None  # None: the model's default

    @property
    def text_count(self) -> int:
        """How many texts the caller sent."""
        return len(self.texts) if self.texts_sent is None else self.texts_sent

    @classmethod
    def from_translate_pb(
        cls, msg: pb.TranslateRequest, *, max_texts: int | None = None
    ) -> GenerationRequest:
        texts, sent = _kept_texts(msg.texts, max_texts)
        return cls(
            task=Task.TRANSLATE,
            texts=texts,
            options=DecodingOptions.from_pb(msg.options),
            model=msg.model or None,
            source_language=msg.source_language,
            target_language=msg.target_language,
            texts_sent=sent,
            segmentation=Segmentation.from_pb(msg.segmentation),
        )

    @classmethod
    def from_summarize_pb(
        cls, msg: pb.SummarizeRequest, *, max_texts: int | None = None
    ) -> GenerationRequest:
        texts, sent = _kept_texts(msg.texts, max_texts)
        return cls(
            task=Task.SUMMARIZE,
            texts=texts,
            options=DecodingOptions.from_pb(msg.options),
            model=msg.model or None,
            source_language=msg.language or "en",
            texts_sent=sent,
            truncation=Truncation.from_pb(msg.truncation),
        )


def _kept_texts(texts: Any, max_texts: int | None) -> tuple[tuple[str, ...], int | None]:
    """The texts to keep from a repeated field, and the count sent when it was more."""
    sent = len(texts)  # O(1) on the protobuf container; nothing is copied yet
    if max_texts is not None and sent > max_texts:
        return tuple(texts[:max_texts]), sent
    return tuple(texts), None


@dataclass(frozen=True, slots=True)
class Hypothesis:
    text: str
    output_tokens: int
    score: float | None = None

    def to_pb(self) -> pb.Hypothesis:
        msg = pb.Hypothesis(text=self.text, output_tokens=self.output_tokens)
        if self.score is not None:
            msg.score = self.score
        return msg

    @classmethod
    def from_pb(cls, msg: pb.Hypothesis) -> Hypothesis:
        return cls(
            text=msg.text,
            output_tokens=msg.output_tokens,
            score=msg.score if msg.HasField("score") else None,
        )


@dataclass(frozen=True, slots=True)
class GeneratedText:
    """The output for one input text: its hypotheses, best first."""

    hypotheses: tuple[Hypothesis, ...]
    input_tokens: int
    cached: bool = False  # served from the result cache (a document: every segment was)
    # Set by the document layer (see seq2seq.v1.GeneratedText); a plain decode leaves them.
    detected_language: str = ""
    detection_confidence: float = 0.0
    segments: int = 1
    cached_segments: int = 0
    truncated_tokens: int = 0

    @property
    def text(self) -> str:
        return self.hypotheses[0].text if self.hypotheses else ""

    @property
    def output_tokens(self) -> int:
        return self.hypotheses[0].output_tokens if self.hypotheses else 0

    def to_pb(self) -> pb.GeneratedText:
        return pb.GeneratedText(
            text=self.text,
            hypotheses=[h.to_pb() for h in self.hypotheses],
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached=self.cached,
            detected_source_language=self.detected_language,
            detection_confidence=self.detection_confidence,
            segments=self.segments,
            cached_segments=self.cached_segments,
            truncated_tokens=self.truncated_tokens,
        )

    @classmethod
    def from_pb(cls, msg: pb.GeneratedText) -> GeneratedText:
        return cls(
            hypotheses=tuple(Hypothesis.from_pb(h) for h in msg.hypotheses),
            input_tokens=msg.input_tokens,
            cached=msg.cached,
            detected_language=msg.detected_source_language,
            detection_confidence=msg.detection_confidence,
            segments=msg.segments,
            cached_segments=msg.cached_segments,
            truncated_tokens=msg.truncated_tokens,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the best text and token counts spelled out."""
        out: dict[str, Any] = {
            "text": self.text,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached": self.cached,
            "segments": self.segments,
            "cached_segments": self.cached_segments,
            "truncated_tokens": self.truncated_tokens,
        }
        if self.detected_language:
            out["detected_source_language"] = self.detected_language
            out["detection_confidence"] = round(self.detection_confidence, 4)
        out["hypotheses"] = [asdict(h) for h in self.hypotheses]
        return out


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """All outputs of one call, in input order, and the model that produced them."""

    results: tuple[GeneratedText, ...]
    model: str
    model_revision: str

    def to_pb(self, response_type: type[_Response]) -> _Response:
        """The TranslateResponse or SummarizeResponse carrying these results."""
        return response_type(
            results=[r.to_pb() for r in self.results],
            model=self.model,
            model_revision=self.model_revision,
        )

    @classmethod
    def from_pb(cls, msg: pb.TranslateResponse | pb.SummarizeResponse) -> GenerationResult:
        return cls(
            results=tuple(GeneratedText.from_pb(r) for r in msg.results),
            model=msg.model,
            model_revision=msg.model_revision,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with each result's best text and token counts spelled out."""
        return {
            "model": self.model,
            "model_revision": self.model_revision,
            "results": [r.to_dict() for r in self.results],
        }


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One message of a streamed reply: the next piece of text ``index``'s output, and on the
    last message of that text its complete result."""

    index: int
    delta: str
    result: GeneratedText | None = None
    model: str = ""  # set on the client side (the server passes them to to_pb)
    model_revision: str = ""

    def to_pb(
        self, response_type: type[_StreamResponse], *, model: str, revision: str
    ) -> _StreamResponse:
        msg = response_type(
            index=self.index, delta=self.delta, model=model, model_revision=revision
        )
        if self.result is not None:
            msg.result.CopyFrom(self.result.to_pb())
        return msg

    @classmethod
    def from_pb(cls, msg: pb.TranslateStreamResponse | pb.SummarizeStreamResponse) -> StreamEvent:
        result = GeneratedText.from_pb(msg.result) if msg.HasField("result") else None
        return cls(msg.index, msg.delta, result, msg.model, msg.model_revision)
