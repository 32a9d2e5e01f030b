"""The engine interface: token sequences in, hypotheses out, one batch per call.

Engines know nothing of gRPC, queues or callers. `generate` blocks (it is called from a worker
thread, never on the event loop) and may run up to `parallelism` calls at once.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from service.types import ResolvedOptions


@dataclass(frozen=True, slots=True)
class EngineInput:
    """One text, tokenized: source tokens, the forced start of the output (may be empty) and
    this text's own output-token limit (None: the options' ``max_length``; never above it)."""

    source: tuple[str, ...]
    target_prefix: tuple[str, ...] = ()
    max_length: int | None = None


@dataclass(frozen=True, slots=True)
class EngineHypothesis:
    tokens: tuple[str, ...]
    score: float | None = None


@dataclass(frozen=True, slots=True)
class EngineOutput:
    """The hypotheses for one input, best first."""

    hypotheses: tuple[EngineHypothesis, ...]


OutputCallback = Callable[[int, EngineOutput], None]
"""Called with (index in the batch, output) as soon as one input's output is final."""

StopCheck = Callable[[], bool]
"""Polled by the engine while it decodes; True asks it to end the call early (every caller
of the batch has gone). Its outputs are then discarded."""

TokenCallback = Callable[[int, str], None]
"""Called with (index in the batch, token) for each output token as it is generated (the forced
target prefix and the end-of-sequence token excluded)."""

InputStopCheck = Callable[[int], bool]
"""Asked at each decoding step of one input: True makes that step its last (that input's caller
went away; the others go on). A stopped input's output is partial; it is still reported once
and must be discarded."""


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What the registry and ListModels report about a loaded engine."""

    engine: str
    device: str
    compute_type: str
    supports_seed: bool


class Engine(abc.ABC):
    """A loaded model that decodes batches of token sequences."""

    @property
    @abc.abstractmethod
    def parallelism(self) -> int:
        """How many `generate` calls can run at the same time (e.g. CTranslate2 replicas)."""

    @property
    @abc.abstractmethod
    def info(self) -> EngineInfo: ...

    @abc.abstractmethod
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
        """Decode one batch with one set of options; blocking.

        If `on_output` is given the engine calls it (from its worker thread) for each input as
        soon as that input's output is final, possibly before the whole batch is done; every
        input is reported exactly once, and the full list is also returned in input order.
        Each output is cut to its input's ``max_length``. If `should_stop` returns True the
        engine may end the call early where it can (returning incomplete outputs).
        `on_token` and `stop_input` take effect only where `steps_observable(options)` is true
        (engines that decode step by step for those options); elsewhere they are ignored.
        """

    def steps_observable(self, options: ResolvedOptions) -> bool:
        """Whether `generate` reports tokens as they are generated (``on_token``) and can stop
        one input mid-call (``stop_input``) when decoding with ``options``."""
        return False

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model's memory."""
