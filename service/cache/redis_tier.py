"""Tier 2: Redis through ``redis.asyncio``, shared by every replica.

Redis is never on the critical path of correctness: every operation has a short timeout, no
retries (a retry would only double the wait), and a circuit breaker that stops paying even the
timeout after repeated failures. Any failure is reported to the caller as "unavailable", which
the result cache turns into a miss. A monitor task pings Redis in the background (with backoff
while it is down) so ``s2s_cache_redis_up`` tells operators the truth and the breaker closes as
soon as Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import redis.asyncio as redis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from service import metrics
from service.cache.breaker import CircuitBreaker

log = structlog.get_logger(__name__)

_ERRORS = (redis.RedisError, OSError, TimeoutError, asyncio.TimeoutError)


def _no_maintenance_handshake() -> dict[str, object]:
    """redis-py 8 asks every new connection for maintenance notifications (a cluster feature);
    a plain Redis answers with an error. Skip the extra round trip where the option exists."""
    try:
        from redis.maint_notifications import MaintNotificationsConfig
    except ImportError:  # redis-py < 8
        return {}
    return {"maint_notifications_config": MaintNotificationsConfig(enabled=False)}


class RedisTier:
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        ttl_s: int,
        breaker: CircuitBreaker,
        max_connections: int = 64,
    ) -> None:
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.breaker = breaker
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,  # waiting for a free connection counts against the same budget
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            **_no_maintenance_handshake(),
        )
        self._client = redis.Redis(connection_pool=pool)
        self._monitor: asyncio.Task[None] | None = None
        self.up: bool | None = None  # unknown until the first ping

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None] | None:
        """The values (None where absent), or None when Redis cannot answer in time."""
        if not keys or not self.breaker.allow():
            return None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                values = await self._client.mget(list(keys))
        except _ERRORS as exc:
            self._failed("get", exc)
            return None
        self.breaker.success()
        metrics.CACHE_REDIS_SECONDS.labels("get").observe(time.perf_counter() - started)
        return [v if isinstance(v, bytes) else None for v in values]

    async def set_many(self, items: Sequence[tuple[str, bytes]]) -> bool:
        """Store entries with the TTL in one round trip; False when Redis could not take them."""
        if not items or not self.breaker.allow():
            return False
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                pipe = self._client.pipeline(transaction=False)
                for key, value in items:
                    pipe.set(key, value, ex=self.ttl_s)
                await pipe.execute()
        except _ERRORS as exc:
            self._failed("set", exc)
            return False
        self.breaker.success()
        metrics.CACHE_REDIS_SECONDS.labels("set").observe(time.perf_counter() - started)
        return True

    def _failed(self, op: str, exc: BaseException) -> None:
        self.breaker.failure()
        metrics.CACHE_REDIS_ERRORS.labels(op).inc()
        log.debug("redis_error", op=op, error=repr(exc), breaker=self.breaker.state.value)

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(max(self.timeout_s * 4, 0.2)):
                return bool(await self._client.ping())
        except _ERRORS:
            return False

    def start_monitor(self, interval_s: float = 1.0, max_backoff_s: float = 10.0) -> None:
        """Ping in the background: keeps ``up`` and the gauge true, closes the breaker when
        Redis comes back, and logs each change once."""

        async def monitor() -> None:
            delay = interval_s
            while True:
                up = await self.ping()
                if up != self.up:
                    if up:
                        log.info("redis_up")
                    else:
                        log.warning(
                            "redis_down", hint="serving from the memory tier and the engine"
                        )
                self.up = up
                metrics.CACHE_REDIS_UP.set(1 if up else 0)
                if up:
                    self.breaker.success()
                    delay = interval_s
                else:
                    delay = min(max_backoff_s, delay * 2)
                await asyncio.sleep(delay)

        self._monitor = asyncio.create_task(monitor())

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        with contextlib.suppress(*_ERRORS):
            await self._client.aclose()
