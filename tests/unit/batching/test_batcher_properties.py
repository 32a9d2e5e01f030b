"""Property-based test of the batcher: random request mixes against a recording fake engine.

Whatever the mix of texts, options, parallelism, batch limits, engine failures and
cancellations, every caller gets exactly its own outputs in order (or the error of a call its
texts were in, or its own cancellation), and no engine call mixes batch keys, mixes an
exclusive request with anything, or exceeds the batch limits.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.batching import Batcher, BatchingConfig
from service.engines.base import EngineInput, EngineOutput
from service.types import ResolvedOptions
from tests.fakes import FAIL, EngineBoom, FakeEngine, RecordingObserver, expected_output

OPTION_SETS = (
    ResolvedOptions(),
    ResolvedOptions(return_scores=True),  # same batch key as the first
    ResolvedOptions(beam_size=2),
    ResolvedOptions(sampling_top_k=10, sampling_temperature=0.5, seed=7),  # exclusive
    ResolvedOptions(sampling_top_k=10, sampling_temperature=0.5),  # sampling, shareable
)


@dataclass(frozen=True)
class RequestSpec:
    lengths: tuple[int, ...]
    option: int
    delay: int  # loop turns before submitting
    fail: bool  # its first text makes the engine call fail
    cancel_after: int | None  # loop turns after start at which the caller is cancelled


@dataclass(frozen=True)
class Scenario:
    parallelism: int
    config: BatchingConfig
    engine_sleep: float
    requests: tuple[RequestSpec, ...]


request_specs = st.builds(
    RequestSpec,
    lengths=st.lists(st.integers(1, 8), min_size=1, max_size=5).map(tuple),
    option=st.integers(0, len(OPTION_SETS) - 1),
    delay=st.integers(0, 3),
    fail=st.sampled_from([False] * 9 + [True]),  # one request in ten poisons its engine call
    cancel_after=st.one_of(st.none(), st.none(), st.integers(0, 6)),
)

scenarios = st.builds(
    Scenario,
    parallelism=st.integers(1, 3),
    config=st.builds(
        BatchingConfig,
        max_batch_size=st.integers(1, 6),
        max_batch_tokens=st.integers(4, 24),
        max_wait_ms=st.sampled_from([0.0, 0.0, 1.0]),
        early_return=st.booleans(),
    ),
    engine_sleep=st.sampled_from([0.0, 0.0005]),
    requests=st.lists(request_specs, min_size=1, max_size=20).map(tuple),
)


def make_inputs(rid: int, spec: RequestSpec) -> list[EngineInput]:
    """Inputs whose first token names (request, index); FAIL marks a failing text."""
    inputs = []
    for i, length in enumerate(spec.lengths):
        marker = (FAIL,) if spec.fail and i == 0 else ()
        filler = ("w",) * max(0, length - 1 - len(marker))
        inputs.append(EngineInput(source=(f"r{rid}.{i}", *marker, *filler)))
    return inputs


def owner(inp: EngineInput) -> int:
    return int(inp.source[0][1:].split(".")[0])


async def run_scenario(scenario: Scenario) -> None:
    loop = asyncio.get_running_loop()
    problems: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    config = scenario.config
    engine = FakeEngine(scenario.parallelism, sleep=scenario.engine_sleep)
    observer = RecordingObserver()
    batcher = Batcher(engine, config, name="prop", observer=observer)
    await batcher.start()
    inputs = {rid: make_inputs(rid, spec) for rid, spec in enumerate(scenario.requests)}

    async def caller(rid: int, spec: RequestSpec) -> list[EngineOutput]:
        for _ in range(spec.delay):
            await asyncio.sleep(0)
        return await batcher.submit(inputs[rid], OPTION_SETS[spec.option])

    async def cancel_later(task: asyncio.Task[Any], turns: int) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()

    tasks = [asyncio.create_task(caller(rid, s)) for rid, s in enumerate(scenario.requests)]
    cancellers = [
        cancel_later(tasks[rid], s.cancel_after)
        for rid, s in enumerate(scenario.requests)
        if s.cancel_after is not None
    ]
    results = await asyncio.wait_for(
        asyncio.gather(*tasks, *cancellers, return_exceptions=True), 30
    )
    await batcher.close(timeout=30)

    # Engine calls: one batch key, exclusive requests alone, within the limits, no repeats.
    failed_owners: set[int] = set()
    decoded: list[EngineInput] = []
    for call in engine.calls:
        owners = {owner(x) for x in call.inputs}
        specs = [scenario.requests[o] for o in owners]
        assert {OPTION_SETS[s.option].batch_key() for s in specs} == {call.options.batch_key()}
        if any(OPTION_SETS[s.option].exclusive for s in specs):
            assert len(owners) == 1
        assert len(call.inputs) <= config.max_batch_size
        if len(call.inputs) > 1:
            longest = max(len(x.source) for x in call.inputs)
            assert longest * len(call.inputs) <= config.max_batch_tokens
        if any(FAIL in x.source for x in call.inputs):
            failed_owners |= owners
        decoded.extend(call.inputs)
    assert len(decoded) == len(set(decoded)), "a text was decoded twice"
    assert engine.max_active <= scenario.parallelism

    # Callers: their own outputs in order, or an error they are entitled to.
    for rid, (spec, result) in enumerate(zip(scenario.requests, results, strict=False)):
        options = OPTION_SETS[spec.option]
        if isinstance(result, list):
            assert result == [expected_output(x, options) for x in inputs[rid]]
            assert rid not in failed_owners
        elif isinstance(result, EngineBoom):
            assert rid in failed_owners
        else:
            assert isinstance(result, asyncio.CancelledError), repr(result)
            assert spec.cancel_after is not None
        if spec.cancel_after is None and rid not in failed_owners:
            assert isinstance(result, list)

    stats = batcher.stats()
    assert (stats.queue_requests, stats.queue_texts, stats.queue_tokens) == (0, 0, 0)
    assert stats.in_flight_batches == 0
    assert stats.in_flight_texts == 0
    assert observer.examples == len(decoded)
    assert len(observer.batches) == len(engine.calls)
    assert not problems, problems


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios)
def test_random_request_mixes(scenario: Scenario) -> None:
    asyncio.run(run_scenario(scenario))
