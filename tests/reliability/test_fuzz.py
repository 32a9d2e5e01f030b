"""Fuzzing the wire: random bytes and mutated valid requests, sent raw to every RPC. Each reply
must carry one of the documented status codes, and the server must stay healthy and quiet (no
tracebacks, no ERROR lines)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api import seq2seq_pb2 as pb
from tests.serverproc import REGISTRY, ServerProcess, running_server

METHODS = [f"/seq2seq.v1.Seq2SeqService/{m}" for m in ("Translate", "Summarize", "ListModels")]
DOCUMENTED = {
    "OK", "INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED", "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
}  # fmt: skip
VALID = [
    pb.TranslateRequest(
        texts=["The dog sees the cat.", "My brother reads a new book."],
        source_language="en", target_language="de",
        options=pb.DecodingOptions(beam_size=2, max_length=20, return_scores=True),
    ).SerializeToString(),
    pb.SummarizeRequest(
        texts=["A bus crashed near Geneva on Thursday. 54 passengers were injured."],
        options=pb.DecodingOptions(max_length=16, num_hypotheses=1),
    ).SerializeToString(),
]  # fmt: skip
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("fuzz"), models=REGISTRY, log_level="info"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.target) as opened:
        yield opened


codes: Counter[str] = Counter()


def send(channel: grpc.Channel, method: str, payload: bytes) -> str:
    try:
        channel.unary_unary(method)(payload, timeout=5)
        code = "OK"
    except grpc.RpcError as exc:
        code = exc.code().name
    codes[code] += 1
    return code


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid request with bytes flipped, inserted, deleted or cut off."""
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


@SETTINGS
@given(method=st.sampled_from(METHODS), payload=st.binary(max_size=256))
def test_random_bytes_get_documented_codes(
    channel: grpc.Channel, method: str, payload: bytes
) -> None:
    assert send(channel, method, payload) in DOCUMENTED


@SETTINGS
@given(method=st.sampled_from(METHODS[:2]), payload=mutated())
def test_mutated_requests_get_documented_codes(
    channel: grpc.Channel, method: str, payload: bytes
) -> None:
    assert send(channel, method, payload) in DOCUMENTED


def test_the_server_stayed_healthy_and_quiet(server: ServerProcess) -> None:
    print(dict(codes))
    assert sum(codes.values()) >= 600, codes  # both fuzz tests ran first
    assert len(codes) >= 2, codes  # some requests were good, some were not
    assert server.health() == 1
    log = server.log()
    records = [json.loads(line) for line in log.splitlines()]
    assert not [r for r in records if r.get("level") in ("error", "critical")]
    assert "Traceback" not in log
