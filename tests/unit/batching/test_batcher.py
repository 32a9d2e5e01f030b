"""Unit tests of the dynamic batcher against a fake engine that records its calls.

No test relies on wall-clock thresholds for correctness: a busy engine is simulated with a
gate (threading.Event) the test opens, and "did not wait" is checked with orderings, counters
and generous upper-bound timeouts that only trip when something is actually wrong.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from service.batching import Batcher, BatcherStats, BatchingConfig
from service.engines.base import EngineInput, EngineOutput
from service.errors import DeadlineExpired, InvalidInput, Overloaded, ShuttingDown
from service.types import ResolvedOptions
from tests.fakes import (
    FAIL,
    SAFETY_S,
    EngineBoom,
    FakeEngine,
    RecordingObserver,
    expected_output,
    settle,
    sized,
    text,
    wait_until,
)

GREEDY = ResolvedOptions()
BEAM2 = ResolvedOptions(beam_size=2)
SEEDED = ResolvedOptions(sampling_top_k=10, sampling_temperature=0.7, seed=42)


@dataclass
class Harness:
    """Builds started batchers and guarantees cleanup (gates opened, batchers closed)."""

    engines: list[FakeEngine] = field(default_factory=list)
    batchers: list[Batcher] = field(default_factory=list)

    async def make(
        self,
        parallelism: int = 1,
        *,
        blocked: bool = False,
        observer: Any = None,
        **config: Any,
    ) -> tuple[Batcher, FakeEngine]:
        engine = FakeEngine(parallelism, blocked=blocked)
        observer = observer if observer is not None else RecordingObserver()
        batcher = Batcher(engine, BatchingConfig(**config), name="m", observer=observer)
        await batcher.start()
        self.engines.append(engine)
        self.batchers.append(batcher)
        return batcher, engine


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    loop = asyncio.get_running_loop()
    problems: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    h = Harness()
    try:
        yield h
    finally:
        for engine in h.engines:
            engine.gate.set()
        for batcher in h.batchers:
            await batcher.close(timeout=SAFETY_S)
        gc.collect()  # surfaces "exception was never retrieved" for dropped futures
        await settle()
        loop.set_exception_handler(None)
    assert not problems, problems


def spawn(batcher: Batcher, inputs: Sequence[EngineInput], options: ResolvedOptions = GREEDY,
          **kw: Any) -> asyncio.Task[list[EngineOutput]]:  # fmt: skip
    return asyncio.create_task(batcher.submit(inputs, options, **kw))


def observed(batcher: Batcher) -> RecordingObserver:
    """The recording observer every harness batcher reports to."""
    assert isinstance(batcher.observer, RecordingObserver)
    return batcher.observer


# --------------------------------------------------------------------------- basics


async def test_single_request_round_trip(harness: Harness) -> None:
    batcher, engine = await harness.make()
    inputs = [text("a", "b"), text("c", prefix=("<2de>",))]
    outputs = await batcher.submit(inputs, BEAM2)
    assert outputs == [expected_output(x, BEAM2) for x in inputs]
    assert len(engine.calls) == 1
    assert engine.calls[0].early is False  # early_return off: no on_output
    assert observed(batcher).batches == [(2, 3, 4)]
    stats = batcher.stats()
    assert (stats.queue_requests, stats.queue_texts, stats.in_flight_batches) == (0, 0, 0)


async def test_empty_request_returns_without_engine(harness: Harness) -> None:
    batcher, engine = await harness.make()
    assert await batcher.submit([], GREEDY) == []
    assert engine.calls == []


async def test_submit_before_start_is_a_programming_error() -> None:
    batcher = Batcher(FakeEngine(), BatchingConfig(), name="m")
    with pytest.raises(RuntimeError, match="not started"):
        await batcher.submit([text("a")], GREEDY)


@pytest.mark.parametrize(
    "field_name, value",
    [
        ("max_batch_size", 0),
        ("max_batch_tokens", 0),
        ("max_queue_requests", 0),
        ("max_queue_tokens", 0),
        ("max_wait_ms", -1.0),
        ("retry_after_ms", -1),
    ],
)
def test_config_rejects_nonsense(field_name: str, value: float) -> None:
    overrides: dict[str, Any] = {field_name: value}
    with pytest.raises(ValueError, match=field_name):
        BatchingConfig(**overrides)


# --------------------------------------------------------------------------- grouping


async def test_grouping_never_mixes_options_and_is_fifo_across_groups(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)  # engine busy: everything below queues
    plan = [
        ("g0", GREEDY),
        ("b0", BEAM2),
        ("g1", GREEDY),
        ("s0", SEEDED),
        ("s1", SEEDED),  # same seed, still never batched with s0
        ("b1", BEAM2),
        ("g2", ResolvedOptions(return_scores=True)),  # scores do not split a group
    ]
    tasks = {tag: spawn(batcher, [text(tag, "x"), text(tag, "y")], opts) for tag, opts in plan}
    await settle()
    assert batcher.stats().queue_texts == 2 * len(plan)
    engine.gate.set()
    await first
    for tag, opts in plan:
        assert await tasks[tag] == [
            expected_output(text(tag, "x"), opts),
            expected_output(text(tag, "y"), opts),
        ]
    # Calls after the first: one per group, oldest group first.
    tags = [sorted({inp.source[0] for inp in call.inputs}) for call in engine.calls[1:]]
    assert tags == [["g0", "g1", "g2"], ["b0", "b1"], ["s0"], ["s1"]]
    assert [call.options.batch_key() for call in engine.calls[1:]] == [
        GREEDY.batch_key(),
        BEAM2.batch_key(),
        SEEDED.batch_key(),
        SEEDED.batch_key(),
    ]


async def test_exclusive_request_runs_alone_even_when_split(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True, max_batch_size=2)
    first = spawn(batcher, [text("first")], SEEDED)
    await wait_until(lambda: engine.started == 1)
    seeded = spawn(batcher, [text("s", str(i)) for i in range(3)], SEEDED)
    other = spawn(batcher, [text("g")], GREEDY)
    await settle()
    engine.gate.set()
    await asyncio.gather(first, seeded, other)
    sources = [[inp.source for inp in call.inputs] for call in engine.calls]
    assert sources == [
        [("first",)],
        [("s", "0"), ("s", "1")],
        [("s", "2")],
        [("g",)],
    ]


# --------------------------------------------------------------------------- order, splitting


async def test_big_request_is_split_and_reassembled_in_order(harness: Harness) -> None:
    batcher, engine = await harness.make(max_batch_size=4)
    inputs = [sized(f"t{i}", 1 + (7 * i) % 5) for i in range(10)]
    outputs = await batcher.submit(inputs, GREEDY)
    assert outputs == [expected_output(x, GREEDY) for x in inputs]
    assert [len(call.inputs) for call in engine.calls] == [4, 4, 2]
    seen = [inp for call in engine.calls for inp in call.inputs]
    assert sorted(seen, key=lambda x: x.source[0]) == sorted(inputs, key=lambda x: x.source[0])


async def test_batch_is_sorted_by_length_and_outputs_mapped_back(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)
    a = spawn(batcher, [sized("a", 5), sized("b", 1)])
    c = spawn(batcher, [sized("c", 3)])
    await settle()
    engine.gate.set()
    await first
    assert await a == [
        expected_output(sized("a", 5), GREEDY),
        expected_output(sized("b", 1), GREEDY),
    ]
    assert await c == [expected_output(sized("c", 3), GREEDY)]
    assert [len(x.source) for x in engine.calls[1].inputs] == [1, 3, 5]
    assert observed(batcher).padded_tokens == 1 + 5 * 3


# --------------------------------------------------------------------------- flush rules


async def test_idle_engine_gets_a_lone_request_without_waiting(harness: Harness) -> None:
    # An hour of max_wait_ms: if the batcher waited for company at idle, this would time out.
    batcher, engine = await harness.make(parallelism=2, max_wait_ms=3_600_000)
    task = spawn(batcher, [text("alone")])
    await wait_until(lambda: engine.started == 1)
    assert batcher.stats().queue_texts == 0
    assert await asyncio.wait_for(task, SAFETY_S) == [expected_output(text("alone"), GREEDY)]


async def test_callers_arriving_in_the_same_loop_turn_share_the_first_call(
    harness: Harness,
) -> None:
    batcher, engine = await harness.make()
    tasks = [spawn(batcher, [text(str(i))]) for i in range(5)]
    await asyncio.gather(*tasks)
    assert [len(call.inputs) for call in engine.calls] == [5]


async def test_free_slot_is_taken_at_once_when_nobody_is_expected_back(
    harness: Harness,
) -> None:
    batcher, engine = await harness.make(parallelism=2, blocked=True, max_wait_ms=3_600_000)
    first = spawn(batcher, [text("a")])
    await wait_until(lambda: engine.started == 1)
    second = spawn(batcher, [text("b")])
    await wait_until(lambda: engine.started == 2)  # one batch in flight, slot free: no wait
    engine.gate.set()
    await asyncio.gather(first, second)


async def test_busy_engine_accumulates_up_to_max_batch_size(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True, max_batch_size=4)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)
    tasks = [spawn(batcher, [text(f"r{i}")]) for i in range(10)]
    await settle()
    stats = batcher.stats()
    assert (stats.queue_requests, stats.queue_texts, stats.in_flight_batches) == (10, 10, 1)
    engine.gate.set()
    await first
    for i, task in enumerate(tasks):
        assert await task == [expected_output(text(f"r{i}"), GREEDY)]
    assert [len(call.inputs) for call in engine.calls] == [1, 4, 4, 2]
    # FIFO inside the group: the oldest texts go first.
    assert [x.source[0] for x in engine.calls[1].inputs] == ["r0", "r1", "r2", "r3"]


async def test_busy_engine_accumulates_up_to_max_batch_tokens(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True, max_batch_tokens=10)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)
    lengths = [3, 3, 3, 3, 5, 12, 2]
    tasks = [spawn(batcher, [sized(f"r{i}", n)]) for i, n in enumerate(lengths)]
    await settle()
    engine.gate.set()
    await asyncio.gather(first, *tasks)
    batches = [[len(x.source) for x in call.inputs] for call in engine.calls[1:]]
    # 3 texts of 3 = 9 padded; a 4th would make 12. Then 3+5 -> 5*2 = 10. A 12-token text
    # exceeds the budget alone and goes alone rather than never.
    assert batches == [[3, 3, 3], [3, 5], [12], [2]]
    for call in engine.calls:
        if len(call.inputs) > 1:
            assert max(len(x.source) for x in call.inputs) * len(call.inputs) <= 10


async def test_exactly_parallelism_calls_in_flight(harness: Harness) -> None:
    batcher, engine = await harness.make(parallelism=3, blocked=True, max_batch_size=1)
    tasks = [spawn(batcher, [text(f"r{i}")]) for i in range(10)]
    await wait_until(lambda: engine.started == 3)
    await settle()
    await asyncio.sleep(0.02)  # give a (buggy) fourth call every chance to start
    await settle()
    assert engine.started == 3
    stats = batcher.stats()
    assert (stats.in_flight_batches, stats.queue_texts) == (3, 7)
    engine.gate.set()
    await asyncio.gather(*tasks)
    assert engine.max_active == 3
    assert len(engine.calls) == 10


async def test_free_slot_waits_for_the_callers_a_finished_batch_answered(
    harness: Harness,
) -> None:
    # Closed-loop callers come back right after their answers; a free slot that took the one
    # text queued meanwhile would spend a whole engine call on it.
    batcher, engine = await harness.make(blocked=True, max_wait_ms=3_600_000)
    round_one = [spawn(batcher, [text(f"r{i}")]) for i in range(3)]
    await wait_until(lambda: engine.started == 1)
    early = spawn(batcher, [text("early")])
    await settle()
    engine.gate.set()
    await asyncio.gather(*round_one)
    await settle()
    assert engine.started == 1  # 1 request queued, 3 just answered: wait for them
    back = [spawn(batcher, [text(f"b{i}")]) for i in range(2)]
    await settle()
    assert engine.started == 1  # 2 of the 3 are back
    back.append(spawn(batcher, [text("b2")]))
    await asyncio.wait_for(asyncio.gather(early, *back), SAFETY_S)
    assert [[x.source[0] for x in call.inputs] for call in engine.calls] == [
        ["r0", "r1", "r2"],
        ["early", "b0", "b1", "b2"],
    ]


async def test_returning_callers_are_spread_over_the_free_slots(harness: Harness) -> None:
    # Two replicas, four callers: both replicas should work, on two texts each, rather than
    # one replica on all four while the other idles.
    batcher, engine = await harness.make(parallelism=2, blocked=True, max_wait_ms=3_600_000)
    round_one = [spawn(batcher, [text(f"r{i}")]) for i in range(4)]
    await wait_until(lambda: engine.started == 2)  # a fair share each, not 4 on one replica
    engine.gate.set()
    await asyncio.gather(*round_one)
    engine.gate.clear()
    back = [spawn(batcher, [text("b0")])]
    await settle()
    assert engine.started == 2  # its share of the four is two
    back.append(spawn(batcher, [text("b1")]))
    await wait_until(lambda: engine.started == 3)
    back += [spawn(batcher, [text("b2")]), spawn(batcher, [text("b3")])]
    await wait_until(lambda: engine.started == 4)
    engine.gate.set()
    await asyncio.wait_for(asyncio.gather(*back), SAFETY_S)
    assert [len(call.inputs) for call in engine.calls] == [2, 2, 2, 2]


async def test_a_full_batch_goes_at_once_while_callers_are_expected(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True, max_wait_ms=3_600_000, max_batch_size=2)
    round_one = [spawn(batcher, [text(f"r{i}")]) for i in range(2)]
    await wait_until(lambda: engine.started == 1)
    queued = [spawn(batcher, [text(f"q{i}")]) for i in range(2)]  # arrive before the answers
    await settle()
    engine.gate.set()
    await asyncio.wait_for(asyncio.gather(*round_one, *queued), SAFETY_S)
    assert [len(call.inputs) for call in engine.calls] == [2, 2]


async def test_waiting_for_returning_callers_is_bounded_by_max_wait(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True, max_wait_ms=5)
    round_one = [spawn(batcher, [text(f"r{i}")]) for i in range(3)]
    await wait_until(lambda: engine.started == 1)
    lonely = spawn(batcher, [text("lonely")])
    await settle()
    engine.gate.set()
    await asyncio.wait_for(asyncio.gather(*round_one, lonely), SAFETY_S)  # nobody came back
    assert [len(call.inputs) for call in engine.calls] == [3, 1]


async def test_a_lone_caller_never_waits_for_company(harness: Harness) -> None:
    # Its last batch answered one request (with many texts); its next request is all the
    # company there will be, so it goes at once despite an hour of max_wait_ms.
    batcher, engine = await harness.make(max_wait_ms=3_600_000)
    await asyncio.wait_for(batcher.submit([text(f"t{i}") for i in range(5)], GREEDY), SAFETY_S)
    await asyncio.wait_for(batcher.submit([text("next")], GREEDY), SAFETY_S)
    assert [len(call.inputs) for call in engine.calls] == [5, 1]


# --------------------------------------------------------------------------- backpressure


async def test_queue_bounded_by_requests(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True, max_queue_requests=2, retry_after_ms=123)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)  # dispatched: no longer counts as queued
    queued = [spawn(batcher, [text("a"), text("b")]), spawn(batcher, [text("c")])]
    await settle()
    assert batcher.stats().queue_requests == 2
    with pytest.raises(Overloaded) as info:
        await batcher.submit([text("d")], GREEDY)  # raises at once; the engine is still blocked
    assert info.value.retry_after_ms == 123
    assert "overloaded" in info.value.message
    assert "2 requests" in info.value.message
    assert observed(batcher).rejected == 1
    engine.gate.set()
    await asyncio.gather(first, *queued)
    assert await batcher.submit([text("e")], GREEDY) == [expected_output(text("e"), GREEDY)]


async def test_queue_bounded_by_tokens(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True, max_queue_tokens=10)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)
    six = spawn(batcher, [sized("a", 4), sized("b", 2)])
    await settle()
    with pytest.raises(Overloaded):
        await batcher.submit([sized("c", 5)], GREEDY)
    four = spawn(batcher, [sized("d", 4)])  # exactly fills the budget
    await settle()
    assert batcher.stats().queue_tokens == 10
    with pytest.raises(InvalidInput, match="split it"):
        await batcher.submit([sized("huge", 11)], GREEDY)  # could never fit: not retryable
    assert observed(batcher).rejected == 1
    engine.gate.set()
    await asyncio.gather(first, six, four)


async def test_cancelled_requests_free_their_queue_space(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True, max_queue_requests=1)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)
    doomed = spawn(batcher, [text("a")])
    await settle()
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    replacement = spawn(batcher, [text("b")])  # would be Overloaded if space leaked
    await settle()
    engine.gate.set()
    await asyncio.gather(first, replacement)


# --------------------------------------------------------------------------- deadlines, cancel


async def test_expired_requests_never_reach_the_engine(harness: Harness) -> None:
    observer = RecordingObserver()
    batcher, engine = await harness.make(blocked=True, observer=observer)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)
    with pytest.raises(DeadlineExpired):
        await batcher.submit([text("late")], GREEDY, deadline=time.monotonic() - 1)
    soon = spawn(batcher, [text("soon")], deadline=time.monotonic() + 0.01)
    with pytest.raises(DeadlineExpired):
        await asyncio.wait_for(soon, SAFETY_S)  # fails at its deadline, engine still busy
    assert engine.started == 1
    stats = batcher.stats()
    assert (stats.queue_texts, stats.queue_requests) == (0, 0)
    assert observer.expired == 2
    engine.gate.set()
    await first
    assert await batcher.submit([text("ok")], GREEDY, deadline=time.monotonic() + SAFETY_S)
    assert [call.inputs[0].source[0] for call in engine.calls] == ["first", "ok"]


async def test_cancelled_requests_never_reach_the_engine(harness: Harness) -> None:
    observer = RecordingObserver()
    batcher, engine = await harness.make(blocked=True, observer=observer)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)
    gone = spawn(batcher, [text("gone"), text("gone2")])
    kept = spawn(batcher, [text("kept")])
    await settle()
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    stats = batcher.stats()
    assert (stats.queue_texts, stats.queue_requests) == (1, 1)
    assert observer.cancelled == 1
    engine.gate.set()
    await asyncio.gather(first, kept)
    assert [[x.source[0] for x in call.inputs] for call in engine.calls] == [["first"], ["kept"]]


async def test_remaining_texts_of_a_cancelled_split_request_are_dropped(
    harness: Harness,
) -> None:
    batcher, engine = await harness.make(blocked=True, max_batch_size=2)
    task = spawn(batcher, [text(f"t{i}") for i in range(5)])
    await wait_until(lambda: engine.started == 1)
    assert batcher.stats().queue_texts == 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert batcher.stats().queue_texts == 0
    engine.gate.set()
    await wait_until(lambda: batcher.stats().in_flight_batches == 0)
    await settle()
    assert len(engine.calls) == 1  # the rest never ran


async def test_result_for_a_caller_who_left_is_discarded_quietly(harness: Harness) -> None:
    # The harness fails the test on any loop error (InvalidStateError, unretrieved exception).
    batcher, engine = await harness.make(parallelism=2, blocked=True, early_return=True)
    left = spawn(batcher, [text("left")])  # its outputs arrive (early and final) after it left
    failing = spawn(batcher, [text(FAIL)], BEAM2)  # its error arrives after it left
    await wait_until(lambda: engine.started == 2)
    left.cancel()
    failing.cancel()
    await asyncio.gather(left, failing, return_exceptions=True)
    engine.gate.set()
    await wait_until(lambda: len(observed(batcher).batches) == 2)
    await settle()
    assert observed(batcher).cancelled == 2
    assert await batcher.submit([text("next")], GREEDY)


async def test_expiry_while_in_flight_fails_the_caller_and_discards_the_result(
    harness: Harness,
) -> None:
    batcher, engine = await harness.make(blocked=True)
    task = spawn(batcher, [text("slow")], deadline=time.monotonic() + 0.01)
    await wait_until(lambda: engine.started == 1)
    with pytest.raises(DeadlineExpired):
        await asyncio.wait_for(task, SAFETY_S)
    engine.gate.set()
    await wait_until(lambda: batcher.stats().in_flight_batches == 0)
    assert observed(batcher).expired == 1


# --------------------------------------------------------------------------- errors


async def test_engine_error_fails_only_that_batch(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True, max_batch_size=2)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)
    bad = spawn(batcher, [text(FAIL)])
    mate = spawn(batcher, [text("mate")])  # shares the failing call
    other_group = spawn(batcher, [text("beam")], BEAM2)
    later_same_group = spawn(batcher, [text("later")])  # batch is full: next call
    await settle()
    engine.gate.set()
    assert await first == [expected_output(text("first"), GREEDY)]
    for task in (bad, mate):
        with pytest.raises(EngineBoom):
            await task
    assert await other_group == [expected_output(text("beam"), BEAM2)]
    assert await later_same_group == [expected_output(text("later"), GREEDY)]
    assert await batcher.submit([text("again")], GREEDY)
    assert observed(batcher).errors == 1


async def test_engine_error_fails_a_split_request_and_drops_its_rest(harness: Harness) -> None:
    batcher, engine = await harness.make(max_batch_size=2)
    with pytest.raises(EngineBoom):
        await batcher.submit([text(FAIL), text("b"), text("c"), text("d")], GREEDY)
    await wait_until(lambda: batcher.stats().in_flight_batches == 0)
    await settle()
    stats = batcher.stats()
    assert (stats.queue_texts, stats.queue_requests) == (0, 0)
    assert len(engine.calls) == 1  # the remaining texts were not decoded for nobody


async def test_engine_returning_the_wrong_count_is_an_error(harness: Harness) -> None:
    batcher = Batcher(FakeEngine(drop_last=True), BatchingConfig(), name="short")
    await batcher.start()
    try:
        with pytest.raises(RuntimeError, match="1 outputs for 2 inputs"):
            await batcher.submit([text("a"), text("b")], GREEDY)
    finally:
        await batcher.close()


# --------------------------------------------------------------------------- early return


async def test_early_return_answers_before_the_batch_ends(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True, early_return=True)
    engine.report_first_early = True
    short = spawn(batcher, [sized("short", 1)])
    long = spawn(batcher, [sized("long", 6)])
    # Same loop turn: one call; sorted by length, the short text is index 0, reported early.
    result = await asyncio.wait_for(short, SAFETY_S)
    assert result == [expected_output(sized("short", 1), GREEDY)]
    assert engine.active == 1 and not long.done()  # the engine is still blocked
    assert engine.calls[0].early is True
    engine.gate.set()
    assert await long == [expected_output(sized("long", 6), GREEDY)]
    assert len(engine.calls) == 1


async def test_early_return_with_a_multi_text_request_waits_for_all_its_texts(
    harness: Harness,
) -> None:
    batcher, engine = await harness.make(blocked=True, early_return=True)
    engine.report_first_early = True
    both = spawn(batcher, [sized("long", 6), sized("short", 1)])
    await wait_until(lambda: engine.started == 1)
    await settle()
    assert not both.done()
    engine.gate.set()
    assert await both == [
        expected_output(sized("long", 6), GREEDY),
        expected_output(sized("short", 1), GREEDY),
    ]


# --------------------------------------------------------------------------- close


async def test_close_finishes_queued_and_in_flight_work(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)
    queued = [spawn(batcher, [text(f"q{i}")]) for i in range(3)]  # behind the busy engine
    await settle()
    closing = asyncio.create_task(batcher.close())
    await settle()
    with pytest.raises(ShuttingDown):
        await batcher.submit([text("new")], GREEDY)
    assert not closing.done()
    engine.gate.set()
    await asyncio.wait_for(closing, SAFETY_S)
    assert await first == [expected_output(text("first"), GREEDY)]
    for i, task in enumerate(queued):
        assert await task == [expected_output(text(f"q{i}"), GREEDY)]
    with pytest.raises(ShuttingDown):
        await batcher.submit([text("after")], GREEDY)


async def test_close_timeout_fails_what_is_left(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True, retry_after_ms=77)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)
    queued = spawn(batcher, [text("q")])
    await settle()
    await batcher.close(timeout=0.01)
    for task in (first, queued):
        with pytest.raises(ShuttingDown) as info:
            await task
        assert info.value.retry_after_ms == 77
    engine.gate.set()  # the abandoned call finishes later; its result goes nowhere
    await wait_until(lambda: engine.active == 0)
    await settle()
    assert len(engine.calls) == 1


async def test_close_idle_and_twice(harness: Harness) -> None:
    batcher, _ = await harness.make()
    await batcher.close()
    await batcher.close()
    with pytest.raises(ShuttingDown):
        await batcher.submit([text("x")], GREEDY)


# --------------------------------------------------------------------------- observer, stats


async def test_observer_and_stats_agree(harness: Harness) -> None:
    observer = RecordingObserver()
    batcher, engine = await harness.make(
        blocked=True, observer=observer, max_queue_requests=2, max_batch_size=2
    )
    first = spawn(batcher, [sized("a", 3)])
    await wait_until(lambda: engine.started == 1)
    tasks = [spawn(batcher, [sized("b", 2), sized("c", 4)]), spawn(batcher, [sized("d", 1)])]
    await settle()
    with pytest.raises(Overloaded):
        await batcher.submit([text("x")], GREEDY)
    engine.gate.set()
    await asyncio.gather(first, *tasks)
    assert observer.batches == [(1, 3, 3), (2, 6, 8), (1, 1, 1)]
    assert observer.waits == 4
    assert observer.rejected == 1
    assert (observer.examples, observer.padded_tokens, observer.errors) == (4, 12, 0)
    assert batcher.stats() == BatcherStats(
        queue_requests=0,
        queue_texts=0,
        queue_tokens=0,
        in_flight_batches=0,
        in_flight_texts=0,
        slots=1,
    )


async def test_a_broken_observer_does_not_break_batching(harness: Harness) -> None:
    class Broken(RecordingObserver):
        def on_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
            raise ValueError("metrics bug")

        def on_queue_wait(self, seconds: float) -> None:
            raise ValueError("metrics bug")

    batcher, _ = await harness.make(observer=Broken())
    assert await batcher.submit([text("a")], GREEDY) == [expected_output(text("a"), GREEDY)]


async def test_failure_racing_a_cancel_is_not_reported_as_unretrieved(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)
    queued = spawn(batcher, [text("q")])
    await settle()
    await batcher.close(timeout=0.01)  # sets ShuttingDown on both futures...
    first.cancel()  # ...and their callers are cancelled before they wake up to read it
    queued.cancel()
    for task in (first, queued):
        with pytest.raises(asyncio.CancelledError):
            await task
    engine.gate.set()
    await wait_until(lambda: engine.active == 0)


async def test_concurrent_closes_both_wait_for_the_drain(harness: Harness) -> None:
    batcher, engine = await harness.make(blocked=True)
    first = spawn(batcher, [text("first")])
    await wait_until(lambda: engine.started == 1)
    closes = [asyncio.create_task(batcher.close()) for _ in range(2)]
    await settle()
    assert not any(c.done() for c in closes)
    engine.gate.set()
    await asyncio.wait_for(asyncio.gather(*closes), SAFETY_S)
    assert await first == [expected_output(text("first"), GREEDY)]


async def test_duplicate_on_output_does_not_answer_a_split_request_early(
    harness: Harness,
) -> None:
    config = BatchingConfig(max_batch_size=1, early_return=True)
    batcher = Batcher(FakeEngine(report_twice=True), config, name="s")
    await batcher.start()
    try:
        inputs = [text("a"), text("b"), text("c")]
        assert await batcher.submit(inputs, GREEDY) == [expected_output(x, GREEDY) for x in inputs]
    finally:
        await batcher.close()
