"""The Batcher: concurrent callers share engine calls.

CTranslate2 decodes a batch of 32 texts in little more time than one text, but it cannot merge
calls that arrive separately from Python. The `Batcher` sits between the pipeline and one
`Engine` and turns many small concurrent `submit` calls into few large `generate` calls. What
may share a call and in which order is the queue's business (`queue`), when a free slot takes
a batch the policy's (`policy`), whether a request may wait at all admission's (`admission`);
this class owns the rest: the executor hop, fanning results out to callers, dropping work whose
caller left or whose deadline passed, asking the engine to stop a running call whose callers
have all gone, measuring batch speed for the deadline estimate, and close/drain.

All state lives on the event loop thread; worker threads only run ``engine.generate`` and post
results back with ``loop.call_soon_threadsafe``. Dispatching is a plain callback scheduled when
something changes (a submit, a finished batch, a timer); one future per request, none per text.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from typing import cast

import structlog

from service.batching.admission import Gate
from service.batching.config import BatchingConfig
from service.batching.observer import BatcherStats, BatchObserver, NullObserver
from service.batching.pending import PendingRequest, Progress, RunningBatch, owner
from service.batching.policy import ReturningCallers, pick
from service.batching.queue import GroupedQueue, Item
from service.batching.worker import WakeTimer, run_batch
from service.engines.base import Engine, EngineInput, EngineOutput
from service.errors import DeadlineExpired, ShuttingDown
from service.types import ResolvedOptions

log = structlog.get_logger(__name__)


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
        self.observer: BatchObserver = observer if observer is not None else NullObserver()
        self._slots = max(1, engine.parallelism)
        self._max_wait = config.max_wait_ms / 1000.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self._drained: asyncio.Event | None = None
        self._queue = GroupedQueue()
        self._returning = ReturningCallers()
        self._exclusive = count()
        self._running: set[RunningBatch] = set()
        self._running_texts = 0
        self._dispatch_scheduled = False
        self._timer: WakeTimer | None = None  # wakes a slot waiting for returning callers
        self._gate = Gate(
            self._queue, config, name=name, slots=self._slots, refused=self._on_refused
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind to the running loop and start one worker thread per engine slot."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._timer = WakeTimer(self._loop, self._dispatch)
        self._executor = ThreadPoolExecutor(
            max_workers=self._slots, thread_name_prefix=f"batcher-{self.name}"
        )

    async def close(self, timeout: float | None = None) -> None:
        """Stop accepting work, finish what is queued and in flight, then stop the threads.

        New `submit` calls raise `ShuttingDown` from the moment this is called. If `timeout`
        seconds pass first, requests still waiting or running fail with `ShuttingDown`, and
        running engine calls are asked to stop (greedy decoding stops at its next step; beam
        search runs on, its results discarded): this never waits for them, see `busy`.
        """
        self._closing = True
        if self._loop is None or self._executor is None:
            return
        finished = True
        if self._queue.texts or self._running:
            if self._drained is None:  # a concurrent close() shares the same wait
                self._drained = asyncio.Event()
            self._schedule_dispatch()  # flush anything held back by max_wait_ms
            try:
                await asyncio.wait_for(self._drained.wait(), timeout)
            except TimeoutError:
                finished = False
                self._abandon_all()
        self._wake().cancel()
        executor, self._executor = self._executor, None
        if executor is None:  # the other close() got there first
            return
        # After a clean drain the workers are idle and join at once; otherwise do not block
        # the loop on an engine call that is still running.
        executor.shutdown(wait=finished, cancel_futures=True)

    @property
    def busy(self) -> bool:
        """Whether an engine call is still running (after a timed-out close: abandoned)."""
        return bool(self._running)

    def precheck(self, deadline: float | None = None) -> None:
        """The admission checks that need nothing of the request, made before it is tokenized:
        closing, a full queue, or a deadline the queue ahead alone would miss."""
        self._check_open()
        self._gate.precheck(self._running, time.monotonic(), deadline)

    def _check_open(self) -> None:
        if self._loop is None:
            raise RuntimeError(f"batcher {self.name!r} is not started")
        if self._closing:
            raise ShuttingDown(
                f"model {self.name!r} is shutting down; retry on another replica",
                retry_after_ms=self.config.retry_after_ms,
            )

    # ------------------------------------------------------------------ public API

    async def submit(
        self,
        inputs: Sequence[EngineInput],
        options: ResolvedOptions,
        *,
        deadline: float | None = None,
        progress: Progress | None = None,
    ) -> list[EngineOutput]:
        """Decode `inputs` with `options`, sharing engine calls with other callers.

        Returns one output per input, in input order. `deadline` is an absolute
        `time.monotonic()` time. Raises `InvalidInput` if the request is over the cost budget
        or alone exceeds the queue's token budget, `Overloaded` at once if the queue is full,
        `DeadlineUnmeetable` at once if the work ahead would outlast the deadline,
        `DeadlineExpired` if the deadline passes before the work is done, `ShuttingDown` once
        `close` was called, and whatever the engine raised if the engine call carrying one of
        its texts failed. Cancelling the awaiting task removes the request's queued texts from
        the queue (and stops its engine call if nobody else waits for it). `progress` hears
        each output (and token) as it is ready; the texts of a request with one also stop
        decoding mid-call, where the engine allows, once it is cancelled.
        """
        self._check_open()
        loop = self._loop
        assert loop is not None
        if not inputs:
            return []
        now = time.monotonic()
        if deadline is not None and deadline <= now:
            self._notify(self.observer.on_expired)
            raise DeadlineExpired("the request's deadline passed before it could be queued")
        costs, work = self._gate.admit(inputs, options, self._running, now, deadline)

        request = PendingRequest(loop.create_future(), len(inputs), options, progress)
        key: Hashable = (
            ("exclusive", next(self._exclusive)) if options.exclusive else options.batch_key()
        )
        request.entry = self._queue.admit(
            key, inputs, costs, enqueued=now, deadline=deadline, owner=request, work=work
        )
        self._returning.arrived(now)
        if deadline is not None:
            request.timer = loop.call_at(loop.time() + (deadline - now), self._on_deadline, request)
        self._schedule_dispatch()
        future = request.future
        try:
            return await future
        except asyncio.CancelledError:
            if not request.done:
                self._finish(request)
                self._notify(self.observer.on_cancelled)
            elif future.done() and not future.cancelled():
                future.exception()  # answered as we were cancelled: never log it as unretrieved
            raise

    def stats(self) -> BatcherStats:
        """The queue and in-flight gauges (consistent on the loop thread; from a scrape thread
        each field is a valid recent value)."""
        queue = self._queue
        return BatcherStats(
            queue_requests=queue.requests,
            queue_texts=queue.texts,
            queue_tokens=queue.tokens,
            in_flight_batches=len(self._running),
            in_flight_texts=self._running_texts,
            slots=self._slots,
        )

    # ------------------------------------------------------------------ request outcomes

    def _finish(self, request: PendingRequest) -> None:
        request.settle(self._queue)
        self._stop_abandoned(request)
        self._check_drained()

    def _fail(self, request: PendingRequest, exc: BaseException) -> None:
        request.fail(self._queue, exc)
        self._stop_abandoned(request)
        self._check_drained()

    def _stop_abandoned(self, request: PendingRequest) -> None:
        """Ask the engine to stop the running calls that no longer carry anyone's text."""
        for batch in request.batches:
            if not batch.finished and not batch.stop.is_set() and batch.abandoned():
                batch.stop.set()
                log.info("batch_stopping", model=self.name, size=len(batch.items))
        request.batches = []

    def _on_deadline(self, request: PendingRequest) -> None:
        request.timer = None
        if request.done:
            return
        self._fail(request, DeadlineExpired("the request's deadline passed before it was done"))
        self._notify(self.observer.on_expired)

    def _abandon_all(self) -> None:
        """Fail every unanswered request (close timed out)."""
        error = ShuttingDown(
            f"model {self.name!r} shut down before the request was done; retry on another replica",
            retry_after_ms=self.config.retry_after_ms,
        )
        for entry in list(self._queue.entries()):
            self._fail(cast(PendingRequest, entry.owner), error)
        self._queue.compact()
        for batch in self._running:
            for item in batch.items:
                self._fail(owner(item), error)
            batch.stop.set()

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
        queue = self._queue
        config = self.config
        while len(self._running) < self._slots and queue.texts:
            now = time.monotonic()
            choice = pick(
                queue,
                self._returning,
                now,
                running_texts=self._running_texts,
                slots=self._slots,
                max_batch_size=config.max_batch_size,
                max_batch_tokens=config.max_batch_tokens,
                patient=self._max_wait > 0 and not self._closing,
            )
            if choice.group is None:
                if choice.wait_until is not None:
                    self._wake().arm(choice.wait_until)
                break
            taken = queue.take(choice.group, choice.max_texts, config.max_batch_tokens, now)
            for entry in taken.expired:
                self._on_deadline(cast(PendingRequest, entry.owner))  # its timer has not fired yet
            if taken.items:
                self._launch(taken.items, taken.tokens, taken.padded_tokens, taken.work, now)
        if not queue.texts:
            queue.compact()
            self._wake().cancel()
        self._check_drained()

    def _launch(self, items: list[Item], tokens: int, padded: int, work: float, now: float) -> None:
        items.sort(key=_by_tokens)  # similar lengths side by side; outputs are mapped back
        # Texts of one group differ at most in return_scores, which engines ignore (they always
        # score; the pipeline drops what was not asked for).
        options = owner(items[0]).options
        batch = RunningBatch(items, options, tokens, padded, work=work, started=now)
        # Loaded: more work waits behind it (its speed is the queue's drain speed).
        batch.loaded = self._queue.texts > 0 or len(items) >= self.config.max_batch_size
        batch.stoppable = self._gate.stoppable(work)
        requests = {id(r): r for r in map(owner, items)}.values()
        for request in requests:
            request.batches.append(batch)
        self._running.add(batch)
        self._running_texts += len(items)
        assert self._executor is not None
        assert self._loop is not None
        self._executor.submit(
            run_batch,
            self.engine,
            batch,
            self._loop,
            early_return=self.config.early_return,
            deliver_one=self._deliver_one,
            deliver_token=self._deliver_token,
            finish=self._finish_batch,
        )
        try:
            observe = self.observer.on_queue_wait
            for item in items:
                observe(now - item.entry.enqueued)
        except Exception:
            log.exception("batch_observer_failed", model=self.name)
        if batch.listened:
            for request in requests:
                request.launched()

    def _wake(self) -> WakeTimer:
        assert self._timer is not None, "the batcher is started"
        return self._timer

    # ------------------------------------------------------------------ results (loop thread)

    def _deliver_one(self, batch: RunningBatch, index: int, output: EngineOutput) -> None:
        if not batch.finished and 0 <= index < len(batch.items) and not batch.delivered[index]:
            batch.delivered[index] = True
            self._resolve(batch.items[index], output)

    def _deliver_token(self, batch: RunningBatch, index: int, token: str) -> None:
        item = batch.items[index]
        request = owner(item)
        if not batch.finished and not batch.delivered[index] and not request.done:
            assert request.progress is not None and request.progress.on_token is not None
            request.progress.on_token(item.index, token)

    def _resolve(self, item: Item, output: EngineOutput) -> None:
        owner(item).deliver(self._queue, item.index, output)
        self._check_drained()

    def _finish_batch(
        self,
        batch: RunningBatch,
        outputs: list[EngineOutput] | None,
        error: BaseException | None,
        seconds: float,
    ) -> None:
        items = batch.items
        self._running.discard(batch)
        self._running_texts -= len(items)
        batch.finished = True
        stopped = batch.stop.is_set()
        if stopped:
            log.info("batch_stopped", model=self.name, size=len(items), seconds=round(seconds, 3))
        elif error is None:
            self._gate.rate.observe(batch.work, seconds, loaded=batch.loaded)
        if self._max_wait > 0 and not stopped:
            answered = len({id(item.entry) for item in items})
            self._returning.add(time.monotonic() + self._max_wait, answered)
        if error is None and (outputs is None or len(outputs) != len(items)):
            error = RuntimeError(
                f"engine returned {0 if outputs is None else len(outputs)} outputs "
                f"for {len(items)} inputs"
            )
        delivered = batch.delivered
        if error is not None:
            log.error("engine_call_failed", model=self.name, size=len(items), error=repr(error))
            self._notify(self.observer.on_error)
            for i, item in enumerate(items):
                if not delivered[i]:
                    self._fail(owner(item), error)
        else:
            assert outputs is not None
            for i, item in enumerate(items):
                if not delivered[i]:
                    self._resolve(item, outputs[i])
        try:
            self.observer.on_batch(len(items), batch.tokens, batch.padded_tokens, seconds)
        except Exception:
            log.exception("batch_observer_failed", model=self.name)
        self._dispatch()

    # ------------------------------------------------------------------ helpers

    def _check_drained(self) -> None:
        if self._drained is not None and not self._queue.texts and not self._running:
            self._drained.set()

    def _on_refused(self, kind: str) -> None:
        hook = self.observer.on_unmeetable if kind == "unmeetable" else self.observer.on_rejected
        self._notify(hook)

    def _notify(self, hook: Callable[[], None]) -> None:
        try:
            hook()
        except Exception:
            log.exception("batch_observer_failed", model=self.name)


def _by_tokens(item: Item) -> int:
    return item.tokens
