"""Test doubles shared by the unit tests: a recording engine and a recording batch observer.

The real engine (CTranslate2) is used wherever behaviour depends on it; these fakes let the
batcher and pipeline tests control timing (a gate the test opens) and see every engine call.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from service.batching import Batcher, BatchingConfig
from service.engines.base import (
    Engine,
    EngineHypothesis,
    EngineInfo,
    EngineInput,
    EngineOutput,
    InputStopCheck,
    OutputCallback,
    StopCheck,
    TokenCallback,
)
from service.manifest import Manifest, SummarizationRoute, TokenizerSpec, TranslationRoute
from service.model import ServedModel
from service.tokenization import Tokenizer, load_tokenizer
from service.types import DecodingOptions, ResolvedOptions

DEMO_MODEL = Path(__file__).resolve().parent.parent / "models" / "t5-demo"
DEMO_HELDOUT = Path(__file__).resolve().parent.parent / "demo_model" / "heldout.jsonl"

FAIL = "FAIL"  # a source token that makes the fake engine raise for the whole call
SAFETY_S = 10.0  # upper bound for waits that succeed within milliseconds when all is well


class EngineBoom(RuntimeError):
    """What the fake engine raises for inputs containing FAIL."""


@dataclass
class Call:
    inputs: tuple[EngineInput, ...]
    options: ResolvedOptions
    early: bool  # whether an on_output callback was passed


def expected_output(inp: EngineInput, options: ResolvedOptions) -> EngineOutput:
    """The fake engine's deterministic answer: the target prefix, then the reversed source and
    the options (as a real engine, it always returns a score)."""
    tokens = (*reversed(inp.source), f"beam={options.beam_size}", f"k={options.sampling_top_k}")
    return EngineOutput((EngineHypothesis(inp.target_prefix + tokens, score=-1.0),))


class FakeEngine(Engine):
    """Records (inputs, options) per call; can block on a gate, fail, and report early."""

    def __init__(
        self,
        parallelism: int = 1,
        *,
        blocked: bool = False,
        sleep: float = 0.0,
        drop_last: bool = False,
        report_twice: bool = False,
    ) -> None:
        self._parallelism = parallelism
        self.sleep = sleep  # seconds each call takes
        self.drop_last = drop_last  # a buggy engine: one output too few
        self.report_twice = report_twice  # a buggy engine: reports output 0 again at the end
        self.gate = threading.Event()
        if not blocked:
            self.gate.set()
        self.calls: list[Call] = []
        self.stopped = 0  # calls ended early because should_stop said so
        self.started = 0
        self.active = 0
        self.max_active = 0
        # When set, generate reports input 0 through on_output before waiting on the gate.
        self.report_first_early = False
        self.inputs_stopped = 0  # inputs whose decoding stop_input ended early
        # When set, greedy decoding pauses after the first token until the test opens it.
        self.step_gate: threading.Event | None = None
        self._lock = threading.Lock()

    @property
    def parallelism(self) -> int:
        return self._parallelism

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(engine="fake", device="cpu", compute_type="none", supports_seed=True)

    def steps_observable(self, options: ResolvedOptions) -> bool:
        return options.beam_size == 1 and options.num_hypotheses == 1

    def generate(
        self,
        inputs: Sequence[EngineInput],
        options: ResolvedOptions,
        on_output: OutputCallback | None = None,
        should_stop: StopCheck | None = None,
        *,
        on_token: TokenCallback | None = None,
        stop_input: InputStopCheck | None = None,
    ) -> list[EngineOutput]:
        with self._lock:
            self.calls.append(Call(tuple(inputs), options, on_output is not None))
            self.started += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.sleep:
                time.sleep(self.sleep)
            outputs = [expected_output(x, options) for x in inputs]
            reported = set()
            if on_output is not None and self.report_first_early:
                on_output(0, outputs[0])
                reported.add(0)
            waited = 0.0
            while not self.gate.wait(0.005) and waited < SAFETY_S:  # a decoding step
                waited += 0.005
                if should_stop is not None and should_stop():
                    with self._lock:
                        self.stopped += 1
                    return outputs
            if any(FAIL in x.source for x in inputs):
                raise EngineBoom("engine failed on a marked input")
            if self.steps_observable(options):
                outputs = [
                    self._step(i, inp, out, on_token, stop_input)
                    for i, (inp, out) in enumerate(zip(inputs, outputs, strict=True))
                ]
            if on_output is not None:
                for i, out in enumerate(outputs):
                    if i not in reported:
                        on_output(i, out)
                if self.report_twice:
                    on_output(0, outputs[0])
            return outputs[:-1] if self.drop_last else outputs
        finally:
            with self._lock:
                self.active -= 1

    def _step(
        self,
        index: int,
        inp: EngineInput,
        output: EngineOutput,
        on_token: TokenCallback | None,
        stop_input: InputStopCheck | None,
    ) -> EngineOutput:
        """Greedy "decoding": one token per step, reported, stoppable (counted in
        inputs_stopped)."""
        generated: list[str] = []
        for token in output.hypotheses[0].tokens[len(inp.target_prefix) :]:
            if stop_input is not None and stop_input(index):
                with self._lock:
                    self.inputs_stopped += 1
                break
            generated.append(token)
            if on_token is not None:
                on_token(index, token)
            if self.step_gate is not None:
                self.step_gate.wait(SAFETY_S)
        return EngineOutput((EngineHypothesis(inp.target_prefix + tuple(generated), -1.0),))


class RecordingObserver:
    """A `BatchObserver` that keeps every event, for assertions."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, int, int]] = []  # (size, tokens, padded tokens)
        self.waits = 0
        self.rejected = 0
        self.unmeetable = 0
        self.expired = 0
        self.cancelled = 0
        self.errors = 0

    @property
    def examples(self) -> int:
        return sum(b[0] for b in self.batches)

    @property
    def padded_tokens(self) -> int:
        return sum(b[2] for b in self.batches)

    def on_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        assert seconds >= 0
        self.batches.append((size, tokens, padded_tokens))

    def on_queue_wait(self, seconds: float) -> None:
        assert seconds >= 0
        self.waits += 1

    def on_rejected(self) -> None:
        self.rejected += 1

    def on_unmeetable(self) -> None:
        self.unmeetable += 1

    def on_expired(self) -> None:
        self.expired += 1

    def on_cancelled(self) -> None:
        self.cancelled += 1

    def on_error(self) -> None:
        self.errors += 1


