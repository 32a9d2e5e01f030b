"""Encoder outputs as tensors: stacking cached and fresh ones into one padded batch, and turning
one source's output into a cache entry and back (raw bytes, never pickle).

A source's encoder output is a ``(tokens, hidden)`` tensor. Sources of one engine call differ
in length, so the decoder gets them right-padded with zeros to the longest and an attention
mask that hides the padding (1 = a real position), exactly as if the encoder had run on the
padded batch itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from service.cache.tensor_codec import EncoderEntry

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
NAMES = {dtype: name for name, dtype in DTYPES.items()}


def stack_states(
    states: Sequence[torch.Tensor], *, dtype: torch.dtype | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(hidden states ``[batch, longest, hidden]``, attention mask ``[batch, longest]``)."""
    if not states:
        raise ValueError("no encoder states to stack")
    hidden = states[0].shape[-1]
    if any(s.dim() != 2 or s.shape[-1] != hidden for s in states):
        raise ValueError(f"encoder states must all be (tokens, {hidden})")
    dtype = dtype or states[0].dtype
    longest = max(s.shape[0] for s in states)
    device = states[0].device
    batch = torch.zeros((len(states), longest, hidden), dtype=dtype, device=device)
    mask = torch.zeros((len(states), longest), dtype=torch.long, device=device)
    for i, state in enumerate(states):
        batch[i, : state.shape[0]] = state
        mask[i, : state.shape[0]] = 1
    return batch, mask


def to_entry(
    state: torch.Tensor, *, dtype: str, revision: str, encoder_seconds: float
) -> EncoderEntry:
    """One source's output as a cache entry stored in ``dtype`` (little-endian raw bytes)."""
    stored = state.detach().to(device="cpu", dtype=DTYPES[dtype]).contiguous()
    payload = stored.view(torch.uint8).numpy().tobytes()
    return EncoderEntry(dtype, tuple(stored.shape), revision, encoder_seconds, payload)


def from_entry(
    entry: EncoderEntry, *, dtype: torch.dtype, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """The cached output as a ``dtype`` tensor on ``device`` (the engine's compute dtype)."""
    raw = torch.frombuffer(bytearray(entry.payload), dtype=torch.uint8)
    stored = raw.view(DTYPES[entry.dtype]).reshape(entry.shape)
    return stored.to(device=device, dtype=dtype)


def round_through(state: torch.Tensor, storage: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(``state`` as a cache hit will give it back, the tensor to store): rounded to
    ``storage`` once, and widened again to ``state``'s dtype.

    With a storage dtype narrower than the compute dtype, decoding a fresh output rounded this
    way makes a miss decode exactly like every later hit of the same entry.
    """
    if state.dtype == storage:
        return state, state
    stored = state.to(storage)
    return stored.to(state.dtype), stored


FLOAT16_MAX = 65504.0


def default_storage(compute: torch.dtype) -> str:
    """The dtype entries are stored in unless configured: 2 bytes a value. float32 engines
    store float16 (on the demo's held-out set, greedy and beam 4, decoding from float16-rounded
    outputs changed no token: docs/benchmarks.md); half-precision engines store what they
    compute."""
    return "float16" if compute == torch.float32 else NAMES[compute]


def storage_for(state: torch.Tensor, preferred: str) -> str:
    """``preferred``, unless ``state`` holds a value float16 cannot represent (it would become
    inf): then the compute dtype, so the entry is exact rather than broken."""
    narrowing = preferred == "float16" and state.dtype != torch.float16 and state.numel() > 0
    if narrowing and float(state.abs().max()) > FLOAT16_MAX:
        return NAMES[state.dtype]
    return preferred
