"""The gRPC servicer: thin by design — from_pb → pipeline → to_pb. Errors are mapped by the
interceptor, so nothing here catches them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TypeVar

import grpc

from service.api import seq2seq_pb2 as pb
from service.api import seq2seq_pb2_grpc as pb_grpc
from service.errors import ModelNotReady
from service.pipeline import Pipeline, Stream
from service.types import GenerationRequest, GenerationResult

_StreamResponse = TypeVar("_StreamResponse", pb.TranslateStreamResponse, pb.SummarizeStreamResponse)


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    """The caller's deadline on the monotonic clock, if it set one."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


class Seq2SeqServicer(pb_grpc.Seq2SeqServiceServicer):
    """Registered before the models load; answers UNAVAILABLE until the server hands it the
    pipeline."""

    def __init__(self, pipeline: Pipeline | None = None) -> None:
        self.pipeline = pipeline

    def _max_texts(self) -> int | None:
        return self.pipeline.limits.max_texts if self.pipeline is not None else None

    async def _generate(
        self, request: GenerationRequest, context: grpc.aio.ServicerContext
    ) -> GenerationResult:
        if self.pipeline is None:
            raise ModelNotReady("the server is starting: models are loading", retry_after_ms=1000)
        return await self.pipeline.generate(request, deadline=_deadline(context))

    async def _stream(
        self,
        request: GenerationRequest,
        context: grpc.aio.ServicerContext,
        response_type: type[_StreamResponse],
    ) -> AsyncIterator[_StreamResponse]:
        if self.pipeline is None:
            raise ModelNotReady("the server is starting: models are loading", retry_after_ms=1000)
        stream: Stream = await self.pipeline.stream(request, deadline=_deadline(context))
        events = stream.events
        try:
            async for event in events:
                yield event.to_pb(response_type, model=stream.model, revision=stream.model_revision)
        finally:
            await events.aclose()  # stops the decoding if the stream ends early

    async def Translate(
        self, request: pb.TranslateRequest, context: grpc.aio.ServicerContext
    ) -> pb.TranslateResponse:
        domain = GenerationRequest.from_translate_pb(request, max_texts=self._max_texts())
        return (await self._generate(domain, context)).to_pb(pb.TranslateResponse)

    async def Summarize(
        self, request: pb.SummarizeRequest, context: grpc.aio.ServicerContext
    ) -> pb.SummarizeResponse:
        domain = GenerationRequest.from_summarize_pb(request, max_texts=self._max_texts())
        return (await self._generate(domain, context)).to_pb(pb.SummarizeResponse)

    async def TranslateStream(
        self, request: pb.TranslateStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.TranslateStreamResponse]:
        domain = GenerationRequest.from_translate_pb(request.request)
        async for message in self._stream(domain, context, pb.TranslateStreamResponse):
            yield message

    async def SummarizeStream(
        self, request: pb.SummarizeStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.SummarizeStreamResponse]:
        domain = GenerationRequest.from_summarize_pb(request.request)
        async for message in self._stream(domain, context, pb.SummarizeStreamResponse):
            yield message

    async def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListModelsResponse:
        if self.pipeline is None:
            return pb.ListModelsResponse()
        return pb.ListModelsResponse(models=[m.to_pb() for m in self.pipeline.list_models()])
