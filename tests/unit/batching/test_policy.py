"""Dispatch decisions as pure functions with an injected clock."""

from __future__ import annotations

from service.batching.policy import Pick, ReturningCallers, fair_share, pick
from service.batching.queue import GroupedQueue
from tests.fakes import text


def queue_with(*keys: str) -> GroupedQueue:
    queue = GroupedQueue()
    for i, key in enumerate(keys):
        queue.admit((key,), [text(f"t{i}")], [1], enqueued=0.0)
    return queue


def test_fair_share_spreads_the_work_over_the_slots_within_the_batch_cap() -> None:
    assert fair_share(30, slots=2, max_batch_size=64) == 15
    assert fair_share(31, slots=2, max_batch_size=64) == 16  # rounded up: nothing left over
    assert fair_share(500, slots=2, max_batch_size=64) == 64
    assert fair_share(0, slots=2, max_batch_size=64) == 1


def test_expectations_lapse_and_arrivals_consume_the_oldest_first() -> None:
    returning = ReturningCallers()
    returning.add(until=1.0, callers=2)
    returning.add(until=2.0, callers=3)
    assert returning.expected(now=0.5) == 5
    returning.arrived(now=0.5)
    returning.arrived(now=0.5)
    assert returning.expected(now=0.5) == 3
    assert returning.next_lapse() == 2.0
    assert returning.expected(now=2.0) == 0
    assert returning.next_lapse() is None


def decide(queue: GroupedQueue, returning: ReturningCallers, *, patient: bool = True) -> Pick:
    return pick(
        queue,
        returning,
        0.0,
        running_texts=0,
        slots=1,
        max_batch_size=4,
        max_batch_tokens=100,
        patient=patient,
    )


def test_nobody_expected_means_the_oldest_group_goes_at_once() -> None:
    queue = queue_with("a", "b")
    choice = decide(queue, ReturningCallers())
    assert choice.group is not None and choice.group.key == ("a",)


def test_a_slot_waits_while_its_share_is_still_coming_back() -> None:
    queue = queue_with("a")
    returning = ReturningCallers()
    returning.add(until=0.05, callers=3)
    choice = decide(queue, returning)
    assert choice.group is None and choice.wait_until == 0.05
    impatient = decide(queue, returning, patient=False)  # closing, or max_wait 0
    assert impatient.group is not None


def test_a_full_group_goes_even_while_callers_are_expected() -> None:
    queue = queue_with("a")
    queue.admit(("b",), [text("long")], [100], enqueued=0.0)  # fills the token budget alone
    returning = ReturningCallers()
    returning.add(until=0.05, callers=10)
    choice = decide(queue, returning)
    assert choice.group is not None and choice.group.key == ("b",)


def test_an_empty_queue_picks_nothing() -> None:
    choice = decide(GroupedQueue(), ReturningCallers())
    assert choice.group is None and choice.wait_until is None
