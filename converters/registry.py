"""The model families ``s2s convert`` knows: the one list, in one place.

Hugging Face checkpoints are recognised by ``config.json``'s ``model_type``; a family without
one (the own PyTorch Transformer) is chosen with ``--family``. Adding a family is one class in
its own module and one entry here.
"""

from __future__ import annotations

from pathlib import Path

from converters.base import ConversionError, ConvertOptions, FamilyConverter, read_config
from converters.huggingface import BartConverter, MarianConverter, PegasusConverter, T5Converter
from converters.multilingual import M2M100Converter, MBartConverter
from converters.own.family import PyTorchTransformerConverter

FAMILIES: tuple[type[FamilyConverter], ...] = (
    T5Converter,
    MarianConverter,
    BartConverter,
    MBartConverter,
    PegasusConverter,
    M2M100Converter,
    PyTorchTransformerConverter,
)


def family_names() -> list[str]:
    return [cls.family for cls in FAMILIES]


def supported_model_types() -> list[str]:
    return sorted(t for cls in FAMILIES for t in cls.model_types)


def family_named(name: str) -> FamilyConverter:
    for cls in FAMILIES:
        if cls.family == name:
            return cls()
    raise ConversionError(f"family {name!r} is not known; expected one of: {family_names()}")


def detect_family(source: Path, name: str | None, options: ConvertOptions) -> FamilyConverter:
    """The family ``--family`` names, else the one whose ``model_type`` the checkpoint has."""
    if name is not None:
        return family_named(name)
    if options.config_file is not None:
        raise ConversionError("--config is for --family pytorch-transformer; pass --family")
    model_type = read_config(source).get("model_type")
    for cls in FAMILIES:
        if model_type in cls.model_types:
            return cls()
    raise ConversionError(
        f"model_type {model_type!r} is not supported; supported: {supported_model_types()} "
        "(or --family pytorch-transformer --config model.json for your own Transformer)"
    )
