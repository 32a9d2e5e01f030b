"""The data plane: validate → detect → route → admit → plan (segment, tokenize, fit,
truncate) → per-unit core (result cache → single-flight → batcher → detokenize) → reassemble.

It knows nothing of gRPC: callers pass domain requests and an absolute deadline
(``time.monotonic()`` seconds) and get domain results, or a stream of `StreamEvent`s, or
`service.errors` exceptions. The document layer (`service.documents`) sits above the per-unit
core (`service.decoding`): a text becomes units, the units of all texts go through the core
together, and the answers are put back into each text's layout.

Cheap work first: validation needs no model, routing and option checks need only manifests,
and the batcher's admission checks that need nothing of the texts (a full queue, a deadline the
queue ahead would miss) run before the texts are segmented and tokenized. Planning (and
detection) of more than a few sentences runs on a worker thread, so it never holds the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from service import metrics
from service.cache import ResultCache
from service.config import Limits
from service.decoding import Listeners, cacheable, decode_units
from service.documents.assembly import assemble
from service.documents.detection import Detection, LanguageDetector, wants_detection
from service.documents.plan import Plan, Unit, plan_summaries, plan_translation
from service.documents.streaming import StreamAssembler
from service.errors import FieldViolation, InvalidInput, ModelNotReady
from service.model import ServedModel
from service.model_info import ModelInfo
from service.registry import Registry
from service.routing import Route
from service.types import (
    GeneratedText,
    GenerationRequest,
    GenerationResult,
    ResolvedOptions,
    Segmentation,
    StreamEvent,
    Task,
)
from service.validation import resolve_options, validate_request

# Requests with at most this many characters are planned on the event loop (well under a
# millisecond: segmenting, ~100-300 ns per character tokenizing), larger ones on the planning
# thread: a thread hop costs more than a sentence, and a 40,000-character document ~20 ms.
INLINE_CHARS = 2048

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Job:
    """A validated, routed and planned request, ready to decode."""

    request: GenerationRequest
    served: ServedModel
    options: ResolvedOptions
    plan: Plan
    detections: tuple[Detection | None, ...]
    relative: bool  # the manifest's relative output limit applies (max_length was not set)

    @property
    def output_limit(self) -> tuple[float, int] | None:
        """The relative output limit (factor, offset) the results depend on, if any (it is part
        of the result cache's key)."""
        manifest = self.served.manifest
        translating = self.request.task is Task.TRANSLATE
        if not self.relative or not translating or manifest.max_length_factor <= 0:
            return None
        return (manifest.max_length_factor, manifest.max_length_offset)


@dataclass(frozen=True, slots=True)
class Stream:
    """A streamed answer: the model that produces it and its events, in order."""

    model: str
    model_revision: str
    events: AsyncGenerator[StreamEvent, None]


class Pipeline:
    def __init__(
        self,
        registry: Registry,
        limits: Limits,
        *,
        cache: ResultCache | None = None,
        detector: LanguageDetector | None = None,
        log_text: bool = False,
    ) -> None:
        self.registry = registry
        self.limits = limits
        self.cache = cache
        self.detector = detector
        self.log_text = log_text  # request texts may hold personal data: off unless asked
        # One thread: tokenization holds the GIL, so more threads would not go faster, only
        # take more of the event loop's time.
        self._planner = ThreadPoolExecutor(1, thread_name_prefix="plan")

    def list_models(self) -> list[ModelInfo]:
        return [m.info() for m in self.registry.models]

    def close(self) -> None:
        self._planner.shutdown(wait=False, cancel_futures=True)

    async def generate(
        self, request: GenerationRequest, *, deadline: float | None = None, warmup: bool = False
    ) -> GenerationResult:
        """Answer one request. ``warmup`` lets the server's warm-up reach a model that is not
        ready yet, past the cache and out of the traffic counters; callers never set it."""
        job = await self._prepare(request, warmup=warmup, deadline=deadline)
        served, options = job.served, job.options
        results = await decode_units(
            served,
            request.task,
            job.plan.units,
            options,
            deadline,
            cache=None if warmup else self.cache,
            output_limit=job.output_limit,
        )
        answers = tuple(
            assemble(
                text,
                results[text.first : text.first + text.count],
                detection=job.detections[i],
                with_scores=options.return_scores,
            )
            for i, text in enumerate(job.plan.texts)
        )
        if not warmup:
            self._record(job, answers)
        return GenerationResult(results=answers, model=served.name, model_revision=served.revision)

    async def stream(self, request: GenerationRequest, *, deadline: float | None = None) -> Stream:
        """Validate, route and plan now (errors raise here, before any message), then stream.

        Closing the events (the caller went away) cancels the decoding: queued units never
        reach the engine and running greedy ones stop at the next step."""
        job = await self._prepare(request, warmup=False, deadline=deadline)
        return Stream(job.served.name, job.served.revision, self._events(job, deadline))

    # ------------------------------------------------------------------ streaming

    async def _events(self, job: Job, deadline: float | None) -> AsyncGenerator[StreamEvent, None]:
        served, options, plan = job.served, job.options, job.plan
        assembler = StreamAssembler(
            plan.texts,
            decode=served.tokenizer.decode,
            detections=job.detections,
            with_scores=options.return_scores,
        )
        ready: list[StreamEvent] = list(assembler.start())
        wake = asyncio.Event()

        def push(events: list[StreamEvent]) -> None:
            if events:
                ready.extend(events)
                wake.set()

        tokens = served.engine.steps_observable(options) and any(t.count == 1 for t in plan.texts)
        listeners = Listeners(
            on_result=lambda unit, result: push(assembler.on_result(unit, result)),
            on_token=(lambda unit, token: push(assembler.on_token(unit, token)))
            if tokens
            else None,
        )
        decoding = asyncio.create_task(self._decode_stream(job, deadline, listeners))
        try:
            while True:
                while ready:
                    yield ready.pop(0)
                if assembler.done:
                    break
                if decoding.done():
                    decoding.result()  # raises the failure, if any
                    raise RuntimeError("decoding ended before every text was answered")
                wake.clear()
                waiter = asyncio.ensure_future(wake.wait())
                try:
                    await asyncio.wait({decoding, waiter}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
            await decoding
            self._record(job, [f for f in assembler.finals if f is not None])
        finally:
            if not decoding.done():
                decoding.cancel()
                await asyncio.gather(decoding, return_exceptions=True)

    async def _decode_stream(
        self, job: Job, deadline: float | None, listeners: Listeners
    ) -> list[GeneratedText]:
        """All units, the first one given a head start when the engine has a free slot.

        With a slot free, the first unit is submitted alone and the rest only once it is in an
        engine call: it decodes without waiting for a batch of its neighbours, so the first
        segment arrives about as fast as a single-sentence call (the rest share the other
        slots). With every slot busy all units queue together, as for a unary call.
        """
        served, units = job.served, job.plan.units
        task, options = job.request.task, job.options

        def decode(
            part: Sequence[Unit], heard: Listeners
        ) -> Coroutine[Any, Any, list[GeneratedText]]:
            return decode_units(
                served,
                task,
                part,
                options,
                deadline,
                cache=self.cache,
                listeners=heard,
                output_limit=job.output_limit,
            )

        stats = served.batcher.stats()
        if len(units) < 2 or stats.in_flight_batches >= stats.slots or stats.queue_texts:
            return await decode(units, listeners)
        launched = asyncio.Event()
        head_listeners = Listeners(listeners.on_result, listeners.on_token, launched.set)
        head = asyncio.create_task(decode(units[:1], head_listeners))
        try:
            waiter = asyncio.ensure_future(launched.wait())
            try:
                await asyncio.wait({head, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            rest = await decode(units[1:], listeners.shifted(1))
            return [*await head, *rest]
        finally:
            if not head.done():
                head.cancel()
                await asyncio.gather(head, return_exceptions=True)

    # ------------------------------------------------------------------ preparation

    async def _prepare(
        self, request: GenerationRequest, *, warmup: bool, deadline: float | None = None
    ) -> Job:
        validate_request(request, self.limits)
        texts = request.texts
        big = sum(len(t) for t in texts) > INLINE_CHARS
        detections: tuple[Detection | None, ...] = (None,) * len(texts)
        languages = [request.source_language or ""] * len(texts)
        if request.task is Task.TRANSLATE and wants_detection(request.source_language):
            detections = await self._maybe_thread(big, self._detect, request)
            languages = [d.language or "" for d in detections if d is not None]
        served, routes = self._route(request, languages)
        if not served.ready and not warmup:
            raise ModelNotReady(
                f"model {served.name!r} is loading or warming up; retry shortly",
                retry_after_ms=1000,
            )
        manifest = served.manifest
        prefix = max((r.target_prefix for r in routes), key=len)
        max_output = manifest.max_output_tokens(prefix)
        options = resolve_options(
            request.options,
            manifest.default_options,
            self.limits,
            supports_seed=served.engine.info.supports_seed,
            max_output=max_output,
            max_output_note=(
                f"model {served.name} generates at most {max_output} tokens (its decoder has "
                f"{manifest.max_decoder_positions} positions; {len(prefix)} go to "
                "the forced target prefix)"
            ),
        )
        if self.cache is None or warmup or not cacheable(served, options):
            # Before any per-text work. (Where the cache may answer every unit, the batcher's
            # admission of the misses decides instead: a full queue never refuses a hit.)
            served.batcher.precheck(deadline)
        # The manifest's output limit relative to the input applies unless max_length was set.
        relative = request.options.max_length is None
        if request.task is Task.TRANSLATE:
            mode = _segmentation(request, served, options)
            plan = await self._maybe_thread(
                big, plan_translation, served, texts, routes, languages, mode, options, relative
            )
        else:
            truncation = request.truncation or served.manifest.truncation
            plan = await self._maybe_thread(
                big, plan_summaries, served, texts, routes[0], truncation, options
            )
        bind = structlog.contextvars.bind_contextvars
        bind(model=served.name, texts=len(texts), units=len(plan.units))
        if self.log_text:
            bind(input=list(texts))
        return Job(request, served, options, plan, detections, relative)

    def _detect(self, request: GenerationRequest) -> tuple[Detection | None, ...]:
        """Each text's language among those the served models translate into the target;
        every text that cannot be detected confidently is reported at once."""
        if self.detector is None:
            raise InvalidInput.single(
                "source_language",
                "is required: language detection is off on this server (set a code such as 'en')",
            )
        sources = self.registry.translation_sources(request.target_language, model=request.model)
        detections = [self.detector.detect(text, sources) for text in request.texts]
        problems = [
            FieldViolation(
                "source_language",
                f"texts[{i}] {d.reason}; set source_language (e.g. 'en') to translate it",
            )
            for i, d in enumerate(detections)
            if d.language is None
        ]
        metrics.LANGUAGE_DETECTIONS.labels("rejected").inc(len(problems))
        metrics.LANGUAGE_DETECTIONS.labels("detected").inc(len(detections) - len(problems))
        if problems:
            raise InvalidInput(problems)
        return tuple(detections)

    def _route(
        self, request: GenerationRequest, languages: Sequence[str]
    ) -> tuple[ServedModel, list[Route]]:
        """The one model serving every text, and each text's route."""
        found = {
            language: self.registry.route(
                request.task,
                model=request.model,
                source=language or request.source_language,
                target=request.target_language,
            )
            for language in dict.fromkeys(languages)
        }
        models = sorted({served.name for served, _ in found.values()})
        if len(models) > 1:
            pairs = ", ".join(f"{lang}: {s.name}" for lang, (s, _) in found.items())
            raise InvalidInput.single(
                "texts",
                f"the texts' detected languages are served by different models ({pairs}); "
                "send them in separate requests, or name a model",
            )
        served = next(iter(found.values()))[0]
        return served, [found[language][1] for language in languages]

    async def _maybe_thread(self, big: bool, func: Callable[..., _T], *args: object) -> _T:
        """``func(*args)`` on the planning thread for big requests, inline for small ones."""
        if not big:
            return func(*args)
        return await asyncio.get_running_loop().run_in_executor(self._planner, func, *args)

    # ------------------------------------------------------------------ metrics and logs

    def _record(self, job: Job, answers: Sequence[GeneratedText]) -> None:
        served, task = job.served, job.request.task
        input_tokens = sum(r.input_tokens for r in answers)
        output_tokens = sum(r.output_tokens for r in answers)
        structlog.contextvars.bind_contextvars(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_units=sum(r.cached_segments for r in answers),
        )
        if self.log_text:
            structlog.contextvars.bind_contextvars(output=[r.text for r in answers])
        metrics.record_answer(served.name, task.value, len(answers), input_tokens, output_tokens)
        metrics.record_documents(
            served.name,
            segments=[r.segments for r in answers] if task is Task.TRANSLATE else [],
            truncated=sum(1 for r in answers if r.truncated_tokens),
        )


def _segmentation(
    request: GenerationRequest, served: ServedModel, options: ResolvedOptions
) -> Segmentation:
    """The request's segmentation, else the model's; AUTO returns one hypothesis per text, so
    n-best falls back to whole texts unless the caller asked for AUTO explicitly."""
    mode = request.segmentation or served.manifest.segmentation
    if mode is Segmentation.AUTO and options.num_hypotheses > 1:
        if request.segmentation is Segmentation.AUTO:
            raise InvalidInput.single(
                "segmentation",
                f"AUTO returns one hypothesis per text, but options.num_hypotheses is "
                f"{options.num_hypotheses}; use segmentation NONE for n-best lists",
            )
        return Segmentation.NONE
    return mode
