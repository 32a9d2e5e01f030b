"""The data plane: validate → route → result cache → tokenize → batcher → detokenize.

It knows nothing of gRPC: callers pass domain requests and an absolute deadline
(``time.monotonic()`` seconds) and get domain results or `service.errors` exceptions.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import structlog

from service import metrics
from service.cache import ResultCache
from service.cache.keys import result_scope
from service.cache.singleflight import LeaderFailed
from service.config import Limits
from service.errors import DeadlineExpired, ModelNotReady
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
        manifest = served.manifest
        max_output = manifest.max_output_tokens(route.target_prefix)
        options = resolve_options(
            request.options,
            manifest.default_options,
            self.limits,
            supports_seed=served.engine.info.supports_seed,
            max_output=max_output,
            max_output_note=(
                f"model {served.name} generates at most {max_output} tokens (its decoder has "
                f"{manifest.max_decoder_positions} positions; {len(route.target_prefix)} go to "
                "the forced target prefix)"
            ),
        )
        bind = structlog.contextvars.bind_contextvars
        bind(model=served.name, texts=len(request.texts))
        if self.log_text:
            bind(input=list(request.texts))
        texts = request.texts
        if self.cache is not None and not warmup and _cacheable(served, options):
            results = await self._cached(served, route, request.task, texts, options, deadline)
        else:
            results = await _decode(served, route, texts, options, deadline)
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
        self,
        served: ServedModel,
        route: Route,
        task: Task,
        texts: tuple[str, ...],
        options: ResolvedOptions,
        deadline: float | None,
    ) -> tuple[GeneratedText, ...]:
        """Answer what the cache holds, decode the rest once (identical texts in this request
        and in flight elsewhere share one decode), and store what was decoded."""
        cache = self.cache
        assert cache is not None
        scope = result_scope(
            model=served.name, revision=served.revision, task=task, route=route, options=options
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
                decoded = await _decode(
                    served, route, tuple(texts[lead[k][0]] for k in order), options, deadline
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
                (shared,) = await _decode(served, route, (texts[positions[0]],), options, deadline)
            for i in positions:
                results[i] = shared
        assert all(r is not None for r in results)
        return tuple(r for r in results if r is not None)


def _cacheable(served: ServedModel, options: ResolvedOptions) -> bool:
    """Deterministic decoding only: greedy, beam, or sampling with a seed the engine honours."""
    if not served.manifest.cache_results:
        return False
    return not options.is_sampling or options.seed is not None


async def _decode(
    served: ServedModel,
    route: Route,
    texts: tuple[str, ...],
    options: ResolvedOptions,
    deadline: float | None,
) -> tuple[GeneratedText, ...]:
    """Tokenize, decode through the model's batcher and detokenize (scores kept)."""
    inputs = served.tokenize(texts, route)
    outputs = await served.batcher.submit(inputs, options, deadline=deadline)
    return served.detokenize(inputs, outputs, with_scores=True)


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
