"""Admission: whether a request may join the queue, decided before it costs anything.

* **Cost budget**: a request's cost is, summed over its texts, the hypotheses decoded side by
  side (beam size, or samples when sampling) times the text's output-token limit L, times
  (1 + L / 64): a token costs more the later it comes (it attends over everything written
  before it, and beam search reorders that state at every step), measured at about 3x from 32
  to 512 tokens on the demo model. Over ``max_request_cost`` it is `InvalidInput`: no replica
  would run it in reasonable time, so it must be split or asked with smaller options. So is a
  request larger than the whole queue. The deadline estimate counts work in the same unit.
* **Queue bounds**: the queue is bounded in requests and in source tokens; a request that would
  overflow it is refused at once with `Overloaded` (RESOURCE_EXHAUSTED and a retry hint
  upstream) rather than queued, which keeps latency and memory predictable.
* **Deadline**: a request whose deadline cannot be met behind the work already queued and
  running (estimated from measured batch times, `estimate.WorkRate`) is refused at once with
  `DeadlineUnmeetable` (RESOURCE_EXHAUSTED): queueing it would spend engine time on an answer
  nobody waits for, and make the requests behind it late too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence

from service.batching.config import BatchingConfig
from service.batching.estimate import WorkRate
from service.batching.pending import RunningBatch
from service.batching.queue import GroupedQueue
from service.engines.base import EngineInput
from service.errors import DeadlineUnmeetable, InvalidInput, Overloaded
from service.types import ResolvedOptions

LENGTH_SCALE = 64.0  # see the module doc
MAX_RETRY_AFTER_MS = 10_000
# A request is admitted only if its estimated finish leaves this share of its time unused: the
# estimate comes from batches measured a moment ago, and a burst of arrivals (tokenizing,
# answering refusals) slows the engine a little. Measured: with 96 callers at 2 s deadlines,
# admitting up to the whole deadline let about a third of the admitted calls expire.
DEADLINE_HEADROOM = 0.8


def hypotheses(options: ResolvedOptions) -> int:
    """Hypotheses decoded side by side per text."""
    return options.num_hypotheses if options.is_sampling else options.beam_size


def output_limit(item: EngineInput, options: ResolvedOptions) -> int:
    return item.max_length or options.max_length


def planned_work(inputs: Sequence[EngineInput], options: ResolvedOptions) -> list[float]:
    """Per text, its cost: hypotheses x L x (1 + L / 64) for its output-token limit L."""
    width = hypotheses(options)
    limits = (output_limit(x, options) for x in inputs)
    return [width * n * (1 + n / LENGTH_SCALE) for n in limits]


def check_cost(work: Sequence[float], options: ResolvedOptions, config: BatchingConfig) -> None:
    """Raise `InvalidInput` if the request (``work`` per text) is over the cost budget."""
    cost = round(sum(work))
    if cost > config.max_request_cost:
        kind = "samples" if options.is_sampling else "beams"
        raise InvalidInput.single(
            "request",
            f"costs {cost} ({len(work)} model inputs (texts, or the sentences of segmented "
            f"texts) x {hypotheses(options)} {kind} x L(1+L/64), L = output limit up to "
            f"{options.max_length}); the budget (max_request_cost) is "
            f"{config.max_request_cost}: send fewer or shorter texts, or lower beam_size, "
            "num_hypotheses or max_length",
        )


def check_admission(queue: GroupedQueue, config: BatchingConfig, tokens: int, model: str) -> None:
    """Raise unless a request of ``tokens`` source tokens fits the queue now."""
    if tokens > config.max_queue_tokens:
        raise InvalidInput.single(
            "texts",
            f"the request has {tokens} source tokens, more than model {model!r} can queue "
            f"({config.max_queue_tokens}); split it into smaller requests",
        )
    check_room(queue, config, tokens, model)


def check_room(queue: GroupedQueue, config: BatchingConfig, tokens: int, model: str) -> None:
    """Raise `Overloaded` if the queue has no room for a request of ``tokens`` more tokens."""
    if (
        queue.requests >= config.max_queue_requests
        or queue.tokens + tokens > config.max_queue_tokens
    ):
        raise Overloaded(
            f"the server is overloaded: model {model!r} has {queue.requests} requests and "
            f"{queue.tokens} source tokens queued (limits {config.max_queue_requests} "
            f"requests, {config.max_queue_tokens} tokens); try again later",
            retry_after_ms=config.retry_after_ms,
        )


def check_deadline(
    finish_in: float | None, now: float, deadline: float | None, config: BatchingConfig
) -> None:
    """Raise `DeadlineUnmeetable` if work estimated to finish ``finish_in`` seconds from ``now``
    would miss ``deadline`` (no estimate yet, or no deadline: admitted)."""
    if finish_in is None or deadline is None:
        return
    left = deadline - now
    if finish_in > left * DEADLINE_HEADROOM:
        # Come back when the work ahead now is done: retrying sooner finds the queue as long
        # (other callers fill it), and a storm of early retries only costs the server CPU.
        wait_ms = int(finish_in * 1000)
        raise DeadlineUnmeetable(
            f"the deadline cannot be met: this call needs about {finish_in:.2f} s behind the "
            f"work queued ahead and has {max(0.0, left):.2f} s left; retry later or on another "
            "replica",
            retry_after_ms=max(config.retry_after_ms, min(wait_ms, MAX_RETRY_AFTER_MS)),
        )


class Gate:
    """One batcher's admission: the checks above against its live queue and running calls, the
    batch speeds the deadline check uses, and refusals reported through ``refused``
    (called with "unmeetable" or "rejected")."""

    def __init__(
        self,
        queue: GroupedQueue,
        config: BatchingConfig,
        *,
        name: str,
        slots: int,
        refused: Callable[[str], None],
    ) -> None:
        self._queue = queue
        self._config = config
        self._name = name
        self._slots = slots
        self._refused = refused
        self.rate = WorkRate()

    def precheck(self, running: Iterable[RunningBatch], now: float, deadline: float | None) -> None:
        """What needs nothing of the request: room in the queue, and a deadline the work ahead
        alone would not miss."""
        with self._counting():
            check_room(self._queue, self._config, 0, self._name)
            check_deadline(self._finish_in(running, 0.0, 1, now), now, deadline, self._config)

    def admit(
        self,
        inputs: Sequence[EngineInput],
        options: ResolvedOptions,
        running: Iterable[RunningBatch],
        now: float,
        deadline: float | None,
    ) -> tuple[list[int], list[float]]:
        """Every check for a tokenized request; its per-text (source tokens, work) if admitted."""
        work = planned_work(inputs, options)
        check_cost(work, options, self._config)
        costs = [len(x.source) or 1 for x in inputs]
        with self._counting():
            check_admission(self._queue, self._config, sum(costs), self._name)
            finish_in = self._finish_in(running, sum(work), len(work), now)
            check_deadline(finish_in, now, deadline, self._config)
        return costs, work

    def stoppable(self, work: float) -> bool:
        """Whether an engine call of ``work`` is expected to run long enough to be worth a stop
        check (`Engine.generate`'s ``should_stop``): polling it costs the engine thread the GIL
        at every token (`BatchingConfig.stop_check_after_ms`)."""
        after_s = self._config.stop_check_after_ms / 1000
        rate = self.rate.drain or self.rate.peak
        return after_s <= 0 or rate <= 0 or work / rate >= after_s

    def _finish_in(
        self, running: Iterable[RunningBatch], own: float, texts: int, now: float
    ) -> float | None:
        if not self._config.deadline_admission:
            return None
        rate = self.rate
        ahead = sum(rate.remaining(b.work, now - b.started) for b in running)
        return rate.finish_in(self._queue.work + ahead, own, self._slots, texts)

    @contextlib.contextmanager
    def _counting(self) -> Iterator[None]:
        try:
            yield
        except DeadlineUnmeetable:
            self._refused("unmeetable")
            raise
        except Overloaded:
            self._refused("rejected")
            raise
