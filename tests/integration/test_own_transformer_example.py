"""examples/own-transformer at a tiny size: build, train, convert (verified), serve, call.

The example is what users copy, so the suite runs it end to end the way they would (its own
script, the real ``s2s convert`` and ``s2s serve``), and checks that the served replies are the
converted engine's own output for those inputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_example_trains_converts_and_serves_at_tiny_size(tmp_path: Path) -> None:
    import ctranslate2

    from service.manifest import load_manifest
    from service.tokenization import load_tokenizer

    run = [sys.executable, "examples/own-transformer/run.py", "--tiny", "--out", str(tmp_path)]
    proc = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "token for token" in proc.stdout  # the parity table s2s convert printed
    result = json.loads((tmp_path / "result.json").read_text())
    verification = result["verification"]
    assert verification["passed"] and verification["samples"] == 60
    assert verification["float32"]["alone"]["agree"] == 60
    assert verification["reference"].startswith("Seq2Seq ")  # the example's own module

    model_dir = Path(result["model_dir"])
    manifest = load_manifest(model_dir)
    tokenizer = load_tokenizer(manifest.tokenizer, model_dir)
    translator = ctranslate2.Translator(str(model_dir), compute_type="int8")
    for text, reply in zip(result["inputs"], result["replies"], strict=True):
        limit = manifest.max_output_tokens()  # 64 positions: the default 256 is capped to it
        assert limit == 64
        (hypothesis,) = translator.translate_batch(
            [tokenizer.encode(text)], beam_size=1, max_decoding_length=limit
        )[0].hypotheses[:1]  # the service's defaults: greedy, max_length capped to the model
        assert reply == tokenizer.decode(hypothesis)
