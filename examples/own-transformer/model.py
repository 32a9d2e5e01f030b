"""Your model: a plain PyTorch sequence-to-sequence Transformer (as in the PyTorch tutorial).

Nothing here knows about the converter. What the converter relies on is written in
``model.json``: the architecture (sizes, post-norm, ReLU, sinusoidal positions interleaved as
below, shared and tied embeddings, token ids) and the ``torch-transformer`` state-dict layout,
whose names this module uses: ``embed.weight`` and ``transformer.*`` (torch.nn.Transformer).
``build(config)`` is what ``model.json``'s ``"module": "model:build"`` points at, so that
``s2s convert --verify`` decodes with this very code.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class Seq2Seq(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        heads: int,
        layers: int,
        ffn_dim: int,
        max_positions: int,
        pad_id: int,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.scale = math.sqrt(d_model)
        self.embed = nn.Embedding(vocab_size, d_model)
        self.transformer = nn.Transformer(
            d_model, heads, layers, layers, ffn_dim, dropout, batch_first=True
        )
        position = torch.arange(max_positions, dtype=torch.float32)[:, None]
        step = torch.exp(
            torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(1e4) / d_model)
        )
        table = torch.zeros(max_positions, d_model)
        table[:, 0::2] = torch.sin(position * step)
        table[:, 1::2] = torch.cos(position * step)
        self.register_buffer("positions", table, persistent=False)

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embed(ids) * self.scale + self.positions[: ids.shape[1]]

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        mask = nn.Transformer.generate_square_subsequent_mask(target.shape[1])
        padding = source == self.pad_id
        hidden = self.transformer(
            self._embed(source),
            self._embed(target),
            tgt_mask=mask,
            src_key_padding_mask=padding,
            memory_key_padding_mask=padding,
            tgt_is_causal=True,
        )
        return F.linear(hidden, self.embed.weight)  # output layer tied to the embeddings


def build(config: Any) -> Seq2Seq:
    """The module model.json describes (``config`` has model.json's fields as attributes)."""
    return Seq2Seq(
        config.vocab_size,
        config.d_model,
        config.heads,
        config.encoder_layers,
        config.ffn_dim,
        config.max_positions,
        config.pad_id,
    )
