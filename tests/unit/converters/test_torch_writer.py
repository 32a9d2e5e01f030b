"""``s2s convert --engine torch``: a servable model directory of safetensors weights, the
tokenizer and a manifest that names the torch engine; no pickle anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

from converters import convert
from converters.base import ConversionError
from service.engines.base import EngineInput
from service.engines.torch import TorchEngine
from service.manifest import compute_revision, load_manifest
from service.types import ResolvedOptions
from tests.torchmodel import DEMO_CHECKPOINT, ROOT, TORCH_MODEL

PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".ckpt"}


def test_the_model_directory_is_complete_described_and_pickle_free(torch_registry: Path) -> None:
    model_dir = torch_registry / TORCH_MODEL
    files = {p.name for p in model_dir.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "spiece.model",
            "tokenizer_config.json", "manifest.json"} <= files  # fmt: skip
    assert not {p.suffix for p in model_dir.iterdir()} & PICKLE_SUFFIXES
    manifest = load_manifest(model_dir)
    assert (manifest.engine, manifest.quantization, manifest.family) == ("torch", "float32", "t5")
    assert manifest.revision == compute_revision(model_dir)  # the same digest rules
    assert manifest.provenance["torch"] and manifest.summarization and manifest.translation
    with safe_open(str(model_dir / "model.safetensors"), "pt") as weights:
        tensor = weights.get_tensor(next(iter(weights.keys())))
    assert str(tensor.dtype) == "torch.float32"


def test_bfloat16_weights_halve_the_files_and_decode_the_same(
    torch_registry: Path, tmp_path: Path
) -> None:
    """The demo checkpoint was trained in bfloat16, so its bfloat16 copy is exact."""
    half = tmp_path / "half"
    manifest = convert(DEMO_CHECKPOINT, half, quantization="bfloat16", engine="torch")
    full = torch_registry / TORCH_MODEL
    assert manifest.quantization == "bfloat16"
    size = (half / "model.safetensors").stat().st_size
    assert size < 0.55 * (full / "model.safetensors").stat().st_size
    assert manifest.revision != load_manifest(full).revision
    source = ("▁translate", "▁English", "▁to", "▁German", ":", "▁The", "▁dog", "▁sleeps", ".")
    inputs = [EngineInput((*source, "</s>"))]
    outputs = []
    for model_dir in (half, full):
        engine = TorchEngine(model_dir, name="w", revision=load_manifest(model_dir).revision)
        outputs.append(engine.generate(inputs, ResolvedOptions(beam_size=2)))
        engine.close()
    assert outputs[0] == outputs[1]


def test_a_ctranslate2_weight_type_is_refused_for_torch(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"is not one of .* \(engine torch\)"):
        convert(DEMO_CHECKPOINT, tmp_path / "out", quantization="int8", engine="torch")
    assert not (tmp_path / "out").exists()


def test_cli_converts_for_torch_by_name_and_reports_the_engine(tmp_path: Path) -> None:
    out = tmp_path / "registry" / "demo-torch"
    cmd = [sys.executable, "-m", "service", "convert", str(DEMO_CHECKPOINT), str(out),
           "--engine", "torch"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "torch float32" in proc.stdout
    assert json.loads((out / "manifest.json").read_text())["engine"] == "torch"
    bad = subprocess.run(
        [*cmd[:-2], "--engine", "onnx"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "invalid choice: 'onnx'" in bad.stderr


@pytest.mark.slow
def test_a_marian_checkpoint_decodes_on_torch_as_on_ctranslate2(tmp_path: Path) -> None:
    """Marian's model ids come from vocab.json, not from its sentencepiece files, and its
    generation_config.json asks for beam 4 and a forced EOS: the torch engine must map tokens
    through the model's own vocabulary and decode with the request's options only."""
    from bench.model import ModelSpec, build_checkpoint
    from service.engines.ct2 import CT2Engine
    from service.tokenization import load_tokenizer

    spec = ModelSpec(
        name="tiny-marian", vocab_size=300, d_model=32, encoder_layers=2, decoder_layers=2,
        attention_heads=2, ffn_dim=64, lexicon_size=400, corpus_sentences=3000,
    )  # fmt: skip
    hf_dir, _, sampler = build_checkpoint(spec, tmp_path, progress=lambda _msg: None)
    route = {"translation": [{"source_language": "en", "target_language": "de"}]}
    for engine, quantization in (("torch", "float32"), ("ctranslate2", "float32")):
        convert(hf_dir, tmp_path / engine, quantization=quantization, engine=engine,
                overrides=route)  # fmt: skip
    manifest = load_manifest(tmp_path / "torch")
    assert manifest.family == "marian" and manifest.engine == "torch"
    tokenizer = load_tokenizer(manifest.tokenizer, tmp_path / "torch")
    inputs = [EngineInput(tuple(tokenizer.encode(t))) for t in sampler.sentences(12, 4, 30)]
    torch_engine = TorchEngine(tmp_path / "torch", name="m", revision=manifest.revision)
    ct2 = CT2Engine(tmp_path / "ctranslate2", compute_type="float32")
    try:
        for options in (ResolvedOptions(max_length=12), ResolvedOptions(beam_size=3, max_length=9),
                        ResolvedOptions(min_length=7, max_length=7)):  # fmt: skip
            mine = torch_engine.generate(inputs, options)
            theirs = ct2.generate(inputs, options)
            assert [o.hypotheses[0].tokens for o in mine] == [
                o.hypotheses[0].tokens for o in theirs
            ]
            for a, b in zip(mine, theirs, strict=True):
                assert a.hypotheses[0].score == pytest.approx(b.hypotheses[0].score, rel=2e-3)
    finally:
        torch_engine.close()
        ct2.close()
