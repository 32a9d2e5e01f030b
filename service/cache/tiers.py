"""Every cache the server runs, built once from the settings around ONE Redis tier.

The result cache (pipeline, per text) and the encoder-output cache (torch engine, per source)
share the Redis connection pool, its circuit breaker and its health monitor, so a failing Redis
is noticed, logged and skipped once for both; each has its own in-process LRU budget.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.cache.breaker import CircuitBreaker
from service.cache.encoder import EncoderCache
from service.cache.memory import ByteLRU
from service.cache.redis_tier import RedisTier
from service.cache.results import ResultCache

if TYPE_CHECKING:
    from service.config import Settings

MIB = 1024 * 1024


@dataclass
class Caches:
    redis: RedisTier | None = None
    results: ResultCache | None = None
    encoder: EncoderCache | None = None

    async def start(self) -> None:
        """On the event loop: start the Redis monitor and bind the encoder cache to the loop."""
        if self.redis is not None:
            self.redis.start_monitor()
        if self.encoder is not None:
            await self.encoder.start()

    async def close(self, timeout: float = 1.0) -> None:
        """Let pending writes finish (both caches at once, within ``timeout``), then drop the
        Redis connections."""
        closing = [c.close(timeout) for c in (self.results, self.encoder) if c is not None]
        await asyncio.gather(*closing)
        if self.redis is not None:
            # Bounded: a shutdown must never wait on a Redis that stopped answering.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(timeout, 0.5)):
                    await self.redis.close()


def build_caches(settings: Settings) -> Caches:
    """The caches the settings ask for (``--cache``: on, off, result or encoder only)."""
    want_results = settings.cache in ("on", "result")
    want_encoder = settings.cache in ("on", "encoder")
    result_memory = _lru(settings.cache_memory_mb) if want_results else None
    encoder_memory = _lru(settings.encoder_cache_memory_mb) if want_encoder else None
    redis = None
    if settings.redis_url and (want_results or want_encoder):
        redis = RedisTier(
            settings.redis_url,
            timeout_s=settings.redis_timeout_ms / 1000,
            ttl_s=settings.cache_ttl_seconds,
            breaker=CircuitBreaker(
                settings.redis_breaker_failures, settings.redis_breaker_cooldown_s
            ),
        )
    caches = Caches(redis=redis)
    if want_results and (result_memory is not None or redis is not None):
        caches.results = ResultCache(result_memory, redis)
    if want_encoder and (encoder_memory is not None or redis is not None):
        caches.encoder = EncoderCache(encoder_memory, redis)
    return caches


def _lru(mib: int) -> ByteLRU | None:
    return ByteLRU(mib * MIB) if mib else None
