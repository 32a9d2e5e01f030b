"""How one model's batcher groups, bounds and dispatches work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True, slots=True)
class BatchingConfig:
    """Batching settings; the measurements behind each default are in docs/benchmarks.md.

    Attributes:
        max_batch_size: Most texts in one engine call. 1 turns batching off ("naive serving",
            the benchmark's baseline). Default 64, the best raw-engine batch on a 2-core CPU;
            on GPU raise it to 128 or more, since a GPU batch costs little more than one text.
        max_batch_tokens: Most padded source tokens in one call, ``len(longest) * texts``. It
            keeps a batch of long texts from blowing up memory and latency while short texts
            still fill `max_batch_size`. Default 8192 (32 texts of 256 tokens) suits CPU; on GPU
            it is bounded by device memory, and 16k-32k is common.
        max_wait_ms: How long after a batch finished a free slot may wait for the callers it
            answered to come back, so that the next batch is full instead of the one text queued
            in between (see `service.batching.policy`). It never delays a lone caller or a
            request that finds nobody expected back. Default 50 on CPU; `Settings` uses 5 on
            GPU, where a whole batch takes a few ms.
        max_queue_requests: Most requests (calls, not texts) waiting in the queue; beyond it
            `submit` raises `Overloaded`. The default (512) is four times the 128 callers the
            benchmark uses: a healthy replica never refuses, an overloaded one sheds load fast.
        max_queue_tokens: Most source tokens waiting in the queue, the real measure of queued
            work (a request may carry many texts). Default 262144 (32 full default batches). A
            single request larger than this is refused with `InvalidInput`: it could never fit.
        early_return: Give the engine an ``on_output`` callback so a text whose output is done
            answers before the rest of its batch (greedy decoding: short outputs need not wait
            for the longest). Off by default: it costs one thread hop per text, which pays off
            for mixed output lengths and large batches (GPU), less so for small CPU batches.
        retry_after_ms: Back-off hint sent with `Overloaded` (and with `ShuttingDown` for work
            dropped by a close that timed out). Default 200 ms, about one CPU batch.
        deadline_admission: Refuse a request at once (RESOURCE_EXHAUSTED, reason
            DEADLINE_UNMEETABLE) when the work queued and running ahead of it, at the engine's
            measured speed, would outlast its deadline (`estimate`). Under overload this keeps
            the engine on requests that can still succeed instead of ones that will expire.
        max_request_cost: Budget of one request: summed over its texts, hypotheses decoded side
            by side (beam size, or samples) x L x (1 + L/64) for its output-token limit L (see
            `admission`). Default 49152: e.g. 64 texts greedy up to 128 tokens (24576), 32 texts
            at beam 4 or 16 at beam 8 up to 128 tokens (49152), 1 text at beam 8 up to 512
            (36864). Forced to full length, a request at the budget took about 2 s on one thread
            of the project's 2-core CPU; refused ones took 3.6 s (2 texts, beam 8, 512 tokens),
            15 s (64 texts, beam 4, 128) and 36 s (8 texts, beam 8, 512).
        stop_check_after_ms: Engine calls expected to run at least this long poll, at every
            generated token, whether all their callers left, and stop early if so (greedy search
            and sampling; CTranslate2 cannot stop a beam search). The poll takes the GIL once
            per token of every text in the batch, which costs about 8 % of greedy throughput at
            C=128 on the 2-core CPU while the event loop is busy (docs/benchmarks.md), so calls
            that end within a second anyway are left alone. 0 polls on every call.
    """

    max_batch_size: int = _setting(64, "texts per engine call (1 = no batching)")
    max_batch_tokens: int = _setting(8192, "padded source tokens per engine call")
    max_wait_ms: float = _setting(
        50.0, "how long a free slot waits for the callers a finished batch answered (GPU: 5)"
    )
    max_queue_requests: int = _setting(512, "queued requests before rejecting")
    max_queue_tokens: int = _setting(262144, "queued source tokens before rejecting")
    early_return: bool = _setting(False, "answer short greedy outputs before their batch ends")
    retry_after_ms: int = _setting(200, "retry hint sent with RESOURCE_EXHAUSTED")
    deadline_admission: bool = _setting(
        True, "refuse at once a request whose deadline the work queued ahead would miss"
    )
    max_request_cost: int = _setting(
        49152, "per-request cost budget: sum over texts of beams (or samples) x L x (1 + L/64)"
    )
    stop_check_after_ms: float = _setting(
        1000.0, "engine calls expected to run this long stop early once all their callers left"
    )

    def __post_init__(self) -> None:
        for name in (
            "max_batch_size",
            "max_batch_tokens",
            "max_queue_requests",
            "max_queue_tokens",
            "max_request_cost",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("max_wait_ms", "retry_after_ms", "stop_check_after_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")
