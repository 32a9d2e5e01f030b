"""The conversion recipe every model family shares, and the family registry.

A family (``converters.huggingface`` holds T5 and Marian) only says how to recognise its
checkpoints, how to run the engine conversion and which tokenizer files to carry over; this
module does the rest in a fixed order: check the source, convert into a scratch directory next
to the output, copy the tokenizer, merge the serving spec, write the manifest with its revision,
smoke-test the result, and only then move it into place. A failed conversion never leaves a
half-written model directory where the registry would load it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from converters.sidecar import ServingSpec, read_sidecar
from service.manifest import Manifest, TokenizerSpec, compute_revision, write_manifest

QUANTIZATIONS: tuple[str, ...] = (
    "int8",
    "int8_float16",
    "int8_bfloat16",
    "int8_float32",
    "float16",
    "bfloat16",
    "float32",
)


# The engines a model directory can be written for (the manifest's ``engine``).
ENGINES: tuple[str, ...] = ("ctranslate2", "torch")


class ConversionError(Exception):
    """The checkpoint cannot be converted; the message says what to fix."""


class FamilyConverter(ABC):
    """One model family: recognise, convert with the engine, carry the tokenizer over."""

    family: ClassVar[str]
    model_types: ClassVar[tuple[str, ...]]  # Hugging Face ``config.model_type`` values

    @abstractmethod
    def convert_engine(self, source: Path, output: Path, quantization: str) -> None:
        """Write the engine files (model.bin, config.json, vocabularies) into ``output``."""

    @abstractmethod
    def copy_tokenizer(self, source: Path, output: Path) -> TokenizerSpec:
        """Copy the tokenizer files into ``output`` and say how the server must use them."""

    def default_spec(self, source: Path, config: dict[str, Any]) -> ServingSpec:
        """What the family implies when the checkpoint has no ``serving.json``."""
        return ServingSpec()

    def max_input_tokens(self, config: dict[str, Any]) -> int:
        return 512

    def versions(self) -> dict[str, str]:
        import ctranslate2

        return {"ctranslate2": ctranslate2.__version__}


_FAMILIES: list[type[FamilyConverter]] = []


def register(cls: type[FamilyConverter]) -> type[FamilyConverter]:
    _FAMILIES.append(cls)
    return cls


def supported_model_types() -> list[str]:
    _load_families()
    return sorted(t for cls in _FAMILIES for t in cls.model_types)


def _load_families() -> None:
    import converters.huggingface  # noqa: F401  (registers its families)


def read_config(source: Path) -> dict[str, Any]:
    if not source.is_dir():
        raise ConversionError(f"{source} is not a directory; pass a checkpoint directory")
    path = source / "config.json"
    if not path.is_file():
        raise ConversionError(
            f"{source} has no config.json; expected a Hugging Face checkpoint directory "
            "(config.json + weights + tokenizer files)"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConversionError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ConversionError(f"{path} must hold a JSON object")
    return config


def family_for(config: dict[str, Any]) -> FamilyConverter:
    _load_families()
    model_type = config.get("model_type")
    for cls in _FAMILIES:
        if model_type in cls.model_types:
            return cls()
    raise ConversionError(
        f"model_type {model_type!r} is not supported yet; supported: {supported_model_types()}"
    )


def convert_checkpoint(
    source: Path,
    output: Path,
    *,
    quantization: str = "int8",
    name: str | None = None,
    force: bool = False,
    overrides: dict[str, Any] | None = None,
    engine: str = "ctranslate2",
) -> Manifest:
    if engine not in ENGINES:
        raise ConversionError(f"engine {engine!r} has no converter; expected one of: {ENGINES}")
    if engine == "ctranslate2" and quantization not in QUANTIZATIONS:
        raise ConversionError(f"quantization {quantization!r} is not one of {QUANTIZATIONS}")
    if output.exists() and any(output.iterdir()) and not force:
        raise ConversionError(f"{output} exists and is not empty; pass --force to replace it")
    config = read_config(source)
    family = family_for(config)
    spec = _serving_spec(family, source, config, overrides)
    model_name = name or spec.name or output.name
    if not model_name:
        raise ConversionError("the model needs a name; pass --name")

    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        if engine == "torch":
            from converters.torch_writer import write_torch_model

            write_torch_model(source, scratch, quantization)
        else:
            family.convert_engine(source, scratch, quantization)
        tokenizer = family.copy_tokenizer(source, scratch)
        manifest = Manifest(
            name=model_name,
            family=family.family,
            tokenizer=tokenizer,
            revision=compute_revision(scratch),
            engine=engine,
            quantization=quantization,
            translation=spec.translation,
            summarization=spec.summarization,
            default_options=spec.default_options,
            max_input_tokens=spec.max_input_tokens or family.max_input_tokens(config),
            description=spec.description,
            provenance={
                "source": source.name,
                "model_type": config.get("model_type"),
                "converted_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
                **family.versions(),
                **_torch_version(engine),
            },
        )
        write_manifest(scratch, manifest)
        from converters.verify import smoke_test

        smoke_test(scratch)
        if output.exists():
            shutil.rmtree(output)
        scratch.rename(output)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return manifest


def _serving_spec(
    family: FamilyConverter,
    source: Path,
    config: dict[str, Any],
    overrides: dict[str, Any] | None,
) -> ServingSpec:
    spec = family.default_spec(source, config)
    sidecar = read_sidecar(source)
    if sidecar is not None:
        spec = sidecar.merged_over(spec)
    if overrides:
        spec = ServingSpec.from_dict(overrides).merged_over(spec)
    if not spec.has_tasks:
        raise ConversionError(
            f"{source} does not say what the model does: add serving.json or pass "
            "--task translation --source-language L --target-language L (or --task summarization)"
        )
    return spec


def _torch_version(engine: str) -> dict[str, str]:
    if engine != "torch":
        return {}
    import torch

    return {"torch": str(torch.__version__)}
