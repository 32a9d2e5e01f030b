"""Admission: whether a request may join the queue, decided before it costs anything.

The queue is bounded in requests and in source tokens; a request that would overflow it is
refused at once with `Overloaded` (RESOURCE_EXHAUSTED and a retry hint upstream) rather than
queued, which keeps latency and memory predictable and lets the client retry elsewhere. A
request larger than the whole token budget could never fit and is `InvalidInput` instead.
"""

from __future__ import annotations

from service.batching.config import BatchingConfig
from service.batching.queue import GroupedQueue
from service.errors import InvalidInput, Overloaded


def check_admission(queue: GroupedQueue, config: BatchingConfig, tokens: int, model: str) -> None:
    """Raise unless a request of ``tokens`` source tokens fits the queue now."""
    if tokens > config.max_queue_tokens:
        raise InvalidInput.single(
            "texts",
            f"the request has {tokens} source tokens, more than model {model!r} can queue "
            f"({config.max_queue_tokens}); split it into smaller requests",
        )
    if (
        queue.requests >= config.max_queue_requests
        or queue.tokens + tokens > config.max_queue_tokens
    ):
        raise Overloaded(
            f"the server is overloaded: model {model!r} has {queue.requests} requests and "
            f"{queue.tokens} source tokens queued (limits {config.max_queue_requests} "
            f"requests, {config.max_queue_tokens} tokens); try again later",
            retry_after_ms=config.retry_after_ms,
        )
