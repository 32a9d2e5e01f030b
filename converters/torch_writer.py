"""The torch engine's model files: the checkpoint as ``transformers`` loads it, re-saved.

``s2s convert SRC OUT --engine torch`` writes safetensors weights (in the requested dtype),
``config.json``, ``generation_config.json`` and the tokenizer as ``transformers`` saves them;
the recipe adds the service's tokenizer files and the manifest (``engine: torch``) with the same
revision digest as any model directory. Nothing is pickled: the weights are safetensors only.
"""

from __future__ import annotations

from pathlib import Path

from converters.base import ConversionError
from service.engines.base import Engine

# Weight dtypes a torch model directory can be written in (the engine computes in float32 on
# CPU whatever the files hold; narrower files halve the download and the load).
TORCH_QUANTIZATIONS = ("float32", "float16", "bfloat16")
WEIGHTS_FILE = "model.safetensors"


def write_torch_model(source: Path, output: Path, quantization: str) -> None:
    """Write the torch engine's files for the checkpoint in ``source`` into ``output``."""
    if quantization not in TORCH_QUANTIZATIONS:
        raise ConversionError(
            f"--engine torch writes weights as one of {TORCH_QUANTIZATIONS}, not {quantization!r}"
        )
    try:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConversionError(
            f"the converter needs the convert extra: pip install -e '.[convert]' ({exc})"
        ) from exc
    dtype = getattr(torch, quantization)
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(str(source), dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(str(source))  # type: ignore[no-untyped-call]
    except (OSError, ValueError, KeyError) as exc:
        raise ConversionError(f"transformers cannot load {source}: {exc}") from exc
    model.save_pretrained(str(output), safe_serialization=True)
    tokenizer.save_pretrained(str(output))
    if not (output / WEIGHTS_FILE).is_file():
        raise ConversionError(f"saving {source} wrote no {WEIGHTS_FILE} (sharded weights?)")


def open_torch_engine(model_dir: Path, compute_type: str = "float32") -> Engine:
    """The written model loaded as the server's torch engine would, on the CPU, no cache."""
    from converters.verify import VerificationError
    from service.manifest import load_manifest

    try:
        from service.engines.torch import TorchEngine
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConversionError(f"the torch engine needs the torch extra ({exc})") from exc
    manifest = load_manifest(model_dir)
    try:
        return TorchEngine(
            model_dir, name=manifest.name, revision=manifest.revision, compute_type=compute_type
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise VerificationError(f"the torch engine cannot load {model_dir}: {exc}") from exc


def torch_vocabulary(model_dir: Path) -> list[str]:
    """The written model's tokens by id (the tokenizer's ids are the model's ids)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))  # type: ignore[no-untyped-call]
    vocab: dict[str, int] = tokenizer.get_vocab()
    tokens = [""] * (max(vocab.values()) + 1)
    for token, index in vocab.items():
        tokens[index] = token
    return tokens
