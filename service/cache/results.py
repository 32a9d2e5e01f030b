"""The result cache the pipeline uses: per text, memory tier first, then Redis.

Lookups never raise: a Redis failure or a corrupt value is a miss (counted), never an error for
the caller. Stores go to the memory tier at once and to Redis in the background, so no caller
ever waits for a cache write. One writer task sends them: whatever is stored while a write is
in flight goes out together in the next round trip, since under load a pipeline per request
costs the event loop (and so the engine, on a busy CPU) more than the writes themselves.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

import structlog

from service import metrics
from service.cache.codec import CorruptValue, decode_result, encode_result
from service.cache.memory import ByteLRU
from service.cache.redis_tier import RedisTier
from service.cache.singleflight import SingleFlight
from service.types import GeneratedText

log = structlog.get_logger(__name__)

WRITE_BATCH = 512  # most entries in one Redis round trip


class ResultCache:
    def __init__(self, memory: ByteLRU | None, redis: RedisTier | None) -> None:
        self.memory = memory
        self.redis = redis
        self.flights = SingleFlight()
        self._queued: deque[tuple[str, list[tuple[str, bytes]]]] = deque()  # (model, entries)
        self._writer: asyncio.Task[None] | None = None

    async def close(self, timeout: float = 1.0) -> None:
        """Let pending Redis writes finish (briefly); the Redis tier is closed by its owner."""
        if self._writer is not None and not self._writer.done():
            await asyncio.wait({self._writer}, timeout=timeout)

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
            self._queued.append((model, encoded))
            if self._writer is None or self._writer.done():
                self._writer = asyncio.create_task(self._write_queued())

    async def _write_queued(self) -> None:
        """Until nothing is queued: everything queued so far, in one pipeline (at most
        ``WRITE_BATCH`` entries a round trip). Redis refusing or timing out drops that round's
        entries (counted as Redis errors by the tier); they stay in the memory tier."""
        assert self.redis is not None
        while self._queued:
            batch: list[tuple[str, list[tuple[str, bytes]]]] = []
            count = 0
            while self._queued and (not batch or count + len(self._queued[0][1]) <= WRITE_BATCH):
                model, entries = self._queued.popleft()
                batch.append((model, entries))
                count += len(entries)
            if await self.redis.set_many([e for _, entries in batch for e in entries]):
                for model, entries in batch:
                    metrics.CACHE_STORES.labels(model, "result", "redis").inc(len(entries))
                    metrics.CACHE_STORED_BYTES.labels(model, "result", "redis").inc(
                        sum(len(v) for _, v in entries)
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
