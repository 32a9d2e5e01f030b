"""The data plane: validate → route → result cache → admit → tokenize → batcher → detokenize.

It knows nothing of gRPC: callers pass domain requests and an absolute deadline
(``time.monotonic()`` seconds) and get domain results or `service.errors` exceptions.

Cheap work first: validation needs no model, routing and option checks need only manifests, and
the batcher's admission checks that need nothing of the texts (a full queue, a deadline the
queue ahead would miss) run before the texts the cache could not answer are tokenized.
Tokenizing more than a few sentences runs on a worker thread, so it never holds the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import structlog

from service import metrics
from service.cache import ResultCache
from service.cache.keys import result_scope
from service.cache.singleflight import LeaderFailed
from service.config import Limits
from service.engines.base import EngineInput
from service.errors import DeadlineExpired, FieldViolation, InvalidInput, ModelNotReady
from service.manifest import TranslationRoute
from service.model import ServedModel
from service.registry import Registry
from service.routing import Route
from service.types import (
    GeneratedText,
    GenerationRequest,
    GenerationResult,
    Hypothesis,
    ModelInfo,
    ResolvedOptions,
    Task,
)
from service.validation import resolve_options, validate_request

# Requests with at most this many characters are tokenized on the event loop (well under a
# millisecond at ~100-300 ns per character), larger ones on the tokenizer thread: a thread hop
# costs more than tokenizing a sentence, and a 64 x 8 KB request takes ~0.1 s.
INLINE_TOKENIZE_CHARS = 2048


class Pipeline:
    def __init__(
        self,
        registry: Registry,
        limits: Limits,
        *,
        cache: ResultCache | None = None,
        log_text: bool = False,
    ) -> None:
        self.registry = registry
        self.limits = limits
        self.cache = cache
        self.log_text = log_text  # request texts may hold personal data: off unless asked
        # One thread: tokenization holds the GIL, so more threads would not go faster, only
        # take more of the event loop's time.
        self._tokenizer = ThreadPoolExecutor(1, thread_name_prefix="tokenize")

    def list_models(self) -> list[ModelInfo]:
        return [m.info() for m in self.registry.models]

    async def generate(
        self, request: GenerationRequest, *, deadline: float | None = None, warmup: bool = False
    ) -> GenerationResult:
        """Answer one request. ``warmup`` lets the server's warm-up reach a model that is not
        ready yet, past the cache and out of the traffic counters; callers never set it."""
        validate_request(request, self.limits)
        served, route = self.registry.route(
            request.task,
            model=request.model,
            source=request.source_language,
            target=request.target_language,
        )
        if not served.ready and not warmup:
            raise ModelNotReady(
                f"model {served.name!r} is loading or warming up; retry shortly",
                retry_after_ms=1000,
            )
        options = resolve_options(
            request.options,
            served.manifest.default_options,
            self.limits,
            supports_seed=served.engine.info.supports_seed,
        )
        bind = structlog.contextvars.bind_contextvars
        bind(model=served.name, texts=len(request.texts))
        if self.log_text:
            bind(input=list(request.texts))
        texts = request.texts
        # The manifest's output limit relative to the input applies unless max_length was set.
        job = _Job(served, route, options, deadline, relative=request.options.max_length is None)
        if self.cache is not None and not warmup and _cacheable(served, options):
            results = await self._cached(job, request.task, texts)
        else:
            results = await self._decode(job, texts)
        if not options.return_scores:
            results = tuple(_without_scores(r) for r in results)
        input_tokens = sum(r.input_tokens for r in results)
        output_tokens = sum(r.output_tokens for r in results)
        bind(input_tokens=input_tokens, output_tokens=output_tokens)
        if self.log_text:
            bind(output=[r.text for r in results])
        if not warmup:
            metrics.record_answer(
                served.name, request.task.value, len(results), input_tokens, output_tokens
            )
        return GenerationResult(results=results, model=served.name, model_revision=served.revision)

    async def _cached(
        self, job: _Job, task: Task, texts: tuple[str, ...]
    ) -> tuple[GeneratedText, ...]:
        """Answer what the cache holds, decode the rest once (identical texts in this request
        and in flight elsewhere share one decode), and store what was decoded."""
        cache = self.cache
        assert cache is not None
        served, route, options, deadline = job.served, job.route, job.options, job.deadline
        scope = result_scope(
            model=served.name,
            revision=served.revision,
            task=task,
            route=route,
            options=options,
            output_limit=job.output_limit,
        )
        keys = [scope.key(text) for text in texts]
        found = await cache.get_many(served.name, keys)
        results: list[GeneratedText | None] = [
            replace(r, cached=True) if r is not None else None for r in found
        ]
        lead: dict[str, list[int]] = {}  # key → positions this request decodes
        joined: dict[str, tuple[asyncio.Future[GeneratedText], list[int]]] = {}
        for i, key in enumerate(keys):
            if results[i] is not None:
                continue
            if key in lead:
                lead[key].append(i)
            elif key in joined:
                joined[key][1].append(i)
            elif (flight := cache.flights.join(key)) is not None:
                joined[key] = (flight, [i])
                metrics.SINGLEFLIGHT_JOINS.labels(served.name).inc()
            else:
                lead[key] = [i]
                cache.flights.lead(key)
        if lead:
            order = list(lead)
            try:
                decoded = await self._decode(
                    job, tuple(texts[lead[k][0]] for k in order), [lead[k] for k in order]
                )
            except BaseException:
                for key in order:
                    cache.flights.abort(key)
                raise
            for key, result in zip(order, decoded, strict=True):
                cache.flights.land(key, result)
                for i in lead[key]:
                    results[i] = result
            cache.put_many(served.name, list(zip(order, decoded, strict=True)))
        for flight, positions in joined.values():
            shared = await _await_flight(flight, deadline)
            if shared is None:  # its leader failed: decode this text ourselves
                (shared,) = await self._decode(job, (texts[positions[0]],), [positions])
            for i in positions:
                results[i] = shared
        assert all(r is not None for r in results)
        return tuple(r for r in results if r is not None)

    async def _decode(
        self,
        job: _Job,
        texts: tuple[str, ...],
        positions: Sequence[Sequence[int]] | None = None,
    ) -> tuple[GeneratedText, ...]:
        """Admit, tokenize, decode through the model's batcher and detokenize (scores kept).

        ``positions[i]`` are the places of ``texts[i]`` in the caller's request (the cache
        decodes only the texts it could not answer, each once), so that a text refused here is
        reported under the field name the caller knows."""
        served = job.served
        served.batcher.precheck(job.deadline)  # before any per-text work
        try:
            inputs = await self._tokenize(job, texts)
        except InvalidInput as exc:
            if positions is None:
                raise
            raise _renumbered(exc, positions) from None
        outputs = await served.batcher.submit(inputs, job.options, deadline=job.deadline)
        return served.detokenize(inputs, outputs, with_scores=True)

    async def _tokenize(self, job: _Job, texts: tuple[str, ...]) -> list[EngineInput]:
        def tokenize() -> list[EngineInput]:
            return job.served.tokenize(texts, job.route, job.options, relative_limit=job.relative)

        if sum(map(len, texts)) <= INLINE_TOKENIZE_CHARS:
            return tokenize()
        return await asyncio.get_running_loop().run_in_executor(self._tokenizer, tokenize)

    def close(self) -> None:
        self._tokenizer.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class _Job:
    """What decoding a request's texts needs besides the texts."""

    served: ServedModel
    route: Route
    options: ResolvedOptions
    deadline: float | None
    relative: bool  # the manifest's relative output limit applies (max_length was not set)

    @property
    def output_limit(self) -> tuple[float, int] | None:
        """The relative output limit (factor, offset) the results depend on, if any."""
        manifest = self.served.manifest
        if not self.relative or not isinstance(self.route, TranslationRoute):
            return None
        if manifest.max_length_factor <= 0:
            return None
        return (manifest.max_length_factor, manifest.max_length_offset)


