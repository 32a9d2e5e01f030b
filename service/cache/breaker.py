"""A circuit breaker for Redis: after repeated failures stop paying timeouts, probe later.

closed (calls go through) → after ``failures`` consecutive failures: open (calls skipped) →
after ``cooldown`` seconds: half-open (one probe call goes through) → closed on success, open
again on failure. The clock is injected so the states are unit-tested without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum


class State(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self, failures: int = 3, cooldown: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = max(1, failures)
        self.cooldown = cooldown
        self._clock = clock
        self.state = State.CLOSED
        self._failures = 0
        self._opened_at = 0.0

    def allow(self) -> bool:
        """Whether a call may go to Redis now (in half-open state: only the one probe)."""
        if self.state is State.CLOSED:
            return True
        if self.state is State.OPEN and self._clock() >= self._opened_at + self.cooldown:
            self.state = State.HALF_OPEN
            return True
        return False

    def success(self) -> None:
        self.state = State.CLOSED
        self._failures = 0

    def failure(self) -> None:
        self._failures += 1
        if self.state is State.HALF_OPEN or self._failures >= self.threshold:
            self.state = State.OPEN
            self._opened_at = self._clock()
