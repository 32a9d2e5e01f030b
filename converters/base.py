"""What every model family tells the conversion recipe (``converters.convert``).

A family recognises its checkpoints, hands the engine writer something to write (for
CTranslate2: a ``ctranslate2.converters.Converter``), carries its tokenizer over, says how its
languages are expressed, how long its inputs and outputs may be, which decoding defaults the
checkpoint ships, and how to run the original model for `--verify`. The list of families lives
in ``converters.registry``; this module knows none of them.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from converters.sidecar import ServingSpec
from service.config import COMPUTE_TYPES
from service.manifest import LanguageCodes, TokenizerSpec

if TYPE_CHECKING:
    from converters.reference import Reference

# The weight types a converted model can be stored in: the server's compute types but "auto".
QUANTIZATIONS: tuple[str, ...] = tuple(t for t in COMPUTE_TYPES if t != "auto")


class ConversionError(Exception):
    """The checkpoint cannot be converted; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class ConvertOptions:
    """What the user asked for beyond source and output (``s2s convert`` flags)."""

    config_file: Path | None = None  # --config (the own-transformer family's model.json)
    language_table: Path | None = None  # --language-table: model code → request code
    languages: tuple[str, ...] = ()  # --languages: serve only these (request codes)


@dataclass(slots=True)
class Checkpoint:
    """A source checkpoint as a family read it; ``cache`` holds what it loaded once."""

    source: Path
    config: dict[str, Any]
    options: ConvertOptions = field(default_factory=ConvertOptions)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        """Where ``serving.json`` and the tokenizer sit (the checkpoint, or its folder)."""
        return self.source if self.source.is_dir() else self.source.parent


class FamilyConverter(ABC):
    """One model family. Subclasses live in their own modules and are listed in the registry."""

    family: ClassVar[str]
    model_types: ClassVar[tuple[str, ...]] = ()  # Hugging Face ``config.model_type`` values
    summary: ClassVar[str] = ""  # one line for ``s2s convert --help`` and the README
    # The manifest's default segmentation: "auto" (sentences) suits natural-language models
    # trained on sentences; a family whose inputs are not prose says "none".
    segmentation: ClassVar[str] = "auto"
    # Translation output limit relative to the input (Manifest.max_length_factor; 0 = off).
    max_length_factor: ClassVar[float] = 2.0

    def load(self, source: Path, options: ConvertOptions) -> Checkpoint:
        """Read the checkpoint's configuration (``config.json`` unless the family says else)."""
        return Checkpoint(source, read_config(source), options)

    @abstractmethod
    def ct2_converter(self, checkpoint: Checkpoint) -> Any:
        """A ``ctranslate2.converters.Converter`` for this checkpoint (the CTranslate2 writer
        calls its ``convert``)."""

    @abstractmethod
    def copy_tokenizer(self, checkpoint: Checkpoint, output: Path) -> TokenizerSpec:
        """Copy the tokenizer files into ``output`` and say how the server must use them."""

    @abstractmethod
    def reference(self, checkpoint: Checkpoint) -> Reference:
        """The original model, decoding greedily, for ``--verify``."""

    def language_codes(self, checkpoint: Checkpoint) -> LanguageCodes | None:
        """For many-to-many models: request codes → the model's language tokens."""
        return None

    def default_spec(self, checkpoint: Checkpoint) -> ServingSpec:
        """What the checkpoint implies without ``serving.json`` (e.g. generation defaults)."""
        return ServingSpec()

    def forced_prefix(self, checkpoint: Checkpoint) -> tuple[str, ...]:
        """Tokens the model always generates first (a forced BOS), for routes without one."""
        return ()

    def max_input_tokens(self, checkpoint: Checkpoint) -> int:
        return 512

    def max_decoder_positions(self, checkpoint: Checkpoint) -> int | None:
        """How many positions the engine's decoder has (None: unbounded)."""
        return None

    def versions(self) -> dict[str, str]:
        """Library versions the manifest records; a torch-engine conversion needs no
        CTranslate2 (e.g. on a GPU whose CUDA its wheels cannot load), so it may be absent."""
        try:
            import ctranslate2
        except ImportError:
            return {}
        return {"ctranslate2": ctranslate2.__version__}


def read_config(source: Path, name: str = "config.json") -> dict[str, Any]:
    if not source.is_dir():
        raise ConversionError(f"{source} is not a directory; pass a checkpoint directory")
    path = source / name
    if not path.is_file():
        raise ConversionError(
            f"{source} has no {name}; expected a Hugging Face checkpoint directory "
            "(config.json + weights + tokenizer files)"
        )
    return read_json_object(path)


def read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConversionError(f"{path} is not valid JSON: {exc}") from exc
    except OSError as exc:
        raise ConversionError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConversionError(f"{path} must hold a JSON object")
    return data


def need_convert_extra(exc: ImportError) -> ConversionError:
    return ConversionError(
        f"converting needs the convert extra: pip install -e '.[convert]' ({exc})"
    )