def _renumbered(error: InvalidInput, positions: Sequence[Sequence[int]]) -> InvalidInput:
    """``error`` with ``texts[i]`` fields renamed to the request's own positions."""
    violations = []
    for v in error.violations:
        index = _text_index(v.field)
        if index is None or index >= len(positions):
            violations.append(v)
        else:
            violations += [FieldViolation(f"texts[{p}]", v.description) for p in positions[index]]
    violations.sort(key=lambda v: (_text_index(v.field) is None, _text_index(v.field) or 0))
    return InvalidInput(violations)


def _text_index(field: str) -> int | None:
    if field.startswith("texts[") and field.endswith("]") and field[6:-1].isdigit():
        return int(field[6:-1])
    return None


def _cacheable(served: ServedModel, options: ResolvedOptions) -> bool:
    """Deterministic decoding only: greedy, beam, or sampling with a seed the engine honours."""
    if not served.manifest.cache_results:
        return False
    return not options.is_sampling or options.seed is not None


async def _await_flight(
    flight: asyncio.Future[GeneratedText], deadline: float | None
) -> GeneratedText | None:
    """The leader's result, or None if the leader failed. Shielded: this caller leaving must
    not cancel the flight for the others."""
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        return await asyncio.wait_for(asyncio.shield(flight), timeout)
    except LeaderFailed:
        return None
    except TimeoutError:
        raise DeadlineExpired("the request's deadline passed before it was done") from None


def _without_scores(result: GeneratedText) -> GeneratedText:
    if all(h.score is None for h in result.hypotheses):
        return result
    hypotheses = tuple(Hypothesis(h.text, h.output_tokens) for h in result.hypotheses)
    return replace(result, hypotheses=hypotheses)
