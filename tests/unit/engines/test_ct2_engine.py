"""The CTranslate2 engine on the shipped demo model: streaming, n-best and length controls."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from service.engines.base import EngineInput, EngineOutput
from service.engines.ct2 import CT2Engine
from service.manifest import load_manifest
from service.tokenization import Tokenizer, load_tokenizer
from service.types import ResolvedOptions
from tests.serverproc import first_model_dir

SENTENCES = [
    "The dog sleeps.",
    "The old man sees the small dog because it is playing in the garden.",
    "Today my sister buys three red apples.",
    "The woman calls the doctor.",
]


@pytest.fixture(scope="module")
def engine() -> Iterator[CT2Engine]:
    engine = CT2Engine(first_model_dir(), compute_type="int8", inter_threads=2, intra_threads=1)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def inputs() -> list[EngineInput]:
    model_dir = first_model_dir()
    manifest = load_manifest(model_dir)
    tokenizer: Tokenizer = load_tokenizer(manifest.tokenizer, model_dir)
    template = manifest.translation[0].input_template
    return [EngineInput(tuple(tokenizer.encode(template.format(text=s)))) for s in SENTENCES]


def test_parallelism_is_the_number_of_replicas(engine: CT2Engine) -> None:
    assert engine.parallelism == 2
    assert engine.info.engine == "ctranslate2"
    assert engine.info.supports_seed is False


def test_streamed_outputs_equal_the_batch_result(
    engine: CT2Engine, inputs: list[EngineInput]
) -> None:
    """Early return must not change anything: same tokens, same scores, each input once."""
    options = ResolvedOptions(beam_size=1, max_length=64)
    plain = engine.generate(inputs, options)
    streamed: dict[int, EngineOutput] = {}
    lock = threading.Lock()

    def on_output(index: int, output: EngineOutput) -> None:
        with lock:
            assert index not in streamed
            streamed[index] = output

    returned = engine.generate(inputs, options, on_output)
    assert sorted(streamed) == list(range(len(inputs)))
    for index, output in enumerate(plain):
        assert streamed[index].hypotheses[0].tokens == output.hypotheses[0].tokens
        assert returned[index].hypotheses[0].tokens == output.hypotheses[0].tokens
        assert streamed[index].hypotheses[0].score == pytest.approx(
            output.hypotheses[0].score, abs=1e-4
        )
    # Outputs of different lengths, so early return has something to return early.
    assert len({len(o.hypotheses[0].tokens) for o in plain}) > 1


def test_n_best_sorted_and_distinct(engine: CT2Engine, inputs: list[EngineInput]) -> None:
    outputs = engine.generate(inputs, ResolvedOptions(beam_size=4, num_hypotheses=3))
    for output in outputs:
        scores = [h.score for h in output.hypotheses]
        assert len(output.hypotheses) == 3
        assert len({h.tokens for h in output.hypotheses}) == 3
        assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]


def test_lengths_count_generated_tokens_even_with_a_target_prefix(
    engine: CT2Engine, inputs: list[EngineInput]
) -> None:
    prefix = inputs[0].source[:2]  # any two vocabulary tokens as a forced prefix
    forced = [EngineInput(i.source, prefix) for i in inputs]
    outputs = engine.generate(forced, ResolvedOptions(min_length=5, max_length=5))
    for output in outputs:
        tokens = output.hypotheses[0].tokens
        assert tokens[:2] == prefix
        assert len(tokens) == 2 + 5


def test_each_text_is_cut_at_its_own_output_limit(
    engine: CT2Engine, inputs: list[EngineInput]
) -> None:
    limits = [3, None, 7, 1]
    capped = [EngineInput(i.source, (), n) for i, n in zip(inputs, limits, strict=True)]
    options = ResolvedOptions(min_length=10, max_length=10)
    outputs = engine.generate(capped, options)
    assert [len(o.hypotheses[0].tokens) for o in outputs] == [3, 10, 7, 1]
    streamed: dict[int, int] = {}
    engine.generate(
        capped, options, lambda i, o: streamed.__setitem__(i, len(o.hypotheses[0].tokens))
    )
    assert streamed == {0: 3, 1: 10, 2: 7, 3: 1}


def test_greedy_decoding_stops_when_asked_and_beam_search_cannot(
    engine: CT2Engine, inputs: list[EngineInput]
) -> None:
    forced = ResolvedOptions(min_length=200, max_length=200)
    polls = 0

    def stop_now() -> bool:
        nonlocal polls
        polls += 1
        return True

    stopped = engine.generate(inputs, forced, should_stop=stop_now)
    assert polls >= 1
    assert all(len(o.hypotheses[0].tokens) < 200 for o in stopped)  # ended early
    beam = engine.generate(inputs[:1], ResolvedOptions(beam_size=2, min_length=20, max_length=20),
                           should_stop=stop_now)  # fmt: skip
    assert len(beam[0].hypotheses[0].tokens) == 20  # CTranslate2 takes no callback for beams


def test_tokens_are_reported_as_generated_and_add_up_to_the_output(
    engine: CT2Engine, inputs: list[EngineInput]
) -> None:
    options = ResolvedOptions(beam_size=1, max_length=64)
    assert engine.steps_observable(options)
    tokens: dict[int, list[str]] = {i: [] for i in range(len(inputs))}
    outputs = engine.generate(inputs, options, on_token=lambda i, t: tokens[i].append(t))
    for i, output in enumerate(outputs):
        assert tokens[i] == list(output.hypotheses[0].tokens)
    # With a forced prefix, only the generated tokens are reported.
    prefix = inputs[0].source[:2]
    forced = [EngineInput(inputs[0].source, prefix)]
    seen: list[str] = []
    (output,) = engine.generate(forced, options, on_token=lambda i, t: seen.append(t))
    assert output.hypotheses[0].tokens[:2] == prefix
    assert seen == list(output.hypotheses[0].tokens[2:])


def test_stop_input_ends_one_input_and_the_others_finish(
    engine: CT2Engine, inputs: list[EngineInput]
) -> None:
    """A caller that left stops costing decoding steps at once; its neighbours are unchanged."""
    options = ResolvedOptions(beam_size=1, max_length=64)
    plain = engine.generate(inputs, options)
    steps = [0] * len(inputs)

    def on_token(index: int, token: str) -> None:
        steps[index] += 1

    stopped = engine.generate(
        inputs, options, on_token=on_token, stop_input=lambda i: i == 1 and steps[1] >= 2
    )
    # Stopped at the step after its second token: that step's token is its last.
    assert steps[1] == 2
    assert len(stopped[1].hypotheses[0].tokens) == 3 < len(plain[1].hypotheses[0].tokens)
    for i in (0, 2, 3):
        assert stopped[i].hypotheses[0].tokens == plain[i].hypotheses[0].tokens


def test_beam_search_is_not_observable_and_ignores_the_hooks(
    engine: CT2Engine, inputs: list[EngineInput]
) -> None:
    options = ResolvedOptions(beam_size=4, max_length=32)
    assert not engine.steps_observable(options)
    seen: list[str] = []
    outputs = engine.generate(
        inputs, options, on_token=lambda i, t: seen.append(t), stop_input=lambda i: True
    )
    assert not seen
    assert all(len(o.hypotheses[0].tokens) > 2 for o in outputs)
