"""Dynamic batching: concurrent callers share engine calls.

CTranslate2 decodes a batch of 32 texts in little more time than one text, but it cannot merge
calls that arrive separately from Python. The `Batcher` sits between the pipeline and one
`Engine` and turns many small concurrent `submit` calls into few large `generate` calls:

* **Grouping.** A text only shares an engine call with texts whose decoding options have the
  same `ResolvedOptions.batch_key()` (beam size, sampling, length limits, penalties, n-best), so
  batching never changes anyone's output. A seeded request (`options.exclusive`) gets engine
  calls of its own: a seed must give the same samples whatever else is in flight.
* **When to dispatch.** Never wait while the engine is idle: a lone request goes to the engine
  on the next turn of the event loop (callers that arrive in the same turn share the call).
  While the engine is busy, texts accumulate; when one of its `parallelism` slots frees up, the
  next batch is taken at once, except while the callers a batch just answered are coming
  back: then a free slot waits (at most `max_wait_ms` after that batch finished) until its share
  of them is queued, instead of spending a whole engine call on the one text that happened to
  be queued in between.
* **Which group goes next.** The group whose oldest waiting text has waited longest (FIFO across
  groups, so no decoding-options group starves), taking its oldest texts first, up to
  `max_batch_size` texts and `max_batch_tokens` padded source tokens. Inside a batch texts are
  sorted by source length and the outputs are mapped back to their callers.
* **Backpressure.** The queue is bounded in requests and source tokens; a request that would
  overflow it is refused at once with `Overloaded` (RESOURCE_EXHAUSTED upstream) rather than
  queued: a bounded queue keeps latency and memory predictable, and the client can retry on
  another replica.
* **Dropping dead work.** Requests whose deadline passed or whose caller went away are removed
  from the queue before they cost engine time; results that arrive for them are discarded.

All queue state lives on the event loop thread; worker threads only run `engine.generate` and
post results back with `loop.call_soon_threadsafe`. There is no dispatcher task: dispatching is
a plain callback scheduled when something changes (a submit, a finished batch, a timer), and no
per-text tasks or futures are created (one future per request).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import count
from typing import Any, Protocol, cast

import structlog

from service.engines.base import Engine, EngineInput, EngineOutput
from service.errors import DeadlineExpired, InvalidInput, Overloaded, ShuttingDown
from service.types import ResolvedOptions

log = structlog.get_logger(__name__)

# Loop timers may fire a hair before their time; a wait timer that finds the expectation it
# waited for due within this margin dispatches rather than re-arming for a few microseconds.
_TIMER_SLACK = 1e-4

__all__ = ["BatchObserver", "Batcher", "BatcherStats", "BatchingConfig"]


@dataclass(frozen=True, slots=True)
class BatchingConfig:
    """How one model's batcher groups, bounds and dispatches work.

    Attributes:
        max_batch_size: Most texts in one engine call. 1 turns batching off ("naive serving",
            useful as a benchmark baseline). Default 64: on a 2-core CPU with
            ``inter_threads=2`` raw ``translate_batch`` gave 89 sentences/s at batch 32 and 103
            at batch 64 (docs/benchmarks.md), and a cap of 32 held the service's batches at
            ~30 under 128 callers; on GPU raise it to 128 or more, since a GPU batch costs
            little more than one sentence.
        max_batch_tokens: Most padded source tokens in one call, ``len(longest) * texts``. It
            keeps a batch of long texts from blowing up memory and latency while short texts
            still fill `max_batch_size`. Default 8192 (32 texts of 256 tokens) suits CPU; on GPU
            it is bounded by device memory, and 16k-32k is common.
        max_wait_ms: How long after a batch finished a free slot may wait for the callers it
            answered to come back (they tend to: a client with more work, any closed-loop load),
            so that the next batch is full instead of the one text queued in between. It never
            delays a lone caller or a request that finds nobody expected back. Default 50 (CPU):
            under 128 closed-loop callers on 2 cores, 0 let a freed replica take the one or two
            texts queued (mean batch 35-39, 0.80-0.85x the engine ceiling) while 50 filled the
            batches (docs/benchmarks.md), C=1 latency unchanged. `Settings` uses 5 on GPU,
            where a whole batch takes a few ms and a 50 ms wait would dominate latency.
        max_queue_requests: Most requests (calls, not texts) waiting in the queue; beyond it
            `submit` raises `Overloaded`. Default 512: four times the 128 concurrent callers the
            benchmark uses, so a healthy replica never refuses, while an overloaded one sheds
            load in well under its callers' deadlines.
        max_queue_tokens: Most source tokens waiting in the queue, the real measure of queued
            work (a request may carry many texts). Default 262144 (= 32 full batches at the
            default batch budget). A single request larger than this is refused with
            `InvalidInput` since it could never fit.
        early_return: Give the engine an ``on_output`` callback so a text whose output is done
            answers before the rest of its batch (greedy decoding: short outputs need not wait
            for the longest). Off by default: it costs one thread hop per text, which pays off
            for mixed output lengths and large batches (GPU), less so for small CPU batches.
        retry_after_ms: Back-off hint sent with `Overloaded` (and with `ShuttingDown` for work
            dropped by a close that timed out). Default 200 ms, about one CPU batch.
    """

    max_batch_size: int = 64
    max_batch_tokens: int = 8192
    max_wait_ms: float = 50.0
    max_queue_requests: int = 512
    max_queue_tokens: int = 262144
    early_return: bool = False
    retry_after_ms: int = 200

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_batch_tokens", "max_queue_requests"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_queue_tokens < 1:
            raise ValueError(f"max_queue_tokens must be at least 1, got {self.max_queue_tokens}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be at least 0, got {self.max_wait_ms}")
        if self.retry_after_ms < 0:
            raise ValueError(f"retry_after_ms must be at least 0, got {self.retry_after_ms}")


@dataclass(frozen=True, slots=True)
class BatcherStats:
    """A snapshot of one batcher: queue gauges, then counters since start.

    Attributes:
        queue_requests: Requests with at least one text still waiting for an engine call.
        queue_texts: Texts waiting for an engine call.
        queue_tokens: Source tokens of those texts.
        in_flight_batches: Engine calls running now (at most ``engine.parallelism``).
        batches: Engine calls made.
        examples: Texts sent to the engine.
        tokens: Source tokens sent to the engine.
        padded_tokens: ``len(longest) * texts`` summed over calls; ``tokens / padded_tokens``
            is the padding efficiency.
        rejected: Requests refused with `Overloaded`.
        expired: Requests dropped because their deadline passed.
        cancelled: Requests whose caller went away before they were answered.
        errors: Engine calls that raised (every request in such a call fails).
    """

    queue_requests: int
    queue_texts: int
    queue_tokens: int
    in_flight_batches: int
    batches: int
    examples: int
    tokens: int
    padded_tokens: int
    rejected: int
    expired: int
    cancelled: int
    errors: int


class BatchObserver(Protocol):
    """Metrics hooks (see `service.metrics.BatcherMetrics`); called on the event loop thread."""

    def on_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        """An engine call finished: its texts, source tokens, padded tokens and duration."""

    def on_queue_wait(self, seconds: float) -> None:
        """A text left the queue for an engine call after waiting this long."""

    def on_rejected(self) -> None:
        """A request was refused with `Overloaded`."""

    def on_expired(self) -> None:
        """A request was dropped because its deadline passed."""

    def on_cancelled(self) -> None:
        """A request's caller went away before it was answered."""


