"""Domain errors of the data plane.

They carry what a caller needs to act (field names, allowed values, retry hints) and nothing
about gRPC: `service.interceptors` maps each class to a status code in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

# Replies must fit gRPC's metadata limit (8 KiB by default on the client), whatever the caller
# sent: echoed values are clipped, descriptions bounded and violations capped.
ECHO_CHARS = 64
DESCRIPTION_CHARS = 200
MAX_VIOLATIONS = 10


def clip(value: str, limit: int = ECHO_CHARS) -> str:
    """``value`` as a quoted literal of at most ``limit`` characters, for echoing in messages."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def _bounded(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field, named by its path in the request (``texts[2]``, ``options.beam_size``)."""

    field: str
    description: str


class ServiceError(Exception):
    """Base of every error the service reports to callers on purpose."""

    reason: str = "ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServiceError):
    """The request itself is wrong; retrying it unchanged will fail again."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation]) -> None:
        if not violations:
            raise ValueError("InvalidInput needs at least one violation")
        merged = _merge_by_field(violations)
        self.total = len(merged)  # distinct bad fields, including those not listed
        self.violations = merged[:MAX_VIOLATIONS]
        message = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        if self.total > MAX_VIOLATIONS:
            rest = merged[MAX_VIOLATIONS:]
            prefix = "texts" if all(v.field.startswith("texts") for v in rest) else "request"
            more = FieldViolation(prefix, f"and {len(rest)} more violations (not listed)")
            self.violations.append(more)
            message += f"; and {len(rest)} more"
        super().__init__(message)

    @classmethod
    def single(cls, field: str, description: str) -> InvalidInput:
        return cls([FieldViolation(field, description)])


def _merge_by_field(violations: list[FieldViolation]) -> list[FieldViolation]:
    """One violation per field (descriptions joined), in first-seen order, each bounded."""
    by_field: dict[str, list[str]] = {}
    for v in violations:
        seen = by_field.setdefault(v.field, [])
        if v.description not in seen:
            seen.append(v.description)
    return [FieldViolation(f, _bounded("; ".join(d))) for f, d in by_field.items()]


class NotFound(ServiceError):
    """Nothing served matches what the request asked for."""

    reason = "NOT_FOUND"

    def __init__(self, message: str, *, resource_type: str, resource_name: str) -> None:
        super().__init__(message)
        self.resource_type = resource_type
        self.resource_name = resource_name


class ModelNotFound(NotFound):
    reason = "MODEL_NOT_FOUND"

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message, resource_type="model", resource_name=model)


class RouteNotFound(NotFound):
    """No served model does this task for these languages (e.g. an unsupported language pair)."""

    reason = "UNSUPPORTED_LANGUAGE_PAIR"

    def __init__(self, message: str, *, route: str) -> None:
        super().__init__(message, resource_type="route", resource_name=route)


class Unavailable(ServiceError):
    """The service cannot answer right now; the same request may succeed later."""

    reason = "UNAVAILABLE"

    def __init__(self, message: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class ModelNotReady(Unavailable):
    reason = "MODEL_NOT_READY"


class ShuttingDown(Unavailable):
    reason = "SHUTTING_DOWN"


class Overloaded(ServiceError):
    """The queue is full: rejected at once so latency and memory stay bounded."""

    reason = "OVERLOADED"

    def __init__(self, message: str, *, retry_after_ms: int | None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class DeadlineUnmeetable(Overloaded):
    """The work queued ahead would outlast the caller's deadline: refused at once, so the caller
    can try another replica instead of waiting for a certain DEADLINE_EXCEEDED."""

    reason = "DEADLINE_UNMEETABLE"


class RequestTooLarge(Overloaded):
    """The request message is over the server's size limit (or missing); no retry hint: the same
    request will fail again."""

    reason = "REQUEST_TOO_LARGE"

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after_ms=None)


class RateLimited(Overloaded):
    """The caller's token sent more requests than its rate allows."""

    reason = "RATE_LIMITED"


class Unauthenticated(ServiceError):
    """No valid credentials; the message never says which part was wrong."""

    reason = "UNAUTHENTICATED"


class PermissionDenied(ServiceError):
    """Valid credentials that may not call this method."""

    reason = "PERMISSION_DENIED"


class DeadlineExpired(ServiceError):
    """The caller's deadline passed before the work could be done; no engine time was spent."""

    reason = "DEADLINE_EXCEEDED"
