"""Listening callers: outputs and tokens as they are ready, and work stopped when they leave."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from service.batching import Batcher, BatchingConfig, Progress
from service.engines.base import EngineOutput
from service.types import ResolvedOptions
from tests.fakes import SAFETY_S, FakeEngine, expected_output, settle, sized, wait_until

GREEDY = ResolvedOptions()


@pytest.fixture
async def started() -> AsyncIterator[tuple[Batcher, FakeEngine]]:
    engine = FakeEngine(blocked=True)
    batcher = Batcher(engine, BatchingConfig(), name="m")
    await batcher.start()
    try:
        yield batcher, engine
    finally:
        engine.gate.set()
        if engine.step_gate is not None:
            engine.step_gate.set()
        await batcher.close(timeout=SAFETY_S)


async def test_each_output_is_heard_before_the_request_completes(
    started: tuple[Batcher, FakeEngine],
) -> None:
    batcher, engine = started
    engine.report_first_early = True  # the engine finishes the first (shortest) text early
    heard: list[tuple[int, EngineOutput]] = []
    inputs = [sized("long", 6), sized("short", 1)]
    task = asyncio.create_task(
        batcher.submit(
            inputs, GREEDY, progress=Progress(on_output=lambda i, o: heard.append((i, o)))
        )
    )
    await wait_until(lambda: len(heard) == 1)
    assert heard == [(1, expected_output(inputs[1], GREEDY))]  # request index, not batch index
    assert not task.done()
    assert engine.calls[0].early  # a listener turns early outputs on whatever the config says
    engine.gate.set()
    outputs = await asyncio.wait_for(task, SAFETY_S)
    assert sorted(i for i, _ in heard) == [0, 1]
    assert outputs == [expected_output(x, GREEDY) for x in inputs]


async def test_tokens_arrive_in_order_and_add_up_to_the_output(
    started: tuple[Batcher, FakeEngine],
) -> None:
    batcher, engine = started
    engine.gate.set()
    tokens: dict[int, list[str]] = {0: [], 1: []}
    inputs = [sized("a", 3), sized("b", 5)]
    outputs = await batcher.submit(
        inputs, GREEDY, progress=Progress(on_token=lambda i, t: tokens[i].append(t))
    )
    for i, output in enumerate(outputs):
        assert tokens[i] == list(output.hypotheses[0].tokens)
    # Beam search is not observable: no tokens, same answer.
    beam = ResolvedOptions(beam_size=2)
    seen: list[str] = []
    await batcher.submit(inputs, beam, progress=Progress(on_token=lambda i, t: seen.append(t)))
    assert not seen


async def test_a_cancelled_listener_stops_decoding_and_its_neighbours_finish(
    started: tuple[Batcher, FakeEngine],
) -> None:
    batcher, engine = started
    engine.step_gate = threading.Event()
    first_token = asyncio.Event()
    leaving = asyncio.create_task(
        batcher.submit(
            [sized("x", 4), sized("y", 4)],
            GREEDY,
            progress=Progress(on_token=lambda i, t: first_token.set()),
        )
    )
    staying = asyncio.create_task(batcher.submit([sized("z", 4)], GREEDY))
    await settle()
    engine.gate.set()
    await asyncio.wait_for(first_token.wait(), SAFETY_S)
    assert len(engine.calls) == 1 and len(engine.calls[0].inputs) == 3  # one shared call
    leaving.cancel()
    await settle()
    engine.step_gate.set()
    assert await asyncio.wait_for(staying, SAFETY_S) == [expected_output(sized("z", 4), GREEDY)]
    assert engine.inputs_stopped == 2  # both texts of the cancelled request, nothing else
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_cancelling_drops_queued_texts_before_they_reach_the_engine() -> None:
    engine = FakeEngine(blocked=True)
    batcher = Batcher(engine, BatchingConfig(max_batch_size=2), name="m")
    await batcher.start()
    try:
        task = asyncio.create_task(
            batcher.submit([sized(f"s{i}", 3) for i in range(10)], GREEDY, progress=Progress())
        )
        await wait_until(lambda: engine.started == 1)
        task.cancel()
        await settle()
        engine.gate.set()
        await settle()
        await asyncio.sleep(0.05)
        assert engine.started == 1  # 8 queued texts never cost an engine call
    finally:
        engine.gate.set()
        await batcher.close(timeout=SAFETY_S)


async def test_a_listener_hears_once_when_its_first_call_starts() -> None:
    engine = FakeEngine(blocked=True)
    batcher = Batcher(engine, BatchingConfig(max_batch_size=2), name="m")
    await batcher.start()
    launches: list[int] = []  # in-flight calls when it heard
    try:
        busy = asyncio.create_task(batcher.submit([sized("busy", 2)], GREEDY))
        await wait_until(lambda: engine.started == 1)
        task = asyncio.create_task(
            batcher.submit(
                [sized(f"s{i}", 3) for i in range(4)],
                GREEDY,
                progress=Progress(
                    on_launch=lambda: launches.append(batcher.stats().in_flight_batches)
                ),
            )
        )
        await settle()
        assert launches == []  # queued behind the busy call
        engine.gate.set()
        await asyncio.wait_for(asyncio.gather(busy, task), SAFETY_S)
        assert launches == [1]  # once, when its first call started (it took two calls)
        assert engine.started == 3
    finally:
        engine.gate.set()
        await batcher.close(timeout=SAFETY_S)
