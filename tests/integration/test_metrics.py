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
from tests.serverproc import ONE_SLOT, REGISTRY, free_port, running_server

TEXT = "The old man sees the small dog in the garden."
SLOW = pb.DecodingOptions(beam_size=8, min_length=300, max_length=300)
# Only an engine failure moves these; there is no honest way to make the real engine fail.
FAILURE_ONLY = {"s2s_engine_errors"}


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


def test_every_metric_family_has_samples_and_moves(tmp_path: Path) -> None:
    metrics_port = free_port()
    with running_server(
        tmp_path,
        *ONE_SLOT, "--max-queue-requests", "1",
        "--metrics-port", str(metrics_port),
        models=REGISTRY,
    ) as server, grpc.insecure_channel(server.target) as channel:  # fmt: skip
        stub = pb_grpc.Seq2SeqServiceStub(channel)
        with Seq2SeqClient(server.target, timeout=120) as client:
            client.translate([TEXT], "en", "de")
            client.summarize(["A bus crashed near Geneva on Thursday. 54 people were hurt."])
            client.list_models()
            with pytest.raises(ClientError):
                client.translate([""], "en", "de")

            def slow() -> pb.TranslateRequest:
                return pb.TranslateRequest(
                    texts=[TEXT] * 4, source_language="en", target_language="de", options=SLOW
                )

            running = stub.Translate.future(slow(), timeout=300)  # one engine call in flight
            wait_for(metrics_port, "s2s_batches_in_flight")
            with pytest.raises(ClientError) as expired:
                client.translate([TEXT], "en", "de", timeout=0.3)  # queued behind it: expires
            assert expired.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
            queued = stub.Translate.future(slow(), timeout=300)  # fills the one queue place
            wait_for(metrics_port, "s2s_queue_texts")
            during = families(metrics_port)
            with pytest.raises(ClientError) as refused:
                client.translate([TEXT], "en", "de", options=DecodingOptions(beam_size=8))
            assert refused.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
            queued.cancel()  # its caller leaves while it waits
            assert len(running.result().results) == 4
        time.sleep(0.2)
        after = families(metrics_port)

    names = set(after)
    assert {"s2s_build_info", "s2s_model_info", "s2s_engine_slots"} <= names
    for name, samples in after.items():
        assert samples, f"{name} has no samples"
        if name in FAILURE_ONLY:
            continue
        assert moved(samples) or moved(during.get(name, [])), f"{name} never moved"
    reasons = {s[1]["reason"] for s in after["s2s_dropped"] if s[2] > 0}
    assert reasons == {"overloaded", "deadline", "cancelled"}
    tokens = sum(v for n, _, v in after["s2s_batch_tokens"] if n.endswith("_total"))
    padded = sum(v for n, _, v in after["s2s_batch_padded_tokens"] if n.endswith("_total"))
    assert 0 < tokens <= padded
