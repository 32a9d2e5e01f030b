"""The data plane: validate → route → (result cache) → batcher → engine → detokenize.

It knows nothing of gRPC: callers pass domain requests and an absolute deadline
(``time.monotonic()`` seconds) and get domain results or `service.errors` exceptions.
"""

from __future__ import annotations

import time

import structlog

from service.config import Limits
from service.errors import ModelNotReady
from service.model import Route, ServedModel
from service.registry import Registry
from service.types import DecodingOptions, GenerationRequest, GenerationResult, ResolvedOptions
from service.validation import resolve_options, validate_request

log = structlog.get_logger(__name__)


class Pipeline:
    def __init__(self, registry: Registry, limits: Limits, *, log_text: bool = False) -> None:
        self.registry = registry
        self.limits = limits
        self.log_text = log_text  # request texts may hold personal data: off unless asked

    async def generate(
        self, request: GenerationRequest, *, deadline: float | None = None
    ) -> GenerationResult:
        validate_request(request, self.limits)
        served, route = self.registry.route(
            request.task,
            model=request.model,
            source=request.source_language,
            target=request.target_language,
        )
        if not served.ready:
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
        structlog.contextvars.bind_contextvars(model=served.name, texts=len(request.texts))
        if self.log_text:
            structlog.contextvars.bind_contextvars(input=list(request.texts))
        result = await self.run(served, route, request.texts, options, deadline=deadline)
        structlog.contextvars.bind_contextvars(
            input_tokens=sum(r.input_tokens for r in result.results),
            output_tokens=sum(r.output_tokens for r in result.results),
        )
        if self.log_text:
            structlog.contextvars.bind_contextvars(output=[r.text for r in result.results])
        return result

    async def run(
        self,
        served: ServedModel,
        route: Route,
        texts: tuple[str, ...],
        options: ResolvedOptions,
        *,
        deadline: float | None = None,
    ) -> GenerationResult:
        """Tokenize, decode through the model's batcher and detokenize (also used by warm-up)."""
        inputs = served.prepare(texts, route)
        # Seam for the result cache: look up (model revision, task, route, options, text) here.
        outputs = await served.batcher.submit(inputs, options, deadline=deadline)
        results = served.finish(inputs, outputs, with_scores=options.return_scores)
        return GenerationResult(results=results, model=served.name, model_revision=served.revision)


async def warm_up(pipeline: Pipeline, served: ServedModel, rounds: int) -> None:
    """Send real requests through the whole path so the first caller does not pay for it."""
    started = time.perf_counter()
    manifest = served.manifest
    route: Route = manifest.translation[0] if manifest.translation else manifest.summarization[0]
    options = resolve_options(
        DecodingOptions(),
        manifest.default_options,
        pipeline.limits,
        supports_seed=served.engine.info.supports_seed,
    )
    text = "Hello."
    for _ in range(max(1, rounds)):
        await pipeline.run(served, route, (text,), options)
    served.ready = True
    served.warmup_seconds = time.perf_counter() - started
    log.info("model_ready", model=served.name, warmup_seconds=round(served.warmup_seconds, 3))
