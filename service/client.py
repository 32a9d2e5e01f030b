"""Typed Python client for the Seq2SeqService, used by the CLI, the tests and the benchmark.

Other services can import it: it returns domain types (`GenerationResult`, `ModelInfo`) and
raises `ClientError` with the status code and the server's rich details parsed out
(field violations, retry delay).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from service.api import seq2seq_pb2 as pb
from service.api import seq2seq_pb2_grpc as pb_grpc
from service.types import DecodingOptions, GenerationResult, ModelInfo

DEFAULT_TARGET = "127.0.0.1:50051"


@dataclass(eq=False)
class ClientError(Exception):
    """A failed call: its status code, message and the details the server attached."""

    code: grpc.StatusCode
    message: str
    field_violations: tuple[tuple[str, str], ...] = ()
    reason: str | None = None
    retry_after_ms: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> ClientError:
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        message = error.details() if hasattr(error, "details") else str(error)
        violations: list[tuple[str, str]] = []
        reason = None
        retry_ms = None
        status = rpc_status.from_call(error) if hasattr(error, "trailing_metadata") else None
        for detail in status.details if status is not None else ():
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend((v.field, v.description) for v in bad.field_violations)
            elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                retry_ms = retry.retry_delay.seconds * 1000 + retry.retry_delay.nanos // 1_000_000
        return cls(code, message or "", tuple(violations), reason, retry_ms)


def _translate_request(
    texts: Sequence[str],
    source_language: str,
    target_language: str,
    model: str | None,
    options: DecodingOptions | None,
) -> pb.TranslateRequest:
    return pb.TranslateRequest(
        texts=list(texts),
        source_language=source_language,
        target_language=target_language,
        model=model or "",
        options=(options or DecodingOptions()).to_pb(),
    )


def _summarize_request(
    texts: Sequence[str], model: str | None, options: DecodingOptions | None, language: str
) -> pb.SummarizeRequest:
    return pb.SummarizeRequest(
        texts=list(texts),
        model=model or "",
        options=(options or DecodingOptions()).to_pb(),
        language=language,
    )


class Seq2SeqClient:
    """Blocking client. ``timeout`` (seconds) becomes each call's gRPC deadline."""

    def __init__(self, target: str = DEFAULT_TARGET, *, timeout: float | None = 60.0) -> None:
        self._channel = grpc.insecure_channel(target)
        self._stub = pb_grpc.Seq2SeqServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self.timeout = timeout

    def translate(
        self,
        texts: Sequence[str],
        source_language: str,
        target_language: str,
        *,
        model: str | None = None,
        options: DecodingOptions | None = None,
        timeout: float | None = None,
    ) -> GenerationResult:
        request = _translate_request(texts, source_language, target_language, model, options)
        return GenerationResult.from_pb(self._call(self._stub.Translate, request, timeout))

    def summarize(
        self,
        texts: Sequence[str],
        *,
        model: str | None = None,
        options: DecodingOptions | None = None,
        language: str = "",
        timeout: float | None = None,
    ) -> GenerationResult:
        request = _summarize_request(texts, model, options, language)
        return GenerationResult.from_pb(self._call(self._stub.Summarize, request, timeout))

    def list_models(self, *, timeout: float | None = None) -> list[ModelInfo]:
        response = self._call(self._stub.ListModels, pb.ListModelsRequest(), timeout)
        return [ModelInfo.from_pb(m) for m in response.models]

    def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return method(request, timeout=timeout or self.timeout)
        except grpc.RpcError as exc:
            raise ClientError.from_rpc_error(exc) from None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Seq2SeqClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncSeq2SeqClient:
    """asyncio client (grpc.aio); same calls as `Seq2SeqClient`."""

    def __init__(self, target: str = DEFAULT_TARGET, *, timeout: float | None = 60.0) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = pb_grpc.Seq2SeqServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self.timeout = timeout

    async def translate(
        self,
        texts: Sequence[str],
        source_language: str,
        target_language: str,
        *,
        model: str | None = None,
        options: DecodingOptions | None = None,
        timeout: float | None = None,
    ) -> GenerationResult:
        request = _translate_request(texts, source_language, target_language, model, options)
        return GenerationResult.from_pb(await self._call(self._stub.Translate, request, timeout))

    async def summarize(
        self,
        texts: Sequence[str],
        *,
        model: str | None = None,
        options: DecodingOptions | None = None,
        language: str = "",
        timeout: float | None = None,
    ) -> GenerationResult:
        request = _summarize_request(texts, model, options, language)
        return GenerationResult.from_pb(await self._call(self._stub.Summarize, request, timeout))

    async def list_models(self, *, timeout: float | None = None) -> list[ModelInfo]:
        response = await self._call(self._stub.ListModels, pb.ListModelsRequest(), timeout)
        return [ModelInfo.from_pb(m) for m in response.models]

    async def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return await method(request, timeout=timeout or self.timeout)
        except grpc.RpcError as exc:
            raise ClientError.from_rpc_error(exc) from None

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncSeq2SeqClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
