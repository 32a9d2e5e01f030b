"""Every exported ``s2s_*`` metric family has samples after real calls, and each one that
traffic can move has moved: a dashboard built on them never shows an empty panel."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.api import seq2seq_pb2 as pb
from service.api import seq2seq_pb2_grpc as pb_grpc
from service.client import ClientError, Seq2SeqClient
from service.types import DecodingOptions
from tests.redisproc import redis_server
from tests.serverproc import ONE_SLOT, REGISTRY, running_server

SLOW = pb.DecodingOptions(beam_size=8, min_length=300, max_length=300)
# Only an engine failure moves this; there is no honest way to make the real engine fail.
FAILURE_ONLY = {"s2s_engine_errors"}
# Only auth moves these: tests/reliability/test_auth.py checks them on a server with tokens.
AUTH_ONLY = {"s2s_auth_failures", "s2s_rate_limited"}
# Only the torch engine reports these (this server runs the CTranslate2 demo model); the
# encoder-cache tests (tests/integration/test_encoder_cache.py) see them move.
TORCH_ONLY = {"s2s_encoder_seconds_saved", "s2s_engine_phase_seconds"}


def sentences(*numbers: int) -> list[str]:
    """Distinct sentences from the demo vocabulary (distinct: the cache cannot answer them)."""
    return [f"The old man sees {n} small dogs in the garden." for n in numbers]


def families(port: int) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {
        f.name: [(s.name, s.labels, s.value) for s in f.samples]
        for f in text_string_to_metric_families(text)
        if f.name.startswith("s2s_") and not f.name.endswith("_created")
    }


def moved(samples: list[tuple[str, dict[str, str], float]]) -> bool:
    return any(value > 0 for name, _, value in samples if not name.endswith("_created"))


def wait_for(port: int, family: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not moved(families(port).get(family, [])):
        assert time.monotonic() < deadline, f"{family} never moved"
        time.sleep(0.01)


def slow(texts: list[str]) -> pb.TranslateRequest:
    return pb.TranslateRequest(
        texts=texts, source_language="en", target_language="de", options=SLOW
    )


def test_every_metric_family_has_samples_and_moves(tmp_path: Path) -> None:
    with redis_server(tmp_path) as redis, running_server(
        tmp_path,
        *ONE_SLOT, "--max-queue-requests", "1", "--redis-url", redis.url,
        "--max-request-cost", "1000000", "--no-deadline-admission",
        metrics=True,
        models=REGISTRY,
    ) as server, grpc.insecure_channel(server.target) as channel:  # fmt: skip
        port = server.metrics_port
        stub = pb_grpc.Seq2SeqServiceStub(channel)
        with Seq2SeqClient(server.target, timeout=120) as client:
            [text] = sentences(1)
            client.translate([text], "en", "de")
            assert client.translate([text], "en", "de").results[0].cached  # a cache hit
            client.summarize(["A bus crashed near Geneva on Thursday. 54 people were hurt."])
            # Documents: detection (both outcomes) and truncation.
            client.translate(["The teacher reads a book. The dog sleeps."], "", "de")
            with pytest.raises(ClientError):
                client.translate(["qwrtz plmk vbnx hjkl"], "auto", "de")
            client.summarize(["A bus crashed near Geneva on Thursday. " * 60])
            client.list_models()
            with pytest.raises(ClientError):
                client.translate([""], "en", "de")

            running = stub.Translate.future(slow(sentences(2, 3)), timeout=300)
            wait_for(port, "s2s_batches_in_flight")
            joining = stub.Translate.future(slow(sentences(2, 3)), timeout=300)  # same texts
            with pytest.raises(ClientError) as expired:
                client.translate(sentences(4), "en", "de", timeout=0.3)  # queued: expires
            assert expired.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
            queued = stub.Translate.future(slow(sentences(5, 6)), timeout=300)  # fills the queue
            wait_for(port, "s2s_queue_texts")
            during = families(port)
            with pytest.raises(ClientError) as refused:
                client.translate(sentences(7), "en", "de", options=DecodingOptions(beam_size=8))
            assert refused.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
            queued.cancel()  # its caller leaves while it waits
            assert len(running.result().results) == 2
            assert len(joining.result().results) == 2
            redis.stop()  # a Redis failure is counted, and the call still succeeds
            assert client.translate(sentences(8), "en", "de").results[0].text
        time.sleep(0.2)
        after = families(port)

    names = set(after)
    assert {"s2s_build_info", "s2s_model_info", "s2s_engine_slots"} <= names
    for name, samples in after.items():
        if name in TORCH_ONLY:
            continue
        assert samples, f"{name} has no samples"
        if name in FAILURE_ONLY | AUTH_ONLY:
            continue
        assert moved(samples) or moved(during.get(name, [])), f"{name} never moved"
    reasons = {s[1]["reason"] for s in after["s2s_dropped"] if s[2] > 0}
    # "unmeetable" needs deadline admission, off here so that the call above expires in the
    # queue: tests/reliability/test_overload_deadlines.py checks it.
    assert reasons == {"overloaded", "deadline", "cancelled"}
    tokens = sum(v for n, _, v in after["s2s_batch_tokens"] if n.endswith("_total"))
    padded = sum(v for n, _, v in after["s2s_batch_padded_tokens"] if n.endswith("_total"))
    assert 0 < tokens <= padded
