"""Bearer-token auth on the real server: who is refused with which code, what the reply and the
log give away (nothing), health open to probes, per-token rate limits and reloading tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from service.auth import hash_token
from service.client import ClientError, Connection, Seq2SeqClient
from tests.serverproc import REGISTRY, ServerProcess, running_server

TEXT = "The dog sees the cat."
TRANSLATOR = "translator-token-0123456789"
LISTER = "lister-token-0123456789"
THROTTLED = "throttled-token-0123456789"


@pytest.fixture(scope="module")
def tokens_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "tokens"
    path.write_text(
        "# name  sha256  options\n"
        f"billing {hash_token(TRANSLATOR)}\n"
        f"dashboards sha256:{hash_token(LISTER)} methods=ListModels\n"
        f"batch-job {hash_token(THROTTLED)} rate=2\n"
    )
    return path


@pytest.fixture(scope="module")
def server(tokens_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("auth-server"),
        "--auth-tokens-file", str(tokens_file), "--reload-seconds", "0.2", "--no-reflection",
        models=REGISTRY, metrics=True,
    ) as running:  # fmt: skip
        yield running


def call(server: ServerProcess, token: str | None, method: str = "translate") -> ClientError | None:
    with Seq2SeqClient(server.target, timeout=20, connection=Connection(token=token)) as client:
        try:
            if method == "translate":
                client.translate([TEXT], "en", "de")
            else:
                client.list_models()
        except ClientError as exc:
            return exc
    return None


def test_tokens_decide_who_may_call_what_and_replies_leak_nothing(
    server: ServerProcess, tokens_file: Path
) -> None:
    reasons = ("missing", "invalid", "denied")
    before = {r: server.metric("s2s_auth_failures_total", reason=r) for r in reasons}
    assert call(server, TRANSLATOR) is None
    assert call(server, LISTER, "list_models") is None
    missing = call(server, None)
    invalid = call(server, "not-a-token")
    denied = call(server, LISTER)  # valid, but only for ListModels
    assert missing is not None and missing.code is grpc.StatusCode.UNAUTHENTICATED
    assert invalid is not None and invalid.code is grpc.StatusCode.UNAUTHENTICATED
    assert denied is not None and denied.code is grpc.StatusCode.PERMISSION_DENIED
    assert "Bearer" in missing.message  # says what to send
    secrets = (
        *tokens_file.read_text().split(),
        TRANSLATOR,
        LISTER,
        THROTTLED,
        "billing",
        "batch-job",
    )
    for error in (missing, invalid, denied):
        assert not any(s in error.message for s in secrets if len(s) > 6)
    for reason in reasons:
        assert server.metric("s2s_auth_failures_total", reason=reason) == before[reason] + 1
    log = server.log()
    assert '"client": "billing"' in log and '"client": "dashboards"' in log
    assert TRANSLATOR not in log and LISTER not in log and "not-a-token" not in log


def test_streams_are_guarded_like_unary_calls(server: ServerProcess) -> None:
    def stream(token: str | None) -> ClientError | None:
        connection = Connection(token=token)
        with Seq2SeqClient(server.target, timeout=20, connection=connection) as client:
            try:
                events = list(client.translate_stream([TEXT], "en", "de"))
            except ClientError as exc:
                return exc
        assert events[-1].result is not None and events[-1].result.text
        return None

    refused = server.metric("s2s_requests_total", method="TranslateStream", code="UNAUTHENTICATED")
    assert stream(TRANSLATOR) is None
    missing, denied = stream(None), stream(LISTER)
    assert missing is not None and missing.code is grpc.StatusCode.UNAUTHENTICATED
    assert denied is not None and denied.code is grpc.StatusCode.PERMISSION_DENIED
    after = server.metric("s2s_requests_total", method="TranslateStream", code="UNAUTHENTICATED")
    assert after == refused + 1


def test_health_stays_open_to_probes_without_a_token(server: ServerProcess) -> None:
    assert server.health() == 1  # SERVING, with no credentials at all


def test_reflection_can_be_turned_off(server: ServerProcess) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(server.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.RpcError) as info:
            list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_a_token_over_its_rate_is_refused_with_a_retry_hint(server: ServerProcess) -> None:
    limited_before = server.metric("s2s_rate_limited_total")
    outcomes = [call(server, THROTTLED) for _ in range(6)]  # burst 2, then 2 per second
    refused = [e for e in outcomes if e is not None]
    assert refused and outcomes[0] is None
    for error in refused:
        assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.reason == "RATE_LIMITED"
        assert error.retry_after_ms is not None and 0 < error.retry_after_ms <= 1000
    assert server.metric("s2s_rate_limited_total") == limited_before + len(refused)
    time.sleep(max(e.retry_after_ms or 0 for e in refused) / 1000)
    assert call(server, THROTTLED) is None  # after the hinted delay it goes through


def test_a_new_token_works_once_the_file_changes_without_a_restart(
    server: ServerProcess, tokens_file: Path
) -> None:
    newcomer = "newcomer-token-0123456789"
    assert call(server, newcomer) is not None
    tokens_file.write_text(tokens_file.read_text() + f"newcomer {hash_token(newcomer)}\n")
    deadline = time.monotonic() + 10
    while call(server, newcomer) is not None:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)
    assert call(server, TRANSLATOR) is None  # the others still work
