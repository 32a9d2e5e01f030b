"""Server interceptor: the ONE place where exceptions become gRPC status codes.

Domain errors (`service.errors`) map to codes with rich details (google.rpc.Status):
BadRequest field violations, ResourceInfo, RetryInfo and ErrorInfo. Anything unexpected is
logged with its traceback and answered INTERNAL with a request id, never with its message.
It also records per-RPC metrics and one structured log line per call.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import structlog
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from service import metrics
from service.errors import (
    DeadlineExpired,
    InvalidInput,
    NotFound,
    Overloaded,
    ServiceError,
    Unavailable,
)

log = structlog.get_logger(__name__)

ERROR_DOMAIN = "seq2seq.v1"
RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"
# Probes arrive every few seconds; their access lines would drown the real traffic.
_QUIET_METHODS = frozenset({"Check"})
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}

_CODES: list[tuple[type[ServiceError], grpc.StatusCode]] = [
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (DeadlineExpired, grpc.StatusCode.DEADLINE_EXCEEDED),
]


def status_code_for(error: ServiceError) -> grpc.StatusCode:
    for klass, code in _CODES:
        if isinstance(error, klass):
            return code
    return grpc.StatusCode.INTERNAL


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def status_details(error: ServiceError) -> tuple[status_pb2.Status, list[tuple[str, str | bytes]]]:
    """The google.rpc.Status for a domain error, and any extra trailing metadata."""
    code = status_code_for(error)
    details = [
        _pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN)),
    ]
    trailers: list[tuple[str, str | bytes]] = []
    if isinstance(error, InvalidInput):
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in error.violations
                    ]
                )
            )
        )
    elif isinstance(error, NotFound):
        details.append(
            _pack(
                error_details_pb2.ResourceInfo(
                    resource_type=error.resource_type,
                    resource_name=error.resource_name,
                    description=error.message,
                )
            )
        )
    retry_ms = getattr(error, "retry_after_ms", None)
    if retry_ms is not None:
        details.append(
            _pack(
                error_details_pb2.RetryInfo(
                    retry_delay=duration_pb2.Duration(
                        seconds=retry_ms // 1000, nanos=(retry_ms % 1000) * 1_000_000
                    )
                )
            )
        )
        trailers.append((RETRY_PUSHBACK_KEY, str(retry_ms)))
    status = status_pb2.Status(code=code.value[0], message=error.message, details=details)
    return status, trailers


Behavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class ServiceInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Maps errors to status codes, counts and times every unary RPC, and logs one line per call."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        behavior: Behavior = handler.unary_unary

        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            return await _call(method, behavior, request, context)

        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


async def _call(
    method: str, behavior: Behavior, request: Any, context: grpc.aio.ServicerContext
) -> Any:
    started = time.perf_counter()
    code = grpc.StatusCode.OK
    in_flight = metrics.REQUESTS_IN_FLIGHT.labels(method)
    in_flight.inc()
    # Each RPC runs in its own task; what the pipeline binds here ends up in this call's log line.
    structlog.contextvars.clear_contextvars()
    try:
        return await behavior(request, context)
    except ServiceError as exc:
        code = status_code_for(exc)
        status, trailers = status_details(exc)
        structlog.contextvars.bind_contextvars(reason=exc.reason, error=exc.message)
        await context.abort(
            code,
            status.message,
            trailing_metadata=(*trailers, (_STATUS_DETAILS_KEY, status.SerializeToString())),
        )
    except asyncio.CancelledError:
        # The caller cancelled or its deadline passed; gRPC has already answered it.
        code = grpc.StatusCode.CANCELLED
        raise
    except grpc.aio.AbortError:
        code = context.code() or grpc.StatusCode.UNKNOWN
        raise
    except Exception:
        request_id = uuid.uuid4().hex[:16]
        code = grpc.StatusCode.INTERNAL
        log.exception("rpc_internal_error", method=method, request_id=request_id)
        await context.abort(code, f"internal error (request id {request_id}); see server logs")
    finally:
        elapsed = time.perf_counter() - started
        level = "debug" if method in _QUIET_METHODS else "info"
        log.log(_LEVELS[level], "rpc", method=method, code=code.name, ms=round(elapsed * 1000, 2))
        in_flight.dec()
        metrics.REQUESTS.labels(method, code.name).inc()
        metrics.REQUEST_SECONDS.labels(method).observe(elapsed)
    raise AssertionError("unreachable: abort() raises")
