"""Domain errors of the data plane.

They carry what a caller needs to act (field names, allowed values, retry hints) and nothing
about gRPC: `service.interceptors` maps each class to a status code in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


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
        self.violations = violations
        message = "; ".join(f"{v.field}: {v.description}" for v in violations)
        super().__init__(message)

    @classmethod
    def single(cls, field: str, description: str) -> InvalidInput:
        return cls([FieldViolation(field, description)])


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

    def __init__(self, message: str, *, retry_after_ms: int) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class DeadlineExpired(ServiceError):
    """The caller's deadline passed before the work could be done; no engine time was spent."""

    reason = "DEADLINE_EXCEEDED"
