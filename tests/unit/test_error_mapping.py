"""Each domain error becomes the right status code with details a client can act on."""

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from service.errors import (
    MAX_VIOLATIONS,
    DeadlineExpired,
    FieldViolation,
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    Overloaded,
    PermissionDenied,
    RateLimited,
    RequestTooLarge,
    RouteNotFound,
    Unauthenticated,
    clip,
)
from service.status import (
    MAX_DETAILS_BYTES,
    MAX_MESSAGE_BYTES,
    RETRY_PUSHBACK_KEY,
    bounded_message,
    status_code_for,
    status_details,
)


def test_codes() -> None:
    assert status_code_for(InvalidInput.single("texts", "x")) is grpc.StatusCode.INVALID_ARGUMENT
    assert status_code_for(ModelNotFound("m", model="m")) is grpc.StatusCode.NOT_FOUND
    assert status_code_for(RouteNotFound("r", route="r")) is grpc.StatusCode.NOT_FOUND
    assert status_code_for(ModelNotReady("x")) is grpc.StatusCode.UNAVAILABLE
    assert status_code_for(Overloaded("x", retry_after_ms=5)) is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert status_code_for(DeadlineExpired("x")) is grpc.StatusCode.DEADLINE_EXCEEDED


def test_bad_request_details_carry_every_field_violation() -> None:
    status, _ = status_details(InvalidInput.single("options.beam_size", "must be in [1, 8]"))
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details if d.Is(bad.DESCRIPTOR))
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("options.beam_size", "must be in [1, 8]")
    ]


def test_overload_carries_retry_info_and_pushback_trailer() -> None:
    status, trailers = status_details(Overloaded("busy", retry_after_ms=1500))
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in status.details if d.Is(retry.DESCRIPTOR))
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (1, 500_000_000)
    assert (RETRY_PUSHBACK_KEY, "1500") in trailers


def _bad_request(status: status_pb2.Status) -> list[tuple[str, str]]:
    bad = error_details_pb2.BadRequest()
    found = [d.Unpack(bad) for d in status.details if d.Is(bad.DESCRIPTOR)]
    return [(v.field, v.description) for v in bad.field_violations] if found else []


def test_auth_errors_have_their_own_codes() -> None:
    assert status_code_for(Unauthenticated("x")) is grpc.StatusCode.UNAUTHENTICATED
    assert status_code_for(PermissionDenied("x")) is grpc.StatusCode.PERMISSION_DENIED
    assert status_code_for(RateLimited("x", retry_after_ms=5)) is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert status_code_for(RequestTooLarge("x")) is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_many_violations_are_capped_merged_per_field_and_counted() -> None:
    violations = [FieldViolation(f"texts[{i}]", "is too long " * 40) for i in range(48)]
    violations.append(FieldViolation("texts[0]", "also empty"))  # the same field again
    error = InvalidInput(violations)
    listed = [v.field for v in error.violations]
    assert listed == [f"texts[{i}]" for i in range(MAX_VIOLATIONS)] + ["texts"]
    assert error.violations[0].description.endswith("...")  # bounded
    assert len(error.violations[0].description) <= 200
    assert error.violations[-1].description == "and 38 more violations (not listed)"
    assert error.total == 48 and error.message.endswith("; and 38 more")
    status, _ = status_details(error)
    assert len(status.SerializeToString()) <= MAX_DETAILS_BYTES
    assert [f for f, _ in _bad_request(status)] == listed


def test_details_too_large_for_metadata_list_fewer_violations_but_keep_the_reason() -> None:
    error = InvalidInput([FieldViolation(f"f{i}" + "é" * 60, "ü" * 200) for i in range(10)])
    status, _ = status_details(error)
    assert len(status.SerializeToString()) <= MAX_DETAILS_BYTES
    listed = _bad_request(status)
    assert 0 < len(listed) < 10 and listed[-1][1] == "and more violations (not listed)"
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details if d.Is(info.DESCRIPTOR))
    assert info.reason == "INVALID_ARGUMENT" and info.metadata["violations"] == "10"


@pytest.mark.parametrize("char", ["a", "é", "中", "%", "\n"])
def test_messages_fit_their_percent_encoded_budget(char: str) -> None:
    message = bounded_message(char * 5000)
    encoded = sum(1 if " " <= c <= "~" and c != "%" else 3 * len(c.encode()) for c in message)
    assert encoded <= MAX_MESSAGE_BYTES
    assert message.endswith(" [...]")
    assert bounded_message("short") == "short"


def test_echoed_values_are_clipped() -> None:
    assert clip("en") == "'en'"
    clipped = clip("m" * 5000)
    assert len(clipped) < 100 and "5000 characters" in clipped
