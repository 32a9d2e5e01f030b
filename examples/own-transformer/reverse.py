"""The toy task: reverse a string of digits ("12345" → "54321"), one token per digit.

A ``tokenizers`` word-level tokenizer over the ten digits (saved as ``tokenizer.json``, which
the server loads), random training pairs, and a plain training loop for any module with
``forward(source, target) -> logits``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

DIGITS = "0123456789"
PAD, BOS, EOS, UNK = 0, 1, 2, 3
VOCAB = {"<pad>": PAD, "<s>": BOS, "</s>": EOS, "<unk>": UNK} | {
    d: 4 + i for i, d in enumerate(DIGITS)
}


def save_tokenizer(path: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel(VOCAB, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Digits(individual_digits=True)
    tokenizer.decoder = decoders.Fuse()
    tokenizer.save(str(path))
    return path


def encode(text: str) -> list[int]:
    return [VOCAB[c] for c in text] + [EOS]


def samples(count: int, max_digits: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(DIGITS) for _ in range(rng.randint(1, max_digits))) for _ in range(count)
    ]


def batch(
    rng: random.Random, size: int, max_digits: int, encoder: Callable[[str], list[int]] = encode
) -> tuple[torch.Tensor, ...]:
    texts = [
        "".join(rng.choice(DIGITS) for _ in range(rng.randint(1, max_digits))) for _ in range(size)
    ]
    sources = [encoder(t) for t in texts]
    targets = [[BOS, *encoder(t[::-1])] for t in texts]

    def pad(rows: list[list[int]]) -> torch.Tensor:
        width = max(len(r) for r in rows)
        return torch.tensor([r + [PAD] * (width - len(r)) for r in rows])

    target = pad(targets)
    return pad(sources), target[:, :-1], target[:, 1:]


def train(
    module: nn.Module,
    *,
    steps: int,
    max_digits: int,
    seconds: float | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    log: Callable[[str], None] = print,
    encoder: Callable[[str], list[int]] = encode,
) -> nn.Module:
    """AdamW with a short warm-up; stops after ``steps`` or ``seconds``, whichever comes first.
    ``encoder`` turns text into token ids ending with EOS (default: this file's tokenizer)."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, betas=(0.9, 0.98))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 100))
    module.train()
    started = time.monotonic()
    for step in range(1, steps + 1):
        source, target_in, target_out = batch(rng, batch_size, max_digits, encoder)
        logits = module(source, target_in)
        loss = F.cross_entropy(logits.transpose(1, 2), target_out, ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 200 == 0 or step == steps:
            log(f"step {step}: loss {loss.item():.3f} ({time.monotonic() - started:.0f} s)")
        if seconds is not None and time.monotonic() - started > seconds:
            log(f"step {step}: loss {loss.item():.3f}; time is up")
            break
    return module.eval()