class _NullObserver:
    def on_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        pass

    def on_queue_wait(self, seconds: float) -> None:
        pass

    def on_rejected(self) -> None:
        pass

    def on_expired(self) -> None:
        pass

    def on_cancelled(self) -> None:
        pass


class _Request:
    """One `submit` call: its future, its results so far, and what of it is still queued."""

    __slots__ = (
        "deadline",
        "done",
        "enqueued",
        "future",
        "group",
        "items",
        "options",
        "queued",
        "queued_tokens",
        "remaining",
        "results",
        "seq",
        "timer",
    )

    def __init__(
        self,
        seq: int,
        options: ResolvedOptions,
        future: asyncio.Future[list[EngineOutput]],
        size: int,
        enqueued: float,
        deadline: float | None,
    ) -> None:
        self.seq = seq  # arrival order; the FIFO key across groups
        self.options = options
        self.future = future
        self.results: list[EngineOutput | None] = [None] * size
        self.remaining = size  # outputs still missing
        self.enqueued = enqueued
        self.deadline = deadline
        self.done = False  # answered, failed, expired or cancelled: ignore anything further
        self.group: _Group | None = None  # all texts of a request share one group
        self.items: list[_Item] = []
        self.queued = 0  # texts still waiting in the queue
        self.queued_tokens = 0
        self.timer: asyncio.TimerHandle | None = None


