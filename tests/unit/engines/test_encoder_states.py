"""Stacking cached and fresh encoder outputs of different lengths, and their cache entries."""

from __future__ import annotations

import pytest
import torch

from service.engines.encoder_states import (
    default_storage,
    from_entry,
    round_through,
    stack_states,
    storage_for,
    to_entry,
)

REVISION = "sha256:" + "ab" * 32


def states(*lengths: int, hidden: int = 6) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    return [torch.randn(n, hidden, generator=generator) for n in lengths]


def test_outputs_of_different_lengths_are_right_padded_with_a_mask_hiding_the_padding() -> None:
    parts = states(3, 1, 5)
    batch, mask = stack_states(parts)
    assert batch.shape == (3, 5, 6) and mask.shape == (3, 5)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]]
    for i, part in enumerate(parts):
        assert torch.equal(batch[i, : len(part)], part)
        assert not batch[i, len(part) :].any()  # padding is zeros


def test_a_cached_output_and_a_fresh_one_stack_exactly_as_two_fresh_ones() -> None:
    cached, fresh = states(4, 2)
    entry = to_entry(cached, dtype="float32", revision=REVISION, encoder_seconds=0.25)
    assert entry.shape == (4, 6) and entry.encoder_seconds == 0.25
    restored = from_entry(entry, dtype=torch.float32)
    assert torch.equal(restored, cached)  # float32 bytes round-trip exactly
    mixed, mixed_mask = stack_states([restored, fresh])
    plain, plain_mask = stack_states([cached, fresh])
    assert torch.equal(mixed, plain) and torch.equal(mixed_mask, plain_mask)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_narrow_entry_gives_back_what_rounding_the_fresh_output_gives(dtype: str) -> None:
    """The storage dtype halves the bytes; a miss rounded through it decodes like a hit."""
    (state,) = states(5)
    entry = to_entry(state, dtype=dtype, revision=REVISION, encoder_seconds=0.0)
    assert len(entry.payload) == 5 * 6 * 2
    narrow = getattr(torch, dtype)
    decoded, stored = round_through(state, narrow)
    assert stored.dtype == narrow and decoded.dtype == torch.float32
    assert torch.equal(from_entry(entry, dtype=torch.float32), decoded)
    assert round_through(state, torch.float32) == (state, state)


def test_outputs_of_another_hidden_size_do_not_stack() -> None:
    with pytest.raises(ValueError):
        stack_states([*states(2), *states(2, hidden=4)])
    with pytest.raises(ValueError):
        stack_states([])


def test_float16_storage_falls_back_to_the_compute_dtype_for_values_beyond_its_range() -> None:
    (state,) = states(3)
    assert storage_for(state, "float16") == "float16"
    assert storage_for(state * 1e5, "float16") == "float32"  # would turn into inf
    assert storage_for(state * 1e5, "bfloat16") == "bfloat16"  # float32's range: no fallback
    assert default_storage(torch.float32) == "float16"
    assert default_storage(torch.bfloat16) == "bfloat16"
