"""Checkpoint → servable model directory (engine files, tokenizer, manifest.json).

``convert`` is the programmatic entry point; ``s2s convert`` calls it through ``converters.cli``.
Heavy dependencies (torch, transformers) are imported only when a conversion runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from converters.verify import VerifyOptions
    from service.manifest import Manifest

__all__ = ["convert"]


def convert(
    source: str | Path,
    output_dir: str | Path,
    *,
    quantization: str | None = None,
    name: str | None = None,
    force: bool = False,
    overrides: dict[str, Any] | None = None,
    family: str | None = None,
    config_file: str | Path | None = None,
    language_table: str | Path | None = None,
    languages: tuple[str, ...] = (),
    engine: str = "ctranslate2",
    verify: VerifyOptions | bool = False,
) -> Manifest:
    """Convert the checkpoint at ``source`` into a model directory; return its manifest.

    ``engine`` is ``ctranslate2`` (default) or ``torch`` (safetensors for the PyTorch engine and
    its encoder-output cache); ``quantization`` defaults to the engine's (int8, float32).
    ``overrides`` takes the keys of ``serving.json`` (``translation``, ``summarization``,
    ``default_options``, ``max_input_tokens``, ``description``) and wins over the sidecar.
    ``family`` is needed only where ``config.json`` cannot tell (``pytorch-transformer``, with
    ``config_file`` = model.json). ``verify`` (True or `VerifyOptions`) compares the result with
    the original model and raises `converters.verify.VerificationError` when float32 differs;
    the manifest's ``verification`` holds the result.
    """
    from converters.base import ConvertOptions
    from converters.recipe import convert_checkpoint
    from converters.verify import VerifyOptions

    options = ConvertOptions(
        config_file=Path(config_file) if config_file is not None else None,
        language_table=Path(language_table) if language_table is not None else None,
        languages=tuple(languages),
    )
    verify_options = VerifyOptions() if verify is True else (verify or None)
    return convert_checkpoint(
        Path(source),
        Path(output_dir),
        quantization=quantization,
        name=name,
        force=force,
        overrides=overrides,
        family=family,
        engine=engine,
        options=options,
        verify=verify_options,
    )
