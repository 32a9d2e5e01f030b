"""Typed Python client for the Seq2SeqService, used by the CLI, the tests and the benchmark.

Other services can import it: it returns domain types (`GenerationResult`, `ModelInfo`) and
raises `ClientError` with the status code and the server's rich details parsed out
(field violations, retry delay). `Connection` says how to reach the server: plaintext, TLS
(system roots or a given CA), mutual TLS (a client certificate), and a bearer token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from service.api import seq2seq_pb2 as pb
from service.api import seq2seq_pb2_grpc as pb_grpc
from service.model_info import ModelInfo
from service.types import (
    DecodingOptions,
    GenerationResult,
    Segmentation,
    StreamEvent,
    Truncation,
)

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


@dataclass(frozen=True)
class Connection:
    """How to reach the server.

    Attributes:
        tls: Speak TLS; the server's certificate is checked against ``ca`` (PEM file) or, without
            it, the system's root certificates.
        cert, key: A client certificate and its key (PEM files), for servers that require one.
        token: A bearer token, sent as ``authorization: Bearer <token>`` on every call (over
            plaintext only for trusted networks: anyone on the path could read it).
        server_name: The name the server's certificate must carry, when it differs from the
            target's host (e.g. connecting by IP).
        channel_options: Extra gRPC channel arguments (keepalive, load balancing, ...).
    """

    tls: bool = False
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    token: str | None = None
    server_name: str | None = None
    channel_options: tuple[tuple[str, Any], ...] = ()

    def credentials(self) -> grpc.ChannelCredentials | None:
        if not (self.tls or self.ca or self.cert):
            return None
        if (self.cert is None) != (self.key is None):
            raise ValueError("a client certificate needs both cert and key")
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes() if self.ca else None,
            private_key=self.key.read_bytes() if self.key else None,
            certificate_chain=self.cert.read_bytes() if self.cert else None,
        )

    def options(self) -> list[tuple[str, Any]]:
        options = list(self.channel_options)
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        return options

    def metadata(self) -> tuple[tuple[str, str], ...] | None:
        return (("authorization", f"Bearer {self.token}"),) if self.token else None

    def channel(self, target: str) -> grpc.Channel:
        credentials = self.credentials()
        if credentials is None:
            return grpc.insecure_channel(target, options=self.options())
        return grpc.secure_channel(target, credentials, options=self.options())

    def aio_channel(self, target: str) -> grpc.aio.Channel:
        credentials = self.credentials()
        if credentials is None:
            return grpc.aio.insecure_channel(target, options=self.options())
        return grpc.aio.secure_channel(target, credentials, options=self.options())


_R = TypeVar("_R")  # what translate/summarize return: a result, or an awaitable of one
_M = TypeVar("_M")  # what list_models returns
_S = TypeVar("_S")  # what the streams return: an iterator of events, or an async one


class _Calls(Generic[_R, _M, _S]):
    """The calls both clients offer, written once: each builds its request and hands it to
    ``_call`` (or ``_stream``), which the blocking client runs and the asyncio client awaits."""

    _stub: pb_grpc.Seq2SeqServiceStub
    _metadata: tuple[tuple[str, str], ...] | None = None
    timeout: float | None

    def translate(
        self,
        texts: Sequence[str],
        source_language: str,
        target_language: str,
        *,
        model: str | None = None,
        options: DecodingOptions | None = None,
        segmentation: Segmentation | None = None,
        timeout: float | None = None,
    ) -> _R:
        """Translate ``texts``; ``source_language`` "" or "auto" detects each text's language."""
        request = _translate_request(
            texts, source_language, target_language, model, options, segmentation
        )
        return cast(
            _R, self._call(self._stub.Translate, request, timeout, GenerationResult.from_pb)
        )

    def summarize(
        self,
        texts: Sequence[str],
        *,
        model: str | None = None,
        options: DecodingOptions | None = None,
        language: str = "",
        truncation: Truncation | None = None,
        timeout: float | None = None,
    ) -> _R:
        request = _summarize_request(texts, model, options, language, truncation)
        return cast(
            _R, self._call(self._stub.Summarize, request, timeout, GenerationResult.from_pb)
        )

    def translate_stream(
        self,
        texts: Sequence[str],
        source_language: str,
        target_language: str,
        *,
        model: str | None = None,
        options: DecodingOptions | None = None,
        segmentation: Segmentation | None = None,
        timeout: float | None = None,
    ) -> _S:
        """`translate`, streamed: each text's output in pieces, then its result (see
        `StreamEvent`). Leaving the loop early cancels the call and the server's work."""
        request = pb.TranslateStreamRequest(
            request=_translate_request(
                texts, source_language, target_language, model, options, segmentation
            )
        )
        return cast(_S, self._stream(self._stub.TranslateStream, request, timeout))

    def summarize_stream(
        self,
        texts: Sequence[str],
        *,
        model: str | None = None,
        options: DecodingOptions | None = None,
        language: str = "",
        truncation: Truncation | None = None,
        timeout: float | None = None,
    ) -> _S:
        """`summarize`, streamed (as `translate_stream`)."""
        request = pb.SummarizeStreamRequest(
            request=_summarize_request(texts, model, options, language, truncation)
        )
        return cast(_S, self._stream(self._stub.SummarizeStream, request, timeout))

    def list_models(self, *, timeout: float | None = None) -> _M:
        return cast(_M, self._call(self._stub.ListModels, pb.ListModelsRequest(), timeout, _models))

    def _call(
        self, method: Any, request: Any, timeout: float | None, parse: Callable[[Any], Any]
    ) -> Any:
        raise NotImplementedError

    def _stream(self, method: Any, request: Any, timeout: float | None) -> Any:
        raise NotImplementedError


