"""The encoder-output cache's Redis dying under load fails no call; entries come back with it."""

from __future__ import annotations

from pathlib import Path

from service.client import Seq2SeqClient
from service.types import DecodingOptions
from tests.loadgen import Load, wait_metric
from tests.redisproc import redis_server
from tests.serverproc import running_server

CALLERS = 8
OPTIONS = (
    DecodingOptions(beam_size=1),
    DecodingOptions(beam_size=2),
    DecodingOptions(max_length=8),
)


def many_ways(client: Seq2SeqClient, caller: int, call: int) -> None:
    """A few texts per caller, each decoded with changing options: the encoder cache answers."""
    text = f"The old man sees {caller * 3 + call % 3} small dogs in the garden."
    client.translate([text], "en", "de", options=OPTIONS[(call // 3) % len(OPTIONS)])


def test_redis_dying_under_load_fails_no_call_and_encoder_caching_resumes(
    tmp_path: Path, torch_registry: Path
) -> None:
    with (
        redis_server(tmp_path) as redis,
        running_server(  # encoder cache only, Redis only: every lookup goes to Redis
            tmp_path,
            "--cache",
            "encoder",
            "--encoder-cache-memory-mb",
            "0",
            "--redis-url",
            redis.url,
            models=torch_registry,
            metrics=True,
        ) as server,  # fmt: skip
        Load(server.target, many_ways, CALLERS) as load,
    ):
        wait_metric(server, "s2s_cache_redis_up", lambda v: v == 1)
        load.wait_calls(48)
        assert server.metric("s2s_cache_lookups_total", kind="encoder", tier="redis",
                             outcome="hit") > 0  # fmt: skip
        redis.stop()
        load.wait_calls(48)
        wait_metric(server, "s2s_cache_redis_up", lambda v: v == 0)
        assert wait_metric(server, "s2s_cache_redis_errors_total", lambda v: v > 0) > 0
        redis.start()  # an empty Redis on the same port
        wait_metric(server, "s2s_cache_redis_up", lambda v: v == 1)
        load.wait_calls(48)
        stored = len(redis.scan_keys("s2s:v1:e:*"))
    assert load.failures == [], load.failures[:3]
    assert stored > 0  # written after Redis came back: caching resumed by itself
