"""Work in progress inside a batcher: a caller's request being answered, an engine call running.

Both are plain state holders; the `Batcher` moves them through their lives on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from service.batching.queue import Entry, GroupedQueue, Item
from service.engines.base import EngineOutput
from service.types import ResolvedOptions


@dataclass(frozen=True, slots=True)
class Progress:
    """What a caller hears while its request is decoded (both called on the event loop).

    Attributes:
        on_output: Each text's output as soon as it is final, before the whole request is
            (texts of a request in one engine call finish at different steps; the batcher asks
            the engine for early outputs whenever a batch holds a text with a listener).
        on_token: Each generated token of a text, where the engine reports tokens (greedy
            search; see `Engine.steps_observable`).
        on_launch: Once, when the first engine call carrying one of its texts starts.
    """

    on_output: Callable[[int, EngineOutput], None] | None = None
    on_token: Callable[[int, str], None] | None = None
    on_launch: Callable[[], None] | None = None


class PendingRequest:
    """One `submit` call's answer in progress: its future, outputs so far and deadline timer."""

    __slots__ = (
        "batches", "done", "entry", "future", "options", "progress", "remaining", "results",
        "timer",
    )  # fmt: skip

    def __init__(
        self,
        future: asyncio.Future[list[EngineOutput]],
        size: int,
        options: ResolvedOptions,
        progress: Progress | None = None,
    ) -> None:
        self.future = future
        self.options = options
        self.progress = progress
        self.results: list[EngineOutput | None] = [None] * size
        self.remaining = size  # outputs still missing
        self.done = False  # answered, failed, expired or cancelled: ignore anything further
        self.entry: Entry | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.batches: list[RunningBatch] = []  # engine calls carrying some of its texts

    def launched(self) -> None:
        """One of its texts is in an engine call now (tells a listener the first time)."""
        progress = self.progress
        if progress is not None and progress.on_launch is not None:
            on_launch = progress.on_launch
            self.progress = Progress(progress.on_output, progress.on_token, None)
            on_launch()

    def settle(self, queue: GroupedQueue) -> None:
        """Mark it done and take its still-queued texts out of the queue."""
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.entry is not None:
            queue.remove(self.entry)

    def fail(self, queue: GroupedQueue, exc: BaseException) -> None:
        if self.done:
            return
        self.settle(queue)
        if not self.future.done():
            self.future.set_exception(exc)

    def deliver(self, queue: GroupedQueue, index: int, output: EngineOutput) -> None:
        """One text's output; the caller is answered when the last one arrives."""
        if self.done:
            return  # its caller went away, expired or failed: discard
        self.results[index] = output
        self.remaining -= 1
        if self.progress is not None and self.progress.on_output is not None:
            self.progress.on_output(index, output)
        if not self.remaining:
            self.settle(queue)
            if not self.future.done():
                self.future.set_result(cast("list[EngineOutput]", self.results))


def owner(item: Item) -> PendingRequest:
    """The request a queued or running text belongs to."""
    return cast(PendingRequest, item.entry.owner)


class RunningBatch:
    """One engine call: its texts (sorted by length), options, token counts and planned work."""

    __slots__ = (
        "delivered",
        "finished",
        "items",
        "listened",
        "loaded",
        "options",
        "padded_tokens",
        "started",
        "stop",
        "stoppable",
        "tokens",
        "work",
    )

    def __init__(
        self,
        items: list[Item],
        options: ResolvedOptions,
        tokens: int,
        padded_tokens: int,
        *,
        work: float = 0.0,
        started: float = 0.0,
    ) -> None:
        self.items = items
        # Whether a caller listens to one of its texts: the engine then reports outputs early,
        # tokens as they come, and stops texts whose caller left.
        self.listened = any(owner(item).progress is not None for item in items)
        self.options = options
        self.tokens = tokens
        self.padded_tokens = padded_tokens
        self.work = work
        self.started = started
        self.delivered = [False] * len(items)  # answered early through on_output
        self.finished = False  # generate returned or raised: ignore late on_output calls
        self.stop = threading.Event()  # set when nobody waits for any of its outputs
        self.stoppable = True  # whether the engine is asked to poll `stop`
        self.loaded = False  # more work was waiting when it started (see `estimate`)

    def abandoned(self) -> bool:
        """True when every request with a text in this call is done (left, expired, failed or
        already answered): its outputs can no longer reach anyone."""
        return all(owner(item).done for item in self.items)
