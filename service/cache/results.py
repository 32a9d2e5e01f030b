"""The result cache the pipeline uses: per text, memory tier first, then Redis.

Lookups never raise: a Redis failure or a corrupt value is a miss (counted), never an error for
the caller. Stores go to the memory tier at once and to Redis in a background task, so no
caller ever waits for a cache write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from service import metrics
from service.cache.breaker import CircuitBreaker
from service.cache.codec import CorruptValue, decode_result, encode_result
from service.cache.memory import ByteLRU
from service.cache.redis_tier import RedisTier
from service.cache.singleflight import SingleFlight
from service.types import GeneratedText

if TYPE_CHECKING:
    from service.config import Settings

log = structlog.get_logger(__name__)


class ResultCache:
    def __init__(self, memory: ByteLRU | None, redis: RedisTier | None) -> None:
        self.memory = memory
        self.redis = redis
        self.flights = SingleFlight()
        self._writes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self.redis is not None:
            self.redis.start_monitor()

    async def close(self, timeout: float = 1.0) -> None:
        """Let pending Redis writes finish (briefly), then drop the connections."""
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=timeout)
        if self.redis is not None:
            await self.redis.close()

    async def get_many(self, model: str, keys: Sequence[str]) -> list[GeneratedText | None]:
        found: list[GeneratedText | None] = [None] * len(keys)
        missing = list(range(len(keys)))
        if self.memory is not None:
            missing = []
            for i, key in enumerate(keys):
                value = self.memory.get(key)
                result = self._decode(model, "memory", key, value)
                if result is None:
                    missing.append(i)
                found[i] = result
        if missing and self.redis is not None:
            values = await self.redis.get_many([keys[i] for i in missing])
            if values is None:
                _count(model, "redis", "error", len(missing))
            else:
                for i, value in zip(missing, values, strict=True):
                    result = self._decode(model, "redis", keys[i], value)
                    if result is not None:
                        found[i] = result
                        if self.memory is not None:  # the next lookup need not leave the process
                            assert value is not None
                            self._remember(keys[i], value)
        return found

    def put_many(self, model: str, items: Sequence[tuple[str, GeneratedText]]) -> None:
        if not items:
            return
        encoded = [(key, encode_result(_without_flags(result))) for key, result in items]
        if self.memory is not None:
            for key, value in encoded:
                self._remember(key, value)
            metrics.CACHE_STORES.labels(model, "result", "memory").inc(len(encoded))
        if self.redis is not None:
            task = asyncio.create_task(self._write(model, encoded))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _write(self, model: str, encoded: list[tuple[str, bytes]]) -> None:
        assert self.redis is not None
        if await self.redis.set_many(encoded):
            metrics.CACHE_STORES.labels(model, "result", "redis").inc(len(encoded))

    def _decode(self, model: str, tier: str, key: str, value: bytes | None) -> GeneratedText | None:
        if value is None:
            _count(model, tier, "miss")
            return None
        try:
            result = decode_result(value)
        except CorruptValue as exc:
            _count(model, tier, "corrupt")
            log.warning("cache_value_corrupt", tier=tier, key=key, error=str(exc))
            if tier == "memory" and self.memory is not None:
                self.memory.discard(key)
            return None
        _count(model, tier, "hit")
        return result

    def _remember(self, key: str, value: bytes) -> None:
        assert self.memory is not None
        self.memory.put(key, value)
        metrics.CACHE_BYTES.labels("memory").set(self.memory.bytes)
        metrics.CACHE_ENTRIES.labels("memory").set(len(self.memory))


def _count(model: str, tier: str, outcome: str, n: int = 1) -> None:
    metrics.CACHE_LOOKUPS.labels(model, "result", tier, outcome).inc(n)


def _without_flags(result: GeneratedText) -> GeneratedText:
    return GeneratedText(result.hypotheses, result.input_tokens)


def build_result_cache(settings: Settings) -> ResultCache | None:
    """The cache the settings ask for: None when caching is off."""
    if settings.cache == "off":
        return None
    memory = ByteLRU(settings.cache_memory_mb * 1024 * 1024) if settings.cache_memory_mb else None
    redis_tier = None
    if settings.redis_url:
        redis_tier = RedisTier(
            settings.redis_url,
            timeout_s=settings.redis_timeout_ms / 1000,
            ttl_s=settings.cache_ttl_seconds,
            breaker=CircuitBreaker(
                settings.redis_breaker_failures, settings.redis_breaker_cooldown_s
            ),
        )
    if memory is None and redis_tier is None:
        return None
    return ResultCache(memory, redis_tier)
