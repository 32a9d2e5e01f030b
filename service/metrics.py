"""Prometheus metrics: module-level definitions with few, bounded labels (model, method, code).

Every family here moves under real calls (tests/integration/test_metrics.py checks it). The
batcher reports events through `BatcherMetrics` (its observer); queue gauges, readiness and
model info are read from live objects at scrape time, so the hot path pays nothing for them.
The catalogue with types and labels is in docs/operations.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.batching import BatcherStats
from service.model_info import ModelInfo

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
REQUESTS_IN_FLIGHT = Gauge(
    "s2s_requests_in_flight", "RPCs being handled now, by method.", ["method"]
)
TEXTS = Counter("s2s_texts_total", "Texts answered, by model and task.", ["model", "task"])
INPUT_TOKENS = Counter(
    "s2s_input_tokens_total", "Input tokens of answered texts, by model.", ["model"]
)
OUTPUT_TOKENS = Counter(
    "s2s_output_tokens_total", "Output tokens of answered texts (best hypothesis), by model.",
    ["model"],
)  # fmt: skip
BATCH_SIZE = Histogram(
    "s2s_batch_size", "Texts per engine call, by model.", ["model"], buckets=_SIZE_BUCKETS
)
BATCH_SECONDS = Histogram(
    "s2s_batch_duration_seconds", "Engine time per batch, by model.", ["model"],
    buckets=_LATENCY_BUCKETS,
)  # fmt: skip
BATCH_TOKENS = Counter(
    "s2s_batch_tokens_total", "Source tokens sent to the engine, by model.", ["model"]
)
BATCH_PADDED_TOKENS = Counter(
    "s2s_batch_padded_tokens_total",
    "Padded source tokens of engine calls (longest x texts), by model; "
    "tokens / padded tokens is the padding efficiency.",
    ["model"],
)
ENGINE_BUSY_SECONDS = Counter(
    "s2s_engine_busy_seconds_total",
    "Seconds engine calls ran, summed over slots, by model; over s2s_engine_slots it is the "
    "engine's busy ratio.",
    ["model"],
)
ENGINE_ERRORS = Counter(
    "s2s_engine_errors_total", "Engine calls that raised (every text in them failed).", ["model"]
)
QUEUE_WAIT_SECONDS = Histogram(
    "s2s_queue_wait_seconds",
    "Time a text waited in the batcher queue before its engine call, by model.",
    ["model"],
    buckets=(0.001, *_LATENCY_BUCKETS),
)
DROPPED = Counter(
    "s2s_dropped_total",
    "Requests refused or dropped before costing engine time, by model and reason "
    "(overloaded, unmeetable: the deadline cannot be met behind the queue, deadline, cancelled).",
    ["model", "reason"],
)
CACHE_LOOKUPS = Counter(
    "s2s_cache_lookups_total",
    "Cache lookups per text, by model, kind (result, encoder), tier (memory, redis) and "
    "outcome (hit, miss, error, corrupt).",
    ["model", "kind", "tier", "outcome"],
)
CACHE_STORES = Counter(
    "s2s_cache_stores_total", "Entries written to the cache, by model, kind and tier.",
    ["model", "kind", "tier"],
)  # fmt: skip
CACHE_STORED_BYTES = Counter(
    "s2s_cache_stored_bytes_total",
    "Bytes of the values written to the cache, by model, kind and tier.",
    ["model", "kind", "tier"],
)
CACHE_BYTES = Gauge(
    "s2s_cache_bytes",
    "Bytes held by an in-process cache tier (memory: results; encoder_memory: encoder outputs).",
    ["tier"],
)
CACHE_ENTRIES = Gauge(
    "s2s_cache_entries", "Entries held by an in-process cache tier (memory, encoder_memory).",
    ["tier"],
)  # fmt: skip
CACHE_REDIS_UP = Gauge(
    "s2s_cache_redis_up", "1 when the Redis cache tier answers its health pings (0: down or off)."
)
CACHE_REDIS_SECONDS = Histogram(
    "s2s_cache_redis_seconds", "Latency of successful Redis cache operations, by op (get, set).",
    ["op"], buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1),
)  # fmt: skip
CACHE_REDIS_ERRORS = Counter(
    "s2s_cache_redis_errors_total",
    "Redis cache operations that failed or timed out, by op (get, set); calls still succeed.",
    ["op"],
)
SINGLEFLIGHT_JOINS = Counter(
    "s2s_cache_singleflight_joins_total",
    "Texts that joined an identical text already being decoded instead of decoding it again.",
    ["model"],
)
AUTH_FAILURES = Counter(
    "s2s_auth_failures_total",
    "Calls refused by bearer-token auth, by reason (missing, invalid, denied).",
    ["reason"],
)
for _reason in ("missing", "invalid", "denied"):
    AUTH_FAILURES.labels(_reason)  # exported as 0 from the start, so rate() works at once
RATE_LIMITED = Counter(
    "s2s_rate_limited_total", "Calls refused because their token exceeded its rate limit."
)
SEGMENTS_PER_TEXT = Histogram(
    "s2s_segments_per_text",
    "Segments each translated text was cut into (1 = sent whole, 0 = nothing to translate), "
    "by model.",
    ["model"],
    buckets=(0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
LANGUAGE_DETECTIONS = Counter(
    "s2s_language_detections_total",
    "Texts whose source language was detected, by outcome (detected, rejected).",
    ["outcome"],
)
for _outcome in ("detected", "rejected"):  # both series exist from the start (dashboards)
    LANGUAGE_DETECTIONS.labels(_outcome)
TRUNCATED_TEXTS = Counter(
    "s2s_truncated_texts_total",
    "Texts cut to the model's input limit (truncation HEAD), by model.",
    ["model"],
)
ENCODER_SECONDS_SAVED = Counter(
    "s2s_encoder_seconds_saved_total",
    "Encoder seconds not spent: the measured encoder time of the encoder outputs served from "
    "the cache, by model.",
    ["model"],
)
ENGINE_PHASE_SECONDS = Histogram(
    "s2s_engine_phase_seconds",
    "Time per engine call in each phase (encoder, decoder), by model; engines that cannot "
    "split the phases (CTranslate2) do not report it.",
    ["model", "phase"],
    buckets=(0.001, 0.0025, *_LATENCY_BUCKETS),
)
BUILD_INFO = Gauge("s2s_build_info", "Always 1; the running build.", ["version", "revision"])


class BatcherMetrics:
    """Batch observer for one model; implements the batcher's `BatchObserver` hooks."""

    def __init__(self, model: str) -> None:
        self._size = BATCH_SIZE.labels(model)
        self._seconds = BATCH_SECONDS.labels(model)
        self._tokens = BATCH_TOKENS.labels(model)
        self._padded = BATCH_PADDED_TOKENS.labels(model)
        self._busy = ENGINE_BUSY_SECONDS.labels(model)
        self._errors = ENGINE_ERRORS.labels(model)
        self._wait = QUEUE_WAIT_SECONDS.labels(model)
        self._rejected = DROPPED.labels(model, "overloaded")
        self._expired = DROPPED.labels(model, "deadline")
        self._cancelled = DROPPED.labels(model, "cancelled")
        self._unmeetable = DROPPED.labels(model, "unmeetable")

    def on_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        self._size.observe(size)
        self._seconds.observe(seconds)
        self._tokens.inc(tokens)
        self._padded.inc(padded_tokens)
        self._busy.inc(seconds)

    def on_queue_wait(self, seconds: float) -> None:
        self._wait.observe(seconds)

    def on_rejected(self) -> None:
        self._rejected.inc()

    def on_expired(self) -> None:
        self._expired.inc()

    def on_cancelled(self) -> None:
        self._cancelled.inc()

    def on_unmeetable(self) -> None:
        self._unmeetable.inc()

    def on_error(self) -> None:
        self._errors.inc()


