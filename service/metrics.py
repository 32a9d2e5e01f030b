"""Prometheus metrics: module-level definitions with few, bounded labels (model, method, code).

The batcher reports through `BatcherMetrics` (its observer hooks); queue gauges are read from
each batcher's stats at scrape time, so the hot path pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.batcher import BatcherStats

if TYPE_CHECKING:
    from service.model import ServedModel

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 256)

REQUESTS = Counter(
    "s2s_requests_total", "RPCs handled, by method and status code.", ["method", "code"]
)
REQUEST_SECONDS = Histogram(
    "s2s_request_duration_seconds",
    "RPC latency from the server's view, by method.",
    ["method"],
    buckets=_LATENCY_BUCKETS,
)
TEXTS = Counter("s2s_texts_total", "Texts processed, by model and task.", ["model", "task"])
INPUT_TOKENS = Counter("s2s_input_tokens_total", "Input tokens read, by model.", ["model"])
OUTPUT_TOKENS = Counter("s2s_output_tokens_total", "Output tokens generated, by model.", ["model"])
BATCH_SIZE = Histogram(
    "s2s_batch_size", "Texts per engine call, by model.", ["model"], buckets=_SIZE_BUCKETS
)
BATCH_SECONDS = Histogram(
    "s2s_batch_duration_seconds", "Engine time per batch, by model.", ["model"],
    buckets=_LATENCY_BUCKETS,
)  # fmt: skip
QUEUE_WAIT_SECONDS = Histogram(
    "s2s_queue_wait_seconds",
    "Time a text waited in the batcher queue before its engine call, by model.",
    ["model"],
    buckets=(0.001, *_LATENCY_BUCKETS),
)
DROPPED = Counter(
    "s2s_dropped_total",
    "Requests refused or dropped before costing engine time, by model and reason "
    "(overloaded, deadline, cancelled).",
    ["model", "reason"],
)


class BatcherMetrics:
    """Batch observer for one model; implements the batcher's `BatchObserver` hooks."""

    def __init__(self, model: str) -> None:
        self._size = BATCH_SIZE.labels(model)
        self._seconds = BATCH_SECONDS.labels(model)
        self._wait = QUEUE_WAIT_SECONDS.labels(model)
        self._rejected = DROPPED.labels(model, "overloaded")
        self._expired = DROPPED.labels(model, "deadline")
        self._cancelled = DROPPED.labels(model, "cancelled")

    def on_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        self._size.observe(size)
        self._seconds.observe(seconds)

    def on_queue_wait(self, seconds: float) -> None:
        self._wait.observe(seconds)

    def on_rejected(self) -> None:
        self._rejected.inc()

    def on_expired(self) -> None:
        self._expired.inc()

    def on_cancelled(self) -> None:
        self._cancelled.inc()


class QueueCollector(Collector):
    """Queue depth and readiness per model, read from live objects at scrape time."""

    def __init__(self, source: Callable[[], Iterable[tuple[str, bool, BatcherStats]]]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "s2s_queue_texts", "Texts waiting in the batcher queue.", labels=["model"]
        )
        tokens = GaugeMetricFamily(
            "s2s_queue_tokens", "Source tokens waiting in the batcher queue.", labels=["model"]
        )
        in_flight = GaugeMetricFamily(
            "s2s_batches_in_flight", "Engine calls running now.", labels=["model"]
        )
        ready = GaugeMetricFamily(
            "s2s_model_ready", "1 once the model answered its warm-up request.", labels=["model"]
        )
        for name, is_ready, stats in self._source():
            depth.add_metric([name], stats.queue_texts)
            tokens.add_metric([name], stats.queue_tokens)
            in_flight.add_metric([name], stats.in_flight_batches)
            ready.add_metric([name], 1.0 if is_ready else 0.0)
        yield from (depth, tokens, in_flight, ready)


_watched: list[Any] = []


def watch_models(models: Sequence[ServedModel]) -> None:
    """Export queue gauges and readiness of these models (replacing any watched before)."""
    if not _watched:
        REGISTRY.register(
            QueueCollector(lambda: [(m.name, m.ready, m.batcher.stats()) for m in _watched])
        )
    _watched[:] = list(models)


def start_exporter(host: str, port: int) -> None:
    """Serve /metrics over HTTP (Prometheus scrapes it; gRPC stays on its own port)."""
    start_http_server(port, addr=host, registry=REGISTRY)
