"""The torch engine on the demo model converted with ``--engine torch``: it decodes as the
CTranslate2 engine does (same tokens, same scores, same length rules), n-best, seeds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo_model.data import read_jsonl
from service.engines.base import EngineInput, EngineOutput
from service.engines.ct2 import CT2Engine
from service.engines.torch import TorchEngine
from service.manifest import load_manifest
from service.tokenization import load_tokenizer
from service.types import ResolvedOptions
from tests.torchmodel import ROOT, TORCH_MODEL

HELDOUT = ROOT / "demo_model" / "heldout.jsonl"
SAMPLES = 48  # held-out texts (translations and summaries alternating)


@pytest.fixture(scope="module")
def model_dir(torch_registry: Path) -> Path:
    return torch_registry / TORCH_MODEL


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> Iterator[TorchEngine]:
    engine = TorchEngine(model_dir, name="unit-torch", revision=load_manifest(model_dir).revision)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def ct2(ct2_float32_dir: Path) -> Iterator[CT2Engine]:
    engine = CT2Engine(ct2_float32_dir, compute_type="float32", inter_threads=1, intra_threads=2)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def inputs(model_dir: Path) -> list[EngineInput]:
    manifest = load_manifest(model_dir)
    tokenizer = load_tokenizer(manifest.tokenizer, model_dir)
    templates = {
        "translate": manifest.translation[0].input_template,
        "summarize": manifest.summarization[0].input_template,
    }
    examples = read_jsonl(HELDOUT)
    picked = [e for e in examples if e.task == "translate"][: SAMPLES // 2]
    picked += [e for e in examples if e.task == "summarize"][: SAMPLES // 2]
    return [
        EngineInput(tuple(tokenizer.encode(templates[e.task].format(text=e.text)))) for e in picked
    ]


def tokens(outputs: list[EngineOutput]) -> list[tuple[str, ...]]:
    return [o.hypotheses[0].tokens for o in outputs]


@pytest.mark.parametrize("beam", [1, 4])
def test_it_says_what_ctranslate2_says_in_float32_with_the_same_scores(
    engine: TorchEngine, ct2: CT2Engine, inputs: list[EngineInput], beam: int
) -> None:
    options = ResolvedOptions(beam_size=beam, max_length=96)
    mine, theirs = [], []
    for start in range(0, len(inputs), 16):
        mine += engine.generate(inputs[start : start + 16], options)
        theirs += ct2.generate(inputs[start : start + 16], options)
    assert tokens(mine) == tokens(theirs)
    for a, b in zip(mine, theirs, strict=True):
        assert a.hypotheses[0].score == pytest.approx(b.hypotheses[0].score, abs=2e-4)


def test_lengths_count_generated_tokens_even_with_target_prefixes_mixed_in_one_batch(
    engine: TorchEngine, ct2: CT2Engine, inputs: list[EngineInput]
) -> None:
    first, second = inputs[0].source[1:3], inputs[1].source[2:3]  # any vocabulary tokens
    mixed = [EngineInput(x.source, (first, second, ())[i % 3]) for i, x in enumerate(inputs[:9])]
    options = ResolvedOptions(min_length=5, max_length=5)
    outputs = engine.generate(mixed, options)
    for item, output in zip(mixed, outputs, strict=True):
        hyp = output.hypotheses[0].tokens
        assert hyp[: len(item.target_prefix)] == item.target_prefix
        assert len(hyp) == len(item.target_prefix) + 5
    for prefix in (first, second, ()):  # CTranslate2 alone per prefix (mixed, it counts the
        group = [i for i, x in enumerate(mixed) if x.target_prefix == prefix]  # longest one)
        expected = tokens(ct2.generate([mixed[i] for i in group], options))
        assert [outputs[i].hypotheses[0].tokens for i in group] == expected


def test_n_best_is_sorted_distinct_and_scored_like_ctranslate2(
    engine: TorchEngine, ct2: CT2Engine, inputs: list[EngineInput]
) -> None:
    options = ResolvedOptions(beam_size=4, num_hypotheses=3)
    mine = engine.generate(inputs[:6], options)
    theirs = ct2.generate(inputs[:6], options)
    for a, b in zip(mine, theirs, strict=True):
        scores = [h.score for h in a.hypotheses]
        assert len(a.hypotheses) == 3 and len({h.tokens for h in a.hypotheses}) == 3
        assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
        assert [h.tokens for h in a.hypotheses] == [h.tokens for h in b.hypotheses]


def test_a_seed_gives_the_same_samples_and_other_seeds_other_samples(
    engine: TorchEngine, inputs: list[EngineInput]
) -> None:
    assert engine.info.supports_seed

    def sample(seed: int) -> list[tuple[str, ...]]:
        options = ResolvedOptions(
            sampling_top_k=0, sampling_temperature=3.0, num_hypotheses=2, seed=seed, max_length=12
        )
        return [h.tokens for o in engine.generate(inputs[:4], options) for h in o.hypotheses]

    assert sample(11) == sample(11)
    assert len({tuple(sample(seed)) for seed in (11, 12, 13)}) == 3


def test_every_output_is_reported_once_and_equals_the_returned_one(
    engine: TorchEngine, inputs: list[EngineInput]
) -> None:
    reported: dict[int, EngineOutput] = {}
    lock = threading.Lock()

    def on_output(index: int, output: EngineOutput) -> None:
        with lock:
            assert index not in reported
            reported[index] = output

    mixed = [EngineInput(x.source, inputs[0].source[1:2] if i % 2 else ()) for i, x in
             enumerate(inputs[:6])]  # fmt: skip
    returned = engine.generate(mixed, ResolvedOptions(), on_output)
    assert sorted(reported) == list(range(6))
    assert [reported[i] for i in range(6)] == returned


def test_each_text_is_cut_to_its_own_output_limit(
    engine: TorchEngine, inputs: list[EngineInput]
) -> None:
    limits = [3, None, 7, 1]
    capped = [EngineInput(i.source, (), n) for i, n in zip(inputs[:4], limits, strict=True)]
    outputs = engine.generate(capped, ResolvedOptions(min_length=10, max_length=10))
    assert [len(o.hypotheses[0].tokens) for o in outputs] == [3, 10, 7, 1]


@pytest.mark.parametrize("beam", [1, 2])
def test_decoding_stops_when_asked(
    engine: TorchEngine, inputs: list[EngineInput], beam: int
) -> None:
    polls = 0

    def stop_now() -> bool:
        nonlocal polls
        polls += 1
        return True

    forced = ResolvedOptions(beam_size=beam, min_length=200, max_length=200)
    stopped = engine.generate(inputs[:4], forced, should_stop=stop_now)
    assert polls >= 1
    assert all(len(o.hypotheses[0].tokens) < 200 for o in stopped)  # ended early, beams too


def test_greedy_tokens_stream_as_generated_and_one_input_can_stop_alone(
    engine: TorchEngine, inputs: list[EngineInput]
) -> None:
    greedy = ResolvedOptions(max_length=40)
    assert engine.steps_observable(greedy)
    assert not engine.steps_observable(ResolvedOptions(beam_size=2))
    forced = inputs[0].source[1:2]  # a forced prefix is not streamed: it was not generated
    batch = [EngineInput(inputs[0].source, forced), *inputs[1:4]]
    streamed: dict[int, list[str]] = {i: [] for i in range(len(batch))}
    outputs = engine.generate(
        batch, greedy, on_token=lambda i, token: streamed[i].append(token),
        stop_input=lambda i: i == 3 and len(streamed[3]) >= 2,
    )  # fmt: skip
    for i in range(3):  # every generated token, in order, and nothing else
        assert (
            forced + tuple(streamed[i])
            if i == 0
            else tuple(streamed[i]) == (outputs[i].hypotheses[0].tokens)
        )
    assert len(streamed[3]) == 2  # its caller left: no further tokens for it, the others go on
    assert len(outputs[3].hypotheses[0].tokens) == 2
    assert tokens(outputs[:3]) == tokens(engine.generate(batch[:3], greedy))
