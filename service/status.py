"""Domain error → gRPC status: the code, a bounded message and rich details (google.rpc.Status).

The one table of codes lives here, so every transport path (unary now, streaming later) maps
errors the same way. Whatever a caller sent, the status must fit the client's metadata limit
(8 KiB by default; past it the client sees RESOURCE_EXHAUSTED instead of the real code), so the
message and the serialized details are cut to budgets that leave room for the other headers.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from service.errors import (
    ECHO_CHARS,
    DeadlineExpired,
    FieldViolation,
    InvalidInput,
    NotFound,
    Overloaded,
    PermissionDenied,
    ServiceError,
    Unauthenticated,
    Unavailable,
)

ERROR_DOMAIN = "seq2seq.v1"
RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
# grpc-message is percent-encoded (a non-ASCII character costs up to 12 bytes) and the
# serialized google.rpc.Status (the message again, plus the details) is base64-encoded (4/3):
# 1 KiB + 4/3 x 4 KiB = 6.3 KiB leaves room for the other headers in the client's 8 KiB.
MAX_MESSAGE_BYTES = 1024
MAX_DETAILS_BYTES = 4096

_CODES: list[tuple[type[ServiceError], grpc.StatusCode]] = [
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (DeadlineExpired, grpc.StatusCode.DEADLINE_EXCEEDED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
]

Trailers = list[tuple[str, str | bytes]]


def status_code_for(error: ServiceError) -> grpc.StatusCode:
    for klass, code in _CODES:
        if isinstance(error, klass):
            return code
    return grpc.StatusCode.INTERNAL


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _encoded_size(char: str) -> int:
    """Bytes one character takes in the percent-encoded grpc-message header."""
    if " " <= char <= "~" and char != "%":
        return 1
    return 3 * len(char.encode("utf-8", "surrogatepass"))


def bounded_message(message: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """``message`` cut so that its percent-encoded form fits ``limit`` bytes."""
    if len(message) * 12 <= limit:
        return message
    used = 0
    for i, char in enumerate(message):
        used += _encoded_size(char)
        if used > limit - 6:  # room for the " [...]" marker
            return message[:i] + " [...]"
    return message


def status_details(error: ServiceError) -> tuple[status_pb2.Status, Trailers]:
    """The google.rpc.Status for a domain error (bounded), and any extra trailing metadata."""
    code = status_code_for(error)
    trailers: Trailers = []
    retry_ms = getattr(error, "retry_after_ms", None)
    if retry_ms is not None:
        trailers.append((RETRY_PUSHBACK_KEY, str(retry_ms)))
    violations = list(error.violations) if isinstance(error, InvalidInput) else []
    while True:
        status = _status(error, code, retry_ms, violations)
        if status.ByteSize() <= MAX_DETAILS_BYTES or not violations:
            return status, trailers
        # Too big for the metadata budget: list fewer violations (the message still has them).
        listed = violations[:-2] if len(violations) > 2 else []
        violations = [*listed, FieldViolation("request", "and more violations (not listed)")]
        if not listed:
            violations = []


def _status(
    error: ServiceError,
    code: grpc.StatusCode,
    retry_ms: int | None,
    violations: list[FieldViolation],
) -> status_pb2.Status:
    metadata = {}
    if isinstance(error, InvalidInput):
        metadata["violations"] = str(error.total)
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata)
    details = [_pack(info)]
    if violations:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in violations
                    ]
                )
            )
        )
    elif isinstance(error, NotFound):
        details.append(
            _pack(
                error_details_pb2.ResourceInfo(
                    resource_type=error.resource_type,
                    resource_name=error.resource_name[:ECHO_CHARS],
                    description=bounded_message(error.message, 512),
                )
            )
        )
    if retry_ms is not None:
        delay = duration_pb2.Duration(seconds=retry_ms // 1000, nanos=(retry_ms % 1000) * 10**6)
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return status_pb2.Status(
        code=code.value[0], message=bounded_message(error.message), details=details
    )


def error_trailers(error: ServiceError) -> tuple[grpc.StatusCode, str, Trailers]:
    """(code, message, trailing metadata) to answer ``error`` with."""
    status, trailers = status_details(error)
    trailers.append((STATUS_DETAILS_KEY, status.SerializeToString()))
    return status_code_for(error), status.message, trailers
