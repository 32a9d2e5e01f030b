"""The result cache the pipeline uses: per text, memory tier first, then Redis.

Lookups never raise: a Redis failure or a corrupt value is a miss (counted), never an error for
the caller. Stores go to the memory tier at once and to Redis in a background task, so no
caller ever waits for a cache write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from service import metrics
from service.cache.codec import CorruptValue, decode_result, encode_result
from service.cache.memory import ByteLRU
from service.cache.redis_tier import RedisTier
from service.cache.singleflight import SingleFlight
from service.types import GeneratedText

log = structlog.get_logger(__name__)


class ResultCache:
    def __init__(self, memory: ByteLRU | None, redis: RedisTier | None) -> None:
        self.memory = memory
        self.redis = redis
        self.flights = SingleFlight()
        self._writes: set[asyncio.Task[None]] = set()

    async def close(self, timeout: float = 1.0) -> None:
        """Let pending Redis writes finish (briefly); the Redis tier is closed by its owner."""
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=timeout)

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
            metrics.CACHE_STORED_BYTES.labels(model, "result", "memory").inc(
                sum(len(v) for _, v in encoded)
            )
        if self.redis is not None:
            task = asyncio.create_task(self._write(model, encoded))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _write(self, model: str, encoded: list[tuple[str, bytes]]) -> None:
        assert self.redis is not None
        if await self.redis.set_many(encoded):
            metrics.CACHE_STORES.labels(model, "result", "redis").inc(len(encoded))
            metrics.CACHE_STORED_BYTES.labels(model, "result", "redis").inc(
                sum(len(v) for _, v in encoded)
            )

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
