"""``--family pytorch-transformer``: a Transformer you trained with plain PyTorch.

``s2s convert --family pytorch-transformer CHECKPOINT OUT --config model.json``: CHECKPOINT is
a state dict (``.pt`` / ``.pth`` / ``.bin`` from ``torch.save``, or ``.safetensors``),
model.json describes the architecture and layout (``converters.own.config``), and the
tokenizer (a sentencepiece model or a ``tokenizers`` JSON) sits beside model.json. The engine
files are written through ``ctranslate2.specs.TransformerSpec`` (``converters.own.mapping``);
``--verify`` decodes with your module (model.json ``module``) or the layout's own
(``converters.own.modules``) through a small greedy loop.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from typing import Any

from converters.base import (
    Checkpoint,
    ConversionError,
    ConvertOptions,
    FamilyConverter,
    need_convert_extra,
)
from converters.own.config import OwnTransformerConfig
from converters.reference import Route, greedy_loop
from service.manifest import TokenizerSpec


class PyTorchTransformerConverter(FamilyConverter):
    family = "pytorch-transformer"
    # Own models are trained on whatever their authors chose (digit strings, code, ...):
    # sentence segmentation would copy a digit-only input through unchanged.
    segmentation = "none"
    # Their source and target tokenizations need not be alike (a 4-digit piece in, 4 digits
    # out), so an output limit relative to the input would cut correct answers short.
    max_length_factor = 0.0
    summary = (
        "your own PyTorch encoder-decoder: torch.nn.Transformer or a pre-norm fused-QKV "
        "model (state dict + --config model.json)"
    )

    def load(self, source: Path, options: ConvertOptions) -> Checkpoint:
        if options.config_file is None:
            raise ConversionError("--family pytorch-transformer needs --config model.json")
        if not source.is_file():
            raise ConversionError(f"{source} is not a file; pass the state dict (torch.save)")
        config = OwnTransformerConfig.read(options.config_file)
        checkpoint = Checkpoint(source, config.to_dict(), options)
        checkpoint.cache["config"] = config
        tokenizer = options.config_file.parent / config.tokenizer
        if not tokenizer.is_file():
            raise ConversionError(
                f"model.json names tokenizer {config.tokenizer!r}, but {tokenizer} does not exist"
            )
        checkpoint.cache["tokenizer_path"] = tokenizer
        return checkpoint

    def own_config(self, checkpoint: Checkpoint) -> OwnTransformerConfig:
        config: OwnTransformerConfig = checkpoint.cache["config"]
        return config

    def state_dict(self, checkpoint: Checkpoint) -> dict[str, Any]:
        if "state_dict" not in checkpoint.cache:
            checkpoint.cache["state_dict"] = _read_state_dict(
                checkpoint.source, self.own_config(checkpoint)
            )
        state: dict[str, Any] = checkpoint.cache["state_dict"]
        return state

    def vocabulary(self, checkpoint: Checkpoint) -> list[str]:
        path: Path = checkpoint.cache["tokenizer_path"]
        if path.suffix == ".json":
            from tokenizers import Tokenizer

            try:
                vocab = Tokenizer.from_file(str(path)).get_vocab(with_added_tokens=True)
            except Exception as exc:
                raise ConversionError(f"{path} is not a tokenizers JSON file: {exc}") from exc
            return [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
        import sentencepiece as spm

        try:
            processor = spm.SentencePieceProcessor(model_file=str(path))
        except (OSError, RuntimeError) as exc:
            raise ConversionError(f"{path} is not a sentencepiece model: {exc}") from exc
        return [processor.id_to_piece(i) for i in range(processor.get_piece_size())]

    def ct2_converter(self, checkpoint: Checkpoint) -> Any:
        try:
            from ctranslate2.converters import Converter
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise need_convert_extra(exc) from exc
        from converters.own.mapping import build_spec

        family = self

        class OwnConverter(Converter):  # type: ignore[misc]
            def _load(self) -> Any:
                return build_spec(
                    family.state_dict(checkpoint),
                    family.own_config(checkpoint),
                    family.vocabulary(checkpoint),
                )

        return OwnConverter()

    def copy_tokenizer(self, checkpoint: Checkpoint, output: Path) -> TokenizerSpec:
        path: Path = checkpoint.cache["tokenizer_path"]
        shutil.copyfile(path, output / path.name)
        config = self.own_config(checkpoint)
        return TokenizerSpec(
            kind="hf-tokenizers" if path.suffix == ".json" else "sentencepiece",
            source_file=path.name,
            target_file=path.name,
            source_prefix=config.source_prefix,
            source_suffix=config.source_suffix,
        )

    def max_input_tokens(self, checkpoint: Checkpoint) -> int:
        return self.own_config(checkpoint).max_positions

    def max_decoder_positions(self, checkpoint: Checkpoint) -> int | None:
        return self.own_config(checkpoint).max_positions

    def reference(self, checkpoint: Checkpoint) -> ModuleReference:
        return ModuleReference(self._module(checkpoint), self.own_config(checkpoint))

    def versions(self) -> dict[str, str]:
        import torch

        return {**super().versions(), "torch": torch.__version__}

    def _module(self, checkpoint: Checkpoint) -> Any:
        config = self.own_config(checkpoint)
        if config.module:
            factory = _import(config.module, config.module_path, checkpoint.options.config_file)
            module = factory(config)
        else:
            from converters.own.modules import build

            module = build(config)
        try:
            module.load_state_dict(self.state_dict(checkpoint), strict=True)
        except RuntimeError as exc:
            raise ConversionError(f"the module does not accept the state dict: {exc}") from exc
        return module.float().eval()


class ModuleReference:
    """The user's module (or the layout's), decoding greedily step by step."""

    def __init__(self, module: Any, config: OwnTransformerConfig) -> None:
        self.description = f"{type(module).__name__} (PyTorch, greedy loop)"
        self._module = module
        self._config = config

    def source_ids(self, text: str, route: Route) -> list[int] | None:
        return None  # the server uses the model's own tokenizer file: nothing to compare

    def greedy(self, source_ids: list[int], prefix_ids: list[int], max_length: int) -> list[int]:
        return greedy_loop(
            self._module,
            source_ids,
            start_ids=[self._config.bos_id],
            prefix_ids=prefix_ids,
            eos_id=self._config.eos_id,
            max_length=min(max_length, self._config.max_positions - 1 - len(prefix_ids)),
        )


def _read_state_dict(path: Path, config: OwnTransformerConfig) -> dict[str, Any]:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise need_convert_extra(exc) from exc
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            loaded: Any = load_file(str(path))
        else:
            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch and safetensors raise many kinds for a damaged file
        raise ConversionError(f"cannot read the state dict {path}: {exc}") from exc
    if config.state_dict_key is not None:
        if not isinstance(loaded, dict) or config.state_dict_key not in loaded:
            raise ConversionError(f"{path} has no key {config.state_dict_key!r}")
        loaded = loaded[config.state_dict_key]
    if not isinstance(loaded, dict) or not all(torch.is_tensor(v) for v in loaded.values()):
        raise ConversionError(
            f"{path} is not a state dict of tensors (set state_dict_key if it is nested)"
        )
    state: dict[str, Any] = {}
    for name, tensor in loaded.items():
        for old, new in config.rename.items():
            if name.startswith(old):
                name = new + name[len(old) :]
                break
        state[name] = tensor
    return state


def _import(spec: str, module_path: str | None, config_file: Path | None) -> Any:
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise ConversionError(f"module {spec!r} must be 'package.module:factory'")
    if module_path is not None and config_file is not None:
        directory = str((config_file.parent / module_path).resolve())
        if directory not in sys.path:
            sys.path.insert(0, directory)
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConversionError(f"cannot import {spec!r} named in model.json: {exc}") from exc
