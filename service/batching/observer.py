"""What a batcher reports: observer hooks for counters and histograms, a stats snapshot for
gauges. The observer is the one telemetry path for events; gauges are read from the queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BatcherStats:
    """Gauges of one batcher at one instant.

    Attributes:
        queue_requests: Requests with at least one text still waiting for an engine call.
        queue_texts: Texts waiting for an engine call.
        queue_tokens: Source tokens of those texts.
        in_flight_batches: Engine calls running now (at most ``slots``).
        in_flight_texts: Texts in those calls.
        slots: Engine calls that can run at once (``engine.parallelism``).
    """

    queue_requests: int
    queue_texts: int
    queue_tokens: int
    in_flight_batches: int
    in_flight_texts: int
    slots: int


class BatchObserver(Protocol):
    """Event hooks (see `service.metrics.BatcherMetrics`); called on the event loop thread."""

    def on_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        """An engine call finished: its texts, source tokens, padded tokens and duration."""

    def on_queue_wait(self, seconds: float) -> None:
        """A text left the queue for an engine call after waiting this long."""

    def on_rejected(self) -> None:
        """A request was refused with `Overloaded`."""

    def on_unmeetable(self) -> None:
        """A request was refused because the work ahead would outlast its deadline."""

    def on_expired(self) -> None:
        """A request was dropped because its deadline passed."""

    def on_cancelled(self) -> None:
        """A request's caller went away before it was answered."""

    def on_error(self) -> None:
        """An engine call raised; every request in it failed."""


class NullObserver:
    """The observer of a batcher nobody watches."""

    def on_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        pass

    def on_queue_wait(self, seconds: float) -> None:
        pass

    def on_rejected(self) -> None:
        pass

    def on_unmeetable(self) -> None:
        pass

    def on_expired(self) -> None:
        pass

    def on_cancelled(self) -> None:
        pass

    def on_error(self) -> None:
        pass
