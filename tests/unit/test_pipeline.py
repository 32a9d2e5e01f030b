"""The data plane without gRPC: validation, routing, readiness, options, batching, metrics."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from service import metrics
from service.batching import BatchingConfig
from service.config import Limits
from service.errors import InvalidInput, ModelNotReady, Overloaded, RouteNotFound
from service.pipeline import Pipeline
from service.registry import Registry
from service.tokenization import Tokenizer
from service.types import DecodingOptions, GenerationRequest, Segmentation, Task
from tests.fakes import FakeEngine, manifest, served_with_fake_engine, settle, wait_until

TEXT = "The dog sleeps."


def translate(*texts: str, **options: object) -> GenerationRequest:
    return GenerationRequest(
        Task.TRANSLATE, texts, DecodingOptions(**options), source_language="en",  # type: ignore[arg-type]
        target_language="de",
    )  # fmt: skip


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Pipeline, FakeEngine]]:
    engine = FakeEngine(blocked=True)
    served = served_with_fake_engine(manifest(name="m"), engine)
    registry = Registry([served])
    await registry.start()
    try:
        yield Pipeline(registry, Limits(max_texts=4)), engine
    finally:
        engine.gate.set()
        await registry.close(grace=5)


async def test_result_is_the_engines_output_detokenized_in_order(
    setup: tuple[Pipeline, FakeEngine],
) -> None:
    pipeline, engine = setup
    engine.gate.set()
    result = await pipeline.generate(translate("A.", "B."))
    assert (result.model, result.model_revision) == ("m", "sha256:" + "ab" * 32)
    [call] = engine.calls
    assert [list(i.source) for i in call.inputs] == [
        pipeline.registry.get("m").tokenizer.encode(f"translate en to de: {t}")
        for t in ("A.", "B.")
    ]
    # The fake engine answers with the reversed source; decoding drops the special tokens.
    assert [r.input_tokens for r in result.results] == [len(i.source) for i in call.inputs]
    assert all(r.hypotheses[0].score is None for r in result.results)


async def test_scores_only_for_the_callers_who_asked_even_in_a_shared_batch(
    setup: tuple[Pipeline, FakeEngine],
) -> None:
    pipeline, engine = setup
    first = asyncio.create_task(pipeline.generate(translate("first")))
    await wait_until(lambda: engine.started == 1)
    plain = asyncio.create_task(pipeline.generate(translate(TEXT)))
    scored = asyncio.create_task(pipeline.generate(translate(TEXT, return_scores=True)))
    await settle()
    engine.gate.set()
    await first
    assert (await plain).results[0].hypotheses[0].score is None
    assert (await scored).results[0].hypotheses[0].score == -1.0
    assert len(engine.calls) == 2 and len(engine.calls[1].inputs) == 2  # one shared batch


async def test_model_defaults_fill_unset_options(setup: tuple[Pipeline, FakeEngine]) -> None:
    pipeline, engine = setup
    engine.gate.set()
    await pipeline.generate(translate(TEXT, beam_size=3))
    assert (engine.calls[0].options.beam_size, engine.calls[0].options.max_length) == (3, 32)


async def test_bad_requests_fail_before_any_engine_work(setup: tuple[Pipeline, FakeEngine]) -> None:
    pipeline, engine = setup
    engine.gate.set()
    with pytest.raises(InvalidInput, match="at most 4 texts"):
        await pipeline.generate(translate(*[TEXT] * 5))
    with pytest.raises(InvalidInput, match="beam_size"):
        await pipeline.generate(translate(TEXT, beam_size=99))
    with pytest.raises(RouteNotFound, match="en→de"):
        await pipeline.generate(
            GenerationRequest(Task.TRANSLATE, (TEXT,), DecodingOptions(), None, "en", "ja")
        )
    assert engine.calls == []


async def test_a_model_that_is_not_ready_answers_unavailable_except_to_warm_up(
    setup: tuple[Pipeline, FakeEngine],
) -> None:
    pipeline, engine = setup
    engine.gate.set()
    pipeline.registry.get("m").ready = False
    with pytest.raises(ModelNotReady):
        await pipeline.generate(translate(TEXT))
    assert await pipeline.generate(translate(TEXT), warmup=True)


async def test_answers_count_texts_and_tokens_but_warm_up_does_not(
    setup: tuple[Pipeline, FakeEngine],
) -> None:
    pipeline, engine = setup
    engine.gate.set()
    texts = metrics.TEXTS.labels("m", "translate")
    before = texts._value.get()
    result = await pipeline.generate(translate(TEXT, TEXT))
    assert texts._value.get() == before + 2
    assert metrics.INPUT_TOKENS.labels("m")._value.get() >= sum(
        r.input_tokens for r in result.results
    )
    await pipeline.generate(translate(TEXT), warmup=True)
    assert texts._value.get() == before + 2


def test_list_models_reports_each_model() -> None:
    registry = Registry([served_with_fake_engine(manifest(name=n)) for n in ("b", "a")])
    infos = Pipeline(registry, Limits()).list_models()
    assert [m.name for m in infos] == ["a", "b"]


class RecordingTokenizer:
    """Wraps a tokenizer and notes the thread each text is encoded on."""

    def __init__(self, inner: Tokenizer) -> None:
        self.inner = inner
        self.threads: list[str] = []

    def encode(self, text: str) -> list[str]:
        self.threads.append(threading.current_thread().name)
        return self.inner.encode(text)

    def decode(self, tokens: list[str] | tuple[str, ...]) -> str:
        return self.inner.decode(tokens)


def recording(pipeline: Pipeline) -> RecordingTokenizer:
    served = pipeline.registry.get("m")
    wrapper = RecordingTokenizer(served.tokenizer)
    served.tokenizer = wrapper  # type: ignore[assignment]
    return wrapper


async def test_big_requests_are_tokenized_off_the_event_loop(
    setup: tuple[Pipeline, FakeEngine],
) -> None:
    pipeline, engine = setup
    engine.gate.set()
    tokenizer = recording(pipeline)
    await pipeline.generate(translate(TEXT))
    assert set(tokenizer.threads) == {threading.current_thread().name}  # a sentence: inline
    tokenizer.threads.clear()
    long = "The dog sleeps. " * 40  # 640 characters
    whole = replace(translate(long, long, long, long), segmentation=Segmentation.NONE)
    with pytest.raises(InvalidInput):  # over the fake model's 64 tokens, but tokenized first
        await pipeline.generate(whole)
    assert tokenizer.threads and all(t.startswith("plan") for t in tokenizer.threads)


async def test_a_full_queue_refuses_before_tokenizing() -> None:
    engine = FakeEngine(blocked=True)
    config = BatchingConfig(max_queue_requests=1)
    served = served_with_fake_engine(manifest(name="m"), engine, config=config)
    registry = Registry([served])
    await registry.start()
    pipeline = Pipeline(registry, Limits(max_texts=4))
    running = asyncio.create_task(pipeline.generate(translate(TEXT)))
    await wait_until(lambda: engine.started == 1)
    queued = asyncio.create_task(pipeline.generate(translate(TEXT)))
    await wait_until(lambda: served.batcher.stats().queue_requests == 1)
    tokenizer = recording(pipeline)
    with pytest.raises(Overloaded):
        await pipeline.generate(translate(TEXT))
    assert tokenizer.threads == []  # refused before any text was tokenized
    engine.gate.set()
    await asyncio.gather(running, queued)
    await registry.close(grace=5)
