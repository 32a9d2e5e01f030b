"""Decoding with ``transformers`` ``generate`` the way the CTranslate2 engine decodes.

Same options, same meaning: ``max_length``/``min_length`` count generated tokens (a forced
target prefix is not counted), n-best is ``num_return_sequences``, sampling is top-k / top-p /
temperature. Same scores: beam search reports the length-normalised log-probability of each
hypothesis (``transformers`` and CTranslate2 both divide by ``length ** length_penalty``, the
end-of-sequence token counted); greedy search and sampling report the summed log-probabilities
of the chosen tokens divided by ``steps ** length_penalty``, as CTranslate2 does. The
checkpoint's own ``generation_config.json`` never leaks in: the model's generation config is
replaced by a neutral one at load (transformers would fill every option left at its library
default from it, e.g. a Marian checkpoint's ``num_beams=4``), and every call gets a generation
config built from the structural token ids and the request's options alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from service.types import ResolvedOptions

# CTranslate2 ends an input's beam search once ``beam_size`` hypotheses have finished (patience
# 1); transformers does the same with early_stopping=True. Its default (False) searches on and
# disagreed with CTranslate2 on 3 of the 600 held-out inputs at beam 4 (0 with True).
EARLY_STOPPING = True


@dataclass(frozen=True, slots=True)
class SpecialIds:
    decoder_start: int
    eos: int
    pad: int


def neutral_generation_config(ids: SpecialIds) -> Any:
    """A generation config with the structural token ids and library defaults only."""
    from transformers import GenerationConfig

    return GenerationConfig(  # type: ignore[no-untyped-call]
        decoder_start_token_id=ids.decoder_start, eos_token_id=ids.eos, pad_token_id=ids.pad
    )


def generation_kwargs(options: ResolvedOptions, ids: SpecialIds) -> dict[str, Any]:
    """Keyword arguments for ``generate`` (with a fresh ``GenerationConfig``)."""
    from transformers import GenerationConfig

    sampling = options.is_sampling
    config = GenerationConfig(  # type: ignore[no-untyped-call]
        decoder_start_token_id=ids.decoder_start,
        eos_token_id=ids.eos,
        pad_token_id=ids.pad,
        num_beams=options.beam_size,
        num_return_sequences=options.num_hypotheses,
        max_new_tokens=options.max_length,
        min_new_tokens=options.min_length or None,
        length_penalty=options.length_penalty,
        repetition_penalty=options.repetition_penalty,
        no_repeat_ngram_size=options.no_repeat_ngram_size,
        do_sample=sampling,
        top_k=options.sampling_top_k if sampling else None,
        top_p=options.sampling_top_p if sampling else None,
        temperature=options.sampling_temperature if sampling else None,
        early_stopping=EARLY_STOPPING if options.beam_size > 1 else False,
        return_dict_in_generate=True,
        output_scores=True,
    )
    return {"generation_config": config}


def hypotheses(
    output: Any,
    ids: SpecialIds,
    options: ResolvedOptions,
    prefix_length: int,
    lengths: list[tuple[int, int]] | None = None,
) -> list[list[tuple[list[int], float]]]:
    """Per input: its hypotheses as (token ids without the start token and EOS, score).

    ``output`` is what ``generate`` returned for a batch whose decoder inputs were the start
    token plus ``prefix_length`` forced tokens; the forced tokens stay in the ids (as in
    CTranslate2's output) and are not scored. ``lengths`` (from a `StepWatcher`) gives per row
    the generated tokens to keep and the steps to score, for rows it ended (padding follows).
    """
    sequences = output.sequences.tolist()
    n = options.num_hypotheses
    if output.get("sequences_scores") is not None:
        scores = [float(s) for s in output.sequences_scores.tolist()]
    else:
        scores = _step_scores(
            output, sequences, ids, options.length_penalty, prefix_length, lengths
        )
    rows = [_tokens(sequence, ids) for sequence in sequences]
    if lengths is not None:
        rows = [row[: prefix_length + kept] for row, (kept, _) in zip(rows, lengths, strict=True)]
    return [
        [(rows[k], scores[k]) for k in range(start, start + n)]
        for start in range(0, len(sequences), n)
    ]


def _tokens(sequence: list[int], ids: SpecialIds) -> list[int]:
    tokens = sequence[1:]  # the decoder start token
    if ids.eos in tokens:
        tokens = tokens[: tokens.index(ids.eos)]
    return tokens


def _step_scores(
    output: Any,
    sequences: list[list[int]],
    ids: SpecialIds,
    length_penalty: float,
    prefix_length: int,
    lengths: list[tuple[int, int]] | None = None,
) -> list[float]:
    """Greedy / sampling scores from the per-step (processed) logits, as CTranslate2 sums them:
    every generated token up to and including EOS."""
    steps = len(output.scores)
    if steps == 0:
        return [0.0] * len(sequences)
    # [batch, steps, vocab] log-probabilities of the distributions the tokens were chosen from
    log_probs = torch.log_softmax(torch.stack(output.scores, dim=1).float(), dim=-1)
    first = 1 + prefix_length  # generated tokens start after the start token and the prefix
    chosen = output.sequences[:, first : first + steps].unsqueeze(-1)
    picked = log_probs.gather(-1, chosen).squeeze(-1).tolist()
    scores = []
    for k, (row, sequence) in enumerate(zip(picked, sequences, strict=True)):
        generated = sequence[first:]
        if lengths is not None:
            length = lengths[k][1]
        else:
            length = generated.index(ids.eos) + 1 if ids.eos in generated else len(generated)
        total = sum(row[:length])
        scores.append(total / max(1, length) ** length_penalty)
    return scores


def stop_when(should_stop: Callable[[], bool]) -> Any:
    """A ``stopping_criteria`` list that ends ``generate`` for the whole batch as soon as
    ``should_stop()`` is true (every caller of the batch has gone)."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
            return torch.full(
                (input_ids.shape[0],), should_stop(), dtype=torch.bool, device=input_ids.device
            )

    return StoppingCriteriaList([_Stop()])


class StepWatcher:
    """A ``stopping_criteria`` entry for one-hypothesis decoding (greedy, sampling) that sees
    every token as it is generated: reports it (``on_token``), ends an input at its own output
    limit or when its caller left (``stop_input``), and the whole call on ``should_stop``.

    transformers calls it after each step with the sequences so far; rows it marks done get
    padding from then on. ``members`` maps its rows to the engine call's input indices.
    """

    def __init__(
        self,
        members: list[int],
        caps: list[int],
        eos: int,
        to_token: Callable[[int], str],
        *,
        on_token: Callable[[int, str], None] | None,
        stop_input: Callable[[int], bool] | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        self._members = members
        self._caps = caps
        self._eos = eos
        self._to_token = to_token
        self._on_token = on_token
        self._stop_input = stop_input
        self._should_stop = should_stop
        self._done = [False] * len(members)
        self._counts = [0] * len(members)
        self._ended = [False] * len(members)  # by its end-of-sequence token

    def lengths(self) -> list[tuple[int, int]]:
        """Per row: (generated tokens to keep, steps to score: the EOS step included)."""
        return [(n, n + ended) for n, ended in zip(self._counts, self._ended, strict=True)]

    def criteria(self) -> Any:
        from transformers import StoppingCriteria, StoppingCriteriaList

        watcher = self

        class _Watch(StoppingCriteria):
            def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
                return watcher.step(input_ids)

        return StoppingCriteriaList([_Watch()])

    def step(self, input_ids: torch.Tensor) -> torch.Tensor:
        stop_all = self._should_stop is not None and self._should_stop()
        flags = []
        for row, token_id in enumerate(input_ids[:, -1].tolist()):
            if not self._done[row]:
                index = self._members[row]
                if self._stop_input is not None and self._stop_input(index):
                    self._done[row] = True  # its partial output is reported and discarded
                elif token_id == self._eos:
                    self._done[row] = self._ended[row] = True
                else:
                    self._counts[row] += 1
                    if self._on_token is not None:
                        self._on_token(index, self._to_token(token_id))
                    self._done[row] = self._counts[row] >= self._caps[row]
            flags.append(self._done[row] or stop_all)
        return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)
