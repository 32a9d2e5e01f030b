"""The batcher's newer duties, on a fake engine: refusing what cannot meet its deadline (before
and after tokenization) and stopping an engine call that nobody waits for any more."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.batching import Batcher, BatchingConfig
from service.errors import DeadlineUnmeetable, Overloaded
from service.types import ResolvedOptions
from tests.fakes import SAFETY_S, FakeEngine, RecordingObserver, settle, text, wait_until

GREEDY = ResolvedOptions()
BEAM = ResolvedOptions(beam_size=4)


@pytest.fixture
async def started() -> AsyncIterator[list[tuple[Batcher, FakeEngine]]]:
    made: list[tuple[Batcher, FakeEngine]] = []
    yield made
    for batcher, engine in made:
        engine.gate.set()
        await batcher.close(timeout=SAFETY_S)


async def make(
    made: list[tuple[Batcher, FakeEngine]], *, blocked: bool = True, **config: Any
) -> tuple[Batcher, FakeEngine, RecordingObserver]:
    engine = FakeEngine(blocked=blocked)
    observer = RecordingObserver()
    batcher = Batcher(engine, BatchingConfig(**config), name="m", observer=observer)
    await batcher.start()
    made.append((batcher, engine))
    return batcher, engine, observer


async def test_an_engine_call_is_stopped_once_every_caller_has_left(started: Any) -> None:
    batcher, engine, _ = await make(started)
    first = asyncio.create_task(batcher.submit([text("a")], GREEDY))
    second = asyncio.create_task(batcher.submit([text("b")], GREEDY))
    await wait_until(lambda: engine.started == 1)
    assert len(engine.calls[0].inputs) == 2  # both share the running call
    first.cancel()
    await settle()
    await asyncio.sleep(0.05)  # a few of the fake engine's decoding steps
    assert engine.stopped == 0  # the second caller still waits for its text
    second.cancel()
    await wait_until(lambda: engine.stopped == 1)
    await wait_until(lambda: batcher.stats().in_flight_batches == 0)
    engine.gate.set()
    assert await batcher.submit([text("c")], GREEDY)  # the slot is free again


async def test_a_full_queue_is_refused_before_the_request_is_tokenized(started: Any) -> None:
    batcher, engine, observer = await make(started, max_queue_requests=1)
    running = asyncio.create_task(batcher.submit([text("a")], GREEDY))
    await wait_until(lambda: engine.started == 1)
    queued = asyncio.create_task(batcher.submit([text("b")], GREEDY))
    await wait_until(lambda: batcher.stats().queue_requests == 1)
    with pytest.raises(Overloaded):
        batcher.precheck()  # nothing of the request is needed to refuse it
    assert observer.rejected == 1
    engine.gate.set()
    await asyncio.gather(running, queued)
    batcher.precheck()  # room again


async def _measure_loaded_batches(batcher: Batcher, engine: FakeEngine) -> None:
    """Two one-text batches back to back, the first with the second waiting: measured speed."""
    engine.sleep = 0.05
    engine.gate.set()
    await asyncio.gather(*(batcher.submit([text(str(i))], GREEDY) for i in range(3)))
    engine.gate.clear()


async def test_a_deadline_the_queue_would_miss_is_refused_at_once(started: Any) -> None:
    batcher, engine, observer = await make(started, max_batch_size=1, max_wait_ms=0)
    await _measure_loaded_batches(batcher, engine)
    ahead = [asyncio.create_task(batcher.submit([text(f"q{i}")], GREEDY)) for i in range(10)]
    await wait_until(lambda: batcher.stats().queue_requests >= 9)
    now = time.monotonic()
    with pytest.raises(DeadlineUnmeetable) as refused:
        await batcher.submit([text("late")], GREEDY, deadline=now + 0.1)
    with pytest.raises(DeadlineUnmeetable):
        batcher.precheck(deadline=now + 0.1)  # the queue ahead alone is too long
    assert observer.unmeetable == 2
    assert refused.value.retry_after_ms is not None and refused.value.retry_after_ms >= 200
    # With plenty of time, or no deadline, the same request is queued.
    plenty = asyncio.create_task(batcher.submit([text("ok")], GREEDY, deadline=now + 60))
    engine.gate.set()
    await asyncio.gather(*ahead, plenty)


async def test_deadline_admission_can_be_turned_off(started: Any) -> None:
    batcher, engine, observer = await make(
        started, max_batch_size=1, max_wait_ms=0, deadline_admission=False
    )
    await _measure_loaded_batches(batcher, engine)
    ahead = [asyncio.create_task(batcher.submit([text(f"q{i}")], GREEDY)) for i in range(10)]
    await wait_until(lambda: batcher.stats().queue_requests >= 9)
    late = asyncio.create_task(
        batcher.submit([text("late")], GREEDY, deadline=time.monotonic() + 0.1)
    )
    await settle()
    assert observer.unmeetable == 0 and not late.done()  # queued: it will expire instead
    engine.gate.set()
    await asyncio.gather(*ahead, late, return_exceptions=True)
    assert observer.expired == 1
