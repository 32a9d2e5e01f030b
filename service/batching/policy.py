"""When a free engine slot takes a batch, and how big: pure decisions over the queue.

Nothing here reads a clock or touches asyncio: the `Batcher` passes ``now`` in, so every rule
is unit-tested with made-up times.

Why a free slot may wait: callers a finished batch just answered tend to come straight back (a
client with more work, any closed-loop load). A slot that took the one or two texts queued
meanwhile would spend a whole engine call on them, and the callers arriving a millisecond later
would wait a whole batch. So while callers are expected back, a free slot waits until its fair
share is queued or nobody more is expected; each finished batch's expectation lapses
``max_wait`` seconds after it finished, which bounds every wait. With nobody expected (an idle
engine, a lone caller) the slot is taken at once. Measurements: docs/benchmarks.md.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from service.batching.queue import Group, GroupedQueue

# Loop timers may fire a hair before their time; an expectation due within this margin counts
# as lapsed rather than re-arming a timer for a few microseconds.
TIMER_SLACK = 1e-4


@dataclass(slots=True)
class _Expectation:
    until: float
    count: int


class ReturningCallers:
    """Callers answered by recent batches who have not come back yet, oldest batch first."""

    def __init__(self) -> None:
        self._pending: deque[_Expectation] = deque()

    def add(self, until: float, callers: int) -> None:
        """A batch that answered ``callers`` requests finished; expect them until ``until``."""
        if callers > 0:
            self._pending.append(_Expectation(until, callers))

    def expected(self, now: float) -> int:
        """How many callers are still expected back at ``now`` (lapsed ones are forgotten)."""
        pending = self._pending
        while pending and pending[0].until <= now + TIMER_SLACK:
            pending.popleft()
        return sum(e.count for e in pending)

    def arrived(self, now: float) -> None:
        """A new request counts as one of the callers expected back, oldest batch first."""
        if self.expected(now):
            head = self._pending[0]
            head.count -= 1
            if head.count == 0:
                self._pending.popleft()

    def next_lapse(self) -> float | None:
        """When the oldest expectation lapses (a waiting slot must look again by then)."""
        return self._pending[0].until if self._pending else None


def fair_share(work_texts: int, slots: int, max_batch_size: int) -> int:
    """Most texts one engine slot should take: the work in the system (queued, running and
    expected back) spread over the slots, within ``max_batch_size``.

    Without it one slot taking all 30 queued texts while the other decodes 2 locks them into
    that uneven rhythm, and a many-text request on an idle engine would leave slots idle.
    """
    return max(1, min(max_batch_size, -(-work_texts // max(1, slots))))


@dataclass(frozen=True, slots=True)
class Pick:
    """A free slot's decision: take ``group`` (at most ``max_texts`` texts), or wait until
    ``wait_until`` (``group`` is None), or do nothing (both None: the queue is empty)."""

    group: Group | None
    max_texts: int
    wait_until: float | None = None


def pick(
    queue: GroupedQueue,
    returning: ReturningCallers,
    now: float,
    *,
    running_texts: int,
    slots: int,
    max_batch_size: int,
    max_batch_tokens: int,
    patient: bool,
) -> Pick:
    """What a free slot does now. ``patient`` is False when waiting is off (``max_wait`` 0) or
    the batcher is closing; then the oldest group goes at once."""
    oldest = queue.oldest_group()
    expected = returning.expected(now)
    share = fair_share(queue.texts + running_texts + expected, slots, max_batch_size)
    if oldest is None:
        return Pick(None, share)
    if not patient or expected == 0 or queue.texts >= share:
        return Pick(oldest, share)
    full = queue.full_group(max_batch_size, max_batch_tokens)
    if full is not None:
        return Pick(full, share)
    return Pick(None, share, wait_until=returning.next_lapse())
