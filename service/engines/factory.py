"""Manifest → engine: the registry builds whichever engine each model's manifest names.

``engine: ctranslate2`` (the default) gets the CTranslate2 engine, ``engine: torch`` the PyTorch
engine with the encoder-output cache. The torch engine's modules import torch and transformers,
so they are imported only here, only for a torch model, and a serving install without the
``torch`` extra says which extra to install instead of failing on an import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from service.engines.base import Engine
from service.manifest import Manifest, ManifestError

if TYPE_CHECKING:
    from service.cache.encoder import EncoderCache
    from service.config import Settings

ENGINES = ("ctranslate2", "torch")
TORCH_EXTRA = "pip install 'seq2seq-serve[torch]' (from a checkout: pip install -e '.[torch]')"
# T5-family activations overflow in float16 (see DESIGN.md): bfloat16 on GPUs for them.
_BF16_FAMILIES = ("t5", "mt5", "flan-t5")


@dataclass(frozen=True, slots=True)
class EngineContext:
    """What a factory gets besides the model: the settings and the shared encoder cache (None
    when caching is off; only engines that can reuse encoder outputs use it)."""

    settings: Settings
    encoder_cache: EncoderCache | None = None


EngineFactory = Callable[[Path, Manifest, EngineContext], Engine]
"""(model directory, its manifest, context) → engine; tests pass their own."""


def default_engine_factory(model_dir: Path, manifest: Manifest, context: EngineContext) -> Engine:
    if manifest.engine == "ctranslate2":
        return ct2_engine(model_dir, manifest, context)
    if manifest.engine == "torch":
        return torch_engine(model_dir, manifest, context)
    raise ManifestError(
        f"model {manifest.name!r} ({model_dir}) asks for engine {manifest.engine!r}; "
        f"expected one of: {ENGINES}"
    )


def ct2_engine(model_dir: Path, manifest: Manifest, context: EngineContext) -> Engine:
    from service.engines.ct2 import CT2Engine

    settings = context.settings
    inter, intra = settings.resolve_threads()
    return CT2Engine(
        model_dir,
        device=settings.device,
        device_index=settings.device_index,
        compute_type=settings.compute_type_for(manifest.family),
        inter_threads=inter,
        intra_threads=intra,
        thread_nice=settings.resolve_engine_nice(),
    )


def torch_compute_type(settings: Settings, family: str) -> str:
    """float32 on CPU; on GPU bfloat16 for the T5 family, float16 otherwise; or what
    ``--compute-type`` names (float32, float16, bfloat16, int8 on CPU; CTranslate2's mixed
    types give their float part: int8_float16 → float16).

    int8 (dynamic quantization of the linear layers) measured about 3x faster on CPU, but
    PyTorch scales its activations per tensor, so an input's output can change with its batch
    neighbours (1 of 600 held-out inputs at beam 4): opt-in only (README "Engines").
    """
    wanted = settings.compute_type
    if wanted == "auto":
        if settings.device == "cpu":
            return "float32"
        return "bfloat16" if family in _BF16_FAMILIES else "float16"
    if wanted == "int8" and settings.device != "cpu":
        raise ManifestError(
            "the torch engine runs int8 on the CPU only; on GPU use --compute-type auto, "
            "float16 or bfloat16"
        )
    # CTranslate2-only types (one --compute-type serves a mixed registry): their float part.
    return _CT2_ONLY.get(wanted, wanted)


_CT2_ONLY = {"int8_float16": "float16", "int8_bfloat16": "bfloat16", "int8_float32": "float32",
             "int16": "float32"}  # fmt: skip


def torch_engine(model_dir: Path, manifest: Manifest, context: EngineContext) -> Engine:
    try:
        from service.engines.torch import TorchEngine
    except ImportError as exc:
        raise ManifestError(
            f"model {manifest.name!r} ({model_dir}) runs on the torch engine, which needs the "
            f"torch extra: {TORCH_EXTRA} ({exc})"
        ) from exc
    settings = context.settings
    inter, intra = settings.resolve_threads()
    return TorchEngine(
        model_dir,
        name=manifest.name,
        revision=manifest.revision,
        device=settings.device,
        device_index=settings.device_index,
        compute_type=torch_compute_type(settings, manifest.family),
        parallelism=inter,
        threads=intra,
        thread_nice=settings.resolve_engine_nice(),
        encoder_cache=context.encoder_cache if manifest.cache_results else None,
        cache_dtype=settings.encoder_cache_dtype,
    )
