"""Each domain error becomes the right status code with details a client can act on."""

import grpc
from google.rpc import error_details_pb2

from service.errors import (
    DeadlineExpired,
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    Overloaded,
    RouteNotFound,
)
from service.interceptors import RETRY_PUSHBACK_KEY, status_code_for, status_details


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
