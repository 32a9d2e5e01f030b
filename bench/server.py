"""The service under test, started as its own process exactly as operators start it (through
the same helper the tests use), plus an RSS sampler for the overload phase."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.serverproc import ServerProcess, running_server


def batch_counts(server: ServerProcess) -> tuple[float, float]:
    """(texts, engine calls) so far, from the server's own batch-size histogram."""
    return server.metric("s2s_batch_size_sum"), server.metric("s2s_batch_size_count")


@dataclass
class RssSampler:
    """Samples a process's resident memory in a thread while a phase runs."""

    server: ServerProcess
    interval: float = 0.2
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.server.rss_bytes())
            self._stop.wait(self.interval)


@contextmanager
def serving(registry: Path, log_dir: Path, *flags: str) -> Iterator[ServerProcess]:
    """The server on free loopback ports with its metrics endpoint on, quiet logs."""
    with running_server(
        log_dir, *flags, models=registry, metrics=True, log_level="warning", timeout=300
    ) as server:
        yield server
