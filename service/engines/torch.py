"""PyTorch engine (the ``torch`` extra): a ``transformers`` seq2seq model that runs its encoder
once per distinct source and keeps the output in the encoder cache.

One engine call: look up each distinct source's encoder output (memory, then Redis); run the
encoder once, batched, on the misses only (identical sources in a batch are encoded once);
right-pad cached and fresh outputs into one batch with an attention mask; decode with
``generate(encoder_outputs=..., attention_mask=...)``, one ``generate`` per distinct forced
target prefix; then store the new entries (memory at once, Redis in the background). The same
path runs with the cache off, so cache on and off differ only in where the encoder output came
from. Imported only when a manifest says ``engine: torch``; the serving install never needs it.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
from transformers.modeling_outputs import BaseModelOutput

from service import metrics
from service.cache.encoder import EncoderCache, Expected
from service.cache.keys import encoder_key
from service.cache.tensor_codec import EncoderEntry
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
from service.engines.encoder_states import (
    DTYPES,
    NAMES,
    default_storage,
    from_entry,
    round_through,
    stack_states,
    storage_for,
)
from service.engines.encoder_states import to_entry as entry_of
from service.engines.priority import lower_this_thread
from service.engines.torch_decoding import (
    SpecialIds,
    StepWatcher,
    generation_kwargs,
    hypotheses,
    neutral_generation_config,
    stop_when,
)
from service.types import ResolvedOptions

log = structlog.get_logger(__name__)

# Compute types the torch engine runs in; int8 is dynamic int8 quantization of the linear
# layers (CPU only).
COMPUTE_TYPES = ("float32", "float16", "bfloat16", "int8")


class TorchEngine(Engine):
    def __init__(
        self,
        model_dir: Path,
        *,
        name: str,
        revision: str,
        device: str = "cpu",
        device_index: int = 0,
        compute_type: str = "float32",
        parallelism: int = 1,
        threads: int = 0,
        thread_nice: int = 0,
        encoder_cache: EncoderCache | None = None,
        cache_dtype: str = "auto",
    ) -> None:
        if compute_type not in COMPUTE_TYPES:
            raise ValueError(f"compute type {compute_type!r}; expected one of: {COMPUTE_TYPES}")
        if compute_type == "int8" and device != "cpu":
            raise ValueError("int8 (dynamic quantization) runs on the CPU only")
        if threads > 0 and device == "cpu":
            torch.set_num_threads(threads)
        self._name = name
        self._revision = revision
        self._device = torch.device(f"cuda:{device_index}" if device == "cuda" else "cpu")
        self._dtype = torch.float32 if compute_type == "int8" else DTYPES[compute_type]
        model = AutoModelForSeq2SeqLM.from_pretrained(str(model_dir), dtype=self._dtype)
        model.eval()
        if compute_type == "int8":
            model = _quantize_int8(model)
        self._model = model.to(self._device)
        self._hidden = int(model.config.hidden_size)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))  # type: ignore[no-untyped-call]
        self._ids: dict[str, int] = dict(tokenizer.get_vocab())
        self._tokens = [""] * (max(self._ids.values()) + 1)
        for token, index in self._ids.items():
            self._tokens[index] = token
        self._unk = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
        self._special = _special_ids(model.config)
        # transformers fills every option a call leaves at the library default from the model's
        # generation config (a Marian checkpoint's num_beams=4, forced_eos_token_id, ...); the
        # service resolves every option itself, so the model keeps only its structural ids.
        model.generation_config = neutral_generation_config(self._special)
        self._cache = encoder_cache
        self._storage = default_storage(self._dtype) if cache_dtype == "auto" else cache_dtype
        self._parallelism = max(1, parallelism)
        self._nice = thread_nice
        self._reniced: set[int] = set()
        self._rng = threading.Lock()  # sampling uses torch's global generator: one at a time
        self._info = EngineInfo(
            engine="torch", device=device, compute_type=compute_type, supports_seed=True
        )

    @property
    def parallelism(self) -> int:
        return self._parallelism

    @property
    def info(self) -> EngineInfo:
        return self._info

    @property
    def encoder_cache(self) -> EncoderCache | None:
        return self._cache

    @property
    def storage_dtype(self) -> str:
        """The dtype encoder outputs are cached in."""
        return self._storage

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
        self._lower_priority()
        with torch.inference_mode():
            ids = [self.to_ids(x.source) for x in inputs]
            states, fresh = self.encoder_states(ids)
            started = time.perf_counter()
            outputs: list[EngineOutput | None] = [None] * len(inputs)
            for prefix, members in _by_prefix(inputs).items():
                caps = [inputs[i].max_length or options.max_length for i in members]
                group = [states[i] for i in members]
                watch = (
                    StepWatcher(
                        members, caps, self._special.eos, self._token,
                        on_token=on_token, stop_input=stop_input, should_stop=should_stop,
                    )
                    if self.steps_observable(options)
                    else None
                )  # fmt: skip
                decoded = self._decode(group, prefix, options, caps, should_stop, watch)
                for i, output in zip(members, decoded, strict=True):
                    outputs[i] = output
                    if on_output is not None:
                        on_output(i, output)
            metrics.ENGINE_PHASE_SECONDS.labels(self._name, "decoder").observe(
                time.perf_counter() - started
            )
        if self._cache is not None and fresh:
            try:
                self._cache.store(self._name, fresh)
            except Exception:  # the outputs are done: a cache bug must not fail them
                log.exception("encoder_cache_store_failed", model=self._name)
        return [o for o in outputs if o is not None]

    def _lookup(self, keys: list[str], expected: list[Expected]) -> list[EncoderEntry | None]:
        """The cache's entries, or all misses if the lookup itself breaks (never a failed call;
        Redis failures and corrupt values are already misses inside the cache)."""
        assert self._cache is not None
        try:
            return self._cache.lookup(self._name, keys, expected)
        except Exception:
            log.exception("encoder_cache_lookup_failed", model=self._name)
            return [None] * len(keys)

    def steps_observable(self, options: ResolvedOptions) -> bool:
        """One hypothesis per input (greedy search or sampling): each step's token is seen as
        it is generated (a stopping criterion watches the sequences), so tokens stream and one
        input can stop mid-call. Beam search reports its outputs when the call ends."""
        return options.beam_size == 1 and options.num_hypotheses == 1

    def _token(self, index: int) -> str:
        return self._tokens[index] if 0 <= index < len(self._tokens) else "<unk>"

    def to_ids(self, tokens: Sequence[str]) -> list[int]:
        return [self._ids.get(t, self._unk) for t in tokens]

    def to_tokens(self, ids: Sequence[int]) -> tuple[str, ...]:
        return tuple(self._token(i) for i in ids)

    def encoder_states(
        self, ids: Sequence[Sequence[int]]
    ) -> tuple[list[torch.Tensor], list[tuple[str, EncoderEntry]]]:
        """Each input's encoder output ``(tokens, hidden)`` in the compute dtype, and the new
        cache entries to store. Distinct sources are looked up and encoded once each."""
        distinct = list(dict.fromkeys(tuple(x) for x in ids))
        states: dict[tuple[int, ...], torch.Tensor] = {}
        keys = [encoder_key(self._revision, source) for source in distinct]
        if self._cache is not None:
            readable = tuple(dict.fromkeys((self._storage, NAMES[self._dtype])))
            expected = [
                Expected(self._revision, readable, (len(s), self._hidden)) for s in distinct
            ]
            for source, entry in zip(distinct, self._lookup(keys, expected), strict=True):
                if entry is not None:
                    states[source] = from_entry(entry, dtype=self._dtype, device=self._device)
        misses = [(s, k) for s, k in zip(distinct, keys, strict=True) if s not in states]
        fresh: list[tuple[str, EncoderEntry]] = []
        if misses:
            encoded, seconds = self._encode([s for s, _ in misses])
            total = sum(len(s) for s, _ in misses)
            for (source, key), state in zip(misses, encoded, strict=True):
                if self._cache is not None:
                    dtype = storage_for(state, self._storage)
                    state, stored = round_through(state, DTYPES[dtype])  # decode as hits will
                    share = seconds * len(source) / total
                    entry = entry_of(
                        stored, dtype=dtype, revision=self._revision, encoder_seconds=share
                    )
                    fresh.append((key, entry))
                states[source] = state
        return [states[tuple(x)] for x in ids], fresh

    def _encode(self, sources: list[tuple[int, ...]]) -> tuple[list[torch.Tensor], float]:
        started = time.perf_counter()
        longest = max(len(s) for s in sources)
        pad = self._special.pad
        input_ids = torch.tensor(
            [[*s, *([pad] * (longest - len(s)))] for s in sources], device=self._device
        )
        mask = torch.tensor(
            [[1] * len(s) + [0] * (longest - len(s)) for s in sources], device=self._device
        )
        hidden = self._model.get_encoder()(input_ids=input_ids, attention_mask=mask)[0]
        states = [hidden[i, : len(s)].clone() for i, s in enumerate(sources)]
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        seconds = time.perf_counter() - started
        metrics.ENGINE_PHASE_SECONDS.labels(self._name, "encoder").observe(seconds)
        return states, seconds

    def _decode(
        self,
        states: list[torch.Tensor],
        prefix: tuple[str, ...],
        options: ResolvedOptions,
        caps: list[int],
        should_stop: StopCheck | None,
        watch: StepWatcher | None = None,
    ) -> list[EngineOutput]:
        """One ``generate`` for inputs sharing a forced prefix. It runs to the longest of their
        output limits (``caps``, generated tokens) and each output is cut to its own, as the
        CTranslate2 engine does; ``should_stop`` ends it early (outputs then discarded)."""
        hidden, mask = stack_states(states)
        longest = max(caps)
        kwargs: dict[str, Any] = generation_kwargs(
            replace(options, max_length=longest, min_length=min(options.min_length, longest)),
            self._special,
        )
        if watch is not None:
            kwargs["stopping_criteria"] = watch.criteria()
        elif should_stop is not None:
            kwargs["stopping_criteria"] = stop_when(should_stop)
        if prefix:
            start = [self._special.decoder_start, *self.to_ids(prefix)]
            kwargs["decoder_input_ids"] = torch.tensor([start] * len(states), device=self._device)
        kwargs["encoder_outputs"] = BaseModelOutput(last_hidden_state=hidden)  # type: ignore[arg-type]
        kwargs["attention_mask"] = mask
        if options.is_sampling:
            with self._rng:  # the seed decides every draw of this call, and only of this call
                seed = options.seed if options.seed is not None else _random_seed()
                torch.manual_seed(seed)
                result = self._model.generate(**kwargs)
        else:
            result = self._model.generate(**kwargs)
        keep = [len(prefix) + cap for cap in caps]
        return [
            EngineOutput(
                tuple(
                    EngineHypothesis(self.to_tokens(tokens[:limit]), score)
                    for tokens, score in hyps
                )
            )
            for hyps, limit in zip(
                hypotheses(
                    result,
                    self._special,
                    options,
                    len(prefix),
                    watch.lengths() if watch is not None else None,
                ),
                keep,
                strict=True,
            )
        ]

    def _lower_priority(self) -> None:
        tid = threading.get_native_id()
        if self._nice > 0 and tid not in self._reniced:
            self._reniced.add(tid)
            lower_this_thread(self._nice)

    def close(self) -> None:
        del self._model
        if self._device.type == "cuda":
            torch.cuda.empty_cache()


def _special_ids(config: Any) -> SpecialIds:
    """The structural ids (as transformers falls back: a missing start token is the BOS, then
    the pad token; a list of EOS ids ends on its first)."""
    eos = config.eos_token_id
    pad = config.pad_token_id if config.pad_token_id is not None else 0
    start = config.decoder_start_token_id
    if start is None:
        start = config.bos_token_id if config.bos_token_id is not None else pad
    return SpecialIds(
        decoder_start=int(start), eos=int(eos[0] if isinstance(eos, list) else eos), pad=int(pad)
    )


def _quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantization of the linear layers (weights int8, activations quantized per
    call). PyTorch marks ``torch.ao.quantization`` deprecated in favour of torchao; it is there
    in the pinned torch 2.13.0, and its warnings say nothing an operator can act on."""
    quantize = getattr(getattr(torch, "ao", None), "quantization", None)
    if quantize is None or not hasattr(quantize, "quantize_dynamic"):
        raise ValueError(
            f"this torch ({torch.__version__}) has no dynamic int8 quantization; "
            "run the torch engine with --compute-type float32"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        return quantize.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def _by_prefix(inputs: Sequence[EngineInput]) -> dict[tuple[str, ...], list[int]]:
    """Input positions per forced target prefix: each prefix decodes in its own ``generate``."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, item in enumerate(inputs):
        groups.setdefault(item.target_prefix, []).append(i)
    return groups


def _random_seed() -> int:
    return int.from_bytes(os.urandom(8), "little") >> 1
