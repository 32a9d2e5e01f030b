"""The result cache against the real server and a real redis-server of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.client import Seq2SeqClient
from service.types import DecodingOptions
from tests.redisproc import RedisProcess, redis_server
from tests.serverproc import REGISTRY, ServerProcess, running_server

TEXTS = [f"The old man sees {n} small dogs in the garden." for n in range(2, 9)]


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def cached_server(tmp_path: Path, redis: RedisProcess) -> Iterator[ServerProcess]:
    with running_server(tmp_path, "--redis-url", redis.url, metrics=True, models=REGISTRY) as s:
        yield s


def test_a_repeated_call_is_answered_from_the_cache_with_the_same_output(
    cached_server: ServerProcess, redis: RedisProcess
) -> None:
    with Seq2SeqClient(cached_server.target) as client:
        first = client.translate(TEXTS[:1], "en", "de")
        second = client.translate(TEXTS[:1], "en", "de")
    assert not first.results[0].cached and second.results[0].cached
    assert second.results[0].hypotheses == first.results[0].hypotheses
    assert second.results[0].input_tokens == first.results[0].input_tokens
    assert len(redis.scan_keys("s2s:v1:r:*")) >= 1  # the Redis tier holds it for other replicas
    assert all(TEXTS[0].encode() not in key for key in redis.scan_keys())


def test_partial_hits_keep_the_order_and_only_misses_are_decoded(
    cached_server: ServerProcess,
) -> None:
    with Seq2SeqClient(cached_server.target) as client:
        warm = client.translate(TEXTS[0:6:2], "en", "de")  # texts 0, 2, 4
        batches = cached_server.metric("s2s_batch_size_sum")
        mixed = client.translate(TEXTS[:6], "en", "de")
        alone = [client.translate([t], "en", "de").results[0].text for t in TEXTS[:6]]
    assert [r.cached for r in mixed.results] == [True, False, True, False, True, False]
    assert [r.text for r in mixed.results] == alone
    assert [mixed.results[i].text for i in (0, 2, 4)] == [r.text for r in warm.results]
    assert cached_server.metric("s2s_batch_size_sum") == batches + 3  # only the three misses


def test_identical_texts_in_one_request_are_decoded_once(cached_server: ServerProcess) -> None:
    with Seq2SeqClient(cached_server.target) as client:
        batches = cached_server.metric("s2s_batch_size_sum")
        reply = client.translate([TEXTS[6]] * 5, "en", "de")
    assert len({r.text for r in reply.results}) == 1
    assert cached_server.metric("s2s_batch_size_sum") == batches + 1


def test_scores_and_n_best_come_back_as_asked_from_the_cache(
    cached_server: ServerProcess,
) -> None:
    nbest = DecodingOptions(beam_size=3, num_hypotheses=2, return_scores=True)
    with Seq2SeqClient(cached_server.target) as client:
        plain = client.translate(TEXTS[:1], "en", "de", options=DecodingOptions(beam_size=3))
        scored = client.translate(TEXTS[:1], "en", "de", options=nbest)
        again = client.translate(TEXTS[:1], "en", "de", options=nbest)
        plain_again = client.translate(TEXTS[:1], "en", "de", options=DecodingOptions(beam_size=3))
    assert not scored.results[0].cached  # n-best is part of the key
    assert again.results[0].cached and again.results[0].hypotheses == scored.results[0].hypotheses
    assert all(h.score is not None for h in again.results[0].hypotheses)
    assert plain_again.results[0].cached
    assert plain_again.results[0].hypotheses[0].score is None  # not asked: not sent
    assert plain_again.results[0].text == plain.results[0].text


def test_sampling_without_a_seed_is_never_cached(
    cached_server: ServerProcess, redis: RedisProcess
) -> None:
    sample = DecodingOptions(sampling_top_k=20, sampling_temperature=0.9)
    with Seq2SeqClient(cached_server.target) as client:
        before = len(redis.scan_keys())
        replies = [client.translate(TEXTS[:1], "en", "de", options=sample) for _ in range(3)]
    assert not any(r.results[0].cached for r in replies)
    assert len(redis.scan_keys()) == before


def test_a_second_replica_is_answered_from_the_first_ones_redis_entries(
    tmp_path: Path, cached_server: ServerProcess, redis: RedisProcess
) -> None:
    with Seq2SeqClient(cached_server.target) as client:
        first = client.translate(TEXTS[1:3], "en", "de")
    with (
        running_server(tmp_path / "b", "--redis-url", redis.url, models=REGISTRY) as other,
        Seq2SeqClient(other.target) as client,
    ):
        reply = client.translate(TEXTS[1:3], "en", "de")
    assert [r.cached for r in reply.results] == [True, True]
    assert [r.text for r in reply.results] == [r.text for r in first.results]


def test_cache_off_decodes_every_time(tmp_path: Path, redis: RedisProcess) -> None:
    with (
        running_server(
            tmp_path, "--cache", "off", "--redis-url", redis.url, models=REGISTRY
        ) as server,
        Seq2SeqClient(server.target) as client,
    ):
        replies = [client.translate(TEXTS[:1], "en", "de") for _ in range(2)]
    assert not any(r.results[0].cached for r in replies)
    assert redis.scan_keys() == []
