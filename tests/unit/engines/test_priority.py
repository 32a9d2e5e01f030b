"""Engine threads run below the server's priority; the server's own threads keep theirs."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from service.engines.ct2 import CT2Engine
from service.engines.priority import thread_ids, thread_nice, with_lowered_priority
from tests.serverproc import first_model_dir

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="per-thread nice values are a Linux feature"
)


def _start_worker(stop: threading.Event, started: list[int]) -> threading.Thread:
    ready = threading.Event()

    def run() -> None:
        started.append(threading.get_native_id())
        ready.set()
        stop.wait()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    ready.wait()
    return worker


def test_threads_started_by_the_build_are_reniced_and_the_caller_is_not() -> None:
    stop = threading.Event()
    started: list[int] = []
    own = thread_nice(threading.get_native_id())
    worker, changed = with_lowered_priority(lambda: _start_worker(stop, started), 4)
    try:
        assert changed == [started[0]]
        assert thread_nice(started[0]) == min(19, own + 4)
        assert thread_nice(threading.get_native_id()) == own
    finally:
        stop.set()
        worker.join()


def test_zero_leaves_every_thread_alone() -> None:
    stop = threading.Event()
    started: list[int] = []
    worker, changed = with_lowered_priority(lambda: _start_worker(stop, started), 0)
    try:
        assert changed == []
        assert thread_nice(started[0]) == thread_nice(threading.get_native_id())
    finally:
        stop.set()
        worker.join()


def test_ctranslate2_replica_threads_run_at_the_lowered_priority() -> None:
    own = thread_nice(threading.get_native_id())
    engine = CT2Engine(first_model_dir(), inter_threads=2, intra_threads=1, thread_nice=5)
    try:
        reniced = engine.reniced_threads
        assert len(reniced) >= 2  # one worker per replica
        assert set(reniced) <= thread_ids()
        assert all(thread_nice(tid) == min(19, own + 5) for tid in reniced)
        assert os.getpriority(os.PRIO_PROCESS, 0) == own
    finally:
        engine.close()
