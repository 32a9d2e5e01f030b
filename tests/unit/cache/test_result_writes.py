"""The result cache's Redis writes against a real redis-server of the test's own: stores made
while a write is in flight go out together, none is lost, and a closed cache has written them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from service.cache.breaker import CircuitBreaker
from service.cache.codec import decode_result
from service.cache.redis_tier import RedisTier
from service.cache.results import WRITE_BATCH, ResultCache
from service.types import GeneratedText, Hypothesis
from tests.redisproc import redis_server


class CountingTier(RedisTier):
    """The real tier, counting its round trips."""

    round_trips: list[int]

    async def set_many(self, items: Sequence[tuple[str, bytes]]) -> bool:
        self.round_trips.append(len(items))
        return await super().set_many(items)


def _result(i: int) -> GeneratedText:
    return GeneratedText((Hypothesis(f"Satz {i}.", 4, -0.5),), 6)


def _tier(url: str) -> CountingTier:
    tier = CountingTier(url, timeout_s=1.0, ttl_s=60, breaker=CircuitBreaker())
    tier.round_trips = []
    return tier


def test_stores_made_during_a_write_share_the_next_round_trip(tmp_path: Path) -> None:
    async def scenario(url: str) -> tuple[list[int], list[bytes | None]]:
        tier = _tier(url)
        cache = ResultCache(None, tier)
        keys = [f"s2s:test:{i}" for i in range(300)]
        for i, key in enumerate(keys):  # 300 requests' stores in one turn of the loop
            cache.put_many("m", [(key, _result(i))])
        await cache.close(timeout=5)
        values = await tier.get_many(keys)
        await tier.close()
        assert values is not None
        return tier.round_trips, values

    with redis_server(tmp_path) as redis:
        trips, values = asyncio.run(scenario(redis.url))
    assert sum(trips) == 300 and len(trips) <= 2, trips  # not one pipeline per request
    assert all(v is not None for v in values)
    assert [decode_result(v).hypotheses[0].text for v in values if v] == [
        f"Satz {i}." for i in range(300)
    ]


def test_a_round_trip_carries_at_most_write_batch_entries(tmp_path: Path) -> None:
    async def scenario(url: str) -> list[int]:
        tier = _tier(url)
        cache = ResultCache(None, tier)
        batch = [(f"s2s:test:{i}", _result(i)) for i in range(100)]
        for r in range(12):  # 1,200 entries in requests of 100
            cache.put_many("m", [(f"{k}:{r}", v) for k, v in batch])
        await cache.close(timeout=5)
        await tier.close()
        return tier.round_trips

    with redis_server(tmp_path) as redis:
        trips = asyncio.run(scenario(redis.url))
    assert sum(trips) == 1200 and max(trips) <= WRITE_BATCH, trips