class _Item:
    """One text of a request, waiting in its group's queue."""

    __slots__ = ("index", "input", "queued", "request", "tokens")

    def __init__(self, request: _Request, index: int, input: EngineInput, tokens: int) -> None:
        self.request = request
        self.index = index  # position in the request, for reassembly
        self.input = input
        self.tokens = tokens
        self.queued = True


class _Group:
    """Texts that may share an engine call (equal batch key), oldest first.

    Items of dead requests stay in `items` until they reach the front, where they are skipped;
    `live` and `tokens` count only the live ones.
    """

    __slots__ = ("heap_seq", "items", "key", "live", "tokens")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.items: deque[_Item] = deque()
        self.live = 0
        self.tokens = 0
        self.heap_seq: int | None = None  # the seq this group is filed under in the heap

    def head(self) -> _Item | None:
        """The oldest live item, dropping dead ones from the front."""
        items = self.items
        while items:
            item = items[0]
            if item.queued:
                return item
            items.popleft()
        return None


class _Batch:
    __slots__ = ("delivered", "finished", "items", "options", "padded_tokens", "tokens")

    def __init__(
        self, items: list[_Item], options: ResolvedOptions, tokens: int, padded_tokens: int
    ) -> None:
        self.items = items
        self.options = options
        self.tokens = tokens
        self.padded_tokens = padded_tokens
        self.delivered = [False] * len(items)  # answered early through on_output
        self.finished = False  # generate returned or raised: ignore late on_output calls


@dataclass(slots=True)
class _Returning:
    """Callers a finished batch answered that have not come back yet, and until when to wait."""

    until: float
    count: int


