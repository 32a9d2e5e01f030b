"""CTranslate2 engine: the production engine (CPU int8; GPU int8_float16 / float16 / bfloat16).

`translate_batch` releases the GIL, so the batcher's worker threads run it while the event loop
keeps serving. With ``inter_threads`` N the Translator holds N replicas and runs N batches at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ctranslate2

from service.engines.base import (
    Engine,
    EngineHypothesis,
    EngineInfo,
    EngineInput,
    EngineOutput,
    OutputCallback,
)
from service.engines.priority import with_lowered_priority
from service.types import ResolvedOptions


class CT2Engine(Engine):
    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "cpu",
        device_index: int = 0,
        compute_type: str = "int8",
        inter_threads: int = 1,
        intra_threads: int = 1,
        thread_nice: int = 0,
    ) -> None:
        self._translator, self._reniced = with_lowered_priority(
            lambda: ctranslate2.Translator(
                str(model_dir),
                device=device,
                device_index=device_index,
                compute_type=compute_type,
                inter_threads=inter_threads,
                intra_threads=intra_threads,
            ),
            thread_nice,
        )
        self._parallelism = max(1, int(self._translator.num_translators))
        self._eos = _read_eos(model_dir)
        self._info = EngineInfo(
            engine="ctranslate2",
            device=device,
            compute_type=str(self._translator.compute_type),
            supports_seed=False,
        )

    @property
    def reniced_threads(self) -> tuple[int, ...]:
        """Kernel ids of the engine threads that run at the lowered priority."""
        return tuple(self._reniced)

    @property
    def parallelism(self) -> int:
        return self._parallelism

    @property
    def info(self) -> EngineInfo:
        return self._info

    def generate(
        self,
        inputs: Sequence[EngineInput],
        options: ResolvedOptions,
        on_output: OutputCallback | None = None,
    ) -> list[EngineOutput]:
        sources = [list(i.source) for i in inputs]
        prefixes: list[list[str] | None] | None = None
        if any(i.target_prefix for i in inputs):
            prefixes = [list(i.target_prefix) or None for i in inputs]
        n_prefix = max((len(i.target_prefix) for i in inputs), default=0)
        kwargs = _translate_kwargs(options, n_prefix=n_prefix)
        streamer = None
        if on_output is not None and options.beam_size == 1 and options.num_hypotheses == 1:
            streamer = _Streamer(len(inputs), on_output, options, eos=self._eos)
            kwargs["callback"] = streamer
        results = self._translator.translate_batch(sources, prefixes, **kwargs)
        outputs = [
            EngineOutput(
                tuple(
                    EngineHypothesis(tuple(tokens), float(score) if score is not None else None)
                    for tokens, score in zip(r.hypotheses, _scores(r), strict=True)
                )
            )
            for r in results
        ]
        if on_output is not None:
            for index, output in enumerate(outputs):
                if streamer is None or not streamer.reported(index):
                    on_output(index, output)
        return outputs

    def close(self) -> None:
        self._translator.unload_model()


def _translate_kwargs(options: ResolvedOptions, *, n_prefix: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "beam_size": options.beam_size,
        "num_hypotheses": options.num_hypotheses,
        "length_penalty": options.length_penalty,
        "repetition_penalty": options.repetition_penalty,
        "no_repeat_ngram_size": options.no_repeat_ngram_size,
        # Output lengths count generated tokens; CTranslate2 counts the forced prefix too.
        "max_decoding_length": options.max_length + n_prefix,
        "min_decoding_length": options.min_length + n_prefix if options.min_length else 0,
        "max_input_length": 0,  # inputs are length-checked before they get here; never truncate
        "return_scores": True,
    }
    if options.is_sampling:
        kwargs.update(
            sampling_topk=options.sampling_top_k,
            sampling_topp=options.sampling_top_p,
            sampling_temperature=options.sampling_temperature,
        )
    return kwargs


def _scores(result: Any) -> list[float | None]:
    scores = list(result.scores) if result.scores else []
    return scores + [None] * (len(result.hypotheses) - len(scores))


class _Streamer:
    """Collects greedy step results and reports each input as soon as its last token arrives.

    CTranslate2 calls it from its worker thread; it must stay cheap. The early score is what
    CTranslate2 reports for greedy search: the summed step log-probabilities divided by
    ``steps ** length_penalty`` (checked against the final scores in the engine tests).
    """

    def __init__(
        self, size: int, on_output: OutputCallback, options: ResolvedOptions, *, eos: str
    ) -> None:
        self._eos = eos
        self._tokens: list[list[str]] = [[] for _ in range(size)]
        self._log_prob = [0.0] * size
        self._steps = [0] * size
        self._done = [False] * size
        self._on_output = on_output
        self._length_penalty = options.length_penalty

    def reported(self, index: int) -> bool:
        return self._done[index]

    def __call__(self, step: Any) -> bool:
        i = step.batch_id
        if self._done[i]:
            return False
        self._steps[i] += 1
        if step.log_prob is not None:
            self._log_prob[i] += step.log_prob
        if step.token != self._eos:
            self._tokens[i].append(step.token)
        if step.is_last:
            self._done[i] = True
            steps = max(1, self._steps[i])
            score = self._log_prob[i] / (steps**self._length_penalty)
            hypothesis = EngineHypothesis(tuple(self._tokens[i]), score)
            self._on_output(i, EngineOutput((hypothesis,)))
        return False


def _read_eos(model_dir: Path) -> str:
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "</s>"
    return str(config.get("eos_token") or "</s>")
