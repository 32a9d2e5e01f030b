"""The demo model's whole pipeline at toy size: train a few steps, convert, decode, serve files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from demo_model.data import Example
from demo_model.evaluate import decode_all, score
from service.manifest import compute_revision, load_manifest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_tiny_training_run_converts_and_decodes(tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint"
    proc = subprocess.run(
        [sys.executable, "-m", "demo_model.train", "--tiny", "--steps", "30", "--out",
         str(checkpoint)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    logs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    losses = [r["loss"] for r in logs if "loss" in r]
    assert len(losses) == 3 and losses[-1] < losses[0], losses  # it learns something
    for name in ("config.json", "model.safetensors", "spiece.model", "serving.json",
                 "training.json", "tokenizer_config.json"):  # fmt: skip
        assert (checkpoint / name).is_file(), name

    from converters import convert

    model_dir = tmp_path / "models" / "t5-demo"
    manifest = convert(checkpoint, model_dir, quantization="int8")
    assert manifest.name == "t5-demo"
    assert load_manifest(model_dir).revision == compute_revision(model_dir)
    assert manifest.translation[0].input_template == "translate English to German: {text}"
    assert manifest.summarization[0].input_template == "summarize: {text}"

    examples = [
        Example("translate", "The dog sleeps.", "Der Hund schläft.", "simple"),
        Example("summarize", "A fire destroyed a cinema in Bristol. Nobody was hurt.",
                "Fire destroys cinema in Bristol", "fire"),
    ]  # fmt: skip
    outputs = decode_all(model_dir, examples, beam_size=2)
    assert len(outputs) == 2 and all(isinstance(o, str) for o in outputs)
    table = score(examples, outputs)
    assert set(table) == {"translate", "summarize"}


def test_hf_tokenizer_files_match_sentencepiece(tmp_path: Path) -> None:
    """The converter and PyTorch see exactly the pieces the server's sentencepiece sees."""
    import sentencepiece as spm
    from transformers import T5TokenizerFast

    from demo_model.tokenizer import save_hf_tokenizer, train_sentencepiece

    sentences = [f"The {w} dog sees {n} cats in Berlin." for w in ("big", "small", "old")
                 for n in range(40)] + ["Der Hund schläft, weil er müde ist."] * 20  # fmt: skip
    spiece = train_sentencepiece(sentences, tmp_path, vocab_size=120)
    save_hf_tokenizer(spiece, tmp_path)
    sp = spm.SentencePieceProcessor(model_file=str(spiece))
    fast = T5TokenizerFast.from_pretrained(str(tmp_path))
    for text in ("The big dog sees 17 cats in Berlin.", "Der Hund schläft."):
        assert fast.tokenize(text) == sp.encode(text, out_type=str)
