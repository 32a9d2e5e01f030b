"""Checkpoint → servable CTranslate2 model directory (engine files, tokenizer, manifest.json).

``convert`` is the programmatic entry point; ``s2s convert`` calls it through ``converters.cli``.
Heavy dependencies (torch, transformers) are imported only when a conversion runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.manifest import Manifest

__all__ = ["convert"]


def convert(
    source_dir: str | Path,
    output_dir: str | Path,
    *,
    quantization: str = "int8",
    name: str | None = None,
    force: bool = False,
    overrides: dict[str, Any] | None = None,
    engine: str = "ctranslate2",
) -> Manifest:
    """Convert the checkpoint in ``source_dir`` into a model directory; return its manifest.

    ``engine`` is ``ctranslate2`` (CTranslate2 files) or ``torch`` (safetensors for the PyTorch
    engine and its encoder-output cache). ``overrides`` takes the keys of ``serving.json``
    (``translation``, ``summarization``, ``default_options``, ``max_input_tokens``,
    ``description``) and wins over the sidecar.
    """
    from converters.base import convert_checkpoint

    return convert_checkpoint(
        Path(source_dir),
        Path(output_dir),
        quantization=quantization,
        name=name,
        force=force,
        overrides=overrides,
        engine=engine,
    )
