"""SIGTERM: stop accepting, let the call in flight finish, exit cleanly."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import grpc
import pytest

from service.client import ClientError, Seq2SeqClient
from service.server import SHUTDOWN_MARGIN_S
from service.types import DecodingOptions, GenerationResult
from tests.serverproc import NO_CACHE, REGISTRY, free_port, scrape, start_server

# A call long enough to be in flight when the signal lands: forced 512-token outputs.
LONG = DecodingOptions(beam_size=8, min_length=500, max_length=512)
TEXTS = ["The old man sees the small dog in the garden."] * 16


def test_sigterm_lets_the_call_in_flight_finish(tmp_path: Path) -> None:
    metrics_port = free_port()
    server = start_server(tmp_path, "--grace-seconds", "120", "--max-batch-size", "4",
                          "--max-request-cost", "100000000",
                          "--metrics-port", str(metrics_port), models=REGISTRY)  # fmt: skip
    try:
        server.wait_serving()
        outcome: dict[str, GenerationResult | BaseException] = {}

        def call() -> None:
            with Seq2SeqClient(server.target, timeout=300) as client:
                try:
                    outcome["result"] = client.translate(TEXTS, "en", "de", options=LONG)
                except BaseException as exc:
                    outcome["result"] = exc

        caller = threading.Thread(target=call)
        caller.start()
        # Wait until the call's batches are on the engine, so the signal lands mid-call.
        deadline = time.monotonic() + 60
        while scrape(metrics_port, "s2s_batches_in_flight") < 1:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.01)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        # New calls are refused while the old one drains.
        time.sleep(0.2)
        with Seq2SeqClient(server.target, timeout=10) as late:
            with pytest.raises(ClientError) as refused:
                late.translate(["The dog sees the cat."], "en", "de")
            assert refused.value.code is grpc.StatusCode.UNAVAILABLE
        caller.join(timeout=300)
        result = outcome["result"]
        assert isinstance(result, GenerationResult), result
        assert [r.output_tokens >= 500 for r in result.results] == [True] * len(TEXTS)
        assert server.proc.wait(timeout=60) == 0
        assert time.monotonic() - started < 120
        assert "stopped" in server.log()
    finally:
        server.terminate()


def test_shutdown_ends_within_the_grace_period_even_with_beam_search_running(
    tmp_path: Path,
) -> None:
    """Beam search cannot be interrupted: its callers are answered UNAVAILABLE at the end of
    the grace period and the process exits without waiting for the engine threads."""
    grace = 2.0
    metrics_port = free_port()
    server = start_server(
        tmp_path, "--grace-seconds", str(grace), "--max-request-cost", "100000000", *NO_CACHE,
        "--metrics-port", str(metrics_port), models=REGISTRY,
    )  # fmt: skip
    try:
        server.wait_serving()
        codes: list[grpc.StatusCode] = []

        def call() -> None:
            with Seq2SeqClient(server.target, timeout=300) as client:
                try:
                    client.translate(TEXTS, "en", "de", options=LONG)
                    codes.append(grpc.StatusCode.OK)
                except ClientError as exc:
                    codes.append(exc.code)

        callers = [threading.Thread(target=call) for _ in range(4)]
        for caller in callers:
            caller.start()
        deadline = time.monotonic() + 60
        while scrape(metrics_port, "s2s_batches_in_flight") < 2:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.01)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=60) == 0
        took = time.monotonic() - started
        for caller in callers:
            caller.join(timeout=30)
        assert took < grace + SHUTDOWN_MARGIN_S, f"exit took {took:.1f} s"
        assert codes == [grpc.StatusCode.UNAVAILABLE] * 4
        assert "engine_call_abandoned" in server.log()
        assert "Traceback" not in server.log()
    finally:
        server.terminate()