def _translate_request(
    texts: Sequence[str],
    source_language: str,
    target_language: str,
    model: str | None,
    options: DecodingOptions | None,
    segmentation: Segmentation | None,
) -> pb.TranslateRequest:
    return pb.TranslateRequest(
        texts=list(texts),
        source_language=source_language,
        target_language=target_language,
        model=model or "",
        options=(options or DecodingOptions()).to_pb(),
        segmentation=segmentation.to_pb() if segmentation else pb.SEGMENTATION_UNSPECIFIED,
    )


def _summarize_request(
    texts: Sequence[str],
    model: str | None,
    options: DecodingOptions | None,
    language: str,
    truncation: Truncation | None,
) -> pb.SummarizeRequest:
    return pb.SummarizeRequest(
        texts=list(texts),
        model=model or "",
        options=(options or DecodingOptions()).to_pb(),
        language=language,
        truncation=truncation.to_pb() if truncation else pb.TRUNCATION_UNSPECIFIED,
    )


def _result(response: pb.TranslateResponse | pb.SummarizeResponse) -> GenerationResult:
    return GenerationResult.from_pb(response)


def _models(response: pb.ListModelsResponse) -> list[ModelInfo]:
    return [ModelInfo.from_pb(m) for m in response.models]


class Seq2SeqClient(_Calls[GenerationResult, list[ModelInfo], Iterator[StreamEvent]]):
    """Blocking client. ``timeout`` (seconds) becomes each call's gRPC deadline."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float | None = 60.0,
        connection: Connection | None = None,
    ) -> None:
        connection = connection or Connection()
        self._channel = connection.channel(target)
        self._stub = pb_grpc.Seq2SeqServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._metadata = connection.metadata()
        self.timeout = timeout

    def _call(
        self, method: Any, request: Any, timeout: float | None, parse: Callable[[Any], Any]
    ) -> Any:
        try:
            return parse(method(request, timeout=timeout or self.timeout, metadata=self._metadata))
        except grpc.RpcError as exc:
            raise ClientError.from_rpc_error(exc) from None

    def _stream(self, method: Any, request: Any, timeout: float | None) -> Iterator[StreamEvent]:
        call = method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        try:
            for message in call:
                yield StreamEvent.from_pb(message)
        except grpc.RpcError as exc:
            raise ClientError.from_rpc_error(exc) from None
        finally:
            call.cancel()  # a no-op once the stream ended

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


class AsyncSeq2SeqClient(
    _Calls[
        Coroutine[Any, Any, GenerationResult],
        Coroutine[Any, Any, list[ModelInfo]],
        AsyncIterator[StreamEvent],
    ]
):
    """asyncio client (grpc.aio); the same calls as `Seq2SeqClient`, awaited."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float | None = 60.0,
        connection: Connection | None = None,
    ) -> None:
        connection = connection or Connection()
        self._channel = connection.aio_channel(target)
        self._stub = pb_grpc.Seq2SeqServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._metadata = connection.metadata()
        self.timeout = timeout

    async def _call(
        self, method: Any, request: Any, timeout: float | None, parse: Callable[[Any], Any]
    ) -> Any:
        try:
            return parse(
                await method(request, timeout=timeout or self.timeout, metadata=self._metadata)
            )
        except grpc.RpcError as exc:
            raise ClientError.from_rpc_error(exc) from None

    async def _stream(
        self, method: Any, request: Any, timeout: float | None
    ) -> AsyncIterator[StreamEvent]:
        call = method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        try:
            async for message in call:
                yield StreamEvent.from_pb(message)
        except grpc.RpcError as exc:
            raise ClientError.from_rpc_error(exc) from None
        finally:
            call.cancel()

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