def record_answer(model: str, task: str, texts: int, input_tokens: int, output_tokens: int) -> None:
    """Count one answered request's texts and tokens."""
    TEXTS.labels(model, task).inc(texts)
    INPUT_TOKENS.labels(model).inc(input_tokens)
    OUTPUT_TOKENS.labels(model).inc(output_tokens)


def record_documents(model: str, *, segments: Sequence[int], truncated: int) -> None:
    """Count one answered request's segments per translated text and its truncated texts."""
    histogram = SEGMENTS_PER_TEXT.labels(model)
    for count in segments:
        histogram.observe(count)
    if truncated:
        TRUNCATED_TEXTS.labels(model).inc(truncated)


@dataclass(frozen=True, slots=True)
class ModelSnapshot:
    """What the scrape-time collector reads of one served model."""

    info: ModelInfo
    stats: BatcherStats


class ModelCollector(Collector):
    """Per-model gauges read from live objects at scrape time."""

    def __init__(self, source: Callable[[], Iterable[ModelSnapshot]]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        def gauge(name: str, doc: str, labels: Sequence[str] = ("model",)) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=list(labels))

        requests = gauge("s2s_queue_requests", "Requests with texts waiting in the queue.")
        depth = gauge("s2s_queue_texts", "Texts waiting in the batcher queue.")
        tokens = gauge("s2s_queue_tokens", "Source tokens waiting in the batcher queue.")
        in_flight = gauge("s2s_batches_in_flight", "Engine calls running now.")
        slots = gauge("s2s_engine_slots", "Engine calls that can run at once.")
        ready = gauge("s2s_model_ready", "1 once the model answered its warm-up request.")
        info = gauge(
            "s2s_model_info",
            "Always 1; what each served model is and how it runs.",
            ("model", "revision", "family", "engine", "device", "compute_type"),
        )
        for snap in self._source():
            m, s = snap.info, snap.stats
            requests.add_metric([m.name], s.queue_requests)
            depth.add_metric([m.name], s.queue_texts)
            tokens.add_metric([m.name], s.queue_tokens)
            in_flight.add_metric([m.name], s.in_flight_batches)
            slots.add_metric([m.name], s.slots)
            ready.add_metric([m.name], 1.0 if m.ready else 0.0)
            info.add_metric([m.name, m.revision, m.family, m.engine, m.device, m.compute_type], 1.0)
        yield from (requests, depth, tokens, in_flight, slots, ready, info)


_source: list[Callable[[], Iterable[ModelSnapshot]]] = []


def watch_models(source: Callable[[], Iterable[ModelSnapshot]]) -> None:
    """Export per-model gauges from ``source`` (replacing any source watched before)."""
    if not _source:
        REGISTRY.register(ModelCollector(lambda: _source[0]() if _source else ()))
    _source[:] = [source]


def set_build_info(version: str, revision: str) -> None:
    BUILD_INFO.clear()
    BUILD_INFO.labels(version, revision).set(1)


def start_exporter(host: str, port: int) -> None:
    """Serve /metrics over HTTP (Prometheus scrapes it; gRPC stays on its own port)."""
    start_http_server(port, addr=host, registry=REGISTRY)
