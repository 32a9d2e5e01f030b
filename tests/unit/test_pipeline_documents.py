"""The document layer in the pipeline, without gRPC: detection, routing of detected languages,
segments through the cache and the batcher, streams in order, cancelled streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from service.cache.memory import ByteLRU
from service.cache.results import ResultCache
from service.config import Limits
from service.documents.detection import LanguageDetector
from service.errors import InvalidInput
from service.pipeline import Pipeline
from service.registry import Registry
from service.types import DecodingOptions, GenerationRequest, StreamEvent, Task
from tests.fakes import SAFETY_S, FakeEngine, manifest, served_with_fake_engine, wait_until

DOC = "The dog sleeps. The cat plays.\n\nThe bird sings.\n"


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


@pytest.fixture
async def setup(detector: LanguageDetector) -> AsyncIterator[tuple[Pipeline, FakeEngine]]:
    engine = FakeEngine()
    pairs = (("en", "de"), ("fr", "de"))
    served = served_with_fake_engine(manifest(name="m", pairs=pairs), engine)
    registry = Registry([served])
    await registry.start()
    cache = ResultCache(ByteLRU(1 << 20), None)
    try:
        yield Pipeline(registry, Limits(), cache=cache, detector=detector), engine
    finally:
        engine.gate.set()
        if engine.step_gate is not None:
            engine.step_gate.set()
        await registry.close(grace=5)


def request(*texts: str, source: str = "en", target: str = "de") -> GenerationRequest:
    return GenerationRequest(
        Task.TRANSLATE, texts, DecodingOptions(), source_language=source, target_language=target
    )


async def test_segments_of_all_texts_share_one_engine_call_and_are_cached(
    setup: tuple[Pipeline, FakeEngine],
) -> None:
    pipeline, engine = setup
    first = await pipeline.generate(request(DOC, "The cat plays."))
    assert [r.segments for r in first.results] == [3, 1]
    assert len(engine.calls) == 1 and len(engine.calls[0].inputs) == 3  # "The cat plays." once
    again = await pipeline.generate(request("The bird sings. The fish swims."))
    assert (again.results[0].segments, again.results[0].cached_segments) == (2, 1)
    assert len(engine.calls[1].inputs) == 1


async def test_each_text_is_routed_by_its_detected_language(
    setup: tuple[Pipeline, FakeEngine],
) -> None:
    pipeline, engine = setup
    texts = ("The teacher reads a good book today.", "Le professeur lit un bon livre.")
    result = await pipeline.generate(request(*texts, source="", target="de"))
    assert [r.detected_language for r in result.results] == ["en", "fr"]
    templates = {" ".join(i.source[:4]) for i in engine.calls[0].inputs}
    assert len(engine.calls) == 1 and len(templates) == 2  # two routes, one engine call


async def test_detection_failures_are_reported_together(
    setup: tuple[Pipeline, FakeEngine],
) -> None:
    pipeline, engine = setup
    with pytest.raises(InvalidInput) as exc:
        await pipeline.generate(
            request("The teacher reads a good book.", "Hi.", "qwrtz plmk vbnx", source="auto")
        )
    assert [v.field for v in exc.value.violations] == ["source_language"]  # one, both texts
    assert "texts[1]" in exc.value.message and "texts[2]" in exc.value.message
    assert not engine.calls


async def test_a_stream_sends_cached_segments_at_once_and_the_rest_in_order(
    setup: tuple[Pipeline, FakeEngine],
) -> None:
    pipeline, engine = setup
    cached = (await pipeline.generate(request("The dog sleeps."))).results[0].text
    engine.gate.clear()  # the engine now blocks until the test opens it
    stream = await pipeline.stream(request(DOC))
    events: list[StreamEvent] = []

    async def consume() -> None:
        async for event in stream.events:
            events.append(event)

    consumer = asyncio.create_task(consume())
    await wait_until(lambda: len(events) == 1)  # the cached first segment; the engine waits
    assert (events[0].delta, events[0].result) == (cached + " ", None)
    engine.gate.set()
    await asyncio.wait_for(consumer, SAFETY_S)
    final = events[-1].result
    assert final is not None and (final.segments, final.cached_segments) == (3, 1)
    assert "".join(e.delta for e in events) == final.text


async def test_closing_a_stream_stops_its_decoding(setup: tuple[Pipeline, FakeEngine]) -> None:
    pipeline, engine = setup
    engine.gate.clear()
    engine.report_first_early = True  # the first segment is done while the call still runs
    stream = await pipeline.stream(request(DOC))
    first = await asyncio.wait_for(anext(stream.events), SAFETY_S)
    assert first.result is None and first.delta
    await stream.events.aclose()  # the caller leaves
    engine.gate.set()
    # The first segment ran alone (head start on an idle engine) and stops; the other two were
    # still queued behind it and never reach the engine.
    await wait_until(lambda: engine.inputs_stopped == 1)
    await asyncio.sleep(0.05)
    assert len(engine.calls) == 1 and len(engine.calls[0].inputs) == 1
