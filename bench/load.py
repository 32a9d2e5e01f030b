"""Load generators speaking the real gRPC API: closed loop (C callers) and open loop (a rate).

Requests are built once before the clock starts, so the client spends its time on the wire and
not on protobuf construction; the client shares the machine with the server, as callers do on
a one-box deployment.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from service.api import seq2seq_pb2 as pb
from service.api import seq2seq_pb2_grpc as pb_grpc


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class LoadResult:
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    output_tokens: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    # Per caller, the loop times of its successful completions inside the measured window.
    completions: dict[int, list[float]] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return self.statuses.get("OK", 0)

    def throughput(self) -> tuple[float, str]:
        """Completed calls per second, and how it was estimated.

        Batched work completes in chunks (128 callers answered by two batches of 64 every 4 s
        with beam 4), so counting completions in a 12 s window lands on 2 or 3 chunks: ±30 %.
        When every caller completed at least twice, each caller's own rate over whole cycles
        (completions after its first, over the time since its first) is exact whatever the
        chunking, and the sum over callers is the throughput. Otherwise (a cycle longer than
        the window, as for naive serving at C=128, where completions come one by one and
        counting is accurate) the count over the window is used.
        """
        times = list(self.completions.values())
        if len(times) == self.concurrency and all(len(t) >= 2 for t in times):
            rate = sum((len(t) - 1) / (t[-1] - t[0]) for t in times if t[-1] > t[0])
            return rate, "per-caller cycles"
        return self.ok / self.seconds, "count over window"

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        rate, method = self.throughput()
        tokens_per_sentence = self.output_tokens / self.ok if self.ok else 0.0
        return {
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 2),
            "requests_ok": self.ok,
            "statuses": dict(self.statuses),
            "sentences_per_s": round(rate, 2),
            "throughput_method": method,
            "counted_per_s": round(self.ok / self.seconds, 2),
            "tokens_per_s": round(rate * tokens_per_sentence, 1),
            "p50_ms": round(percentile(lat, 50), 2),
            "p95_ms": round(percentile(lat, 95), 2),
            "p99_ms": round(percentile(lat, 99), 2),
        }


def build_requests(
    sentences: Sequence[str], *, model: str, source: str, target: str, options: dict[str, Any]
) -> list[pb.TranslateRequest]:
    opts = pb.DecodingOptions(**options)
    return [
        pb.TranslateRequest(
            texts=[s], model=model, source_language=source, target_language=target, options=opts
        )
        for s in sentences
    ]


async def closed_loop(
    target: str,
    requests: Sequence[pb.TranslateRequest],
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
) -> LoadResult:
    """``concurrency`` callers, each sending its next request as soon as the last one answers.

    Throughput is the completions inside ``[warmup, warmup + seconds]`` divided by ``seconds``;
    latencies are those of the same completions.
    """
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.Seq2SeqServiceStub(channel)
        loop = asyncio.get_running_loop()
        start = loop.time()
        measure_from = start + warmup
        stop = measure_from + seconds
        result = LoadResult(concurrency, seconds)

        async def caller(offset: int) -> None:
            i = offset
            while True:
                sent = loop.time()
                if sent >= stop:
                    return
                request = requests[i % len(requests)]
                i += concurrency
                try:
                    reply = await stub.Translate(request, timeout=300)
                    status = "OK"
                except grpc.aio.AioRpcError as exc:
                    status = exc.code().name
                    reply = None
                done = loop.time()
                # Completions inside the window: a request that waited through the warm-up
                # still counts, so long latencies at high C do not hide throughput.
                if measure_from <= done <= stop:
                    result.statuses[status] += 1
                    if reply is not None:
                        result.latencies_ms.append((done - sent) * 1000)
                        result.completions.setdefault(offset, []).append(done)
                        result.output_tokens += sum(r.output_tokens for r in reply.results)

        await asyncio.gather(*(caller(k) for k in range(concurrency)))
        return result


async def send_all(
    target: str, requests: Sequence[pb.TranslateRequest], *, concurrency: int
) -> None:
    """Send every request once (``concurrency`` at a time), e.g. to fill a cache."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.Seq2SeqServiceStub(channel)
        queue = list(requests)

        async def caller() -> None:
            while queue:
                await stub.Translate(queue.pop(), timeout=300)

        await asyncio.gather(*(caller() for _ in range(concurrency)))


@dataclass
class OpenLoopResult:
    rate: float
    seconds: float
    sent: int = 0
    admitted_ms: list[float] = field(default_factory=list)
    rejected_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        return {
            "offered_per_s": round(self.rate, 1),
            "achieved_offered_per_s": round(self.sent / self.seconds, 1),
            "seconds": self.seconds,
            "sent": self.sent,
            "statuses": dict(self.statuses),
            "admitted_per_s": round(len(self.admitted_ms) / self.seconds, 2),
            "admitted_p50_ms": round(percentile(self.admitted_ms, 50), 2),
            "admitted_p99_ms": round(percentile(self.admitted_ms, 99), 2),
            "rejected_p50_ms": round(percentile(self.rejected_ms, 50), 2),
            "rejected_p99_ms": round(percentile(self.rejected_ms, 99), 2),
        }


async def open_loop(
    target: str, requests: Sequence[pb.TranslateRequest], *, rate: float, seconds: float
) -> OpenLoopResult:
    """Requests at a fixed rate whatever the answers: what overload looks like to a server."""
    result = OpenLoopResult(rate, seconds)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.Seq2SeqServiceStub(channel)
        loop = asyncio.get_running_loop()

        async def one(request: pb.TranslateRequest) -> None:
            sent = loop.time()
            try:
                await stub.Translate(request, timeout=300)
                status = "OK"
            except grpc.aio.AioRpcError as exc:
                status = exc.code().name
            elapsed = (loop.time() - sent) * 1000
            result.statuses[status] += 1
            (result.admitted_ms if status == "OK" else result.rejected_ms).append(elapsed)

        tasks: list[asyncio.Task[None]] = []
        start = loop.time()
        interval = 1.0 / rate
        i = 0
        while (now := loop.time()) < start + seconds:
            due = start + i * interval
            if due > now:
                await asyncio.sleep(due - now)
            tasks.append(asyncio.create_task(one(requests[i % len(requests)])))
            i += 1
        result.sent = i
        await asyncio.gather(*tasks)
    return result


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def now() -> float:
    return time.perf_counter()
