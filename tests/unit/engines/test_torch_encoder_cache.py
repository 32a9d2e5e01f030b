"""The torch engine with the encoder-output cache: one source is encoded once whatever the
target prefix or the options, cached and fresh outputs decode exactly as with the cache off,
and a corrupt entry or an unreachable Redis costs a miss, never a call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from service.cache.breaker import CircuitBreaker
from service.cache.encoder import EncoderCache
from service.cache.keys import encoder_key
from service.cache.memory import ByteLRU
from service.cache.redis_tier import RedisTier
from service.engines.base import EngineInput, EngineOutput
from service.engines.torch import TorchEngine
from service.manifest import load_manifest
from service.tokenization import load_tokenizer
from service.types import ResolvedOptions
from tests.serverproc import free_port
from tests.torchmodel import TORCH_MODEL

TEXTS = [
    "The dog sleeps.",
    "The old man sees the small dog because it is playing in the garden.",
    "Today my sister buys three red apples.",
    "The woman calls the doctor.",
    "It rained all day. The retailer Tannenberg Retail posted a loss of 857 million euros.",
    "My friends cook potatoes.",
]


@pytest.fixture(scope="module")
def model_dir(torch_registry: Path) -> Path:
    return torch_registry / TORCH_MODEL


@pytest.fixture(scope="module")
def inputs(model_dir: Path) -> list[EngineInput]:
    manifest = load_manifest(model_dir)
    tokenizer = load_tokenizer(manifest.tokenizer, model_dir)
    template = manifest.translation[0].input_template
    return [EngineInput(tuple(tokenizer.encode(template.format(text=t)))) for t in TEXTS]


@pytest.fixture(scope="module")
def plain(model_dir: Path) -> Iterator[TorchEngine]:
    engine = TorchEngine(model_dir, name="plain", revision=load_manifest(model_dir).revision)
    yield engine
    engine.close()


def cached_engine(
    model_dir: Path, name: str, cache: EncoderCache, dtype: str = "auto"
) -> TorchEngine:
    revision = load_manifest(model_dir).revision
    return TorchEngine(
        model_dir, name=name, revision=revision, encoder_cache=cache, cache_dtype=dtype
    )


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def tokens(outputs: list[EngineOutput]) -> list[list[tuple[str, ...]]]:
    return [[h.tokens for h in o.hypotheses] for o in outputs]


def test_one_source_is_encoded_once_for_every_prefix_and_option_set(
    model_dir: Path, inputs: list[EngineInput], plain: TorchEngine
) -> None:
    cache = EncoderCache(ByteLRU(64 << 20), None)
    engine = cached_engine(model_dir, "once", cache)
    source = inputs[1].source
    forced = ("▁Der",)
    calls = [
        ([EngineInput(source)], ResolvedOptions()),
        ([EngineInput(source, forced)], ResolvedOptions(beam_size=4, num_hypotheses=2)),
        ([EngineInput(source)], ResolvedOptions(max_length=3, length_penalty=0.5)),
    ]
    encodes = metric("s2s_engine_phase_seconds_count", model="once", phase="encoder")
    for batch, options in calls:
        assert tokens(engine.generate(batch, options)) == tokens(plain.generate(batch, options))
    assert metric("s2s_engine_phase_seconds_count", model="once", phase="encoder") == encodes + 1
    assert metric("s2s_cache_lookups_total", model="once", kind="encoder", tier="memory",
                  outcome="hit") == 2  # fmt: skip
    assert metric("s2s_encoder_seconds_saved_total", model="once") > 0
    assert cache.memory is not None and len(cache.memory) == 1


def test_identical_sources_in_one_batch_are_encoded_once(
    model_dir: Path, inputs: list[EngineInput]
) -> None:
    cache = EncoderCache(ByteLRU(64 << 20), None)
    engine = cached_engine(model_dir, "dedup", cache)
    batch = [inputs[0], inputs[2], inputs[0], inputs[0]]
    outputs = engine.generate(batch, ResolvedOptions())
    assert cache.memory is not None and len(cache.memory) == 2
    assert metric("s2s_cache_lookups_total", model="dedup", kind="encoder", tier="memory",
                  outcome="miss") == 2  # fmt: skip
    assert outputs[0] == outputs[2] == outputs[3]


@pytest.mark.parametrize("beam", [1, 4])
def test_cached_and_fresh_outputs_of_different_lengths_decode_as_with_the_cache_off(
    model_dir: Path, inputs: list[EngineInput], plain: TorchEngine, beam: int
) -> None:
    cache = EncoderCache(ByteLRU(64 << 20), None)
    engine = cached_engine(model_dir, f"mixed{beam}", cache)
    options = ResolvedOptions(beam_size=beam, num_hypotheses=min(beam, 2))
    for item in inputs[::2]:  # half the sources cached, each encoded alone
        engine.generate([item], ResolvedOptions(max_length=2))
    mixed = engine.generate(inputs, options)
    assert metric("s2s_cache_lookups_total", model=f"mixed{beam}", kind="encoder",
                  tier="memory", outcome="hit") == len(inputs[::2])  # fmt: skip
    assert tokens(mixed) == tokens(plain.generate(inputs, options))


def test_a_narrow_storage_dtype_decodes_hits_exactly_like_misses(
    model_dir: Path, inputs: list[EngineInput]
) -> None:
    cache = EncoderCache(ByteLRU(64 << 20), None)
    engine = cached_engine(model_dir, "half", cache, dtype="float16")
    first = engine.generate(inputs, ResolvedOptions(beam_size=2))  # misses, rounded
    again = engine.generate(inputs[::-1], ResolvedOptions(beam_size=2))  # hits
    assert tokens(again[::-1]) == tokens(first)
    assert cache.memory is not None
    tokens_cached = sum(len(x.source) for x in inputs)
    assert cache.memory.bytes < tokens_cached * 256 * 2 + len(inputs) * 400  # 2 bytes a value


def test_a_corrupt_or_foreign_entry_is_a_counted_miss_and_changes_nothing(
    model_dir: Path, inputs: list[EngineInput], plain: TorchEngine
) -> None:
    cache = EncoderCache(ByteLRU(64 << 20), None)
    engine = cached_engine(model_dir, "corrupt", cache)
    revision = load_manifest(model_dir).revision
    other_cache = EncoderCache(ByteLRU(64 << 20), None)
    other = cached_engine(model_dir, "other-dtype", other_cache, "bfloat16")
    assert cache.memory is not None and other_cache.memory is not None
    ids = engine.to_ids(inputs[0].source)
    cache.memory.put(encoder_key(revision, ids), b"S2E\x01garbage")
    other.generate([inputs[1]], ResolvedOptions())  # a well-formed entry in bfloat16 ...
    key = encoder_key(revision, engine.to_ids(inputs[1].source))
    foreign = other_cache.memory.get(key)
    assert foreign is not None
    cache.memory.put(key, foreign)  # ... where this engine stores float32: refused
    outputs = engine.generate(inputs[:2], ResolvedOptions())
    assert tokens(outputs) == tokens(plain.generate(inputs[:2], ResolvedOptions()))
    assert metric("s2s_cache_lookups_total", model="corrupt", kind="encoder", tier="memory",
                  outcome="corrupt") == 2  # fmt: skip
    assert len(cache.memory) == 2  # both replaced by good entries
    assert metric("s2s_cache_lookups_total", model="corrupt", kind="encoder", tier="memory",
                  outcome="hit") == 0  # fmt: skip
    engine.generate(inputs[:2], ResolvedOptions())
    assert metric("s2s_cache_lookups_total", model="corrupt", kind="encoder", tier="memory",
                  outcome="hit") == 2  # fmt: skip


async def test_an_unreachable_redis_costs_misses_never_a_call(
    model_dir: Path, inputs: list[EngineInput], plain: TorchEngine
) -> None:
    """The engine runs in a worker thread and reaches Redis through the event loop."""
    redis = RedisTier(
        f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.05, ttl_s=60,
        breaker=CircuitBreaker(failures=3, cooldown=60),
    )  # fmt: skip
    cache = EncoderCache(None, redis)
    await cache.start()
    engine = cached_engine(model_dir, "no-redis", cache)
    try:
        for _ in range(5):  # the breaker opens after three failures; calls never notice
            outputs = await asyncio.to_thread(engine.generate, inputs[:3], ResolvedOptions())
            assert tokens(outputs) == tokens(plain.generate(inputs[:3], ResolvedOptions()))
    finally:
        await cache.close()
        await redis.close()
    assert metric("s2s_cache_lookups_total", model="no-redis", kind="encoder", tier="redis",
                  outcome="error") == 15  # fmt: skip
    assert metric("s2s_engine_phase_seconds_count", model="no-redis", phase="encoder") == 5