class Batcher:
    """Shares one engine among concurrent callers by batching their texts (see module doc)."""

    def __init__(
        self,
        engine: Engine,
        config: BatchingConfig,
        *,
        name: str,
        observer: BatchObserver | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.name = name
        self.observer: BatchObserver = observer if observer is not None else _NullObserver()
        self._parallelism = max(1, engine.parallelism)
        self._max_wait = config.max_wait_ms / 1000.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self._drained: asyncio.Event | None = None

        self._groups: dict[Hashable, _Group] = {}
        # (seq of the group's oldest item, tie-breaker, group); stale entries are skipped lazily.
        self._heap: list[tuple[int, int, _Group]] = []
        self._tiebreak = count()
        self._seq = count()
        self._running: set[_Batch] = set()
        self._dispatch_scheduled = False
        self._wait_timer: asyncio.TimerHandle | None = None
        self._wait_when = 0.0
        # Per finished batch, callers it answered that are expected back (see `_pick_group`).
        self._returning: deque[_Returning] = deque()

        self._queue_requests = 0
        self._queue_texts = 0
        self._queue_tokens = 0
        self._in_flight = 0
        self._in_flight_texts = 0
        self._batches = 0
        self._examples = 0
        self._tokens = 0
        self._padded_tokens = 0
        self._rejected = 0
        self._expired = 0
        self._cancelled = 0
        self._errors = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind to the running loop and start one worker thread per engine slot."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(
            max_workers=self._parallelism, thread_name_prefix=f"batcher-{self.name}"
        )

    async def close(self, timeout: float | None = None) -> None:
        """Stop accepting work, finish what is queued and in flight, then stop the threads.

        New `submit` calls raise `ShuttingDown` from the moment this is called. If `timeout`
        seconds pass first, requests still waiting or running fail with `ShuttingDown`
        (running engine calls cannot be interrupted; their results are discarded).
        """
        self._closing = True
        if self._loop is None or self._executor is None:
            return
        finished = True
        if self._queue_texts or self._in_flight:
            if self._drained is None:  # a concurrent close() shares the same wait
                self._drained = asyncio.Event()
            self._schedule_dispatch()  # flush anything held back by max_wait_ms
            try:
                await asyncio.wait_for(self._drained.wait(), timeout)
            except TimeoutError:
                finished = False
                self._abandon_all()
        self._cancel_wait_timer()
        executor, self._executor = self._executor, None
        if executor is None:  # the other close() got there first
            return
        # After a clean drain the workers are idle and join at once; otherwise do not block
        # the loop on an engine call that is still running.
        executor.shutdown(wait=finished, cancel_futures=True)

    # ------------------------------------------------------------------ public API

    async def submit(
        self,
        inputs: Sequence[EngineInput],
        options: ResolvedOptions,
        *,
        deadline: float | None = None,
    ) -> list[EngineOutput]:
        """Decode `inputs` with `options`, sharing engine calls with other callers.

        Returns one output per input, in input order. `deadline` is an absolute
        `time.monotonic()` time. Raises `Overloaded` at once if the queue is full,
        `InvalidInput` if the request alone exceeds the queue's token budget, `DeadlineExpired`
        if the deadline passes before the work is done, `ShuttingDown` once `close` was called,
        and whatever the engine raised if the engine call carrying one of its texts failed.
        Cancelling the awaiting task removes the request's queued texts from the queue.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError(f"batcher {self.name!r} is not started")
        if self._closing:
            raise ShuttingDown(
                f"model {self.name!r} is shutting down; retry on another replica",
                retry_after_ms=self.config.retry_after_ms,
            )
        size = len(inputs)
        if size == 0:
            return []
        now = time.monotonic()
        if deadline is not None and deadline <= now:
            self._expired += 1
            self._notify(self.observer.on_expired)
            raise DeadlineExpired("the request's deadline passed before it could be queued")

        costs = [len(x.source) or 1 for x in inputs]
        total = sum(costs)
        config = self.config
        if total > config.max_queue_tokens:
            raise InvalidInput.single(
                "texts",
                f"the request has {total} source tokens, more than model {self.name!r} can "
                f"queue ({config.max_queue_tokens}); split it into smaller requests",
            )
        if (
            self._queue_requests >= config.max_queue_requests
            or self._queue_tokens + total > config.max_queue_tokens
        ):
            self._rejected += 1
            self._notify(self.observer.on_rejected)
            raise Overloaded(
                f"the server is overloaded: model {self.name!r} has {self._queue_requests} "
                f"requests and {self._queue_tokens} source tokens queued (limits "
                f"{config.max_queue_requests} requests, {config.max_queue_tokens} tokens); "
                f"try again later",
                retry_after_ms=config.retry_after_ms,
            )

        future: asyncio.Future[list[EngineOutput]] = loop.create_future()
        seq = next(self._seq)
        request = _Request(seq, options, future, size, now, deadline)
        self._enqueue(request, inputs, costs, total)
        self._note_arrival(now)
        if deadline is not None:
            request.timer = loop.call_at(loop.time() + (deadline - now), self._on_deadline, request)
        self._schedule_dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            if not request.done:
                self._cancelled += 1
                self._finish(request)
                self._notify(self.observer.on_cancelled)
            elif future.done() and not future.cancelled():
                future.exception()  # answered as we were cancelled: never log it as unretrieved
            raise

    def stats(self) -> BatcherStats:
        """A snapshot of the gauges and counters.

        Consistent when called on the loop thread; from another thread (a metrics scrape) each
        field is still a valid recent value, as they are plain ints, only not all of one instant.
        """
        return BatcherStats(
            queue_requests=self._queue_requests,
            queue_texts=self._queue_texts,
            queue_tokens=self._queue_tokens,
            in_flight_batches=self._in_flight,
            batches=self._batches,
            examples=self._examples,
            tokens=self._tokens,
            padded_tokens=self._padded_tokens,
            rejected=self._rejected,
            expired=self._expired,
            cancelled=self._cancelled,
            errors=self._errors,
        )

    # ------------------------------------------------------------------ queue

    def _enqueue(
        self, request: _Request, inputs: Sequence[EngineInput], costs: list[int], total: int
    ) -> None:
        options = request.options
        key: Hashable = ("exclusive", request.seq) if options.exclusive else options.batch_key()
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key)
        items = [
            _Item(request, i, inp, cost)
            for i, (inp, cost) in enumerate(zip(inputs, costs, strict=True))
        ]
        request.group = group
        request.items = items
        request.queued = len(items)
        request.queued_tokens = total
        group.items.extend(items)
        group.live += len(items)
        group.tokens += total
        if group.heap_seq is None:
            self._file_group(group, request.seq)
        self._queue_requests += 1
        self._queue_texts += len(items)
        self._queue_tokens += total

    def _file_group(self, group: _Group, seq: int) -> None:
        group.heap_seq = seq
        heapq.heappush(self._heap, (seq, next(self._tiebreak), group))

    def _oldest_group(self) -> _Group | None:
        """The group whose oldest live text arrived first; O(log n) amortised."""
        heap = self._heap
        groups = self._groups
        while heap:
            seq, _, group = heap[0]
            if group.heap_seq != seq:  # stale entry: the group was refiled or removed
                heapq.heappop(heap)
                continue
            head = group.head()
            if head is None:  # only dead texts left
                heapq.heappop(heap)
                group.heap_seq = None
                if groups.get(group.key) is group:
                    del groups[group.key]
                continue
            if head.request.seq != seq:  # its front texts died: refile under the new front
                group.heap_seq = head.request.seq
                heapq.heapreplace(heap, (group.heap_seq, next(self._tiebreak), group))
                continue
            return group
        return None

    def _is_full(self, group: _Group) -> bool:
        return group.live >= self.config.max_batch_size or (
            group.tokens >= self.config.max_batch_tokens
        )

    def _finish(self, request: _Request) -> None:
        """Mark a request done and take its still-queued texts out of the queue."""
        request.done = True
        if request.timer is not None:
            request.timer.cancel()
            request.timer = None
        if request.queued:
            for item in request.items:
                item.queued = False
            group = request.group
            assert group is not None
            group.live -= request.queued
            group.tokens -= request.queued_tokens
            self._queue_requests -= 1
            self._queue_texts -= request.queued
            self._queue_tokens -= request.queued_tokens
            request.queued = 0
            request.queued_tokens = 0
            self._check_drained()
        request.items = []  # break the request <-> item cycle; batches keep what they need

    def _fail(self, request: _Request, exc: BaseException) -> None:
        if request.done:
            return
        self._finish(request)
        if not request.future.done():
            request.future.set_exception(exc)

    def _on_deadline(self, request: _Request) -> None:
        request.timer = None
        if request.done:
            return
        self._expired += 1
        self._fail(request, DeadlineExpired("the request's deadline passed before it was done"))
        self._notify(self.observer.on_expired)

    def _abandon_all(self) -> None:
        """Fail every unanswered request (close timed out)."""
        error = ShuttingDown(
            f"model {self.name!r} shut down before the request was done; retry on another replica",
            retry_after_ms=self.config.retry_after_ms,
        )
        for group in list(self._groups.values()):
            for item in list(group.items):
                self._fail(item.request, error)
        self._groups.clear()
        self._heap.clear()
        for batch in self._running:
            for item in batch.items:
                self._fail(item.request, error)

    # ------------------------------------------------------------------ dispatch

    def _schedule_dispatch(self) -> None:
        """Dispatch on the next loop turn, so callers arriving in this turn share the call."""
        if not self._dispatch_scheduled and self._loop is not None:
            self._dispatch_scheduled = True
            self._loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        """Fill free engine slots with batches; the only place engine calls start."""
        self._dispatch_scheduled = False
        if self._executor is None:
            return
        while self._in_flight < self._parallelism and self._queue_texts:
            group = self._pick_group()
            if group is None:
                break
            self._launch(group)
        if not self._queue_texts:
            # Nothing live is queued: drop dead leftovers wholesale instead of one by one.
            self._groups.clear()
            self._heap.clear()
            self._cancel_wait_timer()
        self._check_drained()

    def _pick_group(self) -> _Group | None:
        """The group a free slot should take now, or None to wait for returning callers.

        Callers answered by a batch that just finished tend to come straight back (a client
        with more work, any closed-loop load). A free slot that took the one or two texts
        queued meanwhile would spend a whole engine call on them (on CPU a batch of 1 costs a
        replica about a sixth of a batch of 64), and the callers arriving a millisecond later
        would wait for a whole batch. So while callers are expected back, a free slot waits
        until its fair share (`_fair_share`) is queued or nobody more is expected. Each
        finished batch's expectation lapses `max_wait_ms` after it finished, which bounds every
        wait; with nobody expected (an idle engine, a lone caller whose own request is the
        company it had) the slot is taken at once.
        """
        oldest = self._oldest_group()
        if oldest is None:
            return None
        if self._max_wait <= 0 or self._closing:
            return oldest
        expected = self._expected_returns(time.monotonic())
        if expected == 0 or self._queue_texts >= self._fair_share(expected):
            return oldest
        for group in self._groups.values():  # O(groups); only while callers are expected
            if group.live and self._is_full(group):
                return group
        self._arm_wait_timer(self._returning[0].until)
        return None

    def _fair_share(self, expected: int) -> int:
        """Most texts one engine slot should take: the work in the system (queued, running and
        expected back) spread over the slots, within `max_batch_size`.

        Without it one replica taking all 30 queued texts while the other decodes 2 locks them
        into that uneven rhythm (the small batch keeps coming back alone, the large one is slow),
        and a many-text request on an idle engine would leave the other replicas idle.
        """
        work = self._queue_texts + self._in_flight_texts + expected
        return max(1, min(self.config.max_batch_size, -(-work // self._parallelism)))

    def _expected_returns(self, now: float) -> int:
        """Requests answered within `max_wait_ms` whose callers have not come back yet."""
        returning = self._returning
        while returning and returning[0].until <= now + _TIMER_SLACK:
            returning.popleft()
        return sum(r.count for r in returning)

    def _note_arrival(self, now: float) -> None:
        """A new request counts as one of the callers expected back, oldest batch first."""
        if self._expected_returns(now):
            head = self._returning[0]
            head.count -= 1
            if head.count == 0:
                self._returning.popleft()

    def _arm_wait_timer(self, due: float) -> None:
        if self._wait_timer is not None:
            if self._wait_when <= due:
                return
            self._wait_timer.cancel()
        assert self._loop is not None
        self._wait_when = due
        self._wait_timer = self._loop.call_at(
            self._loop.time() + (due - time.monotonic()), self._on_wait_timer
        )

    def _on_wait_timer(self) -> None:
        self._wait_timer = None
        self._dispatch()

    def _cancel_wait_timer(self) -> None:
        if self._wait_timer is not None:
            self._wait_timer.cancel()
            self._wait_timer = None

    def _launch(self, group: _Group) -> None:
        """Take the oldest texts of `group` that fit one engine call and start the call."""
        config = self.config
        now = time.monotonic()
        max_size = self._fair_share(self._expected_returns(now))
        max_tokens = config.max_batch_tokens
        items: list[_Item] = []
        longest = 0
        tokens = 0
        queue = group.items
        while queue and len(items) < max_size:
            item = queue[0]
            request = item.request
            if not item.queued:
                queue.popleft()
                continue
            if request.deadline is not None and request.deadline <= now:
                self._on_deadline(request)  # the timer has not fired yet
                continue
            longer = max(longest, item.tokens)
            if items and longer * (len(items) + 1) > max_tokens:
                break
            queue.popleft()
            item.queued = False
            items.append(item)
            longest = longer
            tokens += item.tokens
            request.queued -= 1
            request.queued_tokens -= item.tokens
            if not request.queued:
                self._queue_requests -= 1

        count_ = len(items)
        group.live -= count_
        group.tokens -= tokens
        self._queue_texts -= count_
        self._queue_tokens -= tokens
        if group.live:
            head = group.head()
            assert head is not None
            if head.request.seq != group.heap_seq:
                self._file_group(group, head.request.seq)  # the old entry goes stale
        else:
            group.heap_seq = None
            if self._groups.get(group.key) is group:
                del self._groups[group.key]
        if not items:
            return

        items.sort(key=_by_tokens)  # similar lengths side by side; outputs are mapped back
        options = items[0].request.options
        want_scores = any(item.request.options.return_scores for item in items)
        if options.return_scores != want_scores:
            options = replace(options, return_scores=want_scores)
        padded = longest * count_
        batch = _Batch(items, options, tokens, padded)
        self._in_flight += 1
        self._in_flight_texts += count_
        self._running.add(batch)
        assert self._executor is not None
        self._executor.submit(self._run, batch)
        try:
            observe = self.observer.on_queue_wait
            for item in items:
                observe(now - item.request.enqueued)
        except Exception:
            log.exception("batch_observer_failed", model=self.name)

    # ------------------------------------------------------------------ worker side

    def _run(self, batch: _Batch) -> None:
        """Worker thread: one engine call; results go back to the loop thread."""
        loop = self._loop
        assert loop is not None

        def on_output(index: int, output: EngineOutput) -> None:
            _post(loop, self._deliver_one, batch, index, output)

        callback = on_output if self.config.early_return else None
        started = time.perf_counter()
        try:
            outputs = self.engine.generate([i.input for i in batch.items], batch.options, callback)
        except BaseException as exc:  # the slot must be given back whatever happened
            _post(loop, self._finish_batch, batch, None, exc, time.perf_counter() - started)
        else:
            _post(loop, self._finish_batch, batch, outputs, None, time.perf_counter() - started)

    # ------------------------------------------------------------------ results (loop thread)

    def _deliver_one(self, batch: _Batch, index: int, output: EngineOutput) -> None:
        if not batch.finished and 0 <= index < len(batch.items) and not batch.delivered[index]:
            batch.delivered[index] = True
            self._resolve(batch.items[index], output)

    def _resolve(self, item: _Item, output: EngineOutput) -> None:
        request = item.request
        if request.done:
            return  # its caller went away, expired or failed: discard
        request.results[item.index] = output
        request.remaining -= 1
        if not request.remaining:
            self._finish(request)
            if not request.future.done():
                request.future.set_result(cast("list[EngineOutput]", request.results))

    def _finish_batch(
        self,
        batch: _Batch,
        outputs: list[EngineOutput] | None,
        error: BaseException | None,
        seconds: float,
    ) -> None:
        self._in_flight -= 1
        self._in_flight_texts -= len(batch.items)
        self._running.discard(batch)
        batch.finished = True
        items = batch.items
        if self._max_wait > 0:
            answered = len({id(item.request) for item in items})
            self._returning.append(_Returning(time.monotonic() + self._max_wait, answered))
        if error is None and (outputs is None or len(outputs) != len(items)):
            error = RuntimeError(
                f"engine returned {0 if outputs is None else len(outputs)} outputs "
                f"for {len(items)} inputs"
            )
        delivered = batch.delivered
        if error is not None:
            self._errors += 1
            log.error("engine_call_failed", model=self.name, size=len(items), error=repr(error))
            for i, item in enumerate(items):
                if not delivered[i]:
                    self._fail(item.request, error)
        else:
            assert outputs is not None
            for i, item in enumerate(items):
                if not delivered[i]:
                    self._resolve(item, outputs[i])
        self._batches += 1
        self._examples += len(items)
        self._tokens += batch.tokens
        self._padded_tokens += batch.padded_tokens
        try:
            self.observer.on_batch(len(items), batch.tokens, batch.padded_tokens, seconds)
        except Exception:
            log.exception("batch_observer_failed", model=self.name)
        self._dispatch()

    # ------------------------------------------------------------------ helpers

    def _check_drained(self) -> None:
        if self._drained is not None and not self._queue_texts and not self._in_flight:
            self._drained.set()

    def _notify(self, hook: Callable[[], None]) -> None:
        try:
            hook()
        except Exception:
            log.exception("batch_observer_failed", model=self.name)


def _by_tokens(item: _Item) -> int:
    return item.tokens


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any) -> None:
    """Hand a result to the loop thread; a loop closed meanwhile means nobody is waiting."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)
