"""State dict of an own PyTorch Transformer → ``ctranslate2.specs.TransformerSpec``.

Both layouts of ``converters.own.modules`` map onto CTranslate2's Transformer: attention with a
fused QKV projection for self-attention and Q + fused KV for cross-attention, a two-layer
feed-forward block, layer norms placed per ``norm`` (pre/post), optional final norms, the
position table written out explicitly (so its size is the model's position limit) and the
vocabulary from the tokenizer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from converters.base import ConversionError
from converters.own.config import OwnTransformerConfig

_ACTIVATIONS = {"relu": "RELU", "gelu": "GELU", "gelu_tanh": "GELUTanh", "swish": "SWISH"}


class StateDict:
    """Tensors by name, each taken once; shapes are checked against the config."""

    def __init__(self, tensors: Mapping[str, Any], config: OwnTransformerConfig) -> None:
        self._tensors = dict(tensors)
        self._config = config
        self.used: set[str] = set()

    def take(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in self._tensors:
            near = sorted(k for k in self._tensors if k.split(".")[0] == name.split(".")[0])[:5]
            raise ConversionError(
                f"state dict has no {name!r} (layout {self._config.layout}); "
                f"names beginning alike: {near or 'none'}; see converters/own/modules.py"
            )
        array: np.ndarray = self._tensors[name].detach().to("cpu").float().numpy()
        if tuple(array.shape) != shape:
            raise ConversionError(
                f"state dict {name!r} has shape {list(array.shape)}, expected {list(shape)} "
                "from model.json; the checkpoint and its config do not match"
            )
        if not np.isfinite(array).all():
            raise ConversionError(f"state dict {name!r} holds NaN or infinite values")
        self.used.add(name)
        return array

    def optional(self, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
        return self.take(name, shape) if name in self._tensors else None

    def unused(self) -> list[str]:
        return sorted(set(self._tensors) - self.used)


def build_spec(tensors: Mapping[str, Any], c: OwnTransformerConfig, vocabulary: list[str]) -> Any:
    from ctranslate2.specs import common_spec, transformer_spec

    if len(vocabulary) != c.vocab_size:
        raise ConversionError(
            f"the tokenizer has {len(vocabulary)} tokens but model.json says vocab_size "
            f"{c.vocab_size}: the tokenizer does not belong to this model"
        )
    sd = StateDict(tensors, c)
    spec = transformer_spec.TransformerSpec.from_config(
        (c.encoder_layers, c.decoder_layers),
        c.heads,
        pre_norm=c.norm == "pre",
        no_final_norm=not c.final_norm,
        activation=getattr(common_spec.Activation, _ACTIVATIONS[c.activation]),
    )
    if c.norm == "post" and c.final_norm:
        # torch.nn.Transformer's extra norm after post-norm layers: CTranslate2 applies an
        # output norm whenever the model has one, but its spec only declares it for pre-norm.
        for side in (spec.encoder, spec.decoder):
            object.__setattr__(side, "layer_norm", common_spec.LayerNormSpec())
    d, v = c.d_model, c.vocab_size
    names = _names(c)
    src_embed = sd.take(names["src_embed"], (v, d))
    tgt_embed = sd.take(names["tgt_embed"], (v, d)) if not c.shared_embeddings else src_embed
    spec.encoder.embeddings[0].weight = src_embed
    spec.decoder.embeddings.weight = tgt_embed
    for side in (spec.encoder, spec.decoder):
        side.scale_embeddings = c.scale_embeddings
    src_pos, tgt_pos = _positions(sd, c)
    spec.encoder.position_encodings.encodings = src_pos
    spec.decoder.position_encodings.encodings = tgt_pos
    for i, layer in enumerate(spec.encoder.layer):
        _encoder_layer(sd, layer, names["encoder"].format(i=i), c)
    for i, layer in enumerate(spec.decoder.layer):
        _decoder_layer(sd, layer, names["decoder"].format(i=i), c)
    if c.final_norm:
        _norm(sd, spec.encoder.layer_norm, names["encoder_norm"], d)
        _norm(sd, spec.decoder.layer_norm, names["decoder_norm"], d)
    output = names["output"]
    spec.decoder.projection.weight = (
        tgt_embed if c.tied_output else sd.take(f"{output}.weight", (v, d))
    )
    bias = sd.optional(f"{output}.bias", (v,))
    if bias is not None:
        spec.decoder.projection.bias = bias
    unused = sd.unused()
    if unused:
        raise ConversionError(
            f"state dict has {len(unused)} tensor(s) the {c.layout} layout does not use, e.g. "
            f"{unused[:5]}; the layout or model.json does not describe this model"
        )
    spec.config.bos_token = vocabulary[c.bos_id]
    spec.config.eos_token = vocabulary[c.eos_id]
    spec.config.unk_token = vocabulary[c.unk_id]
    spec.config.decoder_start_token = vocabulary[c.bos_id]  # decoding starts from bos_id
    spec.config.layer_norm_epsilon = c.layer_norm_eps
    spec.register_source_vocabulary(vocabulary)
    spec.register_target_vocabulary(vocabulary)
    return spec


def _names(c: OwnTransformerConfig) -> dict[str, str]:
    shared = c.shared_embeddings
    if c.layout == "torch-transformer":
        return {
            "src_embed": "embed.weight" if shared else "src_embed.weight",
            "tgt_embed": "embed.weight" if shared else "tgt_embed.weight",
            "encoder": "transformer.encoder.layers.{i}",
            "decoder": "transformer.decoder.layers.{i}",
            "encoder_norm": "transformer.encoder.norm",
            "decoder_norm": "transformer.decoder.norm",
            "output": "out",
        }
    return {
        "src_embed": "embed.weight" if shared else "src_embed.weight",
        "tgt_embed": "embed.weight" if shared else "tgt_embed.weight",
        "encoder": "encoder.{i}",
        "decoder": "decoder.{i}",
        "encoder_norm": "encoder_norm",
        "decoder_norm": "decoder_norm",
        "output": "lm_head",
    }


def _positions(sd: StateDict, c: OwnTransformerConfig) -> tuple[np.ndarray, np.ndarray]:
    rows = c.max_positions + c.position_offset
    if c.positions == "learned":
        src = sd.take("src_pos.weight", (rows, c.d_model))[c.position_offset :]
        tgt = sd.take("tgt_pos.weight", (rows, c.d_model))[c.position_offset :]
        return src, tgt
    from converters.own.modules import sinusoidal_table

    table = sinusoidal_table(rows, c.d_model, c.sinusoidal_layout).numpy()[c.position_offset :]
    return table, table.copy()


def _linear(spec: Any, weight: np.ndarray, bias: np.ndarray | None) -> None:
    spec.weight = weight
    if bias is not None:
        spec.bias = bias


def _norm(sd: StateDict, spec: Any, prefix: str, d: int) -> None:
    spec.gamma = sd.take(f"{prefix}.weight", (d,))
    beta = sd.optional(f"{prefix}.bias", (d,))
    spec.beta = beta if beta is not None else np.zeros(d, dtype=np.float32)


def _encoder_layer(sd: StateDict, layer: Any, p: str, c: OwnTransformerConfig) -> None:
    d, f = c.d_model, c.ffn_dim
    if c.layout == "torch-transformer":
        _self_attention(
            sd, layer.self_attention, f"{p}.self_attn.in_proj", f"{p}.self_attn.out_proj", d
        )
        _norm(sd, layer.self_attention.layer_norm, f"{p}.norm1", d)
        _ffn(sd, layer.ffn, f"{p}.linear1", f"{p}.linear2", d, f)
        _norm(sd, layer.ffn.layer_norm, f"{p}.norm2", d)
    else:
        _self_attention(sd, layer.self_attention, f"{p}.attn.qkv", f"{p}.attn.proj", d)
        _norm(sd, layer.self_attention.layer_norm, f"{p}.ln1", d)
        _ffn(sd, layer.ffn, f"{p}.mlp.fc", f"{p}.mlp.proj", d, f)
        _norm(sd, layer.ffn.layer_norm, f"{p}.ln2", d)


def _decoder_layer(sd: StateDict, layer: Any, p: str, c: OwnTransformerConfig) -> None:
    d, f = c.d_model, c.ffn_dim
    if c.layout == "torch-transformer":
        _self_attention(
            sd, layer.self_attention, f"{p}.self_attn.in_proj", f"{p}.self_attn.out_proj", d
        )
        _norm(sd, layer.self_attention.layer_norm, f"{p}.norm1", d)
        qkv = _weight_bias(sd, f"{p}.multihead_attn.in_proj", 3 * d, d)
        _linear(layer.attention.linear[0], qkv[0][:d], _part(qkv[1], 0, d))
        _linear(layer.attention.linear[1], qkv[0][d:], _part(qkv[1], d, 3 * d))
        _linear(layer.attention.linear[2], *_out(sd, f"{p}.multihead_attn.out_proj", d))
        _norm(sd, layer.attention.layer_norm, f"{p}.norm2", d)
        _ffn(sd, layer.ffn, f"{p}.linear1", f"{p}.linear2", d, f)
        _norm(sd, layer.ffn.layer_norm, f"{p}.norm3", d)
    else:
        _self_attention(sd, layer.self_attention, f"{p}.self_attn.qkv", f"{p}.self_attn.proj", d)
        _norm(sd, layer.self_attention.layer_norm, f"{p}.ln1", d)
        _linear(layer.attention.linear[0], *_plain(sd, f"{p}.cross_attn.q", d, d))
        _linear(layer.attention.linear[1], *_plain(sd, f"{p}.cross_attn.kv", 2 * d, d))
        _linear(layer.attention.linear[2], *_plain(sd, f"{p}.cross_attn.proj", d, d))
        _norm(sd, layer.attention.layer_norm, f"{p}.ln2", d)
        _ffn(sd, layer.ffn, f"{p}.mlp.fc", f"{p}.mlp.proj", d, f)
        _norm(sd, layer.ffn.layer_norm, f"{p}.ln3", d)


def _weight_bias(
    sd: StateDict, in_proj: str, rows: int, cols: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """torch.nn.MultiheadAttention's ``in_proj_weight`` / ``in_proj_bias``."""
    return sd.take(f"{in_proj}_weight", (rows, cols)), sd.optional(f"{in_proj}_bias", (rows,))


def _plain(
    sd: StateDict, prefix: str, rows: int, cols: int
) -> tuple[np.ndarray, np.ndarray | None]:
    return sd.take(f"{prefix}.weight", (rows, cols)), sd.optional(f"{prefix}.bias", (rows,))


def _out(sd: StateDict, prefix: str, d: int) -> tuple[np.ndarray, np.ndarray | None]:
    return _plain(sd, prefix, d, d)


def _part(bias: np.ndarray | None, start: int, end: int) -> np.ndarray | None:
    return None if bias is None else bias[start:end]


def _self_attention(sd: StateDict, spec: Any, qkv: str, out: str, d: int) -> None:
    if qkv.endswith(".in_proj"):
        weight, bias = _weight_bias(sd, qkv, 3 * d, d)
    else:
        weight, bias = _plain(sd, qkv, 3 * d, d)
    _linear(spec.linear[0], weight, bias)
    _linear(spec.linear[1], *_out(sd, out, d))


def _ffn(sd: StateDict, spec: Any, fc: str, proj: str, d: int, f: int) -> None:
    _linear(spec.linear_0, *_plain(sd, fc, f, d))
    _linear(spec.linear_1, *_plain(sd, proj, d, f))
