"""The per-text core of the data plane: result cache → single-flight → batcher → detokenize.

Everything above it (documents, detection, truncation) deals in *units*: one model input each,
a sentence of a document or a whole text. `decode_units` answers a list of units: what the
cache holds at once, identical units in flight elsewhere by joining their flight, the rest in
one `Batcher.submit` (so the units of every text of every caller share engine calls), and
stores what it decoded. Listeners (`on_result`, `on_token`) hear each unit as it is ready; they
are what streaming is built on, and only streamed calls pass them (a listened batch asks the
engine for early outputs and per-token callbacks, which unary calls need not pay for).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any

from service import metrics
from service.batching import Progress
from service.cache import ResultCache
from service.cache.keys import KeyScope, result_scope
from service.cache.singleflight import LeaderFailed
from service.documents.plan import Unit
from service.engines.base import EngineOutput
from service.errors import DeadlineExpired
from service.model import ServedModel
from service.routing import Route
from service.types import GeneratedText, ResolvedOptions, Task

OnResult = Callable[[int, GeneratedText], None]
OnToken = Callable[[int, str], None]


@dataclass(frozen=True, slots=True)
class Listeners:
    """Who hears each unit's result (and token) as it is ready, by unit index."""

    on_result: OnResult | None = None
    on_token: OnToken | None = None
    on_launch: Callable[[], None] | None = None  # the first engine call with a unit started

    @property
    def active(self) -> bool:
        return any(x is not None for x in (self.on_result, self.on_token, self.on_launch))

    def shifted(self, offset: int) -> Listeners:
        """The same listeners for units numbered from ``offset``."""
        on_result, on_token = self.on_result, self.on_token
        return Listeners(
            (lambda i, r: on_result(i + offset, r)) if on_result is not None else None,
            (lambda i, t: on_token(i + offset, t)) if on_token is not None else None,
            self.on_launch,
        )

    def result(self, unit: int, result: GeneratedText) -> None:
        if self.on_result is not None:
            self.on_result(unit, result)


def cacheable(served: ServedModel, options: ResolvedOptions) -> bool:
    """Deterministic decoding only: greedy, beam, or sampling with a seed the engine honours."""
    if not served.manifest.cache_results:
        return False
    return not options.is_sampling or options.seed is not None


async def decode_units(
    served: ServedModel,
    task: Task,
    units: Sequence[Unit],
    options: ResolvedOptions,
    deadline: float | None,
    *,
    cache: ResultCache | None,
    listeners: Listeners | None = None,
    output_limit: tuple[float, int] | None = None,
) -> list[GeneratedText]:
    """One result per unit, in order (scores kept; the caller drops them if not asked).
    ``output_limit`` is the relative output limit the units were encoded with, if any: it
    changes the outputs, so it is part of the cache key."""
    listeners = listeners or Listeners()
    if cache is None or not units or not cacheable(served, options):
        return await _decode(served, units, range(len(units)), options, deadline, listeners)
    scopes: dict[Route, KeyScope] = {}
    keys = []
    for unit in units:
        scope = scopes.get(unit.route)
        if scope is None:
            scope = scopes[unit.route] = result_scope(
                model=served.name,
                revision=served.revision,
                task=task,
                route=unit.route,
                options=options,
                output_limit=output_limit,
            )
        keys.append(scope.key(unit.text))
    found = await cache.get_many(served.name, keys)
    results: list[GeneratedText | None] = [None] * len(units)
    lead: dict[str, list[int]] = {}  # key → positions this call decodes
    joined: dict[str, tuple[asyncio.Future[GeneratedText], list[int]]] = {}
    for i, key in enumerate(keys):
        hit = found[i]
        if hit is not None:
            results[i] = hit = replace(hit, cached=True)
            listeners.result(i, hit)
        elif key in lead:
            lead[key].append(i)
        elif key in joined:
            joined[key][1].append(i)
        elif (flight := cache.flights.join(key)) is not None:
            joined[key] = (flight, [i])
            metrics.SINGLEFLIGHT_JOINS.labels(served.name).inc()
        else:
            lead[key] = [i]
            cache.flights.lead(key)

    def settle(positions: list[int], result: GeneratedText) -> None:
        for i in positions:
            results[i] = result
            listeners.result(i, result)

    async def leaders() -> None:
        order = list(lead)
        positions = [lead[k][0] for k in order]
        landed: set[str] = set()

        def on_result(i: int, result: GeneratedText) -> None:
            key = keys[i]
            cache.flights.land(key, result)  # joiners elsewhere need not wait for the rest
            landed.add(key)
            settle(lead[key], result)

        try:
            decoded = await _decode(
                served,
                [units[i] for i in positions],
                positions,
                options,
                deadline,
                # Unary calls wait for the whole batch: no listener, no per-token callbacks.
                Listeners(on_result, listeners.on_token, listeners.on_launch)
                if listeners.active
                else Listeners(),
            )
        except BaseException:
            for key in order:
                if key not in landed:
                    cache.flights.abort(key)
            raise
        for key, result in zip(order, decoded, strict=True):
            if key not in landed:
                cache.flights.land(key, result)
                settle(lead[key], result)
        cache.put_many(served.name, list(zip(order, decoded, strict=True)))

    async def follow(flight: asyncio.Future[GeneratedText], positions: list[int]) -> None:
        shared = await _await_flight(flight, deadline)
        if shared is None:  # its leader failed: decode this text ourselves
            first = positions[0]
            (shared,) = await _decode(
                served, [units[first]], [first], options, deadline, Listeners(None, None)
            )
        settle(positions, shared)

    jobs: list[Coroutine[Any, Any, None]] = []
    if lead:
        jobs.append(leaders())
    jobs.extend(follow(flight, positions) for flight, positions in joined.values())
    await _all(jobs)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


async def _decode(
    served: ServedModel,
    units: Sequence[Unit],
    positions: Sequence[int],
    options: ResolvedOptions,
    deadline: float | None,
    listeners: Listeners,
) -> list[GeneratedText]:
    """Decode ``units`` through the model's batcher; ``positions`` are their indices for the
    listeners, which hear every unit (the batcher reports each output as it arrives)."""
    inputs = [u.input for u in units]
    if not inputs:
        return []
    progress = None
    if listeners.active:
        on_token = listeners.on_token

        def early(index: int, output: EngineOutput) -> None:
            if listeners.on_result is not None:
                (result,) = served.detokenize([inputs[index]], [output], with_scores=True)
                listeners.on_result(positions[index], result)

        def token(index: int, value: str) -> None:
            assert on_token is not None
            on_token(positions[index], value)

        progress = Progress(
            on_output=early,
            on_token=token if on_token is not None else None,
            on_launch=listeners.on_launch,
        )
    outputs = await served.batcher.submit(inputs, options, deadline=deadline, progress=progress)
    return list(served.detokenize(inputs, outputs, with_scores=True))


async def _all(jobs: list[Coroutine[Any, Any, None]]) -> None:
    """Run the jobs together; the first failure cancels the others and is raised as itself
    (not as an ExceptionGroup: the interceptor maps domain errors to status codes)."""
    if len(jobs) == 1:
        await jobs[0]
        return
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(job)
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None


async def _await_flight(
    flight: asyncio.Future[GeneratedText], deadline: float | None
) -> GeneratedText | None:
    """The leader's result, or None if the leader failed. Shielded: this caller leaving must
    not cancel the flight for the others."""
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        return await asyncio.wait_for(asyncio.shield(flight), timeout)
    except LeaderFailed:
        return None
    except TimeoutError:
        raise DeadlineExpired("the request's deadline passed before it was done") from None
