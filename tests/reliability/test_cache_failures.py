"""Redis is never on the critical path: down, dying, hanging or back, every call succeeds."""

from __future__ import annotations

from pathlib import Path

from service.client import Seq2SeqClient
from tests.loadgen import Load, wait_metric
from tests.redisproc import SilentServer, redis_server
from tests.serverproc import REGISTRY, running_server

CALLERS = 32


def sentence(n: int) -> str:
    return f"The old man sees {n} small dogs in the garden."


def alternating(client: Seq2SeqClient, caller: int, call: int) -> None:
    """Each caller alternates a new text (a miss) with the text before it (a hit)."""
    n = caller + CALLERS * ((call + 1) // 2)  # 0, 1, 1, 2, 2, ...: new, then again
    client.translate([sentence(n)], "en", "de")


def test_redis_dying_under_load_fails_no_call_and_caching_resumes_when_it_returns(
    tmp_path: Path,
) -> None:
    with (
        redis_server(tmp_path) as redis,
        running_server(tmp_path, "--redis-url", redis.url, metrics=True, models=REGISTRY) as server,
        Load(server.target, alternating, CALLERS) as load,
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
