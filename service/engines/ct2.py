"""CTranslate2 engine: the production engine (CPU int8; GPU int8_float16 / float16 / bfloat16).

`translate_batch` releases the GIL, so the batcher's worker threads run it while the event loop
keeps serving. With ``inter_threads`` N the Translator holds N replicas and runs N batches at once.

Stopping a running call: `translate_batch`'s ``callback`` runs for every generated token and
ends the call when it returns True, but CTranslate2 (4.8) accepts a callback only for
``beam_size`` 1 (greedy search and sampling); with beam search it raises "The callback function
is not compatible with beam_size > 1". So greedy and sampling calls stop at their next decoding
step once ``should_stop`` says so, and a beam-search call always runs to its end (the per-request
cost budget bounds how long that is). The callback takes the GIL at every token, which slows
the call when the event loop is busy, so the batcher only asks for it on calls expected to run
long enough to be worth stopping.
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
    InputStopCheck,
    OutputCallback,
    StopCheck,
    TokenCallback,
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

    def steps_observable(self, options: ResolvedOptions) -> bool:
        """CTranslate2 calls back per token only for beam size 1 (see the module doc); here
        with one hypothesis per input, so that each input has one stream of tokens."""
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
        sources = [list(i.source) for i in inputs]
        prefixes: list[list[str] | None] | None = None
        if any(i.target_prefix for i in inputs):
            prefixes = [list(i.target_prefix) or None for i in inputs]
        n_prefix = max((len(i.target_prefix) for i in inputs), default=0)
        # Each text's own output limit, prefix included (CTranslate2 counts the prefix too).
        caps = [(i.max_length or options.max_length) + len(i.target_prefix) for i in inputs]
        longest = max((i.max_length or options.max_length for i in inputs), default=1)
        kwargs = _translate_kwargs(options, n_prefix=n_prefix, max_length=longest)
        streamer = None
        stoppable = options.beam_size == 1  # see the module doc
        watched = on_output is not None or on_token is not None or stop_input is not None
        if watched and self.steps_observable(options):
            streamer = _Streamer(
                options,
                caps,
                [len(i.target_prefix) for i in inputs],
                eos=self._eos,
                on_output=on_output,
                on_token=on_token,
                should_stop=should_stop,
                stop_input=stop_input,
            )
            kwargs["callback"] = streamer
        elif should_stop is not None and stoppable:
            kwargs["callback"] = lambda step: should_stop()
        results = self._translator.translate_batch(sources, prefixes, **kwargs)
        outputs = [
            EngineOutput(
                tuple(
                    EngineHypothesis(
                        tuple(tokens[:cap]), float(score) if score is not None else None
                    )
                    for tokens, score in zip(r.hypotheses, _scores(r), strict=True)
                )
            )
            for r, cap in zip(results, caps, strict=True)
        ]
        if on_output is not None:
            for index, output in enumerate(outputs):
                if streamer is None or not streamer.reported(index):
                    on_output(index, output)
        return outputs

    def close(self) -> None:
        # Drop the Translator now, not at interpreter exit: one that ran a token callback and is
        # destroyed during finalization aborts the process (seen with CTranslate2 4.8.5).
        translator, self._translator = self._translator, None
        if translator is not None:
            translator.unload_model()
            del translator


def _translate_kwargs(
    options: ResolvedOptions, *, n_prefix: int, max_length: int | None = None
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "beam_size": options.beam_size,
        "num_hypotheses": options.num_hypotheses,
        "length_penalty": options.length_penalty,
        "repetition_penalty": options.repetition_penalty,
        "no_repeat_ngram_size": options.no_repeat_ngram_size,
        # Output lengths count generated tokens; CTranslate2 counts the forced prefix too.
        "max_decoding_length": (max_length or options.max_length) + n_prefix,
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
    """CTranslate2's per-token callback for greedy search: reports tokens as they come and each
    input as soon as it is final (its last token, or its own output limit), and stops inputs
    whose caller left (``stop_input``) or the whole call (``should_stop``).

    CTranslate2 calls it from its worker thread for every token, forced prefix tokens included;
    it must stay cheap. Returning True makes the token just reported the last of that batch
    index (the other inputs go on), so a final or abandoned input costs no further steps. The
    early score is what CTranslate2 reports for greedy search: the summed step log-probabilities
    divided by ``steps ** length_penalty`` (checked against the final scores in the engine
    tests).
    """

    def __init__(
        self,
        options: ResolvedOptions,
        caps: list[int],
        prefixes: list[int],
        *,
        eos: str,
        on_output: OutputCallback | None,
        on_token: TokenCallback | None,
        should_stop: StopCheck | None,
        stop_input: InputStopCheck | None,
    ) -> None:
        size = len(caps)
        self._eos = eos
        self._caps = caps  # a text is final at its own output limit, before the batch's
        self._prefixes = prefixes  # forced tokens come through the callback too
        self._tokens: list[list[str]] = [[] for _ in range(size)]
        self._log_prob = [0.0] * size
        self._steps = [0] * size
        self._done = [False] * size  # final or stopped: no more steps for it
        self._reported = [False] * size  # handed to on_output here
        self._on_output = on_output
        self._on_token = on_token
        self._length_penalty = options.length_penalty
        self._should_stop = should_stop
        self._stop_input = stop_input

    def reported(self, index: int) -> bool:
        return self._reported[index]

    def __call__(self, step: Any) -> bool:
        i = step.batch_id
        if self._done[i]:
            return True
        if self._stop_input is not None and self._stop_input(i):
            self._done[i] = True  # not reported here: the final loop hands over the partial
            return True
        self._steps[i] += 1
        if step.log_prob is not None:
            self._log_prob[i] += step.log_prob
        tokens = self._tokens[i]
        if step.token != self._eos:
            tokens.append(step.token)
            if self._on_token is not None and self._steps[i] > self._prefixes[i]:
                self._on_token(i, step.token)
        if step.is_last or len(tokens) >= self._caps[i]:
            self._done[i] = True
            if self._on_output is not None:
                self._reported[i] = True
                steps = max(1, self._steps[i])
                score = self._log_prob[i] / (steps**self._length_penalty)
                self._on_output(i, EngineOutput((EngineHypothesis(tuple(tokens), score),)))
            return True
        return self._should_stop is not None and self._should_stop()


def _read_eos(model_dir: Path) -> str:
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "</s>"
    return str(config.get("eos_token") or "</s>")
