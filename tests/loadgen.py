"""Callers looping against a real server until stopped, keeping every failure; and a wait for
a server metric to reach a value. Shared by the Redis-failure tests of both caches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from service.client import ClientError, Seq2SeqClient

Call = Callable[[Seq2SeqClient, int, int], Any]
"""(client, caller number, call number) → one RPC; raising ClientError counts as a failure."""


class Load:
    def __init__(self, target: str, call: Call, callers: int = 32, timeout: float = 30) -> None:
        self.target = target
        self.calls = 0
        self.failures: list[ClientError] = []
        self._call = call
        self._timeout = timeout
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(callers)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, caller: int) -> None:
        with Seq2SeqClient(self.target, timeout=self._timeout) as client:
            call = 0
            while not self._stop.is_set():
                try:
                    self._call(client, caller, call)
                except ClientError as exc:
                    with self._lock:
                        self.failures.append(exc)
                with self._lock:
                    self.calls += 1
                call += 1

    def wait_calls(self, more: int, timeout: float = 120) -> None:
        target = self.calls + more
        deadline = time.monotonic() + timeout
        while self.calls < target:
            assert time.monotonic() < deadline, f"only {self.calls} calls"
            time.sleep(0.02)


def wait_metric(
    server: Any, name: str, predicate: Callable[[float], bool], timeout: float = 30, **labels: str
) -> float:
    """Poll ``server.metric(name, **labels)`` until ``predicate`` holds; return the value."""
    deadline = time.monotonic() + timeout
    while True:
        value = float(server.metric(name, **labels))
        if predicate(value):
            return value
        assert time.monotonic() < deadline, f"{name} stayed at {value}"
        time.sleep(0.05)
