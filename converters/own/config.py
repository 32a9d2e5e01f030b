"""``model.json``: what the converter must know about a Transformer you trained yourself.

A plain PyTorch checkpoint is a state dict: names and tensors, no architecture. This file gives
the architecture and the state-dict layout, so the converter can write it through
``ctranslate2.specs.TransformerSpec`` and ``--verify`` can run the original module. Every field,
its meaning and its default::

    {
      "layout": "torch-transformer",  # state-dict names: "torch-transformer" (torch.nn.Transformer
                                      # with embeddings and an output layer around it) or
                                      # "prenorm-fused" (pre-norm blocks, fused QKV, learned
                                      # positions); see converters/own/modules.py for both
      "vocab_size": 64,               # rows of the embedding matrices (= the tokenizer's size)
      "d_model": 128, "heads": 4, "encoder_layers": 3, "decoder_layers": 3, "ffn_dim": 512,
      "norm": "post",                 # "post" (x = norm(x + f(x))) or "pre" (x = x + f(norm(x)))
      "final_norm": true,             # a LayerNorm after the last encoder and decoder layer
                                      # (torch.nn.Transformer always has one)
      "activation": "relu",           # relu | gelu | gelu_tanh | swish
      "positions": "sinusoidal",      # "sinusoidal" (computed) or "learned" (in the state dict)
      "sinusoidal_layout": "interleaved",  # "interleaved": sin, cos, sin, ... (the PyTorch
                                      # tutorial); "concat": all sin then all cos (fairseq)
      "max_positions": 256,           # positions per sequence (the longest input or output)
      "position_offset": 0,           # table rows before position 0 (fairseq's learned: 2)
      "scale_embeddings": true,       # token embeddings times sqrt(d_model)
      "shared_embeddings": true,      # one embedding matrix for source and target
      "tied_output": true,            # the output projection is the target embedding matrix
      "layer_norm_eps": 1e-5,
      "pad_id": 0, "bos_id": 1, "eos_id": 2, "unk_id": 3,  # decoding starts from bos_id
      "source_prefix": [], "source_suffix": ["</s>"],      # tokens put around every input
      "tokenizer": "tokenizer.json",  # sentencepiece .model or tokenizers JSON, relative to
                                      # this file
      "module": null,                 # "pkg.mod:factory" building your nn.Module from this
                                      # config (for --verify); default: the layout's module
      "module_path": null,            # directory to import "module" from (relative to here)
      "state_dict_key": null,         # the checkpoint holds {"<key>": state_dict, ...}
      "rename": {}                    # prefix renames applied to the state-dict names first
    }
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from converters.base import ConversionError, read_json_object

LAYOUTS = ("torch-transformer", "prenorm-fused")
ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "swish")


@dataclass(frozen=True, slots=True)
class OwnTransformerConfig:
    vocab_size: int
    d_model: int
    heads: int
    encoder_layers: int
    decoder_layers: int
    ffn_dim: int
    layout: str = "torch-transformer"
    norm: str = "post"
    final_norm: bool = True
    activation: str = "relu"
    positions: str = "sinusoidal"
    sinusoidal_layout: str = "interleaved"
    max_positions: int = 256
    position_offset: int = 0
    scale_embeddings: bool = True
    shared_embeddings: bool = True
    tied_output: bool = True
    layer_norm_eps: float = 1e-5
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    unk_id: int = 3
    source_prefix: tuple[str, ...] = ()
    source_suffix: tuple[str, ...] = ("</s>",)
    tokenizer: str = "tokenizer.json"
    module: str | None = None
    module_path: str | None = None
    state_dict_key: str | None = None
    rename: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "model.json") -> OwnTransformerConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConversionError(f"{where}: unknown key(s) {unknown}; expected: {sorted(known)}")
        missing = [
            n for n in ("vocab_size", "d_model", "heads", "encoder_layers", "decoder_layers",
                        "ffn_dim") if n not in data
        ]  # fmt: skip
        if missing:
            raise ConversionError(f"{where}: missing {missing}")
        values = dict(data)
        for key in ("source_prefix", "source_suffix"):
            if key in values:
                values[key] = tuple(values[key])
        try:
            config = cls(**values)
        except TypeError as exc:
            raise ConversionError(f"{where}: {exc}") from exc
        config.check(where)
        return config

    @classmethod
    def read(cls, path: Path) -> OwnTransformerConfig:
        return cls.from_dict(read_json_object(path), str(path))

    def check(self, where: str) -> None:
        def choice(name: str, allowed: tuple[str, ...]) -> None:
            if getattr(self, name) not in allowed:
                raise ConversionError(
                    f"{where}: {name} is {getattr(self, name)!r}; expected one of: {allowed}"
                )

        choice("layout", LAYOUTS)
        choice("norm", ("pre", "post"))
        choice("activation", ACTIVATIONS)
        choice("positions", ("sinusoidal", "learned"))
        choice("sinusoidal_layout", ("interleaved", "concat"))
        if self.layout == "prenorm-fused" and self.norm != "pre":
            raise ConversionError(f"{where}: layout prenorm-fused is pre-norm; set norm 'pre'")
        for name in ("vocab_size", "d_model", "heads", "encoder_layers", "decoder_layers",
                     "ffn_dim", "max_positions"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConversionError(f"{where}: {name} must be a positive integer, got {value!r}")
        if self.d_model % self.heads:
            raise ConversionError(
                f"{where}: d_model {self.d_model} is not divisible by heads {self.heads}"
            )
        for name in ("pad_id", "bos_id", "eos_id", "unk_id"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value < self.vocab_size:
                raise ConversionError(
                    f"{where}: {name} must be a token id below vocab_size {self.vocab_size}"
                )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out
