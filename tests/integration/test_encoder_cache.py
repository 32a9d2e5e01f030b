"""The torch engine's encoder-output cache against the real server and a real redis-server of
the test's own, on the demo model converted with ``s2s convert --engine torch``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.client import Seq2SeqClient
from service.types import DecodingOptions, GenerationResult
from tests.redisproc import RedisProcess, redis_server
from tests.serverproc import ServerProcess, running_server
from tests.torchmodel import TORCH_MODEL

TEXT = "The old man sees the small dog because it is playing in the garden."
REPORT = (
    "Forecasters warned of a heat wave in Styria on Friday. It could get as hot as 39 degrees. "
    "Trains may be delayed. Traffic in the city centre was heavy."
)
THREE_WAYS = (
    DecodingOptions(beam_size=1),
    DecodingOptions(beam_size=4),
    DecodingOptions(beam_size=4, num_hypotheses=3, return_scores=True),
)


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def cached(
    tmp_path_factory: pytest.TempPathFactory, torch_registry: Path, redis: RedisProcess
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("cached")
    with running_server(
        tmp, "--redis-url", redis.url, models=torch_registry, metrics=True
    ) as server:
        yield server


@pytest.fixture(scope="module")
def uncached(
    tmp_path_factory: pytest.TempPathFactory, torch_registry: Path
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("uncached")
    with running_server(tmp, "--cache", "off", models=torch_registry, metrics=True) as server:
        yield server


def encoder_runs(server: ServerProcess) -> float:
    return server.metric("s2s_engine_phase_seconds_count", phase="encoder")


def hits(server: ServerProcess, tier: str) -> float:
    return server.metric("s2s_cache_lookups_total", kind="encoder", tier=tier, outcome="hit")


def same_output(a: GenerationResult, b: GenerationResult) -> bool:
    """Token-identical hypotheses; scores equal up to the float16 rounding of cached encoder
    outputs (the 4th decimal)."""

    def texts(r: GenerationResult) -> list[list[tuple[str, int]]]:
        return [[(h.text, h.output_tokens) for h in t.hypotheses] for t in r.results]

    def scores(r: GenerationResult) -> list[float]:
        return [h.score for t in r.results for h in t.hypotheses if h.score is not None]

    return texts(a) == texts(b) and scores(a) == pytest.approx(scores(b), abs=1e-3)


def test_the_model_is_served_by_the_torch_engine(cached: ServerProcess) -> None:
    with Seq2SeqClient(cached.target) as client:
        (info,) = client.list_models()
    assert info.name == TORCH_MODEL and info.engine == "torch" and info.supports_seed


def test_one_text_three_ways_runs_the_encoder_once_and_says_what_no_cache_says(
    cached: ServerProcess, uncached: ServerProcess, redis: RedisProcess
) -> None:
    runs, memory_hits = encoder_runs(cached), hits(cached, "memory")
    with Seq2SeqClient(cached.target) as client:
        replies = [client.translate([TEXT], "en", "de", options=o) for o in THREE_WAYS]
    assert encoder_runs(cached) == runs + 1  # beam 1 encoded it; beam 4 and n-best reused it
    assert hits(cached, "memory") == memory_hits + 2
    assert not any(r.results[0].cached for r in replies)  # decoded each time: no result hit
    with Seq2SeqClient(uncached.target) as client:
        plain = [client.translate([TEXT], "en", "de", options=o) for o in THREE_WAYS]
    for reply, reference in zip(replies, plain, strict=True):
        assert same_output(reply, reference)
    assert len(replies[2].results[0].hypotheses) == 3
    assert redis.scan_keys("s2s:v1:e:*")  # in Redis for every replica


def test_a_report_summarised_at_two_lengths_is_encoded_once_with_the_same_headline(
    cached: ServerProcess, uncached: ServerProcess
) -> None:
    runs = encoder_runs(cached)
    saved = cached.metric("s2s_encoder_seconds_saved_total")
    with Seq2SeqClient(cached.target) as client:
        short = client.summarize([REPORT], options=DecodingOptions(max_length=6))
        full = client.summarize([REPORT], options=DecodingOptions(max_length=48))
    with Seq2SeqClient(uncached.target) as client:
        reference = client.summarize([REPORT], options=DecodingOptions(max_length=48))
    assert encoder_runs(cached) == runs + 1
    assert cached.metric("s2s_encoder_seconds_saved_total") > saved
    assert short.results[0].output_tokens == 6
    assert (
        full.results[0].text
        == reference.results[0].text
        == ("Heat warning for Styria, up to 39 degrees")
    )
    assert cached.metric("s2s_cache_stored_bytes_total", kind="encoder", tier="redis") > 0


def test_a_second_replica_decodes_from_the_first_ones_entries_in_redis(
    tmp_path: Path,
    torch_registry: Path,
    cached: ServerProcess,
    uncached: ServerProcess,
    redis: RedisProcess,
) -> None:
    text = "My sister buys three red apples because the shop is closing."
    with Seq2SeqClient(cached.target) as client:
        client.translate([text], "en", "de")  # the first replica encodes and stores it
    options = DecodingOptions(beam_size=3)  # not in the result cache: the engine must decode
    with running_server(
        tmp_path, "--redis-url", redis.url, models=torch_registry, metrics=True
    ) as other:
        runs = encoder_runs(other)
        with Seq2SeqClient(other.target) as client:
            reply = client.translate([text], "en", "de", options=options)
        assert encoder_runs(other) == runs  # no encoder run: the entry came from Redis
        assert hits(other, "redis") >= 1
    with Seq2SeqClient(uncached.target) as client:
        assert same_output(reply, client.translate([text], "en", "de", options=options))


def test_the_torch_engine_metrics_move(cached: ServerProcess) -> None:
    with Seq2SeqClient(cached.target) as client:
        client.translate(["The cat sleeps."], "en", "de")
        client.translate(["The cat sleeps."], "en", "de", options=DecodingOptions(beam_size=2))
    for phase in ("encoder", "decoder"):
        assert cached.metric("s2s_engine_phase_seconds_sum", phase=phase) > 0
    assert cached.metric("s2s_encoder_seconds_saved_total") > 0
    assert cached.metric("s2s_cache_stores_total", kind="encoder", tier="memory") > 0
    assert cached.metric("s2s_cache_bytes", tier="encoder_memory") > 0
    assert cached.metric("s2s_cache_entries", tier="encoder_memory") > 0


def test_the_torch_engine_streams_tokens_and_the_pieces_make_the_result(
    cached: ServerProcess,
) -> None:
    text = "The young woman sees the big dog in the park because it is playing."
    with Seq2SeqClient(cached.target) as client:
        events = list(
            client.translate_stream([text], "en", "de", options=DecodingOptions(beam_size=1))
        )
        whole = client.translate([text], "en", "de", options=DecodingOptions(beam_size=1))
    pieces = [e.delta for e in events if e.delta]
    final = [e.result for e in events if e.result is not None]
    assert len(pieces) > 1  # token by token, not one piece at the end
    assert len(final) == 1 and final[0].text == "".join(pieces).strip() == whole.results[0].text
