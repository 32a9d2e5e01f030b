"""Backpressure and dead work: a full queue rejects at once; expired calls cost no engine time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from service.client import ClientError, Seq2SeqClient
from service.types import DecodingOptions
from tests.serverproc import (
    NO_CACHE,
    ONE_SLOT,
    REGISTRY,
    ServerProcess,
    free_port,
    running_server,
    scrape,
)

SLOW = DecodingOptions(beam_size=8, min_length=300, max_length=300)
UNBUDGETED = ("--max-request-cost", "100000000")  # SLOW x 32 texts is far over the budget
TEXT = "The old man sees the small dog in the garden."


@pytest.fixture
def small_queue_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, int]]:
    """One engine slot and room for one queued request."""
    metrics_port = free_port()
    with running_server(
        tmp_path,
        *ONE_SLOT, *NO_CACHE, *UNBUDGETED, "--max-queue-requests", "1",
        "--metrics-port", str(metrics_port),
        models=REGISTRY,
    ) as server:  # fmt: skip
        yield server, metrics_port


def _wait_in_flight(port: int) -> None:
    deadline = time.monotonic() + 60
    while scrape(port, "s2s_batches_in_flight") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_full_queue_rejects_at_once_with_a_retry_hint(
    small_queue_server: tuple[ServerProcess, int],
) -> None:
    server, metrics_port = small_queue_server
    # 32 texts in batches of 4: the request holds the one queue place for 8 engine calls.
    big = [TEXT] * 32

    with ThreadPoolExecutor(1) as pool, Seq2SeqClient(server.target, timeout=300) as client:
        started = time.monotonic()
        first = pool.submit(client.translate, big, "en", "de", options=SLOW)
        _wait_in_flight(metrics_port)
        refusals: list[ClientError] = []
        refused_at = time.monotonic()
        for _ in range(4):
            with pytest.raises(ClientError) as exc:
                client.translate([TEXT], "en", "de", options=SLOW)
            refusals.append(exc.value)
        refused_within = time.monotonic() - refused_at
        result = first.result()
        first_took = time.monotonic() - started
    assert len(result.results) == 32
    for refusal in refusals:
        assert refusal.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "overloaded" in refusal.message
        assert refusal.retry_after_ms is not None and refusal.retry_after_ms > 0
    # The refusals came back while the big request was still being decoded.
    assert refused_within < first_took
    assert scrape(metrics_port, "s2s_dropped_total") >= 4
    # The server is healthy again once the load is gone.
    with Seq2SeqClient(server.target, timeout=60) as client:
        assert client.translate([TEXT], "en", "de").results[0].text


@pytest.fixture
def one_slot_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, int]]:
    """Deadline admission off: a short-deadline call is queued, and must expire unserved."""
    metrics_port = free_port()
    with running_server(
        tmp_path,
        *ONE_SLOT, *NO_CACHE, *UNBUDGETED, "--no-deadline-admission",
        "--metrics-port", str(metrics_port),
        models=REGISTRY,
    ) as server:  # fmt: skip
        yield server, metrics_port


def test_expired_calls_never_reach_the_engine(one_slot_server: tuple[ServerProcess, int]) -> None:
    server, metrics_port = one_slot_server
    batches_before = scrape(metrics_port, "s2s_batch_size_count")
    with ThreadPoolExecutor(1) as pool, Seq2SeqClient(server.target, timeout=300) as client:
        # 8 engine calls' worth of older work ahead of the short-deadline call.
        blocker = pool.submit(client.translate, [TEXT] * 32, "en", "de", options=SLOW)
        _wait_in_flight(metrics_port)
        with pytest.raises(ClientError) as exc:
            client.translate(["The dog sees the cat."], "en", "de", timeout=0.2)
        assert exc.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
        assert len(blocker.result().results) == 32
    time.sleep(0.2)
    assert scrape(metrics_port, "s2s_batch_size_count") == batches_before + 8
    assert scrape(metrics_port, "s2s_dropped_total") >= 1
