"""The data plane: validate → route → tokenize → (result cache) → batcher → detokenize.

It knows nothing of gRPC: callers pass domain requests and an absolute deadline
(``time.monotonic()`` seconds) and get domain results or `service.errors` exceptions.
"""

from __future__ import annotations

import structlog

from service import metrics
from service.config import Limits
from service.errors import ModelNotReady
from service.registry import Registry
from service.types import GenerationRequest, GenerationResult, ModelInfo
from service.validation import resolve_options, validate_request


class Pipeline:
    def __init__(self, registry: Registry, limits: Limits, *, log_text: bool = False) -> None:
        self.registry = registry
        self.limits = limits
        self.log_text = log_text  # request texts may hold personal data: off unless asked

    def list_models(self) -> list[ModelInfo]:
        return [m.info() for m in self.registry.models]

    async def generate(
        self, request: GenerationRequest, *, deadline: float | None = None, warmup: bool = False
    ) -> GenerationResult:
        """Answer one request. ``warmup`` lets the server's warm-up reach a model that is not
        ready yet (and keeps it out of the traffic counters); callers never set it."""
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
        inputs = served.tokenize(request.texts, route)
        # Seam for the result cache: look up (model revision, task, route, options, text) here.
        outputs = await served.batcher.submit(inputs, options, deadline=deadline)
        results = served.detokenize(inputs, outputs, with_scores=options.return_scores)
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
