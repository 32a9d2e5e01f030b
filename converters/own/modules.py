"""The two PyTorch encoder-decoders the ``pytorch-transformer`` family reads, as modules.

They define the state-dict names of each layout (what ``converters.own.mapping`` expects) and
serve as the reference ``--verify`` decodes with when ``model.json`` names no module of yours.
Train them directly, or give your own module the same parameter names (or ``rename`` them).

``torch-transformer`` (`TorchTransformerSeq2Seq`), torch.nn.Transformer with embeddings and an
output layer around it::

    embed.weight | src_embed.weight + tgt_embed.weight    token embeddings
    src_pos.weight, tgt_pos.weight                        learned positions (if "learned")
    transformer.encoder.layers.N.{self_attn.in_proj_weight, self_attn.in_proj_bias,
        self_attn.out_proj.*, linear1.*, linear2.*, norm1.*, norm2.*}
    transformer.decoder.layers.N.{self_attn.*, multihead_attn.*, linear1.*, linear2.*,
        norm1.*, norm2.*, norm3.*}
    transformer.encoder.norm.*, transformer.decoder.norm.*   (if final_norm)
    out.weight, out.bias                                  (unless tied_output)

``prenorm-fused`` (`PreNormSeq2Seq`), a minimal pre-norm encoder-decoder (nanoGPT-style blocks)
with fused QKV projections and learned positions::

    embed.weight | src_embed.weight + tgt_embed.weight, src_pos.weight, tgt_pos.weight
    encoder.N.{ln1, attn.qkv, attn.proj, ln2, mlp.fc, mlp.proj}.*
    decoder.N.{ln1, self_attn.qkv, self_attn.proj, ln2, cross_attn.q, cross_attn.kv,
        cross_attn.proj, ln3, mlp.fc, mlp.proj}.*
    encoder_norm.*, decoder_norm.*                        (if final_norm)
    lm_head.weight, lm_head.bias                          (unless tied_output)

Both take ``forward(source_ids [B, S], target_ids [B, T]) -> logits [B, T, vocab]``; source
padding (``pad_id``) is masked, targets are right-padded (the causal mask keeps real tokens
off the padding, as in CTranslate2, which never masks a target token).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from converters.own.config import OwnTransformerConfig


def sinusoidal_table(rows: int, dim: int, layout: str) -> torch.Tensor:
    """Sinusoidal positions: "interleaved" as in the PyTorch tutorial, "concat" as in fairseq."""
    position = torch.arange(rows, dtype=torch.float32)[:, None]
    half = dim // 2
    if layout == "interleaved":
        inv = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
        table = torch.zeros(rows, dim)
        table[:, 0::2] = torch.sin(position * inv)
        table[:, 1::2] = torch.cos(position * inv)[:, : dim // 2]
        return table
    inv = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    table = torch.cat([torch.sin(position * inv), torch.cos(position * inv)], dim=1)
    return F.pad(table, (0, dim - 2 * half))


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    functions: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "relu": F.relu,
        "gelu": F.gelu,
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "swish": F.silu,
    }
    return functions[name]


class _Embeddings(nn.Module):
    """Token embeddings (shared or not), positions and the output projection of both layouts."""

    def __init__(self, c: OwnTransformerConfig) -> None:
        super().__init__()
        self.c = c
        if c.shared_embeddings:
            self.embed = nn.Embedding(c.vocab_size, c.d_model)
        else:
            self.src_embed = nn.Embedding(c.vocab_size, c.d_model)
            self.tgt_embed = nn.Embedding(c.vocab_size, c.d_model)
        rows = c.max_positions + c.position_offset
        if c.positions == "learned":
            self.src_pos = nn.Embedding(rows, c.d_model)
            self.tgt_pos = nn.Embedding(rows, c.d_model)
        else:
            table = sinusoidal_table(rows, c.d_model, c.sinusoidal_layout)
            self.register_buffer("pos_table", table, persistent=False)
        self.scale = math.sqrt(c.d_model) if c.scale_embeddings else 1.0

    def token_matrix(self, side: str) -> nn.Embedding:
        if self.c.shared_embeddings:
            return self.embed
        return self.src_embed if side == "src" else self.tgt_embed

    def embed_tokens(self, ids: torch.Tensor, side: str) -> torch.Tensor:
        c = self.c
        length = ids.shape[1]
        if length > c.max_positions:
            raise ValueError(f"sequence of {length} tokens; max_positions is {c.max_positions}")
        rows = torch.arange(c.position_offset, c.position_offset + length, device=ids.device)
        if c.positions == "learned":
            positions = (self.src_pos if side == "src" else self.tgt_pos)(rows)
        else:
            positions = self.pos_table[rows]  # type: ignore[index]
        embedded: torch.Tensor = self.token_matrix(side)(ids) * self.scale + positions
        return embedded


class TorchTransformerSeq2Seq(_Embeddings):
    """torch.nn.Transformer (batch_first) between embeddings and an output layer."""

    def __init__(self, c: OwnTransformerConfig, dropout: float = 0.1) -> None:
        super().__init__(c)
        self.transformer = nn.Transformer(
            d_model=c.d_model, nhead=c.heads, num_encoder_layers=c.encoder_layers,
            num_decoder_layers=c.decoder_layers, dim_feedforward=c.ffn_dim, dropout=dropout,
            activation=activation(c.activation), layer_norm_eps=c.layer_norm_eps,
            batch_first=True, norm_first=c.norm == "pre",
        )  # fmt: skip
        if not c.final_norm:
            self.transformer.encoder.norm = None
            self.transformer.decoder.norm = None
        if not c.tied_output:
            self.out = nn.Linear(c.d_model, c.vocab_size)

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pad = self.c.pad_id
        causal = nn.Transformer.generate_square_subsequent_mask(
            target.shape[1], device=target.device
        )
        hidden = self.transformer(
            self.embed_tokens(source, "src"),
            self.embed_tokens(target, "tgt"),
            tgt_mask=causal,
            # Targets are right-padded: the causal mask already keeps real tokens off the pads.
            src_key_padding_mask=source == pad,
            memory_key_padding_mask=source == pad,
            tgt_is_causal=True,
        )
        if self.c.tied_output:
            return F.linear(hidden, self.token_matrix("tgt").weight)
        return self.out(hidden)  # type: ignore[no-any-return]


class _Attention(nn.Module):
    def __init__(self, c: OwnTransformerConfig, *, cross: bool) -> None:
        super().__init__()
        self.heads = c.heads
        if cross:
            self.q = nn.Linear(c.d_model, c.d_model)
            self.kv = nn.Linear(c.d_model, 2 * c.d_model)
        else:
            self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.proj = nn.Linear(c.d_model, c.d_model)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor | None, mask: torch.Tensor
    ) -> torch.Tensor:
        d = x.shape[-1]
        if memory is None:
            q, k, v = self.qkv(x).split(d, dim=-1)
        else:
            q = self.q(x)
            k, v = self.kv(memory).split(d, dim=-1)

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(t.shape[0], t.shape[1], self.heads, d // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(x.shape))  # type: ignore[no-any-return]


class _MLP(nn.Module):
    def __init__(self, c: OwnTransformerConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(c.d_model, c.ffn_dim)
        self.proj = nn.Linear(c.ffn_dim, c.d_model)
        self.act = activation(c.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.act(self.fc(x)))  # type: ignore[no-any-return]


class _EncoderBlock(nn.Module):
    def __init__(self, c: OwnTransformerConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.attn = _Attention(c, cross=False)
        self.ln2 = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.mlp = _MLP(c)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), None, mask)
        return x + self.mlp(self.ln2(x))  # type: ignore[no-any-return]


class _DecoderBlock(nn.Module):
    def __init__(self, c: OwnTransformerConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.self_attn = _Attention(c, cross=False)
        self.ln2 = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.cross_attn = _Attention(c, cross=True)
        self.ln3 = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.mlp = _MLP(c)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        self_mask: torch.Tensor,
        cross_mask: torch.Tensor,
    ) -> torch.Tensor:
        x = x + self.self_attn(self.ln1(x), None, self_mask)
        x = x + self.cross_attn(self.ln2(x), memory, cross_mask)
        return x + self.mlp(self.ln3(x))  # type: ignore[no-any-return]


class PreNormSeq2Seq(_Embeddings):
    """A minimal pre-norm encoder-decoder with fused QKV projections."""

    def __init__(self, c: OwnTransformerConfig, dropout: float = 0.0) -> None:
        super().__init__(c)
        self.encoder = nn.ModuleList(_EncoderBlock(c) for _ in range(c.encoder_layers))
        self.decoder = nn.ModuleList(_DecoderBlock(c) for _ in range(c.decoder_layers))
        if c.final_norm:
            self.encoder_norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
            self.decoder_norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        if not c.tied_output:
            self.lm_head = nn.Linear(c.d_model, c.vocab_size)

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        keep_source = (source != self.c.pad_id)[:, None, None, :]  # [B, 1, 1, S]
        length = target.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=target.device).tril()
        x = self.embed_tokens(source, "src")
        for block in self.encoder:
            x = block(x, keep_source)
        if self.c.final_norm:
            x = self.encoder_norm(x)
        y = self.embed_tokens(target, "tgt")
        for block in self.decoder:
            y = block(y, x, causal[None, None], keep_source)
        if self.c.final_norm:
            y = self.decoder_norm(y)
        if self.c.tied_output:
            return F.linear(y, self.token_matrix("tgt").weight)
        return self.lm_head(y)  # type: ignore[no-any-return]


def build(config: OwnTransformerConfig) -> nn.Module:
    """The module of ``config.layout`` (what ``--verify`` runs when model.json names none)."""
    if config.layout == "prenorm-fused":
        return PreNormSeq2Seq(config)
    return TorchTransformerSeq2Seq(config)
