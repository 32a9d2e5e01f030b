"""One caller cannot hurt the others: deadlines that cannot be met are refused at once, an engine
call nobody waits for any more is stopped, and under heavy overload the engine's time still
goes to calls that succeed."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from collections.abc import Iterator

import grpc
import pytest

from service.api import seq2seq_pb2 as pb
from service.api import seq2seq_pb2_grpc as pb_grpc
from service.client import ClientError, Seq2SeqClient
from service.types import DecodingOptions
from tests.serverproc import NO_CACHE, ONE_SLOT, REGISTRY, ServerProcess, running_server

TEXT = "The old man sees the small dog in the garden."
SENTENCES = [
    "The old man sees the small dog.",
    "The woman buys three red apples.",
    "Today the children play in the garden.",
    "My brother reads a new book.",
]
LONG_GREEDY = pb.DecodingOptions(min_length=512, max_length=512)


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("one-slot"), *ONE_SLOT, *NO_CACHE, "--max-request-cost", "10000000",
        # The demo model's longest greedy call takes ~0.4 s, below the default 1 s after which
        # calls poll for departed callers: poll on every call here.
        "--stop-check-after-ms", "0", models=REGISTRY, metrics=True,
    ) as server:  # fmt: skip
        yield server


def test_a_deadline_the_request_cannot_meet_is_refused_at_once(one_slot: ServerProcess) -> None:
    before = one_slot.metric("s2s_dropped_total", reason="unmeetable")
    heavy = DecodingOptions(beam_size=8, min_length=512, max_length=512)  # > 1 s on this CPU
    with Seq2SeqClient(one_slot.target) as client:
        with pytest.raises(ClientError) as refused:
            client.translate([TEXT], "en", "de", options=heavy, timeout=0.3)
        assert client.translate([TEXT], "en", "de", timeout=30).results[0].text
    # Refused, not expired: the answer came before the deadline, with the reason and a hint.
    assert refused.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert refused.value.reason == "DEADLINE_UNMEETABLE"
    assert refused.value.retry_after_ms is not None and refused.value.retry_after_ms >= 200
    assert one_slot.metric("s2s_dropped_total", reason="unmeetable") == before + 1
    assert one_slot.metric("s2s_batch_size_count") > 0  # (the next call ran)


def _stopped_batches(server: ServerProcess) -> list[dict[str, object]]:
    lines = [json.loads(x) for x in server.log().splitlines() if '"batch_stopped"' in x]
    return [x for x in lines if x.get("event") == "batch_stopped"]


async def _start_then_leave(server: ServerProcess, wait_s: float) -> float:
    """One long greedy call; the caller leaves while the engine decodes it. Returns how long
    the whole call takes when nobody leaves (measured first, on the same idle engine)."""
    request = pb.TranslateRequest(
        texts=[TEXT] * 4, source_language="en", target_language="de", options=LONG_GREEDY
    )
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.Seq2SeqServiceStub(channel)
        started = time.monotonic()
        await stub.Translate(request, timeout=120)
        full = time.monotonic() - started
        call = stub.Translate(request, timeout=120)
        deadline = time.monotonic() + 60
        while server.metric("s2s_batches_in_flight") < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        await asyncio.sleep(wait_s)
        call.cancel()
    return full


def test_an_engine_call_whose_callers_all_left_is_stopped(one_slot: ServerProcess) -> None:
    before = len(_stopped_batches(one_slot))
    full = asyncio.run(_start_then_leave(one_slot, 0.05))
    deadline = time.monotonic() + 60
    while len(_stopped_batches(one_slot)) == before:
        assert time.monotonic() < deadline, one_slot.log()[-3000:]
        time.sleep(0.02)
    stopped = _stopped_batches(one_slot)[-1]
    # Greedy decoding stops at its next step: far sooner than the call would have taken.
    assert float(stopped["seconds"]) < full / 2, (stopped, full)  # type: ignore[arg-type]
    with Seq2SeqClient(one_slot.target) as client:
        assert client.translate(["The dog sees the cat."], "en", "de").results[0].text


# ------------------------------------------------------------------ goodput under overload


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("goodput"), *NO_CACHE, models=REGISTRY, metrics=True,
        log_level="warning",
    ) as server:  # fmt: skip
        yield server


async def _load(target: str, callers: int, seconds: float, deadline: float | None) -> Counter[str]:
    """``callers`` callers each sending 64-text requests back to back for ``seconds``; a refused
    caller waits for the server's retry hint, as a well-behaved client does."""
    # 64 distinct texts: identical texts in one request would be decoded once.
    texts = [f"{SENTENCES[i % len(SENTENCES)][:-1]} and {i + 2} dogs." for i in range(64)]
    request = pb.TranslateRequest(texts=texts, source_language="en", target_language="de")
    outcomes: Counter[str] = Counter()
    rejections: list[float] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.Seq2SeqServiceStub(channel)
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds

        async def caller() -> None:
            while loop.time() < end:
                sent = loop.time()
                try:
                    await stub.Translate(request, timeout=deadline or 120)
                    if loop.time() <= end:
                        outcomes["OK"] += 1
                except grpc.aio.AioRpcError as exc:
                    outcomes[exc.code().name] += 1
                    if exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                        rejections.append(loop.time() - sent)
                        hint = dict(exc.trailing_metadata() or ()).get("grpc-retry-pushback-ms")
                        await asyncio.sleep(int(hint or 200) / 1000)

        await asyncio.gather(*(caller() for _ in range(callers)))
    outcomes["rejection_p50_ms"] = int(statistics.median(rejections) * 1000) if rejections else 0
    return outcomes


def test_overload_goodput_stays_near_capacity_and_the_rest_is_refused_fast(
    default_server: ServerProcess,
) -> None:
    """Capacity: 8 callers without deadlines (the engine is saturated). Overload: 96 callers
    with 2 s deadlines. At least 80 % of the capacity must still arrive as successful calls,
    refusals come fast, and few calls expire."""
    target = default_server.target
    seconds = 6.0
    capacity = asyncio.run(_load(target, 8, seconds, None))["OK"] / seconds
    overload = asyncio.run(_load(target, 96, seconds, 2.0))
    goodput = overload["OK"] / seconds
    dropped = {
        r: default_server.metric("s2s_dropped_total", reason=r)
        for r in ("unmeetable", "deadline", "cancelled", "overloaded")
    }
    report = f"capacity {capacity:.1f}/s, overload {dict(overload)}, server dropped {dropped}"
    print(report)
    assert goodput >= 0.8 * capacity, report
    assert overload["RESOURCE_EXHAUSTED"] > 0, report  # it was overloaded, and said so
    assert overload["rejection_p50_ms"] < 500, report  # a quarter of the deadline
    # Nearly every call gets a useful answer: a result, or a refusal it can act on at once;
    # before deadline admission ~90 % of them waited out their 2 s and expired instead.
    answered = overload["OK"] + overload["RESOURCE_EXHAUSTED"]
    assert answered >= 0.85 * (answered + overload["DEADLINE_EXCEEDED"]), report
