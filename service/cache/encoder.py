"""The encoder-output cache: one source encoded once, decoded many ways, by any replica.

Engines call it from their worker threads (never from the event loop): `lookup` blocks for at
most one Redis round trip (bounded by the Redis tier's timeout), `store` never blocks. The
Redis tier is asyncio and lives on the event loop, so both hop onto the loop the cache was
started on. Nothing here raises to the engine: a Redis failure, a timeout or a corrupt value
is a miss (counted), and the engine encodes that source itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from service import metrics
from service.cache.codec import CorruptValue
from service.cache.memory import ByteLRU
from service.cache.redis_tier import RedisTier
from service.cache.tensor_codec import EncoderEntry, decode_entry, encode_entry

log = structlog.get_logger(__name__)

MEMORY_TIER = "encoder_memory"  # the s2s_cache_bytes / s2s_cache_entries label of this LRU
# Extra time a worker waits for the loop to run a Redis call beyond the call's own timeout
# (the loop may be busy for a moment); past it the lookup counts as a Redis error.
_LOOP_SLACK_S = 0.05


@dataclass(frozen=True, slots=True)
class Expected:
    """What a usable entry for one source must look like (else it is counted corrupt)."""

    revision: str
    dtypes: tuple[str, ...]  # the storage dtypes whose entries decode like this engine's misses
    shape: tuple[int, ...]


class EncoderCache:
    def __init__(self, memory: ByteLRU | None, redis: RedisTier | None) -> None:
        self.memory = memory
        self.redis = redis
        self._lock = threading.Lock()  # the memory tier is shared by every worker thread
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._writes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind to the running loop: Redis calls from worker threads run there."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    async def close(self, timeout: float = 1.0) -> None:
        """Let pending Redis writes finish (briefly); the Redis tier is closed by its owner."""
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=timeout)
        self._loop = None

    # ------------------------------------------------------------------ worker-thread side

    def lookup(
        self, model: str, keys: Sequence[str], expected: Sequence[Expected]
    ) -> list[EncoderEntry | None]:
        """The usable entries (None where missing or unusable): memory first, then Redis."""
        found: list[EncoderEntry | None] = [None] * len(keys)
        missing = list(range(len(keys)))
        if self.memory is not None:
            missing = []
            for i, key in enumerate(keys):
                with self._lock:
                    value = self.memory.get(key)
                found[i] = self._decode(model, "memory", key, value, expected[i])
                if found[i] is None:
                    missing.append(i)
        if missing and self.redis is not None:
            values = self._redis_get([keys[i] for i in missing])
            if values is None:
                _count(model, "redis", "error", len(missing))
            else:
                for i, value in zip(missing, values, strict=True):
                    entry = self._decode(model, "redis", keys[i], value, expected[i])
                    if entry is not None and value is not None:
                        found[i] = entry
                        self._remember(keys[i], value)  # the next lookup stays in process
        saved = sum(e.encoder_seconds for e in found if e is not None)
        if saved:
            metrics.ENCODER_SECONDS_SAVED.labels(model).inc(saved)
        return found

    def store(self, model: str, items: Sequence[tuple[str, EncoderEntry]]) -> None:
        """Keep new entries: in memory at once, in Redis in the background (never waited on)."""
        if not items:
            return
        encoded = [(key, encode_entry(entry)) for key, entry in items]
        size = sum(len(v) for _, v in encoded)
        if self.memory is not None:
            for key, value in encoded:
                self._remember(key, value)
            metrics.CACHE_STORES.labels(model, "encoder", "memory").inc(len(encoded))
            metrics.CACHE_STORED_BYTES.labels(model, "encoder", "memory").inc(size)
        loop = self._loop
        if self.redis is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody to write for
                loop.call_soon_threadsafe(self._spawn_write, model, encoded, size)

    # ------------------------------------------------------------------ helpers

    def _redis_get(self, keys: list[str]) -> list[bytes | None] | None:
        loop, redis = self._loop, self.redis
        if loop is None or redis is None or threading.get_ident() == self._loop_thread:
            return None  # never block the loop on itself
        try:
            future = asyncio.run_coroutine_threadsafe(redis.get_many(keys), loop)
        except RuntimeError:  # the loop is closed
            return None
        try:
            return future.result(timeout=redis.timeout_s * 2 + _LOOP_SLACK_S)
        except Exception as exc:  # a timeout, or anything else: the cache never fails a call
            # Not cancelled: the lookup ends by itself within its own timeout, and cancelling a
            # Redis command from outside can leave its pooled connection half-read.
            metrics.CACHE_REDIS_ERRORS.labels("get").inc()
            if not isinstance(exc, concurrent.futures.TimeoutError | asyncio.CancelledError):
                log.warning("encoder_cache_redis_failed", error=repr(exc))
            return None

    def _spawn_write(self, model: str, encoded: list[tuple[str, bytes]], size: int) -> None:
        task = asyncio.get_running_loop().create_task(self._write(model, encoded, size))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, model: str, encoded: list[tuple[str, bytes]], size: int) -> None:
        assert self.redis is not None
        if await self.redis.set_many(encoded):
            metrics.CACHE_STORES.labels(model, "encoder", "redis").inc(len(encoded))
            metrics.CACHE_STORED_BYTES.labels(model, "encoder", "redis").inc(size)

    def _decode(
        self, model: str, tier: str, key: str, value: bytes | None, expected: Expected
    ) -> EncoderEntry | None:
        if value is None:
            _count(model, tier, "miss")
            return None
        try:
            entry = decode_entry(value).check(
                revision=expected.revision, dtypes=expected.dtypes, shape=expected.shape
            )
        except CorruptValue as exc:
            _count(model, tier, "corrupt")
            log.warning("encoder_cache_value_corrupt", tier=tier, key=key, error=str(exc))
            if tier == "memory" and self.memory is not None:
                with self._lock:
                    self.memory.discard(key)
            return None
        _count(model, tier, "hit")
        return entry

    def _remember(self, key: str, value: bytes) -> None:
        if self.memory is None:
            return
        with self._lock:
            self.memory.put(key, value)
            held, entries = self.memory.bytes, len(self.memory)
        metrics.CACHE_BYTES.labels(MEMORY_TIER).set(held)
        metrics.CACHE_ENTRIES.labels(MEMORY_TIER).set(entries)


def _count(model: str, tier: str, outcome: str, n: int = 1) -> None:
    metrics.CACHE_LOOKUPS.labels(model, "encoder", tier, outcome).inc(n)
