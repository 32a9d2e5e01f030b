"""Redis is never on the critical path: down, dying, hanging or back, every call succeeds."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from service.client import ClientError, Seq2SeqClient
from tests.redisproc import SilentServer, redis_server
from tests.serverproc import REGISTRY, running_server

CALLERS = 32


def sentence(n: int) -> str:
    return f"The old man sees {n} small dogs in the garden."


class Load:
    """Callers looping until stopped, each alternating a new text (a miss) with the text before
    it (a hit); every failure is kept."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.calls = 0
        self.failures: list[ClientError] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(CALLERS)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, caller: int) -> None:
        with Seq2SeqClient(self.target, timeout=30) as client:
            call = 0
            while not self._stop.is_set():
                n = caller + CALLERS * ((call + 1) // 2)  # 0, 1, 1, 2, 2, ...: new, then again
                try:
                    client.translate([sentence(n)], "en", "de")
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


def wait_metric(server: object, name: str, predicate: object, timeout: float = 30) -> float:
    deadline = time.monotonic() + timeout
    while True:
        value = server.metric(name)  # type: ignore[attr-defined]
        if predicate(value):  # type: ignore[operator]
            return float(value)
        assert time.monotonic() < deadline, f"{name} stayed at {value}"
        time.sleep(0.05)


def test_redis_dying_under_load_fails_no_call_and_caching_resumes_when_it_returns(
    tmp_path: Path,
) -> None:
    with (
        redis_server(tmp_path) as redis,
        running_server(tmp_path, "--redis-url", redis.url, metrics=True, models=REGISTRY) as server,
        Load(server.target) as load,
    ):
        wait_metric(server, "s2s_cache_redis_up", lambda v: v == 1)
        load.wait_calls(64)
        redis.stop()
        load.wait_calls(96)
        wait_metric(server, "s2s_cache_redis_up", lambda v: v == 0)
        errors = wait_metric(server, "s2s_cache_redis_errors_total", lambda v: v > 0)
        assert errors > 0
        redis.start()  # an empty Redis on the same port
        wait_metric(server, "s2s_cache_redis_up", lambda v: v == 1)
        load.wait_calls(96)
        stored = len(redis.scan_keys())
    assert load.failures == [], load.failures[:3]
    assert stored > 0  # entries written after Redis came back: caching resumed by itself
    assert "redis_down" in server.log()


def test_a_redis_that_never_answers_costs_calls_nothing_but_a_short_timeout(
    tmp_path: Path,
) -> None:
    with (
        SilentServer() as silent,
        running_server(
            tmp_path,
            "--redis-url",
            silent.url,
            "--redis-timeout-ms",
            "50",
            metrics=True,
            models=REGISTRY,
        ) as server,  # fmt: skip
        Seq2SeqClient(server.target, timeout=5) as client,
    ):
        for n in range(20):
            assert client.translate([sentence(n)], "en", "de").results[0].text
        again = client.translate([sentence(0)], "en", "de")
        assert again.results[0].cached  # the memory tier still works
        assert server.metric("s2s_cache_redis_errors_total") > 0
        assert server.metric("s2s_cache_redis_up") == 0


def test_redis_down_at_start_the_server_still_serves_and_says_so_once(tmp_path: Path) -> None:
    with redis_server(tmp_path) as redis:
        url = redis.url
    with (  # nothing listens on that port any more
        running_server(tmp_path, "--redis-url", url, metrics=True, models=REGISTRY) as server,
        Seq2SeqClient(server.target, timeout=10) as client,
    ):
        assert client.translate([sentence(1)], "en", "de").results[0].text
        assert server.health() == 1  # SERVING: the cache is not a readiness dependency
    assert server.log().count("redis_down") == 1