def text(*tokens: str, prefix: tuple[str, ...] = ()) -> EngineInput:
    return EngineInput(source=tokens, target_prefix=prefix)


def sized(tag: str, length: int) -> EngineInput:
    """An input `length` tokens long whose first token identifies it."""
    return EngineInput(source=(tag, *("w",) * (length - 1)))


async def wait_until(predicate: Callable[[], bool], timeout: float = SAFETY_S) -> None:
    """Yield to the loop until `predicate` holds (polling; fails only on a real hang)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)


async def settle(turns: int = 20) -> None:
    """Let the loop run pending callbacks (dispatches, posted results) for a few turns."""
    for _ in range(turns):
        await asyncio.sleep(0)


def demo_tokenizer() -> Tokenizer:
    """The shipped demo model's real sentencepiece tokenizer."""
    from service.manifest import load_manifest

    manifest = load_manifest(DEMO_MODEL)
    return load_tokenizer(manifest.tokenizer, DEMO_MODEL)


def served_with_fake_engine(
    manifest: Manifest,
    engine: FakeEngine | None = None,
    *,
    config: BatchingConfig | None = None,
    observer: RecordingObserver | None = None,
    ready: bool = True,
) -> ServedModel:
    """A served model with the demo tokenizer and a fake engine (start its batcher in a loop)."""
    engine = engine or FakeEngine()
    batcher = Batcher(engine, config or BatchingConfig(), name=manifest.name, observer=observer)
    return ServedModel(
        manifest=manifest,
        revision=manifest.revision,
        tokenizer=demo_tokenizer(),
        engine=engine,
        batcher=batcher,
        ready=ready,
    )


def manifest(
    name: str = "fake",
    *,
    pairs: Sequence[tuple[str, str]] = (("en", "de"),),
    summarize: Sequence[str] = ("en",),
    target_prefix: tuple[str, ...] = (),
    max_input_tokens: int = 64,
    defaults: DecodingOptions | None = None,
) -> Manifest:
    """A manifest for the demo tokenizer's files, with the routes a test needs."""
    return Manifest(
        name=name,
        family="t5",
        tokenizer=TokenizerSpec("sentencepiece", "spiece.model", "spiece.model"),
        revision="sha256:" + "ab" * 32,
        translation=tuple(
            TranslationRoute(s, t, f"translate {s} to {t}: {{text}}", target_prefix)
            for s, t in pairs
        ),
        summarization=tuple(SummarizationRoute(lang, "summarize: {text}") for lang in summarize),
        default_options=defaults or DecodingOptions(max_length=32),
        max_input_tokens=max_input_tokens,
    )
