"""Each manifest gets the engine it names; a torch model without the torch extra says which
extra to install; the encoder cache reaches torch engines only, and only where allowed."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from service.cache.encoder import EncoderCache
from service.cache.memory import ByteLRU
from service.config import Settings
from service.engines.factory import EngineContext, default_engine_factory, torch_compute_type
from service.engines.torch import TorchEngine
from service.manifest import ManifestError, load_manifest
from tests.serverproc import first_model_dir
from tests.torchmodel import TORCH_MODEL


def test_each_manifest_gets_the_engine_it_names(torch_registry: Path) -> None:
    cache = EncoderCache(ByteLRU(1 << 20), None)
    context = EngineContext(Settings(), cache)
    ct2_dir, torch_dir = first_model_dir(), torch_registry / TORCH_MODEL
    ct2 = default_engine_factory(ct2_dir, load_manifest(ct2_dir), context)
    torch_engine = default_engine_factory(torch_dir, load_manifest(torch_dir), context)
    try:
        assert ct2.info.engine == "ctranslate2"
        assert torch_engine.info.engine == "torch" and torch_engine.info.supports_seed
        assert torch_engine.info.compute_type == "float32"  # CPU default
        assert isinstance(torch_engine, TorchEngine) and torch_engine.encoder_cache is cache
    finally:
        ct2.close()
        torch_engine.close()


def test_a_model_that_must_not_be_stored_gets_no_encoder_cache(torch_registry: Path) -> None:
    model_dir = torch_registry / TORCH_MODEL
    manifest = replace(load_manifest(model_dir), cache_results=False)
    context = EngineContext(Settings(), EncoderCache(ByteLRU(1 << 20), None))
    engine = default_engine_factory(model_dir, manifest, context)
    try:
        assert isinstance(engine, TorchEngine) and engine.encoder_cache is None
    finally:
        engine.close()


def test_a_torch_model_without_the_torch_extra_names_the_extra(
    torch_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "service.engines.torch", None)  # import fails as if absent
    model_dir = torch_registry / TORCH_MODEL
    with pytest.raises(ManifestError, match=r"needs the torch extra: pip install .*\[torch\]"):
        default_engine_factory(model_dir, load_manifest(model_dir), EngineContext(Settings()))


def test_an_unknown_engine_is_refused_with_the_known_ones() -> None:
    manifest = replace(load_manifest(first_model_dir()), engine="onnx")
    with pytest.raises(ManifestError, match=r"engine 'onnx'; expected one of: \('ctranslate2', "):
        default_engine_factory(first_model_dir(), manifest, EngineContext(Settings()))


def test_torch_compute_types() -> None:
    assert torch_compute_type(Settings(), "t5") == "float32"
    assert torch_compute_type(Settings(device="cuda"), "t5") == "bfloat16"
    assert torch_compute_type(Settings(device="cuda"), "marian") == "float16"
    assert torch_compute_type(Settings(compute_type="int8"), "marian") == "int8"
    assert torch_compute_type(Settings(device="cuda", compute_type="int8_float16"), "t5") == (
        "float16"
    )  # one flag serves a registry of both engines
    with pytest.raises(ManifestError, match="int8 on the CPU only"):
        torch_compute_type(Settings(device="cuda", compute_type="int8"), "t5")
