"""Engine writers: the "write the engine files" step of a conversion, one per serving engine.

The conversion recipe does not care which engine serves the model: it asks a writer to write
the engine files for a family's checkpoint, records the writer's ``engine`` name in the
manifest (the registry picks the engine by it), and asks the writer to open what it wrote so
``--verify`` runs exactly what the server will run. CTranslate2 writes its own model files;
the torch writer (`converters.torch_writer`) re-saves a Hugging Face checkpoint as safetensors
for the PyTorch engine and its encoder-output cache.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from converters.base import (
    QUANTIZATIONS,
    Checkpoint,
    ConversionError,
    FamilyConverter,
    need_convert_extra,
)
from service.engines.base import Engine


class EngineWriter(ABC):
    engine: ClassVar[str]  # the manifest's ``engine`` value
    quantizations: ClassVar[tuple[str, ...]]  # weight types it can write
    default_quantization: ClassVar[str]

    @abstractmethod
    def write(
        self, family: FamilyConverter, checkpoint: Checkpoint, output: Path, quantization: str
    ) -> None:
        """Write the engine files for ``checkpoint`` into ``output`` (an empty directory)."""

    @abstractmethod
    def open(self, model_dir: Path, compute_type: str, threads: int = 0) -> Engine:
        """Load the written model on the CPU, as the server's engine would (``threads`` 0:
        up to four)."""

    @abstractmethod
    def vocabularies(self, model_dir: Path) -> tuple[list[str], list[str]]:
        """The engine's (source, target) vocabularies: token at each id."""

    def versions(self) -> dict[str, str]:
        """Library versions the manifest's provenance records for this engine."""
        return {}


class CTranslate2Writer(EngineWriter):
    engine = "ctranslate2"
    quantizations = QUANTIZATIONS
    default_quantization = "int8"

    def write(
        self, family: FamilyConverter, checkpoint: Checkpoint, output: Path, quantization: str
    ) -> None:
        converter = family.ct2_converter(checkpoint)
        try:
            converter.convert(str(output), quantization=quantization, force=True)
        except ConversionError:
            raise
        except ImportError as exc:
            raise need_convert_extra(exc) from exc
        except Exception as exc:  # the engine converter's own errors: keep their message
            raise ConversionError(
                f"CTranslate2 cannot convert {checkpoint.source} ({family.family}): "
                f"{type(exc).__name__}: {_clip(str(exc))}"
            ) from exc

    def open(self, model_dir: Path, compute_type: str, threads: int = 0) -> Engine:
        from service.engines.ct2 import CT2Engine

        return CT2Engine(
            model_dir,
            device="cpu",
            compute_type=compute_type,
            inter_threads=1,
            intra_threads=threads or max(1, min(4, os.cpu_count() or 1)),
        )

    def vocabularies(self, model_dir: Path) -> tuple[list[str], list[str]]:
        shared = _vocabulary(model_dir, "shared_vocabulary")
        if shared is not None:
            return shared, shared
        source = _vocabulary(model_dir, "source_vocabulary")
        target = _vocabulary(model_dir, "target_vocabulary")
        if source is None or target is None:
            raise ConversionError(f"{model_dir} has no CTranslate2 vocabulary files")
        return source, target


class TorchWriter(EngineWriter):
    """Hugging Face families only: the engine runs ``transformers`` on the re-saved weights."""

    engine = "torch"
    quantizations = ("float32", "float16", "bfloat16")
    default_quantization = "float32"

    def write(
        self, family: FamilyConverter, checkpoint: Checkpoint, output: Path, quantization: str
    ) -> None:
        from converters.torch_writer import write_torch_model

        if not checkpoint.source.is_dir() or not (checkpoint.source / "config.json").is_file():
            raise ConversionError(
                f"--engine torch serves Hugging Face checkpoints; {family.family} from "
                f"{checkpoint.source} is served by the ctranslate2 engine"
            )
        write_torch_model(checkpoint.source, output, quantization)

    def open(self, model_dir: Path, compute_type: str, threads: int = 0) -> Engine:
        from converters.torch_writer import open_torch_engine

        if threads:
            import torch

            torch.set_num_threads(threads)
        dtype = "float32" if compute_type in ("default", "auto") else compute_type
        return open_torch_engine(model_dir, dtype)

    def vocabularies(self, model_dir: Path) -> tuple[list[str], list[str]]:
        from converters.torch_writer import torch_vocabulary

        tokens = torch_vocabulary(model_dir)
        return tokens, tokens

    def versions(self) -> dict[str, str]:
        import torch

        return {"torch": str(torch.__version__)}


WRITERS: dict[str, EngineWriter] = {w.engine: w for w in (CTranslate2Writer(), TorchWriter())}


def writer_for(engine: str) -> EngineWriter:
    try:
        return WRITERS[engine]
    except KeyError:
        raise ConversionError(
            f"engine {engine!r} has no converter; expected one of: {sorted(WRITERS)}"
        ) from None


def _vocabulary(model_dir: Path, name: str) -> list[str] | None:
    json_file = model_dir / f"{name}.json"
    if json_file.is_file():
        tokens: list[str] = json.loads(json_file.read_text(encoding="utf-8"))
        return tokens
    text_file = model_dir / f"{name}.txt"
    if text_file.is_file():
        return text_file.read_text(encoding="utf-8").split("\n")[:-1]
    return None


def _clip(message: str, limit: int = 600) -> str:
    return message if len(message) <= limit else message[:limit] + " ..."
