"""Metric plumbing: the batch observer feeds the counters, the collector reads live models."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from service import metrics
from service.batching import BatcherStats
from tests.fakes import manifest, served_with_fake_engine


def value(counter: object) -> float:
    return float(counter._value.get())  # type: ignore[attr-defined]


def test_batch_observer_counts_tokens_padding_and_busy_time() -> None:
    observer = metrics.BatcherMetrics("unit-model")
    before = (
        value(metrics.BATCH_TOKENS.labels("unit-model")),
        value(metrics.BATCH_PADDED_TOKENS.labels("unit-model")),
        value(metrics.ENGINE_BUSY_SECONDS.labels("unit-model")),
    )
    observer.on_batch(size=3, tokens=10, padded_tokens=15, seconds=0.5)
    observer.on_error()
    after = (
        value(metrics.BATCH_TOKENS.labels("unit-model")),
        value(metrics.BATCH_PADDED_TOKENS.labels("unit-model")),
        value(metrics.ENGINE_BUSY_SECONDS.labels("unit-model")),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [10, 15, 0.5]
    assert value(metrics.ENGINE_ERRORS.labels("unit-model")) >= 1


def test_collector_exports_queue_gauges_readiness_and_model_info() -> None:
    served = served_with_fake_engine(manifest(name="info-model"), ready=False)
    stats = BatcherStats(
        queue_requests=2, queue_texts=5, queue_tokens=40, in_flight_batches=1,
        in_flight_texts=3, slots=2,
    )  # fmt: skip
    registry = CollectorRegistry()
    registry.register(metrics.ModelCollector(lambda: [metrics.ModelSnapshot(served.info(), stats)]))
    text = generate_latest(registry).decode()
    assert 's2s_queue_texts{model="info-model"} 5.0' in text
    assert 's2s_engine_slots{model="info-model"} 2.0' in text
    assert 's2s_model_ready{model="info-model"} 0.0' in text
    assert 'engine="fake"' in text and 'revision="sha256:' in text
