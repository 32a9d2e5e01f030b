"""The two thread-crossing pieces of a batcher: the worker-thread side of one engine call, and
the loop timer that wakes a slot waiting for returning callers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from service.batching.pending import RunningBatch, owner
from service.engines.base import Engine, EngineOutput


def post(loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any) -> None:
    """Hand a result to the loop thread; a loop closed meanwhile means nobody is waiting."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


def run_batch(
    engine: Engine,
    batch: RunningBatch,
    loop: asyncio.AbstractEventLoop,
    *,
    early_return: bool,
    deliver_one: Callable[[RunningBatch, int, EngineOutput], None],
    deliver_token: Callable[[RunningBatch, int, str], None],
    finish: Callable[..., None],
) -> None:
    """Worker thread: one engine call. Every result goes back to the loop thread through
    ``post``: early outputs to ``deliver_one``, streamed tokens to ``deliver_token``, and the
    outcome (outputs or the exception, and the seconds it took) to ``finish``."""
    items = batch.items

    def on_output(index: int, output: EngineOutput) -> None:
        post(loop, deliver_one, batch, index, output)

    def on_token(index: int, token: str) -> None:
        progress = owner(items[index]).progress
        if progress is not None and progress.on_token is not None:
            post(loop, deliver_token, batch, index, token)

    def stop_input(index: int) -> bool:
        return owner(items[index]).done  # a bool read: safe from this thread

    listened = batch.listened
    started = time.perf_counter()
    try:
        outputs = engine.generate(
            [i.input for i in items],
            batch.options,
            on_output if early_return or listened else None,
            batch.stop.is_set if batch.stoppable else None,
            on_token=on_token if listened else None,
            stop_input=stop_input if listened else None,
        )
    except BaseException as exc:  # the slot must be given back whatever happened
        post(loop, finish, batch, None, exc, time.perf_counter() - started)
    else:
        post(loop, finish, batch, outputs, None, time.perf_counter() - started)


class WakeTimer:
    """One loop timer that fires ``callback`` at the earliest time asked for (a monotonic time)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._when = 0.0

    def arm(self, due: float) -> None:
        if self._handle is not None:
            if self._when <= due:
                return
            self._handle.cancel()
        self._when = due
        self._handle = self._loop.call_at(self._loop.time() + (due - time.monotonic()), self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._callback()
