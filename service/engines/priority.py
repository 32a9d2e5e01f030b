"""Run an engine's own compute threads at a lower CPU scheduling priority than the server.

On a CPU host the engine's replica threads keep every core busy under load. The gRPC event
loop then has to queue for a core like any of them, so even a call the server answers without
engine time (an overload rejection, a health check, a validation error) waits behind whole
batches. Raising the engine threads' nice value lets the kernel run the event loop first
whenever it has work, which is little next to the engine's, so throughput does not suffer.

Linux keeps a nice value per thread, and threads inherit it from the thread that creates them,
so renicing the threads an engine starts at construction also covers the OpenMP workers those
threads create later. Elsewhere (no ``/proc/self/task``) this does nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")
_TASKS = Path("/proc/self/task")


def thread_ids() -> set[int]:
    """Kernel thread ids of this process; empty where the platform does not expose them."""
    try:
        return {int(name) for name in os.listdir(_TASKS)}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def thread_nice(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def with_lowered_priority(build: Callable[[], T], nice: int) -> tuple[T, list[int]]:
    """Call ``build`` and add ``nice`` to the niceness of every thread it started.

    Returns what ``build`` returned and the ids of the threads reniced. A thread that is gone,
    or a kernel that refuses, only costs the effect, never the engine.
    """
    before = thread_ids()
    built = build()
    if nice <= 0 or not before:
        return built, []
    changed: list[int] = []
    for tid in sorted(thread_ids() - before):
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, thread_nice(tid) + nice))
        except OSError as exc:  # the thread exited, or a sandbox forbids it
            log.warning("engine_thread_priority_unchanged", tid=tid, error=str(exc))
            continue
        changed.append(tid)
    return built, changed


def lower_this_thread(nice: int) -> bool:
    """Add ``nice`` to the calling thread's niceness (threads it starts later inherit it).

    For engines whose compute threads are the callers' own (PyTorch runs ops on the calling
    thread and the OpenMP team it starts). False where the platform or a sandbox refuses.
    """
    if nice <= 0:
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, thread_nice(tid) + nice))
    except OSError as exc:
        log.warning("engine_thread_priority_unchanged", tid=tid, error=str(exc))
        return False
    return True
