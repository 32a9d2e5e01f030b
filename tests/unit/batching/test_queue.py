"""The grouped queue on its own: no threads, no event loop, made-up times."""

from __future__ import annotations

from service.batching.queue import Entry, GroupedQueue
from tests.fakes import sized, text

A = ("greedy",)
B = ("beam",)


def admit(queue: GroupedQueue, key: tuple[str, ...], *lengths: int, **kw: float) -> Entry:
    inputs = [sized(f"{key[0]}{i}", n) for i, n in enumerate(lengths)]
    return queue.admit(key, inputs, list(lengths), enqueued=0.0, **kw)


def counters(queue: GroupedQueue) -> tuple[int, int, int]:
    return queue.requests, queue.texts, queue.tokens


def test_admit_and_remove_keep_every_counter_exact() -> None:
    queue = GroupedQueue()
    first = queue.admit(A, [text("a", "b"), text("c")], [2, 1], enqueued=0.0)
    queue.admit(B, [text("d")], [1], enqueued=0.0)
    assert counters(queue) == (2, 3, 4)
    queue.remove(first)
    assert counters(queue) == (1, 1, 1)
    queue.remove(first)  # idempotent: a request answered twice never goes negative
    assert counters(queue) == (1, 1, 1)


def test_oldest_group_is_fifo_across_groups_and_skips_removed_requests() -> None:
    queue = GroupedQueue()
    a0 = admit(queue, A, 1)
    admit(queue, B, 1)
    admit(queue, A, 1)
    group = queue.oldest_group()
    assert group is not None and group.key == A
    queue.remove(a0)
    group = queue.oldest_group()
    assert group is not None and group.key == B  # A's oldest live text is now younger


def test_take_respects_max_texts_and_padded_tokens() -> None:
    queue = GroupedQueue()
    for n in (3, 3, 3, 3, 5):
        admit(queue, A, n)
    group = queue.oldest_group()
    assert group is not None
    taken = queue.take(group, max_texts=64, max_tokens=10, now=0.0)
    assert [i.tokens for i in taken.items] == [3, 3, 3]  # a 4th makes 12 padded tokens
    assert (taken.tokens, taken.padded_tokens) == (9, 9)
    assert counters(queue) == (2, 2, 8)
    taken = queue.take(group, max_texts=1, max_tokens=10, now=0.0)
    assert [i.tokens for i in taken.items] == [3]
    assert counters(queue) == (1, 1, 5)


def test_a_text_over_the_token_budget_still_goes_alone() -> None:
    queue = GroupedQueue()
    admit(queue, A, 50)
    group = queue.oldest_group()
    assert group is not None
    taken = queue.take(group, max_texts=8, max_tokens=10, now=0.0)
    assert [i.tokens for i in taken.items] == [50]
    assert counters(queue) == (0, 0, 0)


def test_take_removes_expired_requests_and_reports_them() -> None:
    queue = GroupedQueue()
    late = admit(queue, A, 1, 1, deadline=5.0)
    admit(queue, A, 2, deadline=50.0)
    group = queue.oldest_group()
    assert group is not None
    taken = queue.take(group, max_texts=64, max_tokens=1000, now=10.0)
    assert taken.expired == [late]
    assert [i.tokens for i in taken.items] == [2]
    assert counters(queue) == (0, 0, 0)


def test_a_split_request_counts_as_queued_until_its_last_text_is_taken() -> None:
    queue = GroupedQueue()
    entry = admit(queue, A, 1, 1, 1)
    group = queue.oldest_group()
    assert group is not None
    queue.take(group, max_texts=2, max_tokens=100, now=0.0)
    assert counters(queue) == (1, 1, 1)
    queue.remove(entry)  # its caller left: the rest is dropped
    assert counters(queue) == (0, 0, 0)
    assert queue.oldest_group() is None


def test_full_group_finds_a_group_that_fills_a_batch() -> None:
    queue = GroupedQueue()
    admit(queue, A, 1)
    admit(queue, B, 1, 1)
    full = queue.full_group(max_texts=2, max_tokens=100)
    assert full is not None and full.key == B
    assert queue.full_group(max_texts=3, max_tokens=100) is None


def test_entries_lists_each_waiting_request_once() -> None:
    queue = GroupedQueue()
    first = admit(queue, A, 1, 1)
    second = admit(queue, B, 1)
    assert list(queue.entries()) == [first, second]
