"""Hugging Face families converted with CTranslate2's ``TransformersConverter``.

T5 / FLAN-T5 / mT5 share one sentencepiece model for source and target; Marian (OPUS-MT) ships
``source.spm`` and ``target.spm``. Both append ``</s>`` to every input, as their training did.
The engine conversion imports torch and transformers, so they are only needed to convert.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from converters.base import ConversionError, FamilyConverter, register
from service.manifest import TokenizerSpec


class _TransformersFamily(FamilyConverter):
    def convert_engine(self, source: Path, output: Path, quantization: str) -> None:
        try:
            from ctranslate2.converters import TransformersConverter
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConversionError(
                f"the converter needs the convert extra: pip install -e '.[convert]' ({exc})"
            ) from exc
        try:
            TransformersConverter(str(source), low_cpu_mem_usage=True).convert(
                str(output), quantization=quantization, force=True
            )
        except ImportError as exc:
            raise ConversionError(
                f"the converter needs the convert extra: pip install -e '.[convert]' ({exc})"
            ) from exc

    def versions(self) -> dict[str, str]:
        import transformers

        return {**super().versions(), "transformers": transformers.__version__}

    def max_input_tokens(self, config: dict[str, Any]) -> int:
        return int(config.get("max_position_embeddings") or config.get("n_positions") or 512)


def _copy(source: Path, output: Path, name: str, hint: str) -> None:
    path = source / name
    if not path.is_file():
        raise ConversionError(f"{source} has no {name}; {hint}")
    shutil.copyfile(path, output / name)


@register
class T5Converter(_TransformersFamily):
    family = "t5"
    model_types = ("t5", "mt5")

    def copy_tokenizer(self, source: Path, output: Path) -> TokenizerSpec:
        _copy(source, output, "spiece.model", "T5 checkpoints carry their sentencepiece model")
        return TokenizerSpec(
            kind="sentencepiece",
            source_file="spiece.model",
            target_file="spiece.model",
            source_suffix=("</s>",),
        )


@register
class MarianConverter(_TransformersFamily):
    family = "marian"
    model_types = ("marian",)

    def copy_tokenizer(self, source: Path, output: Path) -> TokenizerSpec:
        hint = "Marian checkpoints carry source.spm and target.spm"
        _copy(source, output, "source.spm", hint)
        _copy(source, output, "target.spm", hint)
        return TokenizerSpec(
            kind="sentencepiece",
            source_file="source.spm",
            target_file="target.spm",
            source_suffix=("</s>",),
        )
