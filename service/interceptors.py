"""Server interceptor: the ONE place where every RPC is authenticated, decoded, timed, counted,
logged, and where exceptions become gRPC status codes (`service.status`).

It takes over reading the request message: each handler with a single request (unary, or
server-streaming later) is registered as if the client streamed, so that this code reads the
raw bytes itself. That way a malformed message is answered INVALID_ARGUMENT, and a message over
the size limit (which gRPC drops before any handler runs) RESOURCE_EXHAUSTED, both logged and
counted like every other call instead of gRPC's own UNKNOWN and an unlogged refusal. It also
means credentials are checked before a byte of the body is parsed. On the wire nothing changes.

Outcomes are answered by setting the status on the context rather than with ``abort()``, which
raises into gRPC and logs a traceback when the client's deadline already ended the call.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import structlog

from service import metrics
from service.auth import Authenticator
from service.errors import InvalidInput, RequestTooLarge, ServiceError
from service.status import error_trailers

log = structlog.get_logger(__name__)

# Health stays open to probes (load balancers and kubelets carry no tokens); its calls arrive
# every few seconds, so their access lines are logged at debug level.
OPEN_SERVICES = frozenset({"grpc.health.v1.Health"})
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}

Behavior = Callable[[Any, grpc.aio.ServicerContext], Any]
Deserializer = Callable[[bytes], Any] | None


@dataclass(frozen=True, slots=True)
class _Method:
    service: str
    name: str

    @property
    def quiet(self) -> bool:
        return self.service in OPEN_SERVICES

    @classmethod
    def parse(cls, full: str) -> _Method:
        service, _, name = full.lstrip("/").rpartition("/")
        return cls(service, name)


class ServiceInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """See the module doc. ``max_request_bytes`` is the limit gRPC enforces (for the message)."""

    def __init__(
        self, *, max_request_bytes: int | None = None, auth: Authenticator | None = None
    ) -> None:
        self._max_request_bytes = max_request_bytes
        self._auth = auth

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = _Method.parse(handler_call_details.method)
        decode = handler.request_deserializer
        encode = handler.response_serializer
        if handler.unary_unary is not None:
            behavior = handler.unary_unary

            async def unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
                async def body() -> Any:
                    request = await self._receive(context, decode)
                    return await behavior(request, context)

                return await self._run(method, context, body)

            return grpc.stream_unary_rpc_method_handler(unary, response_serializer=encode)
        if handler.unary_stream is not None:
            streamer = handler.unary_stream

            async def server_stream(requests: Any, context: grpc.aio.ServicerContext) -> None:
                async def body() -> None:
                    request = await self._receive(context, decode)
                    await _write_all(streamer(request, context), context)

                await self._run(method, context, body)

            return grpc.stream_stream_rpc_method_handler(server_stream, response_serializer=encode)
        # Client-streaming and bidirectional handlers (reflection): messages are left to gRPC.
        if handler.stream_unary is not None:
            inner = handler.stream_unary

            async def client_stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
                return await self._run(method, context, lambda: inner(requests, context))

            return grpc.stream_unary_rpc_method_handler(
                client_stream, request_deserializer=decode, response_serializer=encode
            )
        bidi = handler.stream_stream

        async def bidi_stream(requests: Any, context: grpc.aio.ServicerContext) -> None:
            await self._run(method, context, lambda: _write_all(bidi(requests, context), context))

        return grpc.stream_stream_rpc_method_handler(
            bidi_stream, request_deserializer=decode, response_serializer=encode
        )

    async def _receive(self, context: grpc.aio.ServicerContext, decode: Deserializer) -> Any:
        raw = await context.read()
        if raw is grpc.aio.EOF:
            # gRPC refused a message over max_receive_message_length (the caller already has
            # RESOURCE_EXHAUSTED from it), or the client sent none: same answer, now counted.
            limit = f" of {self._max_request_bytes} bytes" if self._max_request_bytes else ""
            raise RequestTooLarge(
                f"the request message is missing or larger than the server's limit{limit}; "
                "send fewer or shorter texts per request"
            )
        if decode is None:
            return raw
        try:
            return decode(raw)
        except Exception:  # protobuf's DecodeError, or anything a broken payload raises
            raise InvalidInput.single(
                "request", f"is not a valid protobuf message ({len(raw)} bytes could not be parsed)"
            ) from None

    async def _run(
        self, method: _Method, context: grpc.aio.ServicerContext, body: Callable[[], Any]
    ) -> Any:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        in_flight = metrics.REQUESTS_IN_FLIGHT.labels(method.name)
        in_flight.inc()
        # Each RPC runs in its own task; what is bound here ends up in this call's log line.
        structlog.contextvars.clear_contextvars()
        try:
            if self._auth is not None and method.service not in OPEN_SERVICES:
                client = self._auth.authorize(method.name, context.invocation_metadata())
                structlog.contextvars.bind_contextvars(client=client)
            result = await body()
            _unless_deadline_passed(context)
            return result
        except ServiceError as exc:
            code, message, trailers = error_trailers(exc)
            structlog.contextvars.bind_contextvars(reason=exc.reason, error=message)
            if _ended_by_client(context) is grpc.StatusCode.DEADLINE_EXCEEDED:
                code = grpc.StatusCode.DEADLINE_EXCEEDED  # what the client saw
                raise asyncio.CancelledError from None  # see _unless_deadline_passed
            _answer(context, code, message, trailers)
        except asyncio.CancelledError:
            # The caller went away or its deadline passed; gRPC has already ended the call.
            code = _ended_by_client(context)
            raise
        except grpc.aio.AbortError:
            # A handler that answered with context.abort() (health does, for unknown services).
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except Exception:
            request_id = uuid.uuid4().hex[:16]
            code = grpc.StatusCode.INTERNAL
            log.exception("rpc_internal_error", method=method.name, request_id=request_id)
            message = f"internal error (request id {request_id}); see server logs"
            _answer(context, code, message, [])
        finally:
            elapsed = time.perf_counter() - started
            level = _LEVELS["debug" if method.quiet else "info"]
            log.log(level, "rpc", method=method.name, code=code.name, ms=round(elapsed * 1000, 2))
            in_flight.dec()
            metrics.REQUESTS.labels(method.name, code.name).inc()
            metrics.REQUEST_SECONDS.labels(method.name).observe(elapsed)
        return None


def _answer(
    context: grpc.aio.ServicerContext,
    code: grpc.StatusCode,
    message: str,
    trailers: list[tuple[str, str | bytes]],
) -> None:
    """Set the call's final status; gRPC sends it when the handler returns (if the client is
    still there to receive it)."""
    context.set_code(code)
    context.set_details(message)
    if trailers:
        context.set_trailing_metadata(tuple(trailers))


# The client ends a call at its deadline (RST_STREAM) a little before the server's copy of the
# deadline, which started later, runs out: an end this close to the deadline is the deadline.
_DEADLINE_SLACK_S = 0.1


def _unless_deadline_passed(context: grpc.aio.ServicerContext) -> None:
    """Raise CancelledError instead of answering a call whose client's deadline has passed:
    the client has left, gRPC ends the call with DEADLINE_EXCEEDED itself, and a reply sent
    into it only fails (gRPC logs that as an ERROR with a traceback)."""
    if _ended_by_client(context) is grpc.StatusCode.DEADLINE_EXCEEDED:
        raise asyncio.CancelledError


def _ended_by_client(context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= _DEADLINE_SLACK_S:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


async def _write_all(result: Any, context: grpc.aio.ServicerContext) -> None:
    """Run a response-streaming behavior, written as an async generator or with
    ``context.write``."""
    if inspect.isasyncgen(result):
        async for message in result:
            await context.write(message)
    elif inspect.isawaitable(result):
        await result
