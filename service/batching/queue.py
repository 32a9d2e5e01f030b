"""The batcher's queue: texts grouped by what may share an engine call, oldest first.

A plain, synchronous data structure (no asyncio, no threads, no clock of its own): the
`Batcher` calls it on the event loop thread, and unit tests drive it directly. It owns every
queue counter, so "how much is queued" has one answer wherever it is read.

* A request is admitted as one `Entry` holding one `Item` per text; all its texts join one
  group (equal ``key``: decoding options that can share an engine call).
* `take` removes the oldest live texts of a group that fit one engine call (at most
  ``max_texts`` texts and ``max_tokens`` padded source tokens, ``len(longest) * texts``).
* Besides source tokens each text carries its planned decoding ``work`` (hypotheses x output
  token limit), which the batcher's deadline estimate reads as ``queue.work``.
* `remove` takes a request's still-queued texts out (answered, failed, expired, cancelled).
  Removed items stay in their group's deque until they reach its front, where they are
  skipped; the counters only ever count live items.
* Groups are served FIFO by their oldest live text, through a heap with lazy invalidation.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

from service.engines.base import EngineInput

__all__ = ["Entry", "Group", "GroupedQueue", "Item", "Taken"]


class Entry:
    """One admitted request: its texts and how many of them are still queued."""

    __slots__ = (
        "deadline",
        "enqueued",
        "group",
        "items",
        "owner",
        "queued",
        "queued_tokens",
        "queued_work",
        "seq",
    )

    def __init__(self, seq: int, enqueued: float, deadline: float | None, owner: Any) -> None:
        self.seq = seq  # arrival order: the FIFO key across groups
        self.enqueued = enqueued
        self.deadline = deadline
        self.owner = owner  # the batcher's per-request state; opaque here
        self.group: Group | None = None
        self.items: list[Item] = []
        self.queued = 0  # texts still waiting
        self.queued_tokens = 0
        self.queued_work = 0.0


class Item:
    """One text of a request, waiting in its group."""

    __slots__ = ("entry", "index", "input", "queued", "tokens", "work")

    def __init__(
        self, entry: Entry, index: int, input: EngineInput, tokens: int, work: float = 0.0
    ) -> None:
        self.entry = entry
        self.index = index  # position in the request, for reassembly
        self.input = input
        self.tokens = tokens
        self.work = work
        self.queued = True


class Group:
    """Texts with equal batch key, oldest first; `live` and `tokens` count only queued ones."""

    __slots__ = ("heap_seq", "items", "key", "live", "tokens")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.items: deque[Item] = deque()
        self.live = 0
        self.tokens = 0
        self.heap_seq: int | None = None  # the seq this group is filed under in the heap

    def head(self) -> Item | None:
        """The oldest live item, dropping removed ones from the front."""
        items = self.items
        while items:
            item = items[0]
            if item.queued:
                return item
            items.popleft()
        return None

    def is_full(self, max_texts: int, max_tokens: int) -> bool:
        return self.live >= max_texts or self.tokens >= max_tokens


@dataclass(frozen=True, slots=True)
class Taken:
    """What `take` removed: the batch's items, their source tokens and the longest one,
    plus the requests it found expired on the way (already removed from the queue)."""

    items: list[Item]
    tokens: int
    longest: int
    expired: list[Entry]
    work: float = 0.0

    @property
    def padded_tokens(self) -> int:
        return self.longest * len(self.items)


class GroupedQueue:
    """Grouped FIFO of texts with live counters (see module doc)."""

    def __init__(self) -> None:
        self._groups: dict[Hashable, Group] = {}
        # (seq of the group's oldest item, tie-breaker, group); stale entries are skipped.
        self._heap: list[tuple[int, int, Group]] = []
        self._tiebreak = count()
        self._seq = count()
        self.requests = 0  # requests with at least one text queued
        self.texts = 0
        self.tokens = 0
        self.work = 0.0  # planned decoding work of the queued texts (see module doc)

    def __len__(self) -> int:
        return self.texts

    def admit(
        self,
        key: Hashable,
        inputs: Sequence[EngineInput],
        costs: Sequence[int],
        *,
        enqueued: float,
        deadline: float | None = None,
        owner: Any = None,
        work: Sequence[float] | None = None,
    ) -> Entry:
        """Queue one request's texts (``costs[i]`` source tokens and ``work[i]`` planned
        decoding work each) under ``key``."""
        entry = Entry(next(self._seq), enqueued, deadline, owner)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key)
        works = work if work is not None else [0.0] * len(costs)
        items = [
            Item(entry, i, inp, c, w)
            for i, (inp, c, w) in enumerate(zip(inputs, costs, works, strict=True))
        ]
        total = sum(costs)
        entry.group = group
        entry.items = items
        entry.queued = len(items)
        entry.queued_tokens = total
        entry.queued_work = sum(works)
        group.items.extend(items)
        group.live += len(items)
        group.tokens += total
        if group.heap_seq is None:
            self._file(group, entry.seq)
        if items:
            self.requests += 1
        self.texts += len(items)
        self.tokens += total
        self.work += entry.queued_work
        return entry

    def remove(self, entry: Entry) -> None:
        """Take the request's still-queued texts out of the queue (idempotent)."""
        if entry.queued:
            for item in entry.items:
                item.queued = False
            group = entry.group
            assert group is not None
            group.live -= entry.queued
            group.tokens -= entry.queued_tokens
            self.requests -= 1
            self.texts -= entry.queued
            self.tokens -= entry.queued_tokens
            self.work = max(0.0, self.work - entry.queued_work)
            entry.queued = 0
            entry.queued_tokens = 0
            entry.queued_work = 0.0
        entry.items = []  # break the entry <-> item cycle; batches keep what they need

    def oldest_group(self) -> Group | None:
        """The group whose oldest live text arrived first; O(log n) amortised."""
        heap = self._heap
        while heap:
            seq, _, group = heap[0]
            if group.heap_seq != seq:  # stale entry: the group was refiled or dropped
                heapq.heappop(heap)
                continue
            head = group.head()
            if head is None:  # only removed texts left
                heapq.heappop(heap)
                self._drop(group)
                continue
            if head.entry.seq != seq:  # its front texts were removed: refile
                group.heap_seq = head.entry.seq
                heapq.heapreplace(heap, (group.heap_seq, next(self._tiebreak), group))
                continue
            return group
        return None

    def full_group(self, max_texts: int, max_tokens: int) -> Group | None:
        """Any group that already fills a batch; O(groups)."""
        for group in self._groups.values():
            if group.live and group.is_full(max_texts, max_tokens):
                return group
        return None

    def take(self, group: Group, max_texts: int, max_tokens: int, now: float) -> Taken:
        """Remove the oldest live texts of ``group`` that fit one engine call.

        Requests whose deadline is at or before ``now`` are removed whole and returned in
        ``expired`` instead of being batched.
        """
        items: list[Item] = []
        expired: list[Entry] = []
        longest = tokens = 0
        work = 0.0
        queue = group.items
        while queue and len(items) < max_texts:
            item = queue[0]
            if not item.queued:
                queue.popleft()
                continue
            entry = item.entry
            if entry.deadline is not None and entry.deadline <= now:
                self.remove(entry)
                expired.append(entry)
                continue
            longer = max(longest, item.tokens)
            if items and longer * (len(items) + 1) > max_tokens:
                break
            queue.popleft()
            item.queued = False
            items.append(item)
            longest = longer
            tokens += item.tokens
            work += item.work
            entry.queued -= 1
            entry.queued_tokens -= item.tokens
            entry.queued_work -= item.work
            if not entry.queued:
                self.requests -= 1
        group.live -= len(items)
        group.tokens -= tokens
        self.texts -= len(items)
        self.tokens -= tokens
        self.work = max(0.0, self.work - work) if self.texts else 0.0
        if group.live:
            head = group.head()
            assert head is not None
            if head.entry.seq != group.heap_seq:
                self._file(group, head.entry.seq)  # the old heap entry goes stale
        else:
            self._drop(group)
        return Taken(items, tokens, longest, expired, work)

    def compact(self) -> None:
        """With nothing live queued, drop removed leftovers wholesale."""
        if not self.texts:
            self._groups.clear()
            self._heap.clear()

    def entries(self) -> Iterator[Entry]:
        """Every request with texts still queued (each once)."""
        seen: set[int] = set()
        for group in list(self._groups.values()):
            for item in list(group.items):
                if item.queued and item.entry.seq not in seen:
                    seen.add(item.entry.seq)
                    yield item.entry

    def _file(self, group: Group, seq: int) -> None:
        group.heap_seq = seq
        heapq.heappush(self._heap, (seq, next(self._tiebreak), group))

    def _drop(self, group: Group) -> None:
        group.heap_seq = None
        if self._groups.get(group.key) is group:
            del self._groups[group.key]
