"""Length-bucketed batches under a token budget: similar lengths together cut padding.

Examples are shuffled, cut into pools, sorted by length inside each pool and packed into batches
whose padded size (source + target) stays under ``max_tokens``; the batches are then shuffled.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

TokenPair = tuple[list[int], list[int]]


def make_batches(
    pairs: Sequence[TokenPair],
    rng: random.Random,
    *,
    max_tokens: int,
    max_examples: int = 256,
    pool_batches: int = 100,
) -> list[list[int]]:
    """Indices of ``pairs`` grouped into batches; one pass over the data."""
    order = list(range(len(pairs)))
    rng.shuffle(order)
    pool_size = max(1, pool_batches * max_examples // 4)
    batches: list[list[int]] = []
    for start in range(0, len(order), pool_size):
        chunk = order[start : start + pool_size]
        pool = sorted(chunk, key=lambda i: (len(pairs[i][0]), len(pairs[i][1])))
        batch: list[int] = []
        longest_src = longest_tgt = 0
        for i in pool:
            src, tgt = len(pairs[i][0]), len(pairs[i][1])
            new_src, new_tgt = max(longest_src, src), max(longest_tgt, tgt)
            if batch and (
                (len(batch) + 1) * (new_src + new_tgt) > max_tokens or len(batch) >= max_examples
            ):
                batches.append(batch)
                batch, new_src, new_tgt = [], src, tgt
            batch.append(i)
            longest_src, longest_tgt = new_src, new_tgt
        if batch:
            batches.append(batch)
    rng.shuffle(batches)
    return batches


def collate(pairs: Sequence[TokenPair], batch: Sequence[int]) -> dict[str, torch.Tensor]:
    """Padded input ids, attention mask and labels (padding = -100, ignored by the loss)."""
    import torch

    src_len = max(len(pairs[i][0]) for i in batch)
    tgt_len = max(len(pairs[i][1]) for i in batch)
    input_ids = torch.zeros((len(batch), src_len), dtype=torch.long)
    attention = torch.zeros((len(batch), src_len), dtype=torch.long)
    labels = torch.full((len(batch), tgt_len), -100, dtype=torch.long)
    for row, i in enumerate(batch):
        src, tgt = pairs[i]
        input_ids[row, : len(src)] = torch.tensor(src)
        attention[row, : len(src)] = 1
        labels[row, : len(tgt)] = torch.tensor(tgt)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def epochs(
    pairs: Sequence[TokenPair], rng: random.Random, *, max_tokens: int
) -> Iterator[list[int]]:
    """Batches forever, reshuffled every pass."""
    while True:
        yield from make_batches(pairs, rng, max_tokens=max_tokens)
