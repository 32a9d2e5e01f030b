"""The memory tier's byte bound, the breaker's states and single-flight, with no I/O."""

from __future__ import annotations

import asyncio

import pytest

from service.cache import build_caches
from service.cache.breaker import CircuitBreaker, State
from service.cache.memory import ENTRY_OVERHEAD, ByteLRU
from service.cache.singleflight import LeaderFailed, SingleFlight
from service.config import Settings
from service.types import GeneratedText, Hypothesis


def test_lru_stays_within_its_byte_bound_and_evicts_the_least_recently_used() -> None:
    entry = len("key-0000") + 100 + ENTRY_OVERHEAD
    lru = ByteLRU(max_bytes=3 * entry)
    for i in range(3):
        lru.put(f"key-{i:04d}", bytes(100))
    assert lru.get("key-0000") is not None  # now the most recently used
    lru.put("key-0003", bytes(100))
    assert lru.get("key-0001") is None  # evicted
    assert lru.get("key-0000") is not None
    assert lru.bytes == 3 * entry and len(lru) == 3
    for i in range(100):
        lru.put(f"k-{i:06d}", bytes(i * 7))
        assert lru.bytes <= lru.max_bytes


def test_lru_replaces_values_and_ignores_values_larger_than_itself() -> None:
    lru = ByteLRU(max_bytes=1000)
    lru.put("a", b"x" * 10)
    lru.put("a", b"y" * 20)
    assert lru.get("a") == b"y" * 20 and lru.bytes == 1 + 20 + ENTRY_OVERHEAD
    lru.put("huge", bytes(5000))
    assert lru.get("huge") is None and lru.get("a") is not None


def test_breaker_opens_after_failures_probes_after_cooldown_and_closes_on_success() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=3, cooldown=2.0, clock=lambda: now[0])
    for _ in range(2):
        breaker.failure()
    assert breaker.allow() and breaker.state is State.CLOSED
    breaker.failure()
    assert breaker.state is State.OPEN and not breaker.allow()
    now[0] = 1.9
    assert not breaker.allow()
    now[0] = 2.0
    assert breaker.allow() and breaker.state is State.HALF_OPEN  # one probe
    assert not breaker.allow()  # nobody else while it is out
    breaker.failure()
    assert breaker.state is State.OPEN  # the probe failed: open again, a new cooldown
    now[0] = 4.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state is State.CLOSED and breaker.allow()


RESULT = GeneratedText((Hypothesis("Hallo", 1),), input_tokens=2)


async def test_single_flight_hands_the_leaders_result_to_joiners() -> None:
    flights = SingleFlight()
    assert flights.join("k") is None
    flights.lead("k")
    joined = flights.join("k")
    assert joined is not None
    flights.land("k", RESULT)
    assert await joined == RESULT
    assert flights.join("k") is None and len(flights) == 0


async def test_single_flight_tells_joiners_when_the_leader_failed() -> None:
    flights = SingleFlight()
    flights.lead("k")
    joined = flights.join("k")
    assert joined is not None
    flights.abort("k")
    with pytest.raises(LeaderFailed):
        await joined
    flights.lead("gone")
    flights.abort("gone")  # nobody joined: no "exception never retrieved" noise
    await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("mode", "results", "encoder"),
    [("on", True, True), ("result", True, False), ("encoder", False, True), ("off", False, False)],
)
async def test_both_caches_share_one_redis_tier_and_keep_their_own_memory_budgets(
    mode: str, results: bool, encoder: bool
) -> None:
    settings = Settings(
        cache=mode,  # type: ignore[arg-type]
        cache_memory_mb=2,
        encoder_cache_memory_mb=3,
        redis_url="redis://127.0.0.1:6379/0",
    )
    caches = build_caches(settings)
    try:
        assert (caches.results is not None) == results
        assert (caches.encoder is not None) == encoder
        assert (caches.redis is not None) == (results or encoder)  # one pool, breaker, monitor
        for cache, mib in ((caches.results, 2), (caches.encoder, 3)):
            if cache is not None:
                assert cache.redis is caches.redis
                assert cache.memory is not None and cache.memory.max_bytes == mib << 20
    finally:
        await caches.close()
